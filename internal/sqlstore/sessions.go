package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/watchword/watchword/internal/account"
)

const sessionColumns = `id, token_hash, uid, created_at, last_seen_at, expires_at, privileged_until, ip, user_agent`

// CreateSession inserts sess. ErrConflict when its ID or token hash exists.
func (s *store) CreateSession(ctx context.Context, sess *account.Session) error {
	n, err := s.execAffected(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		sess.ID, sess.TokenHash, sess.UID, micros(sess.CreatedAt), micros(sess.LastSeenAt), micros(sess.ExpiresAt),
		nullMicros(sess.PrivilegedUntil), sess.IP, sess.UserAgent)
	if err != nil {
		return fail("create session", err)
	}
	if n == 0 {
		return conflict("create session")
	}
	return nil
}

// SessionByTokenHash returns the session with that token hash, expired or
// not: the caller decides.
func (s *store) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*account.Session, error) {
	sess, err := scanSession(s.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = ?`, tokenHash))
	if err != nil {
		return nil, fail("session by token hash", err)
	}
	return sess, nil
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanSession(r scanner) (*account.Session, error) {
	var sess account.Session
	var created, seen, expires int64
	var privileged sql.NullInt64
	err := r.Scan(&sess.ID, &sess.TokenHash, &sess.UID, &created, &seen, &expires, &privileged, &sess.IP, &sess.UserAgent)
	if err != nil {
		return nil, err
	}
	sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt = fromMicros(created), fromMicros(seen), fromMicros(expires)
	sess.PrivilegedUntil = fromNullMicros(privileged)
	return &sess, nil
}

// TouchSession records activity at now. ErrNoRows when there is no such
// session. Last-seen never moves back: touches are written in batches,
// and another instance may have written a later one. It changes nothing a
// session cache keeps (the cache's own clock of activity is local), so it
// invalidates nothing.
func (s *store) TouchSession(ctx context.Context, id string, now time.Time) error {
	n, err := s.execAffected(ctx, `UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END
		WHERE id = ?`, micros(now), micros(now), id)
	if err != nil {
		return fail("touch session", err)
	}
	if n == 0 {
		return noRows("touch session")
	}
	return nil
}

// SetSessionPrivilege sets the step-up privilege of one session.
// ErrNoRows when there is no such session.
func (s *store) SetSessionPrivilege(ctx context.Context, id string, until time.Time) error {
	var uid string
	err := s.atomically(ctx, func(s *store) error {
		// RETURNING names the account whose cached sessions must go.
		return s.queryRow(ctx, `UPDATE sessions SET privileged_until = ? WHERE id = ? RETURNING uid`, micros(until), id).Scan(&uid)
	})
	if err != nil {
		return fail("set session privilege", err)
	}
	s.userChanged(uid)
	return nil
}

// ListSessions returns the user's sessions, newest first.
func (s *store) ListSessions(ctx context.Context, uid string) ([]*account.Session, error) {
	rows, err := s.query(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE uid = ?
		ORDER BY created_at DESC, id DESC`, uid)
	if err != nil {
		return nil, fail("list sessions", err)
	}
	defer rows.Close()
	var list []*account.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fail("list sessions", err)
		}
		list = append(list, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list sessions", err)
	}
	return list, nil
}

// DeleteSession ends one session of uid. ErrNoRows when uid has no such
// session; the uid condition keeps a user from ending another's session.
func (s *store) DeleteSession(ctx context.Context, uid, id string) error {
	n, err := s.execAffected(ctx, `DELETE FROM sessions WHERE uid = ? AND id = ?`, uid, id)
	if err != nil {
		return fail("delete session", err)
	}
	if n == 0 {
		return noRows("delete session")
	}
	s.userChanged(uid)
	return nil
}

// DeleteUserSessions ends every session of uid but keep (none when keep
// is empty) and returns the ids it ended.
func (s *store) DeleteUserSessions(ctx context.Context, uid, keep string) ([]string, error) {
	rows, err := s.query(ctx, `DELETE FROM sessions WHERE uid = ? AND id <> ? RETURNING id`, uid, keep)
	if err != nil {
		return nil, fail("delete user sessions", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fail("delete user sessions", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("delete user sessions", err)
	}
	if len(ids) > 0 {
		s.userChanged(uid)
	}
	return ids, nil
}

// DeleteExpired removes sessions, flows and codes that expired before now,
// in one transaction.
func (s *store) DeleteExpired(ctx context.Context, now time.Time) error {
	err := s.atomically(ctx, func(s *store) error {
		for _, table := range []string{"sessions", "flows", "codes", "unbind_challenges"} {
			if _, err := s.exec(ctx, `DELETE FROM `+table+` WHERE expires_at < ?`, micros(now)); err != nil {
				return err
			}
		}
		// A used TOTP step an hour old can never match again (codes are
		// accepted at most about five minutes off), so its guard can go.
		_, err := s.exec(ctx, `DELETE FROM totp_used_steps WHERE used_at < ?`, micros(now.Add(-time.Hour)))
		return err
	})
	if err != nil {
		return fail("delete expired", err)
	}
	return nil
}
