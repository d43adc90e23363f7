package sqlstore

import (
	"database/sql"
	"time"
)

// Times are stored as BIGINT microseconds since the Unix epoch, UTC, on both
// dialects: one column type and one query shape, comparisons are plain
// integer comparisons (expires_at > ?), and no driver parses time zones or
// text formats. Microseconds are PostgreSQL's own timestamp precision.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
