package sessioncache_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sessioncache"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/storetest"
)

// instance is what one server holds: its store, cache and listener.
type instance struct {
	db       *sqlstore.DB
	cache    *sessioncache.Cache
	listener *sessioncache.Listener
}

func newInstance(t *testing.T, dsn string) *instance {
	t.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(t.Context(), dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	in := &instance{db: db, cache: sessioncache.New(0)}
	db.OnChange(in.cache.Changed)
	in.listener = sessioncache.NewListener(in.cache, dsn, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.listener.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	in.waitHealthy(t)
	return in
}

func (in *instance) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !in.listener.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("listener not healthy after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cached puts sess in the cache as a session check would.
func (in *instance) cached(t *testing.T, sess *account.Session) {
	t.Helper()
	e, ok := in.cache.Epoch()
	if !ok {
		t.Fatal("cache unusable")
	}
	got, err := in.db.SessionByTokenHash(t.Context(), sess.TokenHash)
	if err != nil {
		t.Fatal(err)
	}
	in.cache.PutSession(e, sess.TokenHash, *got)
	if _, ok := in.cache.Session(sess.TokenHash); !ok {
		t.Fatal("session not cached")
	}
}

// gone waits up to limit for the cache to lose sess, and returns how long
// it took.
func (in *instance) gone(t *testing.T, sess *account.Session, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, ok := in.cache.Session(sess.TokenHash)
		if !ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("session still cached %v after its revocation on another instance", limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newSession(t *testing.T, db *sqlstore.DB, uid string) *account.Session {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	if _, err := db.UserByUID(ctx, uid); err != nil {
		if err := db.CreateUser(ctx, &account.User{UID: uid, PasswordHash: "x", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	s := &account.Session{ID: "s-" + uid + now.Format("150405.000000"), TokenHash: []byte("hash-" + uid + now.Format("150405.000000")),
		UID: uid, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestListenerAcrossInstances: a revocation committed on one instance is
// dropped from another's cache within Staleness; a touch is not.
func TestListenerAcrossInstances(t *testing.T) {
	dsn := storetest.OpenPostgres(t)
	a, b := newInstance(t, dsn), newInstance(t, dsn)
	ctx := t.Context()

	s := newSession(t, a.db, "u1")
	b.cached(t, s)
	// A touch of last-seen notifies nobody.
	if err := a.db.TouchSession(ctx, s.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok := b.cache.Session(s.TokenHash); !ok {
		t.Error("a touch of last-seen invalidated the other instance's cache")
	}
	if err := a.db.DeleteSession(ctx, s.UID, s.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("logout seen by the other instance after %v", b.gone(t, s, sessioncache.Staleness))

	for name, change := range map[string]func(uid string) error{
		"password": func(uid string) error { return a.db.SetPasswordHash(ctx, uid, "y") },
		"privilege": func(uid string) error {
			return a.db.Atomic(ctx, func(tx account.Tx) error {
				list, err := tx.ListSessions(ctx, uid)
				if err != nil {
					return err
				}
				return tx.SetSessionPrivilege(ctx, list[0].ID, time.Now().Add(time.Minute))
			})
		},
		"all sessions": func(uid string) error { _, err := a.db.DeleteUserSessions(ctx, uid, ""); return err },
		"role":         func(uid string) error { return a.db.GrantRole(ctx, uid, "staff") },
		"hold":         func(uid string) error { return a.db.SetSecurityHold(ctx, uid, time.Now()) },
	} {
		uid := "u-" + name
		s := newSession(t, a.db, uid)
		b.cached(t, s)
		if err := change(uid); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s change seen by the other instance after %v", name, b.gone(t, s, sessioncache.Staleness))
	}
}

// TestListenerDownFallsBack cuts an instance's listening connection
// (pg_terminate_backend): the cache is bypassed until the channel is back,
// and a revocation committed meanwhile is not served from it afterwards.
func TestListenerDownFallsBack(t *testing.T) {
	dsn := storetest.OpenPostgres(t)
	a, b := newInstance(t, dsn), newInstance(t, dsn)
	ctx := t.Context()
	s := newSession(t, a.db, "u1")
	b.cached(t, s)

	pid := b.listener.BackendPID()
	var ok bool
	if err := a.db.SQL().QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", int64(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, ok, err)
	}
	// Down at once (the connection fails), and in any case within Staleness.
	start := time.Now()
	for b.listener.Healthy() {
		if time.Since(start) > sessioncache.Staleness {
			t.Fatalf("listener still healthy %v after its connection was cut", sessioncache.Staleness)
		}
		time.Sleep(time.Millisecond)
	}
	if _, usable := b.cache.Epoch(); usable {
		t.Error("cache usable while the channel is down")
	}
	// Revoked while b's channel is down, before it reconnects.
	if _, err := a.db.SQL().ExecContext(ctx, "DELETE FROM sessions WHERE id = $1", s.ID); err != nil {
		t.Fatal(err)
	}
	b.waitHealthy(t)
	if _, ok := b.cache.Session(s.TokenHash); ok {
		t.Error("session revoked during the outage still cached after the channel came back")
	}
	// A revocation after recovery travels again.
	s2 := newSession(t, a.db, "u2")
	b.cached(t, s2)
	if err := a.db.DeleteSession(ctx, s2.UID, s2.ID); err != nil {
		t.Fatal(err)
	}
	b.gone(t, s2, sessioncache.Staleness)
}
