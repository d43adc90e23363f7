package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
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
	"github.com/watchword/watchword/internal/totp"
)

// env is the pages on a real account.Service over SQLite, served by an
// httptest server; messages are read from the store's outbox.
type env struct {
	t    testing.TB
	svc  *account.Service
	db   *sqlstore.DB
	web  *Server
	srv  *httptest.Server
	logs *syncBuffer

	mu    sync.Mutex
	inbox map[string][]*account.Message // messages delivered per recipient
	seen  map[string]int                // messages read per recipient
}

// envOptions adjust an env.
type envOptions struct {
	publicURL string            // "https://…" serves over TLS
	channels  []account.Channel // the channels codes go out on; nil: both
	extra     func(mux *http.ServeMux, s *Server)
	// store, when set, wraps the database the service uses (the tests
	// still read and write the database itself through env.db).
	store func(account.Store) account.Store
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newEnv starts the pages over a fresh SQLite database, with cheap
// password hashing.
func newEnv(t testing.TB, opts ...envOptions) *env {
	t.Helper()
	var o envOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx := context.Background()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, "sqlite:"+t.TempDir()+"/w.db", box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	var store account.Store = db
	if o.store != nil {
		store = o.store(db)
	}
	svc := account.New(account.Deps{
		Store:     store,
		Limiter:   limiter{ratelimit.NewMemory(nil)},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy,
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random:    rand.Reader,
		Now:       time.Now,
		Log:       log,
	}, account.Config{})
	s, err := New(Deps{Accounts: svc, Log: log, Key: bytes.Repeat([]byte{5}, 32)},
		Config{PublicURL: o.publicURL, Channels: o.channels, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	if o.extra != nil {
		o.extra(mux, s)
	}
	e := &env{t: t, svc: svc, db: db, web: s, logs: logs, inbox: map[string][]*account.Message{}, seen: map[string]int{}}
	if strings.HasPrefix(o.publicURL, "https://") {
		e.srv = httptest.NewTLSServer(mux)
	} else {
		e.srv = httptest.NewServer(mux)
	}
	t.Cleanup(e.srv.Close)
	return e
}

var sixDigits = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// code returns the code of the next unread message to addr that has one.
func (e *env) code(addr string) string {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		batch, err := e.db.ClaimMessages(context.Background(), time.Now().Add(time.Hour), time.Hour, 100)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, m := range batch {
			if err := e.db.MarkSent(context.Background(), time.Now(), m.ID); err != nil {
				e.t.Fatal(err)
			}
			e.inbox[m.To] = append(e.inbox[m.To], m)
		}
	}
	// Notices without a code (an authenticator connected) are passed over.
	for list := e.inbox[addr]; e.seen[addr] < len(list); {
		m := list[e.seen[addr]]
		e.seen[addr]++
		if found := sixDigits.FindAllStringSubmatch(m.Text, -1); len(found) == 1 {
			return found[0][1]
		}
	}
	e.t.Fatalf("no new code to %s", addr)
	return ""
}

const goodPassword = "correct horse battery staple"

var testClient = account.Client{IP: "192.0.2.1", UserAgent: "test"}

// signUp registers an email account through the service and returns its
// uid and session token.
func (e *env) signUp(email string) (string, string) {
	e.t.Helper()
	ctx := context.Background()
	flow, _, err := e.svc.StartRegistration(ctx, testClient, email, "")
	if err != nil {
		e.t.Fatal(err)
	}
	uid, tok, err := e.svc.CompleteRegistration(ctx, testClient, flow, e.code(email), goodPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	return uid, tok
}

// bindTOTP signs email up and binds an authenticator; it returns the
// secret and the recovery codes.
func (e *env) bindTOTP(email string) ([]byte, []string) {
	e.t.Helper()
	ctx := context.Background()
	_, tok := e.signUp(email)
	sess, err := e.svc.Authenticate(ctx, tok)
	if err != nil {
		e.t.Fatal(err)
	}
	flow, err := e.svc.StartStepUp(ctx, testClient, sess, account.ChannelEmail)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.CompleteStepUp(ctx, testClient, sess, flow, e.code(email), ""); err != nil {
		e.t.Fatal(err)
	}
	if sess, err = e.svc.Authenticate(ctx, tok); err != nil {
		e.t.Fatal(err)
	}
	b, err := e.svc.BeginTOTP(ctx, testClient, sess)
	if err != nil {
		e.t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b.Secret)
	if err != nil {
		e.t.Fatal(err)
	}
	conf, err := e.svc.ConfirmTOTP(ctx, testClient, sess, totp.Code(secret, totp.Step(time.Now())))
	if err != nil {
		e.t.Fatal(err)
	}
	return secret, conf.RecoveryCodes
}

// page is one answer as a browser got it.
type page struct {
	Status int
	Header http.Header
	Body   string
	URL    string // where it was answered, after redirects
}

// browser is a cookie-keeping client that follows redirects itself, so
// that every address it visits and every Location it is sent to is seen.
type browser struct {
	t      testing.TB
	e      *env
	client *http.Client
	lang   string // Accept-Language
	origin string // Origin sent with POSTs; "" sends none
	last   *page
	visits []string // every URL requested and every Location received
	bodies []string // every page received
	sealed []string // every flow cookie set
	tokens []string // every session cookie set
}

func (e *env) browser() *browser {
	e.t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	c := *e.srv.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{t: e.t, e: e, client: &c, origin: e.srv.URL}
}

// get opens path and follows redirects.
func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req, true)
}

// post sends a form as the last page's form would: its csrf_token is
// added unless the fields name one. It follows redirects.
func (b *browser) post(path string, fields ...string) *page {
	b.t.Helper()
	return b.do(b.form(path, fields...), true)
}

// form builds the POST of post without sending it.
func (b *browser) form(path string, fields ...string) *http.Request {
	b.t.Helper()
	v := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Add(fields[i], fields[i+1])
	}
	if !v.Has(csrfField) && b.last != nil {
		v.Set(csrfField, csrfIn(b.last.Body))
	}
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	return req
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// csrfIn returns the CSRF token of the first form of body.
func csrfIn(body string) string {
	if m := csrfPattern.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// do sends req, following redirects with GET when follow is set.
func (b *browser) do(req *http.Request, follow bool) *page {
	b.t.Helper()
	for hops := 0; ; hops++ {
		if hops > 10 {
			b.t.Fatalf("too many redirects from %s", req.URL)
		}
		if b.lang != "" {
			req.Header.Set("Accept-Language", b.lang)
		}
		b.visits = append(b.visits, req.URL.String())
		resp, err := b.client.Do(req)
		if err != nil {
			b.t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.t.Fatal(err)
		}
		p := &page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), URL: req.URL.String()}
		b.bodies = append(b.bodies, p.Body)
		for _, c := range resp.Cookies() {
			switch {
			case c.Value == "":
			case strings.HasSuffix(c.Name, flowCookie):
				b.sealed = append(b.sealed, c.Value)
			case strings.HasSuffix(c.Name, sessionCookie):
				b.tokens = append(b.tokens, c.Value)
			}
		}
		loc := resp.Header.Get("Location")
		if loc != "" {
			b.visits = append(b.visits, loc)
		}
		if !follow || loc == "" || resp.StatusCode < 300 || resp.StatusCode >= 400 {
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") && resp.StatusCode != http.StatusSeeOther {
				b.last = p
			}
			return p
		}
		next, err := req.URL.Parse(loc)
		if err != nil {
			b.t.Fatal(err)
		}
		if req, err = http.NewRequest(http.MethodGet, next.String(), nil); err != nil {
			b.t.Fatal(err)
		}
	}
}

// cookie returns the browser's cookie name for the server, or nil.
func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookies returns the Set-Cookie headers of p by name.
func setCookies(p *page) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		out[c.Name] = c
	}
	return out
}

// signUpByForm walks the three sign-up steps and returns the page it
// lands on.
func (b *browser) signUpByForm(email string) *page {
	b.t.Helper()
	b.get("/signup")
	b.post("/signup", "step", "address", "email", email)
	b.post("/signup", "step", "code", "code", b.e.code(email))
	return b.post("/signup", "step", "password", "password", goodPassword)
}

// wantStatus fails unless p has status want.
func wantStatus(t testing.TB, p *page, want int) {
	t.Helper()
	if p.Status != want {
		t.Fatalf("%s: status %d, want %d\n%s", p.URL, p.Status, want, p.Body)
	}
}

// wantIn fails unless p's body contains every s.
func wantIn(t testing.TB, p *page, ss ...string) {
	t.Helper()
	for _, s := range ss {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("%s (%d): %q not in the page:\n%s", p.URL, p.Status, s, p.Body)
		}
	}
}

// uidIn returns the content of the element with id="uid".
func uidIn(body string) string {
	m := regexp.MustCompile(`id="uid"[^>]*>([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// fieldError returns the message shown beside field, or "".
func fieldError(body, field string) string {
	m := regexp.MustCompile(`<p class="field-error" id="` + field + `-error" role="alert">([^<]*)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// formAlert returns the message shown above the form, or "".
func formAlert(body string) string {
	m := regexp.MustCompile(`<div class="alert" role="alert">([^<]*)</div>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}
