package account

import (
	"context"
	"fmt"
	"time"
)

// Every change to a session goes through this file: creating, touching,
// granting privilege, ending one, ending all or all others. Each registers
// SessionsChanged to run after its transaction commits, which is the one
// place a session cache has to invalidate.

// touchEvery is how stale last-seen may get before a request updates it:
// it keeps the session look-up free of writes on most requests.
const touchEvery = time.Minute

// SessionObserver is told, after commit, that sessions of uid changed or
// ended; ids names them. A session cache drops them.
type SessionObserver interface {
	SessionsChanged(uid string, ids []string)
}

type nopSessionObserver struct{}

func (nopSessionObserver) SessionsChanged(string, []string) {}

// sessionsChanged tells the observer once tx commits.
func (s *Service) sessionsChanged(tx Tx, uid string, ids ...string) {
	if len(ids) == 0 {
		return
	}
	tx.AfterCommit(func() { s.sessions.SessionsChanged(uid, ids) })
}

// startSession creates a session for uid inside tx and returns its bearer
// token: 256 random bits, of which only a keyed hash is stored.
func (s *Service) startSession(ctx context.Context, tx Tx, c Client, uid string) (string, error) {
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
		ExpiresAt: now.Add(s.cfg.SessionLifetime), IP: storedText(c.IP, 64), UserAgent: storedText(c.UserAgent, maxUserAgent),
	}
	if err := tx.CreateSession(ctx, sess); err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return tok, nil
}

// endSession ends one session of uid. ErrNoRows when uid has no such session.
func (s *Service) endSession(ctx context.Context, tx Tx, uid, id string) error {
	if err := tx.DeleteSession(ctx, uid, id); err != nil {
		return err
	}
	s.sessionsChanged(tx, uid, id)
	return nil
}

// revokeSessions is what a change of credentials (password, verified
// email or phone, authenticator) does to sessions: it bumps the
// credentials version first, so that a login in flight, verified against
// the old credentials, can no longer create a session, and then ends
// every session of uid but keep (all of them when keep is nil).
func (s *Service) revokeSessions(ctx context.Context, tx Tx, uid string, keep *Session) error {
	if err := tx.BumpCredentials(ctx, uid); err != nil {
		return fmt.Errorf("bump credentials: %w", err)
	}
	keepID := ""
	if keep != nil {
		keepID = keep.ID
	}
	ended, err := tx.DeleteUserSessions(ctx, uid, keepID)
	if err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	s.sessionsChanged(tx, uid, ended...)
	return nil
}

// RotateSession replaces sess with a new session of the same account,
// privilege and lifetimes, and returns its token; the old token stops
// working at once. Cookie sessions rotate at step-up (ASVS 7.2.4), so a
// session id that leaked or was planted before the privilege is worth
// nothing after it.
//
// Errors: CodeUnauthenticated (sess ended meanwhile).
func (s *Service) RotateSession(ctx context.Context, c Client, sess *Session) (string, error) {
	tok, hash, err := s.newID("session", 32)
	if err != nil {
		return "", err
	}
	pub, _, err := s.newID("session-id", 12)
	if err != nil {
		return "", err
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := s.endSession(ctx, tx, sess.UID, sess.ID); err != nil {
			if isNoRows(err) {
				return ErrUnauthenticated
			}
			return fmt.Errorf("rotate session: %w", err)
		}
		next := *sess
		next.ID, next.TokenHash, next.LastSeenAt = pub, hash, s.now()
		next.IP, next.UserAgent = storedText(c.IP, 64), storedText(c.UserAgent, maxUserAgent)
		if err := tx.CreateSession(ctx, &next); err != nil {
			return fmt.Errorf("rotate session: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// grantPrivilege marks sess stepped up until then.
func (s *Service) grantPrivilege(ctx context.Context, tx Tx, sess *Session, until time.Time) error {
	if err := tx.SetSessionPrivilege(ctx, sess.ID, until); err != nil {
		return fmt.Errorf("set privilege: %w", err)
	}
	s.sessionsChanged(tx, sess.UID, sess.ID)
	return nil
}

// Authenticate returns the live session of a bearer token. Sessions past
// their idle or absolute lifetime are deleted and refused. A token hashed
// under an earlier secret key (before a rotation) is still found.
//
// Errors: CodeUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, tok string) (*Session, error) {
	if tok == "" || len(tok) > 128 {
		return nil, ErrUnauthenticated
	}
	sess, err := findByHash(ctx, s.hasher.Hashes("session", tok), s.store.SessionByTokenHash)
	if isNoRows(err) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	now := s.now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeenAt) >= s.cfg.SessionIdle {
		if err := s.endSession(ctx, s.store, sess.UID, sess.ID); err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("end expired session: %w", err)
		}
		return nil, ErrUnauthenticated
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if err := s.store.TouchSession(ctx, sess.ID, now); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
		s.sessionsChanged(s.store, sess.UID, sess.ID)
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
	_, err = s.store.ActiveTOTP(ctx, u.UID)
	if err != nil && !isNoRows(err) {
		return nil, false, fmt.Errorf("me: %w", err)
	}
	return u, err == nil, nil
}

// Logout ends the session.
func (s *Service) Logout(ctx context.Context, c Client, sess *Session) error {
	return s.store.Atomic(ctx, func(tx Tx) error {
		if err := s.endSession(ctx, tx, sess.UID, sess.ID); err != nil && !isNoRows(err) {
			return fmt.Errorf("logout: %w", err)
		}
		return s.recordTx(ctx, tx, c, sess.UID, EventLogout, "")
	})
}

// EndSession ends one session of the account (possibly the current one).
//
// Errors: CodeNotFound.
func (s *Service) EndSession(ctx context.Context, c Client, sess *Session, id string) error {
	return s.store.Atomic(ctx, func(tx Tx) error {
		err := s.endSession(ctx, tx, sess.UID, id)
		if isNoRows(err) {
			return Errorf(CodeNotFound, "No such session.")
		}
		if err != nil {
			return fmt.Errorf("end session: %w", err)
		}
		return s.recordTx(ctx, tx, c, sess.UID, EventSessionRevoked, "session="+id)
	})
}

// Sessions returns the live sessions of the account, newest first.
func (s *Service) Sessions(ctx context.Context, sess *Session) ([]*Session, error) {
	all, err := s.store.ListSessions(ctx, sess.UID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := s.now()
	live := all[:0]
	for _, x := range all {
		if now.Before(x.ExpiresAt) && now.Sub(x.LastSeenAt) < s.cfg.SessionIdle {
			live = append(live, x)
		}
	}
	return live, nil
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
