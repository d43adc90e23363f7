package account_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sessioncache"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/storetest"
)

// countingStore counts the reads a session check can make.
type countingStore struct {
	account.Store
	reads atomic.Int64
}

func (c *countingStore) SessionByTokenHash(ctx context.Context, h []byte) (*account.Session, error) {
	c.reads.Add(1)
	return c.Store.SessionByTokenHash(ctx, h)
}

func (c *countingStore) UserByUID(ctx context.Context, uid string) (*account.User, error) {
	c.reads.Add(1)
	return c.Store.UserByUID(ctx, uid)
}

func (c *countingStore) ActiveTOTP(ctx context.Context, uid string) (*account.TOTPBinding, error) {
	c.reads.Add(1)
	return c.Store.ActiveTOTP(ctx, uid)
}

func (c *countingStore) TouchSession(ctx context.Context, id string, now time.Time) error {
	c.reads.Add(1)
	return c.Store.TouchSession(ctx, id, now)
}

// cachedEnv is an env whose Service checks sessions through a
// sessioncache.Cache that the store invalidates, as main wires it.
type cachedEnv struct {
	*env
	cache *sessioncache.Cache
	store *countingStore
}

func newCachedEnv(t *testing.T, dsn string) *cachedEnv {
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
	cache := sessioncache.New(0)
	db.OnChange(cache.Changed)
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	store := &countingStore{Store: db}
	svc := account.New(account.Deps{
		Store:     store,
		Limiter:   limiter{ratelimit.NewMemory(c.Now)},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy,
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random:    rand.Reader,
		Now:       c.Now,
		Log:       slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil)),
		Cache:     cache,
	}, account.Config{})
	e := &env{t: t, svc: svc, db: db, clock: c, log: &logs, seen: map[string]int{}, inbox: map[string][]*account.Message{}}
	return &cachedEnv{env: e, cache: cache, store: store}
}

func onEveryCachedStore(t *testing.T, test func(t *testing.T, e *cachedEnv)) {
	t.Run("sqlite", func(t *testing.T) { test(t, newCachedEnv(t, "sqlite:"+t.TempDir()+"/w.db")) })
	t.Run("postgres", func(t *testing.T) { test(t, newCachedEnv(t, storetest.OpenPostgres(t))) })
}

// check authenticates tok and reads its account, as GET /api/v1/me does.
func (e *cachedEnv) check(tok string) (*account.Session, *account.User, bool, error) {
	ctx := context.Background()
	sess, err := e.svc.Authenticate(ctx, tok)
	if err != nil {
		return nil, nil, false, err
	}
	u, hasTOTP, err := e.svc.Me(ctx, sess)
	return sess, u, hasTOTP, err
}

func (e *cachedEnv) mustCheck(tok string) (*account.Session, *account.User, bool) {
	e.t.Helper()
	sess, u, hasTOTP, err := e.check(tok)
	if err != nil {
		e.t.Fatalf("session check: %v", err)
	}
	return sess, u, hasTOTP
}

// wantRefused fails unless tok is refused now, with the cache warm.
func (e *cachedEnv) wantRefused(tok, after string) {
	e.t.Helper()
	if _, _, _, err := e.check(tok); err == nil {
		e.t.Errorf("after %s: the session is still accepted", after)
	}
}

func TestSessionCacheHitCostsNoQuery(t *testing.T) {
	onEveryCachedStore(t, func(t *testing.T, e *cachedEnv) {
		uid, tok := e.signUp("hit@example.com")
		e.mustCheck(tok) // fills the cache
		before := e.store.reads.Load()
		for range 100 {
			e.clock.Advance(time.Second) // crosses touchEvery: a touch is recorded, not written
			e.mustCheck(tok)
		}
		if n := e.store.reads.Load() - before; n != 0 {
			t.Errorf("100 cached session checks made %d store calls, want 0", n)
		}
		if err := e.svc.FlushTouches(t.Context()); err != nil {
			t.Fatal(err)
		}
		list, err := e.db.ListSessions(t.Context(), uid)
		if err != nil || len(list) != 1 {
			t.Fatalf("sessions: %d, %v", len(list), err)
		}
		// Activity is recorded when last-seen is 30 s old.
		if lag := e.clock.Now().Sub(list[0].LastSeenAt); lag >= 30*time.Second {
			t.Errorf("last seen in the database %v behind after the flush", lag)
		}
	})
}

// TestSessionCacheRevocationsAtOnce walks the changes of a session or an
// account through the use cases, each with the cache warm, and shows each
// visible on the next check: the store invalidates after commit.
func TestSessionCacheRevocationsAtOnce(t *testing.T) {
	onEveryCachedStore(t, func(t *testing.T, e *cachedEnv) {
		ctx := context.Background()
		const email = "revoke@example.com"
		_, tok := e.signUp(email)
		login := func() string {
			t.Helper()
			res, err := e.svc.LoginPassword(ctx, client, email, goodPassword)
			if err != nil || res.SessionToken == "" {
				t.Fatalf("login: %+v, %v", res, err)
			}
			return res.SessionToken
		}

		// Logout.
		other := login()
		sess, _, _ := e.mustCheck(other)
		if err := e.svc.Logout(ctx, client, sess); err != nil {
			t.Fatal(err)
		}
		e.wantRefused(other, "logout")

		// Ending another session.
		other = login()
		otherSess, _, _ := e.mustCheck(other)
		cur, _, _ := e.mustCheck(tok)
		if err := e.svc.EndSession(ctx, client, cur, otherSess.ID); err != nil {
			t.Fatal(err)
		}
		e.wantRefused(other, "ending the session")

		// Step-up: the privilege shows at once.
		cur, _, _ = e.mustCheck(tok)
		if e.svc.Privileged(cur) {
			t.Fatal("privileged before step-up")
		}
		e.stepUp(tok, email)
		cur, _, _ = e.mustCheck(tok)
		if !e.svc.Privileged(cur) {
			t.Error("step-up not visible on the next check")
		}

		// Email change: every session ends, and the new address and the
		// security hold show at once.
		other = login()
		e.mustCheck(other)
		fresh := "revoke2@example.com"
		flow, err := e.svc.StartContactChange(ctx, client, cur, account.ChannelEmail, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.ConfirmContactChange(ctx, client, cur, account.ChannelEmail, flow, e.code(fresh)); err != nil {
			t.Fatal(err)
		}
		e.next(fresh) // the notice of the change
		e.wantRefused(tok, "email change")
		e.wantRefused(other, "email change")
		tok = login2(t, e, fresh, goodPassword)
		_, u, _ := e.mustCheck(tok)
		if u.Email != fresh || u.SecurityHoldUntil == nil {
			t.Errorf("after email change: email %q, hold %v", u.Email, u.SecurityHoldUntil)
		}

		// Password change ends every session.
		cur = e.stepUp(tok, fresh)
		const newPassword = "another horse battery staple"
		if err := e.svc.ChangePassword(ctx, client, cur, newPassword); err != nil {
			t.Fatal(err)
		}
		e.next(fresh) // the notice of the change
		e.wantRefused(tok, "password change")
		tok = login2(t, e, fresh, newPassword)

		// Language: a login in another language changes the account's,
		// as the other sessions see at once.
		_, u, _ = e.mustCheck(tok)
		zh := client
		zh.Lang = i18n.Lang("zh-CN")
		if res, err := e.svc.LoginPassword(ctx, zh, fresh, newPassword); err != nil || res.SessionToken == "" {
			t.Fatalf("login in zh-CN: %+v, %v", res, err)
		}
		if _, u2, _ := e.mustCheck(tok); u2.Lang == u.Lang {
			t.Errorf("language still %q after a login in zh-CN", u2.Lang)
		}

		// Authenticator bound, then removed: the other sessions end each
		// time, the state shows at once on the one kept.
		cur = e.stepUp(tok, fresh)
		b, err := e.svc.BeginTOTP(ctx, client, cur)
		if err != nil {
			t.Fatal(err)
		}
		secret := decodeTOTPSecret(t, b)
		if _, _, on := e.mustCheck(tok); on {
			t.Fatal("authenticator on before confirmation")
		}
		other = login2(t, e, fresh, newPassword)
		e.mustCheck(other)
		if _, err := e.svc.ConfirmTOTP(ctx, client, cur, e.totpAt(secret, 0)); err != nil {
			t.Fatal(err)
		}
		e.wantRefused(other, "binding an authenticator")
		if _, _, on := e.mustCheck(tok); !on {
			t.Error("bound authenticator not visible on the next check")
		}
		e.clock.Advance(30 * time.Second)
		cur, _, _ = e.mustCheck(tok)
		if err := e.svc.DisableTOTP(ctx, client, cur, e.totpAt(secret, 0)); err != nil {
			t.Fatal(err)
		}
		if _, _, on := e.mustCheck(tok); on {
			t.Error("removed authenticator still visible")
		}
	})
}

func login2(t *testing.T, e *cachedEnv, ident, password string) string {
	t.Helper()
	res, err := e.svc.LoginPassword(context.Background(), client, ident, password)
	if err != nil || res.SessionToken == "" {
		t.Fatalf("login: %+v, %v", res, err)
	}
	return res.SessionToken
}

// TestSessionCacheIdle shows the idle timeout with coalesced touches:
// activity recorded in memory keeps a session alive, and a session idle
// by the cache's clock is checked against the database (where another
// instance may have recorded activity) before it is refused.
func TestSessionCacheIdle(t *testing.T) {
	onEveryCachedStore(t, func(t *testing.T, e *cachedEnv) {
		ctx := context.Background()
		_, tok := e.signUp("idle@example.com")
		idle := account.DefaultConfig().SessionIdle
		// Used every 20 minutes for two hours, without a flush: alive
		// (the session checks read the database: nothing is cached yet
		// then the cache serves them).
		for range 6 {
			e.clock.Advance(20 * time.Minute)
			e.mustCheck(tok)
		}
		if err := e.svc.FlushTouches(ctx); err != nil {
			t.Fatal(err)
		}
		// Another instance on the same database, which saw the session
		// at the last check and has it cached from then.
		sess, _, _ := e.mustCheck(tok)
		otherSvc := account.New(account.Deps{
			Store: e.db, Limiter: limiter{ratelimit.NewMemory(e.clock.Now)}, Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
			Policy: password.DefaultPolicy, TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}, Random: rand.Reader,
			Now: e.clock.Now, Log: slog.New(slog.DiscardHandler), Cache: sessioncache.New(0),
		}, account.Config{})
		if _, err := otherSvc.Authenticate(ctx, tok); err != nil {
			t.Fatal(err)
		}
		// This instance keeps using it for 40 minutes and flushes.
		for range 4 {
			e.clock.Advance(10 * time.Minute)
			e.mustCheck(tok)
		}
		if err := e.svc.FlushTouches(ctx); err != nil {
			t.Fatal(err)
		}
		// The other instance's cached last-seen is 40 minutes old: it
		// must read the database rather than end the session.
		if _, err := otherSvc.Authenticate(ctx, tok); err != nil {
			t.Errorf("other instance ended a session used %v ago elsewhere: %v", 10*time.Minute, err)
		}
		// Unused for the idle timeout plus a minute: ended everywhere.
		e.clock.Advance(idle + time.Minute)
		e.wantRefused(tok, "the idle timeout")
		if _, err := otherSvc.Authenticate(ctx, tok); err == nil {
			t.Error("other instance still accepts an idle session")
		}
		_ = sess
	})
}
