package account

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Every change to a session goes through this file: creating, touching,
// granting privilege, ending one, ending all or all others. Each registers
// SessionsChanged to run after its transaction commits, which is the one
// place a session cache has to invalidate.

// touchEvery is how stale last-seen may get before a request records
// activity. Activity is written in batches (FlushTouches, every
// FlushTouchesEvery), so the database's last-seen trails the last request
// by less than touchEvery + FlushTouchesEvery: the idle timeout is right
// to within a minute, and a session check writes nothing.
const touchEvery = 30 * time.Second

// FlushTouchesEvery is how often the server should call FlushTouches.
const FlushTouchesEvery = 15 * time.Second

// SessionCache keeps sessions by token hash, and the account and
// authenticator state that Me returns, in memory (internal/sessioncache).
// The store tells it about every committed change; the Service only reads
// through it. A value read from the database is put back only with the
// epoch read before the read began, so a read that raced an invalidation
// is not kept.
type SessionCache interface {
	// Epoch returns the current invalidation epoch, and false when the
	// cache must not be used (its invalidation channel is down).
	Epoch() (epoch uint64, usable bool)
	Session(tokenHash []byte) (Session, bool)
	PutSession(epoch uint64, tokenHash []byte, s Session)
	// SeenSession moves the cached last-seen of a session forward.
	SeenSession(tokenHash []byte, at time.Time)
	Me(uid string) (u User, hasTOTP, ok bool)
	PutMe(epoch uint64, u User, hasTOTP bool)
}

type nopCache struct{}

func (nopCache) Epoch() (uint64, bool)              { return 0, false }
func (nopCache) Session([]byte) (Session, bool)     { return Session{}, false }
func (nopCache) PutSession(uint64, []byte, Session) {}
func (nopCache) SeenSession([]byte, time.Time)      {}
func (nopCache) Me(string) (User, bool, bool)       { return User{}, false, false }
func (nopCache) PutMe(uint64, User, bool)           {}

// touches holds the activity of sessions that is not written yet.
type touches struct {
	mu      sync.Mutex
	pending map[string]time.Time // session id → latest activity
}

func (t *touches) add(id string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.pending == nil {
		t.pending = map[string]time.Time{}
	}
	if at.After(t.pending[id]) {
		t.pending[id] = at
	}
}

// latest returns the later of at and the pending activity of id.
func (t *touches) latest(id string, at time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.pending[id]; p.After(at) {
		return p
	}
	return at
}

func (t *touches) take() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending
	t.pending = nil
	return p
}

// FlushTouches writes the recorded activity of sessions in one
// transaction. The server calls it every FlushTouchesEvery and at
// shutdown; on failure the activity is kept for the next call.
func (s *Service) FlushTouches(ctx context.Context) error {
	batch := s.touches.take()
	if len(batch) == 0 {
		return nil
	}
	// In id order, so two instances flushing the same sessions lock
	// their rows in the same order and cannot deadlock.
	ids := slices.Sorted(maps.Keys(batch))
	err := s.store.Atomic(ctx, func(tx Tx) error {
		for _, id := range ids {
			if err := tx.TouchSession(ctx, id, batch[id]); err != nil && !isNoRows(err) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for id, at := range batch {
			s.touches.add(id, at)
		}
		return fmt.Errorf("flush session touches: %w", err)
	}
	return nil
}

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
// A cached session costs no database round trip. One that looks ended by
// the cached clock is read again before it is refused: another instance
// may have seen it since.
//
// Errors: CodeUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, tok string) (*Session, error) {
	if tok == "" || len(tok) > 128 {
		return nil, ErrUnauthenticated
	}
	hashes := s.hasher.Hashes("session", tok)
	now := s.now()
	epoch, usable := s.cache.Epoch()
	if usable {
		if sess, ok := s.cache.Session(hashes[0]); ok && s.live(&sess, now) {
			if s.seen(&sess, now) {
				s.cache.SeenSession(hashes[0], now)
			}
			return &sess, nil
		}
	}
	sess, err := findByHash(ctx, hashes, s.store.SessionByTokenHash)
	if isNoRows(err) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	sess.LastSeenAt = s.touches.latest(sess.ID, sess.LastSeenAt)
	if !s.live(sess, now) {
		if err := s.endSession(ctx, s.store, sess.UID, sess.ID); err != nil && !isNoRows(err) {
			return nil, fmt.Errorf("end expired session: %w", err)
		}
		return nil, ErrUnauthenticated
	}
	s.seen(sess, now)
	if usable {
		s.cache.PutSession(epoch, hashes[0], *sess)
	}
	return sess, nil
}

// live reports whether sess is within its idle and absolute lifetimes.
func (s *Service) live(sess *Session, now time.Time) bool {
	return now.Before(sess.ExpiresAt) && now.Sub(sess.LastSeenAt) < s.cfg.SessionIdle
}

// seen records activity on sess at now, for the next FlushTouches, when
// its last-seen is older than touchEvery; it reports whether it did.
func (s *Service) seen(sess *Session, now time.Time) bool {
	if now.Sub(sess.LastSeenAt) < touchEvery {
		return false
	}
	s.touches.add(sess.ID, now)
	sess.LastSeenAt = now
	return true
}

// Me returns the account of a session, with its authenticator state.
func (s *Service) Me(ctx context.Context, sess *Session) (*User, bool, error) {
	epoch, usable := s.cache.Epoch()
	if usable {
		if u, hasTOTP, ok := s.cache.Me(sess.UID); ok {
			return &u, hasTOTP, nil
		}
	}
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
	hasTOTP := err == nil
	if usable {
		s.cache.PutMe(epoch, *u, hasTOTP)
	}
	return u, hasTOTP, nil
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
		x.LastSeenAt = s.touches.latest(x.ID, x.LastSeenAt)
		if s.live(x, now) {
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
