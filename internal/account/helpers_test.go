package account_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/storetest"
)

// clock is a fake time source that tests move forward by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a Service on a real database with a fake clock.
type env struct {
	t     *testing.T
	svc   *account.Service
	db    *sqlstore.DB
	clock *clock
	log   *bytes.Buffer
	seen  map[string]int                // messages read per recipient
	inbox map[string][]*account.Message // messages delivered per recipient
}

// newEnv returns a Service over SQLite (or dsn when given), with cheap
// password hashing and an in-memory limiter on the same fake clock.
func newEnv(t *testing.T, dsn ...string) *env {
	t.Helper()
	d := "sqlite:" + t.TempDir() + "/w.db"
	if len(dsn) > 0 {
		d = dsn[0]
	}
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	svc, db := newService(t, d, password.Params{Memory: 64, Time: 1, Threads: 1}, account.Config{}, c.Now, &lockedWriter{w: &logs})
	return &env{t: t, svc: svc, db: db, clock: c, log: &logs, seen: map[string]int{}, inbox: map[string][]*account.Message{}}
}

// newService builds a Service the way main does, on a migrated database
// at dsn, with the given hashing cost, rules, clock and log output.
func newService(tb testing.TB, dsn string, params password.Params, cfg account.Config, now func() time.Time, log io.Writer) (*account.Service, *sqlstore.DB) {
	tb.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		tb.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), dsn, box)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	svc := account.New(account.Deps{
		Store:     db,
		Limiter:   limiter{ratelimit.NewMemory(now)},
		Passwords: password.NewHasher(params),
		Policy:    password.DefaultPolicy,
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random:    rand.Reader,
		Now:       now,
		Log:       slog.New(slog.NewTextHandler(log, nil)),
	}, cfg)
	return svc, db
}

// newPostgresEnv is newEnv on a fresh PostgreSQL database.
func newPostgresEnv(t *testing.T) *env {
	return newEnv(t, storetest.OpenPostgres(t))
}

// limiter adapts ratelimit.Limiter to account.Limiter (as main does).
type limiter struct{ l ratelimit.Limiter }

func (a limiter) Take(ctx context.Context, key string, n int, w time.Duration) (bool, time.Duration, error) {
	d, err := a.l.Take(ctx, key, n, w)
	return d.Allowed, d.RetryAfter, err
}

func (a limiter) Undo(ctx context.Context, key string, w time.Duration) error {
	return a.l.Undo(ctx, key, w)
}

func (a limiter) Peek(ctx context.Context, key string, n int) (bool, time.Duration, error) {
	d, err := a.l.Peek(ctx, key, n)
	return d.Allowed, d.RetryAfter, err
}

func (a limiter) Strike(ctx context.Context, key string, idle time.Duration) (int, error) {
	return a.l.Strike(ctx, key, idle)
}

func (a limiter) Reset(ctx context.Context, key string) error { return a.l.Reset(ctx, key) }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var sixDigits = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// messages drains the outbox (as the delivery worker would) and returns
// every message queued so far, oldest first.
func (e *env) messages() []*account.Message {
	e.t.Helper()
	var all []*account.Message
	for {
		batch, err := e.db.ClaimMessages(context.Background(), e.clock.Now().Add(time.Hour), time.Hour, 100)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(batch) == 0 {
			return all
		}
		for _, m := range batch {
			if err := e.db.MarkSent(context.Background(), e.clock.Now(), m.ID); err != nil {
				e.t.Fatal(err)
			}
		}
		all = append(all, batch...)
	}
}

// next returns the next unread message to addr.
func (e *env) next(addr string) *account.Message {
	e.t.Helper()
	for _, m := range e.messages() {
		e.inbox[m.To] = append(e.inbox[m.To], m)
	}
	list := e.inbox[addr]
	if len(list) <= e.seen[addr] {
		e.t.Fatalf("no new message to %s", addr)
	}
	m := list[e.seen[addr]]
	e.seen[addr]++
	return m
}

// code returns the code of the next message to addr.
func (e *env) code(addr string) string {
	e.t.Helper()
	m := e.next(addr)
	found := sixDigits.FindAllStringSubmatch(m.Text, -1)
	if len(found) != 1 {
		e.t.Fatalf("want one code in %q", m.Text)
	}
	return found[0][1]
}

var client = account.Client{IP: "192.0.2.1", UserAgent: "test"}

const goodPassword = "correct horse battery staple"

// signUp registers an email account and returns its uid and session token.
func (e *env) signUp(email string) (string, string) {
	e.t.Helper()
	ctx := context.Background()
	flow, _, err := e.svc.StartRegistration(ctx, client, email, "")
	if err != nil {
		e.t.Fatal(err)
	}
	uid, tok, err := e.svc.CompleteRegistration(ctx, client, flow, e.code(strings.ToLower(email)), goodPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	return uid, tok
}

// session resolves a token, failing the test if it is not live.
func (e *env) session(tok string) *account.Session {
	e.t.Helper()
	s, err := e.svc.Authenticate(context.Background(), tok)
	if err != nil {
		e.t.Fatalf("authenticate: %v", err)
	}
	return s
}

// stepUp steps the session up through its email.
func (e *env) stepUp(tok, email string) *account.Session {
	e.t.Helper()
	ctx := context.Background()
	sess := e.session(tok)
	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.CompleteStepUp(ctx, client, sess, flow, e.code(email), ""); err != nil {
		e.t.Fatal(err)
	}
	return e.session(tok)
}
