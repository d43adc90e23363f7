package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/api"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sessioncache"
	"github.com/watchword/watchword/internal/sqlstore"
)

// BenchmarkMeCached is BenchmarkMe with the session cache wired as the
// server wires it: after the first request, no database round trip.
func BenchmarkMeCached(b *testing.B) {
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
	cache := sessioncache.New(0)
	db.OnChange(cache.Changed)
	svc := account.New(account.Deps{
		Store:     db,
		Limiter:   benchLimiter{ratelimit.NewMemory(nil)},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy,
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random:    rand.Reader,
		Now:       time.Now,
		Log:       slog.New(slog.DiscardHandler),
		Cache:     cache,
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
