package sqlstore

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// This file holds the few places where SQLite and PostgreSQL differ. Every
// query is written once, with ? placeholders, TRUE/FALSE literals, ON
// CONFLICT upserts and RETURNING, which both dialects understand; the
// schemas differ only in column types and live in migrations/<dialect>.

// dialect names a database flavour.
type dialect string

const (
	dialectSQLite   dialect = "sqlite"
	dialectPostgres dialect = "postgres"
)

// rebind rewrites the ? placeholders of query into PostgreSQL's $1, $2, …
// The queries of this package contain no ? inside string literals, so a
// plain scan is enough.
func (d dialect) rebind(query string) string {
	if d != dialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// violation from either driver. Both drivers are linked in, so it needs no
// dialect.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		// The driver turns on extended result codes, so the code says
		// which kind of constraint failed.
		switch liteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// execGuarded runs a write that may violate a uniqueness constraint. In a
// PostgreSQL transaction any failed statement aborts the transaction, so
// after ErrConflict the caller could not go on (say, to record an event);
// a savepoint confines the failure to this statement, as SQLite does by
// itself.
func (s *store) execGuarded(ctx context.Context, query string, args ...any) (int64, error) {
	if s.tx == nil || s.dialect != dialectPostgres {
		return s.execAffected(ctx, query, args...)
	}
	if _, err := s.tx.ExecContext(ctx, "SAVEPOINT sqlstore_guard"); err != nil {
		return 0, err
	}
	n, err := s.execAffected(ctx, query, args...)
	if err != nil {
		if _, rbErr := s.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sqlstore_guard"); rbErr != nil {
			return 0, errors.Join(err, rbErr)
		}
		return 0, err
	}
	if _, err := s.tx.ExecContext(ctx, "RELEASE SAVEPOINT sqlstore_guard"); err != nil {
		return 0, err
	}
	return n, nil
}
