package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/api"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
)

// fuzzRoutes are the calls that read a JSON body, by method and path below
// api.Prefix; "{id}" is replaced by the fuzzed path parameter. Logout and
// the removals are left out: they would end the fuzzer's own session.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/registrations"},
	{"POST", "/registrations/{id}/complete"},
	{"POST", "/login/password"},
	{"POST", "/login/code"},
	{"POST", "/login/code/{id}"},
	{"POST", "/login/totp/{id}"},
	{"POST", "/me/step-up/code"},
	{"POST", "/me/step-up/{id}"},
	{"POST", "/me/email"},
	{"POST", "/me/email/{id}"},
	{"POST", "/me/phone"},
	{"POST", "/me/phone/{id}"},
	{"PUT", "/me/password"},
	{"POST", "/me/totp/confirm"},
	{"POST", "/unbind-requests/challenge"},
	{"POST", "/unbind-requests/cancel"},
}

// FuzzRoutes sends arbitrary JSON bodies and path parameters to every API
// call that reads a body, through the real handlers, service and SQLite
// store, signed in: whatever the input, the answer is never a 5xx, is JSON
// marked no-store, and a refusal is the API's error object with a code
// and a message.
func FuzzRoutes(f *testing.F) {
	for i := range fuzzRoutes {
		f.Add(uint8(i), "flow", `{}`)
		f.Add(uint8(i), "", `{"identifier":"alice@example.com","password":"correct horse battery staple"}`)
	}
	f.Add(uint8(0), "x", `{"identifier":"+8613800138000"}`)
	f.Add(uint8(1), "../../etc", `{"code":"123456","password":"x"}`)
	f.Add(uint8(2), "", `{"identifier":"a@b.co","password":"\u0000\ud800"}`)
	f.Add(uint8(4), "%00", `{"code":"١٢٣٤٥٦"}`)
	f.Add(uint8(5), "flow", `{"code":123456}`)
	f.Add(uint8(9), "f", `{"code":"000000","code":"111111"}`)
	f.Add(uint8(12), "", `{"current_password":null,"new_password":[]}`)
	f.Add(uint8(14), "", `{"identifier":"a@b.co","password":"p","extra":true}`)

	mux, token := fuzzServer(f)
	f.Fuzz(func(t *testing.T, route uint8, id, body string) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := api.Prefix + strings.ReplaceAll(rt.path, "{id}", url.PathEscape(id))
		r := httptest.NewRequest(rt.method, path, strings.NewReader(body))
		r.RemoteAddr = "192.0.2.7:1234"
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)

		switch w.Code {
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			// The mux sends an unclean path ("//" from an empty id) to
			// its clean form before any handler runs; in the server the
			// middleware marks that answer no-store too.
			return
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, path, body, w.Code, w.Body)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Fatalf("%s %s: Cache-Control %q", rt.method, path, got)
		}
		if w.Code == http.StatusNoContent {
			return
		}
		if got := w.Header().Get("Content-Type"); got != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", rt.method, path, got)
		}
		var answer struct {
			Error *struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil {
			t.Fatalf("%s %s: answer %q is not JSON: %v", rt.method, path, w.Body, err)
		}
		if w.Code >= 400 && (answer.Error == nil || answer.Error.Code == "" || answer.Error.Message == "") {
			t.Fatalf("%s %s: refusal %d without code and message: %s", rt.method, path, w.Code, w.Body)
		}
	})
}

// fuzzServer returns the API over a service on SQLite in f.TempDir(), and
// the session token of a registered account.
func fuzzServer(f *testing.F) (*http.ServeMux, string) {
	f.Helper()
	ctx := context.Background()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		f.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, "sqlite:"+f.TempDir()+"/w.db", box)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		f.Fatal(err)
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

	c := account.Client{IP: "192.0.2.1", UserAgent: "fuzz"}
	flow, _, err := svc.StartRegistration(ctx, c, "fuzz@example.com", "")
	if err != nil {
		f.Fatal(err)
	}
	msgs, err := db.ClaimMessages(ctx, time.Now().Add(time.Hour), time.Hour, 10)
	if err != nil || len(msgs) != 1 {
		f.Fatalf("outbox: %d messages, %v", len(msgs), err)
	}
	code := benchCode.FindStringSubmatch(msgs[0].Text)
	if code == nil {
		f.Fatal("no code in the sign-up message")
	}
	_, token, err := svc.CompleteRegistration(ctx, c, flow, code[1], "correct horse battery staple")
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	reviews := review.New(review.Deps{ // the calls fuzzed here touch no evidence
		Store: db.Review(), Accounts: svc, TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random: rand.Reader, Now: time.Now, Log: slog.New(slog.DiscardHandler),
	}, review.Config{})
	api.New(svc, reviews, slog.New(slog.DiscardHandler)).Register(mux)
	return mux, token
}
