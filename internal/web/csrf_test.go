package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/totp"
)

// TestCSRFRefused: a POST without the page's token, with another
// browser's, with a token made before the session changed, or from
// another site is refused with the error page (403), and nothing happens.
func TestCSRFRefused(t *testing.T) {
	e := newEnv(t)
	e.signUp("ivy@example.com")
	other := e.browser()
	other.get("/login")
	otherToken := csrfIn(other.last.Body)

	tests := []struct {
		name   string
		prep   func(b *browser, req *http.Request)
		fields []string
	}{
		{"NoToken", nil, []string{csrfField, ""}},
		{"WrongToken", nil, []string{csrfField, "AAAA"}},
		{"AnotherBrowsersToken", nil, []string{csrfField, otherToken}},
		{"NoCookie", func(b *browser, req *http.Request) {
			b.client.Jar.SetCookies(req.URL, []*http.Cookie{{Name: csrfCookie, Value: "", MaxAge: -1}})
		}, nil},
		{"PlantedSeed", func(b *browser, req *http.Request) {
			// A seed the attacker chose, with a token they cannot make.
			b.client.Jar.SetCookies(req.URL, []*http.Cookie{{Name: csrfCookie, Value: strings.Repeat("A", 43)}})
		}, []string{csrfField, strings.Repeat("A", 43)}},
		{"ForeignOrigin", func(_ *browser, req *http.Request) { req.Header.Set("Origin", "https://evil.example") }, nil},
		{"OpaqueOriginFromAnotherSite", func(_ *browser, req *http.Request) {
			req.Header.Set("Origin", "null")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
		}, nil},
		{"SameSiteSubdomain", func(_ *browser, req *http.Request) { req.Header.Set("Sec-Fetch-Site", "same-site") }, nil},
		{"ForeignReferer", func(_ *browser, req *http.Request) {
			req.Header.Del("Origin")
			req.Header.Set("Referer", "https://evil.example/form")
		}, nil},
		{"NotAForm", func(_ *browser, req *http.Request) { req.Header.Set("Content-Type", "application/json") }, nil},
		{"Multipart", func(_ *browser, req *http.Request) { req.Header.Set("Content-Type", "multipart/form-data; boundary=x") }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			b.get("/login")
			fields := append([]string{"identifier", "ivy@example.com", "password", goodPassword}, tc.fields...)
			req := b.form("/login", fields...)
			if tc.prep != nil {
				tc.prep(b, req)
			}
			p := b.do(req, false)
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, `role="alert"`) ||
				!strings.Contains(p.Body, "This form has expired") {
				t.Fatalf("got %d, want the 403 page:\n%s", p.Status, p.Body)
			}
			if c := setCookies(p)[sessionCookie]; c != nil && c.Value != "" {
				t.Fatal("a refused form signed in")
			}
			wantIn(t, p, `href="/login"`) // try again
		})
	}

	// The same form with its own token is accepted, and so is one whose
	// browser sends neither Origin nor Sec-Fetch-Site (the token decides).
	b := e.browser()
	b.get("/login")
	req := b.form("/login", "identifier", "ivy@example.com", "password", goodPassword)
	req.Header.Del("Origin")
	if p := b.do(req, false); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/account" {
		t.Fatalf("the genuine form: %d %q", p.Status, p.Header.Get("Location"))
	}

	// A token belongs to the session it was made in: a form opened before
	// the login is refused after it.
	b = e.browser()
	b.get("/signup")
	before := csrfIn(b.last.Body)
	b.get("/login")
	b.post("/login", "identifier", "ivy@example.com", "password", goodPassword)
	current := b.form("/logout")
	p := b.do(b.form("/logout", csrfField, before), false)
	if p.Status != http.StatusForbidden {
		t.Fatalf("a token from before the login: %d", p.Status)
	}
	p = b.do(current, false)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("the current token: %d", p.Status)
	}
}

// TestSessionCookie checks the cookies' attributes for an http and an
// https public URL.
func TestSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		publicURL, name string
		secure          bool
	}{
		{"", "watchword_session", false},
		{"http://id.example", "watchword_session", false},
		{"https://id.example", "__Host-watchword_session", true},
	} {
		t.Run(tc.name+"_"+tc.publicURL, func(t *testing.T) {
			e := newEnv(t, envOptions{publicURL: tc.publicURL})
			b := e.browser()
			p := b.get("/signup")
			prefix := strings.TrimSuffix(tc.name, sessionCookie)
			csrf := setCookies(p)[prefix+csrfCookie]
			if csrf == nil || !csrf.HttpOnly || csrf.SameSite != http.SameSiteLaxMode || csrf.Secure != tc.secure || csrf.Path != "/" {
				t.Fatalf("CSRF cookie %+v", csrf)
			}
			b.post("/signup", "step", "address", "email", "jack@example.com")
			b.post("/signup", "step", "code", "code", e.code("jack@example.com"))
			req := b.form("/signup", "step", "password", "password", goodPassword)
			p = b.do(req, false)
			c := setCookies(p)[tc.name]
			if c == nil {
				t.Fatalf("no cookie %s in %q", tc.name, p.Header.Values("Set-Cookie"))
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure != tc.secure || c.Path != "/" || c.Domain != "" {
				t.Errorf("session cookie %+v", c)
			}
			for _, raw := range p.Header.Values("Set-Cookie") {
				if strings.Contains(strings.ToLower(raw), "domain=") {
					t.Errorf("a cookie with a Domain: %s", raw)
				}
			}
			flow := setCookies(p)[prefix+flowCookie]
			if flow == nil || flow.MaxAge >= 0 {
				t.Errorf("the flow cookie is not deleted at the end: %+v", flow)
			}
		})
	}
}

// TestNoSecretInAddresses walks every flow and checks that no flow id,
// code or session token appears in an address, a Location header or a
// page, and that the flow cookie does not show them either.
func TestNoSecretInAddresses(t *testing.T) {
	e := newEnv(t)
	secret, _ := e.bindTOTP("kate@example.com")
	e.signUp("liam@example.com")
	b := e.browser()
	var codes []string

	b.get("/signup")
	b.post("/signup", "step", "address", "email", "mia@example.com")
	c := e.code("mia@example.com")
	codes = append(codes, c)
	b.post("/signup", "step", "code", "code", c)
	b.post("/signup", "step", "password", "password", goodPassword)
	b.post("/logout")

	b.get("/login/code")
	b.post("/login/code", "step", "identifier", "identifier", "liam@example.com")
	c = e.code("liam@example.com")
	codes = append(codes, c)
	b.post("/login/code", "step", "code", "code", c)
	b.post("/logout")

	b.get("/login")
	b.post("/login", "identifier", "kate@example.com", "password", goodPassword)
	c = totp.Code(secret, totp.Step(time.Now())+1)
	codes = append(codes, c)
	b.post("/login", "step", "totp", "code", c)

	var secrets []string
	for _, sealed := range b.sealed {
		for _, kind := range []string{flowSignup, flowCodeLogin, flowMFA} {
			req := &http.Request{Header: http.Header{"Cookie": {flowCookie + "=" + sealed}}}
			if f := e.web.flowOf(req, kind); f != nil {
				secrets = append(secrets, f.ID)
				if strings.Contains(sealed, f.ID) {
					t.Errorf("the flow cookie shows its flow id")
				}
			}
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("opened %d flow cookies of %d, want one per flow step", len(secrets), len(b.sealed))
	}
	secrets = append(secrets, b.tokens...)
	for _, s := range secrets {
		for _, v := range b.visits {
			if strings.Contains(v, s) {
				t.Errorf("a secret in the address %s", v)
			}
		}
		for _, body := range b.bodies {
			if strings.Contains(body, s) {
				t.Errorf("a flow id or session token in a page")
			}
		}
	}
	for _, v := range b.visits {
		for _, code := range codes {
			if strings.Contains(v, code) {
				t.Errorf("a code in the address %s", v)
			}
		}
		if sixDigits.MatchString(v) {
			t.Errorf("six digits in the address %s", v)
		}
	}
}
