package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// webBrowser is a client of the pages as a browser without JavaScript
// is: it keeps cookies, follows redirects, and sends each form with the
// csrf_token of the page it came from.
type webBrowser struct {
	t      *testing.T
	s      *server
	client *http.Client
	body   string // the last page
	url    string // where the last page was answered
	status int
}

func newWebBrowser(t *testing.T, s *server) *webBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &webBrowser{t: t, s: s, client: &http.Client{Jar: jar}}
}

func (b *webBrowser) do(req *http.Request) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.body, b.url, b.status = string(body), resp.Request.URL.Path, resp.StatusCode
	if resp.Header.Get("Cache-Control") != "no-store" {
		b.t.Errorf("%s: Cache-Control %q", b.url, resp.Header.Get("Cache-Control"))
	}
}

func (b *webBrowser) get(path string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.s.Base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	b.do(req)
}

var webCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// post sends a form from the current page, from pairs of name, value.
func (b *webBrowser) post(path string, pairs ...string) {
	b.t.Helper()
	m := webCSRF.FindStringSubmatch(b.body)
	if m == nil {
		b.t.Fatalf("%s has no form:\n%s", b.url, b.body)
	}
	v := url.Values{"csrf_token": {m[1]}}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	req, err := http.NewRequest("POST", b.s.Base+path, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.s.Base)
	b.do(req)
}

// want fails unless the browser is at path with status 200 and a page
// that contains every s.
func (b *webBrowser) want(path string, ss ...string) {
	b.t.Helper()
	if b.url != path || b.status != 200 {
		b.t.Fatalf("at %s (%d), want %s:\n%s", b.url, b.status, path, b.body)
	}
	for _, s := range ss {
		if !strings.Contains(b.body, s) {
			b.t.Fatalf("%s: %q not in the page:\n%s", path, s, b.body)
		}
	}
}

func (b *webBrowser) uid() string {
	m := regexp.MustCompile(`id="uid"[^>]*>([0-9]+)<`).FindStringSubmatch(b.body)
	if m == nil {
		b.t.Fatalf("no uid on %s:\n%s", b.url, b.body)
	}
	return m[1]
}

// session returns the browser's session cookie.
func (b *webBrowser) session() string {
	u, _ := url.Parse(b.s.Base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "watchword_session" {
			return c.Value
		}
	}
	return ""
}

// TestWebSignUpAndLogin signs up and logs in through the forms of the
// real binary: sign-up by email (code, then password), the API on the same
// session, logging out, a password login, a code login, and the pages in
// Chinese.
func TestWebSignUpAndLogin(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	const addr, pw = "web@example.com", "correct horse battery staple"
	b := newWebBrowser(t, s)

	b.get("/")
	b.want("/login", `<html lang="en">`)
	b.get("/signup")
	b.post("/signup", "step", "address", "email", addr)
	b.want("/signup", `name="code"`, addr)
	b.post("/signup", "step", "code", "code", "000000")
	if b.status != 400 || !strings.Contains(b.body, `role="alert"`) {
		t.Fatalf("a wrong code: %d\n%s", b.status, b.body)
	}
	b.post("/signup", "step", "code", "code", s.EmailCode(addr))
	b.want("/signup", `name="password"`, `autocomplete="new-password"`)
	b.post("/signup", "step", "password", "password", pw)
	b.want("/account", `id="uid"`)
	uid := b.uid()

	// The cookie holds a session of the same store as the API's.
	tok := b.session()
	me := s.Must(200, "GET", "/me", tok, nil)
	if me.Str("uid") != uid {
		t.Fatalf("the API sees %q, the page %q", me.Str("uid"), uid)
	}

	b.get("/logout")
	b.post("/logout")
	b.want("/login")
	s.Fails(401, "unauthenticated", "GET", "/me", tok, nil)
	if b.session() != "" {
		t.Error("the session cookie outlived the logout")
	}
	b.get("/account")
	b.want("/login")

	b.post("/login", "identifier", addr, "password", "wrong password")
	if b.status != 401 || !strings.Contains(b.body, `role="alert"`) || !strings.Contains(b.body, `value="`+addr+`"`) {
		t.Fatalf("a wrong password: %d\n%s", b.status, b.body)
	}
	b.post("/login", "identifier", addr, "password", pw)
	b.want("/account")
	if b.uid() != uid {
		t.Fatalf("logged in as %s, want %s", b.uid(), uid)
	}
	b.post("/logout")

	b.get("/login/code?lang=zh-CN")
	b.want("/login/code", `<html lang="zh-CN">`)
	b.post("/login/code", "step", "identifier", "identifier", addr)
	b.want("/login/code", `name="code"`)
	b.post("/login/code", "step", "code", "code", s.EmailCode(addr))
	b.want("/account", `<html lang="zh-CN">`)
	if b.uid() != uid {
		t.Fatalf("logged in with a code as %s, want %s", b.uid(), uid)
	}
}
