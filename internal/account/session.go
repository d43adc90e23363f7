package account

import (
	"context"
	"fmt"
	"time"
)

// touchEvery is how stale last-seen may get before a request updates it:
// it keeps the session look-up free of writes on most requests.
const touchEvery = time.Minute

// startSession creates a session for uid inside tx and returns its bearer
// token: 256 random bits, of which only a keyed hash is stored.
func (s *Service) startSession(ctx context.Context, tx Tx, c Client, uid, method string) (string, error) {
	tok, hash, err := s.newID("session", 32)
	if err != nil {
		return "", err
	}
	pub, _, err := s.newID("session-id", 12)
	if err != nil {
		return "", err
	}
	now := s.now()
	sess := &Session{
		ID: pub, TokenHash: hash, UID: uid, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(s.cfg.SessionLifetime), IP: c.IP, UserAgent: truncate(c.UserAgent, 256),
	}
	if err := tx.CreateSession(ctx, sess); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return tok, nil
}

// Authenticate returns the live session of a bearer token. Sessions past
// their idle or absolute lifetime are deleted and refused.
//
// Errors: CodeUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, tok string) (*Session, error) {
	if tok == "" || len(tok) > 128 {
		return nil, ErrUnauthenticated
	}
	sess, err := s.store.SessionByTokenHash(ctx, s.hasher.Hash("session", tok))
	if isNoRows(err) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdle {
		if err := s.store.DeleteSession(ctx, sess.UID, sess.ID); err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("end expired session: %w", err)
		}
		return nil, ErrUnauthenticated
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	return sess, nil
}

// Me returns the account of a session, with its authenticator state.
func (s *Service) Me(ctx context.Context, sess *Session) (*User, bool, error) {
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		if isNoRows(err) {
			return nil, false, ErrUnauthenticated
		}
		return nil, false, fmt.Errorf("me: %w", err)
	}
	_, err = s.store.TOTP(ctx, u.UID, false)
	if err != nil && !isNoRows(err) {
		return nil, false, fmt.Errorf("me: %w", err)
	}
	return u, err == nil, nil
}

// Logout ends the session.
func (s *Service) Logout(ctx context.Context, c Client, sess *Session) error {
	return s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.DeleteSession(ctx, sess.UID, sess.ID); err != nil && !isNoRows(err) {
			return fmt.Errorf("logout: %w", err)
		}
		return s.recordTx(ctx, tx, c, sess.UID, EventLogout, "")
	})
}

// Privileged reports whether the session stepped up recently enough for a
// sensitive change.
func (s *Service) Privileged(sess *Session) bool {
	return sess.PrivilegedUntil != nil && s.now().Before(*sess.PrivilegedUntil)
}

// Cleanup deletes expired sessions, flows and codes. Run it periodically.
func (s *Service) Cleanup(ctx context.Context) error {
	return s.store.DeleteExpired(ctx, s.now())
}
