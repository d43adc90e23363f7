package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// outboxAD is the additional data of sealed message bodies. The row id is
// not known before the insert, so a body is bound to the outbox only.
var outboxAD = []byte("outbox")

// messageBody is what is sealed: everything that may carry a code.
type messageBody struct {
	Subject string `json:"s,omitempty"`
	Text    string `json:"t,omitempty"`
	HTML    string `json:"h,omitempty"`
}

// EnqueueMessage stores m in the durable outbox, its subject and bodies
// sealed, and sets m.ID. A zero m.NextAttemptAt means m.CreatedAt: send
// at once.
func (s *store) EnqueueMessage(ctx context.Context, m *account.Message) error {
	plain, err := json.Marshal(messageBody{Subject: m.Subject, Text: m.Text, HTML: m.HTML})
	if err != nil {
		return fail("enqueue message", err)
	}
	sealed, err := s.sealer.Seal(plain, outboxAD)
	if err != nil {
		return fail("enqueue message", err)
	}
	next := m.NextAttemptAt
	if next.IsZero() {
		next = m.CreatedAt
	}
	if m.Decoy {
		// The same work as a real message, then nothing of it is kept.
		var id int64
		err = s.queryRow(ctx, `INSERT INTO outbox (channel, recipient, body_sealed, created_at, attempts, next_attempt_at, failed_at, last_error)
			VALUES (?, '', NULL, ?, 0, ?, ?, 'decoy') RETURNING id`,
			string(m.Channel), micros(m.CreatedAt), micros(next), micros(m.CreatedAt)).Scan(&id)
		if err != nil {
			return fail("enqueue message", err)
		}
		m.ID, m.NextAttemptAt = id, next
		return nil
	}
	var id int64
	err = s.queryRow(ctx, `INSERT INTO outbox (channel, recipient, body_sealed, created_at, attempts, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		string(m.Channel), m.To, sealed, micros(m.CreatedAt), m.Attempts, micros(next)).Scan(&id)
	if err != nil {
		return fail("enqueue message", err)
	}
	m.ID, m.NextAttemptAt = id, next
	return nil
}

// ClaimMessages leases up to limit (none when not positive) due messages (not sent, not given up,
// next attempt at or before now), oldest first, to the caller until
// now+lease, and returns them decrypted with Attempts counting this one.
// The claim is one UPDATE … RETURNING, so a busy outbox costs one write
// per batch. Of two workers or instances claiming at once each message
// goes to one: on PostgreSQL the rows another claim holds are skipped
// (FOR UPDATE SKIP LOCKED) and the outer conditions are checked again on
// the row as committed; SQLite runs one writer at a time. A message whose
// lease runs out without MarkSent, MarkRetry or MarkFailed is claimed
// again. A message whose body cannot be decrypted (its key was dropped)
// can never be sent: it is marked failed here rather than returned.
func (db *DB) ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*account.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	skipLocked := ""
	if db.dialect == dialectPostgres {
		skipLocked = " FOR UPDATE SKIP LOCKED"
	}
	until := now.Add(lease)
	type claim struct {
		m      account.Message
		sealed []byte
	}
	var claims []claim
	// The due ids are a MATERIALIZED CTE: PostgreSQL may otherwise run a
	// LIMIT … SKIP LOCKED subquery more than once and claim more than
	// limit.
	err := db.writeQuery(ctx, `WITH due AS MATERIALIZED (
			SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
			ORDER BY id LIMIT ?`+skipLocked+`)
		UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?
		WHERE id IN (SELECT id FROM due) AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= ?
		RETURNING id, channel, recipient, body_sealed, created_at, attempts`,
		[]any{micros(now), limit, micros(until), micros(now)},
		func(rows *sql.Rows) error {
			var c claim
			var channel string
			var created int64
			if err := rows.Scan(&c.m.ID, &channel, &c.m.To, &c.sealed, &created, &c.m.Attempts); err != nil {
				return err
			}
			c.m.Channel, c.m.CreatedAt, c.m.NextAttemptAt = account.Channel(channel), fromMicros(created), until
			claims = append(claims, c)
			return nil
		})
	if err != nil {
		return nil, fail("claim messages", err)
	}
	// RETURNING gives no order.
	slices.SortFunc(claims, func(a, b claim) int { return cmp.Compare(a.m.ID, b.m.ID) })

	claimed := make([]*account.Message, 0, len(claims))
	for _, c := range claims {
		m := c.m
		plain, err := db.sealer.Open(c.sealed, outboxAD)
		var body messageBody
		if err == nil {
			err = json.Unmarshal(plain, &body)
		}
		if err != nil {
			if err := db.MarkFailed(ctx, m.ID, now, "sqlstore: cannot open sealed body: "+err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		m.Subject, m.Text, m.HTML = body.Subject, body.Text, body.HTML
		claimed = append(claimed, &m)
	}
	return claimed, nil
}

// MarkSent records that the messages ids were delivered and wipes their
// bodies, in one write: a delivered code is not kept. ErrNoRows when some
// id is not a pending message (the others are marked all the same).
func (db *DB) MarkSent(ctx context.Context, now time.Time, ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, micros(now))
	for _, id := range ids {
		args = append(args, id)
	}
	marks := strings.Repeat(", ?", len(ids))[2:]
	n, err := db.execAffected(ctx, `UPDATE outbox SET sent_at = ?, body_sealed = NULL
		WHERE id IN (`+marks+`) AND sent_at IS NULL AND failed_at IS NULL`, args...)
	if err != nil {
		return fail("mark sent", err)
	}
	if n < int64(len(ids)) {
		return fmt.Errorf("sqlstore: mark sent: %d of %d messages not pending: %w", int64(len(ids))-n, len(ids), account.ErrNoRows)
	}
	return nil
}

// MarkRetry schedules another attempt of message id at next, recording why
// this one failed. ErrNoRows when no pending message has that id.
func (db *DB) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	return db.finishMessage(ctx, "mark retry", `next_attempt_at = ?, last_error = ?`, id, micros(next), lastErr)
}

// MarkFailed gives up on message id, recording why, and wipes its body.
// ErrNoRows when no pending message has that id.
func (db *DB) MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error {
	return db.finishMessage(ctx, "mark failed", `failed_at = ?, last_error = ?, body_sealed = NULL`, id, micros(now), lastErr)
}

// finishMessage applies set to message id if it is still pending.
func (db *DB) finishMessage(ctx context.Context, op, set string, id int64, args ...any) error {
	n, err := db.execAffected(ctx, `UPDATE outbox SET `+set+` WHERE id = ? AND sent_at IS NULL AND failed_at IS NULL`,
		append(args, id)...)
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: message %d: %w", op, id, account.ErrNoRows)
	}
	return nil
}

// CountPendingMessages returns how many messages are neither sent nor
// given up, for the queue-depth metric.
func (db *DB) CountPendingMessages(ctx context.Context) (int, error) {
	var n int
	err := db.queryRow(ctx, `SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, fail("count pending messages", err)
	}
	return n, nil
}

// RecordEvent appends e to the security log and sets e.ID.
func (s *store) RecordEvent(ctx context.Context, e *account.Event) error {
	var id int64
	err := s.queryRow(ctx, `INSERT INTO security_events (uid, kind, ip, user_agent, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		e.UID, string(e.Kind), e.IP, e.UserAgent, e.Detail, micros(e.CreatedAt)).Scan(&id)
	if err != nil {
		return fail("record event", err)
	}
	e.ID = id
	return nil
}

// ListEvents returns the user's newest events, newest first, at most limit
// (none when limit is not positive).
func (s *store) ListEvents(ctx context.Context, uid string, limit int) ([]*account.Event, error) {
	if limit <= 0 {
		// LIMIT -1 means "no limit" to SQLite and is an error to PostgreSQL.
		return nil, nil
	}
	rows, err := s.query(ctx, `SELECT id, uid, kind, ip, user_agent, detail, created_at
		FROM security_events WHERE uid = ? ORDER BY id DESC LIMIT ?`, uid, limit)
	if err != nil {
		return nil, fail("list events", err)
	}
	defer rows.Close()
	var list []*account.Event
	for rows.Next() {
		var e account.Event
		var kind string
		var created int64
		if err := rows.Scan(&e.ID, &e.UID, &kind, &e.IP, &e.UserAgent, &e.Detail, &created); err != nil {
			return nil, fail("list events", err)
		}
		e.Kind, e.CreatedAt = account.EventKind(kind), fromMicros(created)
		list = append(list, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list events", err)
	}
	return list, nil
}
