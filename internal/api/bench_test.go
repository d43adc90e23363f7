package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/api"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
)

// benchLimiter adapts ratelimit.Limiter to account.Limiter (as main does).
type benchLimiter struct{ l ratelimit.Limiter }

func (a benchLimiter) Take(ctx context.Context, key string, n int, w time.Duration) (bool, time.Duration, error) {
	d, err := a.l.Take(ctx, key, n, w)
	return d.Allowed, d.RetryAfter, err
}

func (a benchLimiter) Undo(ctx context.Context, key string, w time.Duration) error {
	return a.l.Undo(ctx, key, w)
}

func (a benchLimiter) Peek(ctx context.Context, key string, n int) (bool, time.Duration, error) {
	d, err := a.l.Peek(ctx, key, n)
	return d.Allowed, d.RetryAfter, err
}

func (a benchLimiter) Strike(ctx context.Context, key string, idle time.Duration) (int, error) {
	return a.l.Strike(ctx, key, idle)
}

func (a benchLimiter) Reset(ctx context.Context, key string) error { return a.l.Reset(ctx, key) }

var benchCode = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// benchSession returns a Service on a SQLite file in b.TempDir() and the
// session token of a freshly registered account.
func benchSession(b *testing.B) (*account.Service, string) {
	b.Helper()
	ctx := context.Background()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		b.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, "sqlite:"+b.TempDir()+"/w.db", box)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	svc := account.New(account.Deps{
		Store:     db,
		Limiter:   benchLimiter{ratelimit.NewMemory(nil)},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy,
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random:    rand.Reader,
		Now:       time.Now,
		Log:       slog.New(slog.DiscardHandler),
	}, account.Config{})

	c := account.Client{IP: "192.0.2.1", UserAgent: "bench"}
	flow, _, err := svc.StartRegistration(ctx, c, "bench@example.com", "")
	if err != nil {
		b.Fatal(err)
	}
	msgs, err := db.ClaimMessages(ctx, time.Now().Add(time.Hour), time.Hour, 10)
	if err != nil || len(msgs) != 1 {
		b.Fatalf("outbox: %d messages, %v", len(msgs), err)
	}
	code := benchCode.FindStringSubmatch(msgs[0].Text)
	if code == nil {
		b.Fatalf("no code in %q", msgs[0].Text)
	}
	_, tok, err := svc.CompleteRegistration(ctx, c, flow, code[1], "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	return svc, tok
}

// BenchmarkMe measures GET /api/v1/me through the real handler: the
// session look-up by token hash, the account and authenticator reads and
// the JSON answer.
func BenchmarkMe(b *testing.B) {
	svc, tok := benchSession(b)
	mux := http.NewServeMux()
	api.New(svc, nil, slog.New(slog.DiscardHandler)).Register(mux)
	req := httptest.NewRequest(http.MethodGet, api.Prefix+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	for b.Loop() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("got %d %s, want 200", w.Code, w.Body)
		}
	}
}

// BenchmarkMeUnauthenticated measures the refusal of an unknown token,
// for comparison: one session look-up that finds nothing.
func BenchmarkMeUnauthenticated(b *testing.B) {
	svc, _ := benchSession(b)
	mux := http.NewServeMux()
	api.New(svc, nil, slog.New(slog.DiscardHandler)).Register(mux)
	req := httptest.NewRequest(http.MethodGet, api.Prefix+"/me", nil)
	req.Header.Set("Authorization", "Bearer not-a-session-token")
	for b.Loop() {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			b.Fatalf("got %d %s, want 401", w.Code, w.Body)
		}
	}
}
