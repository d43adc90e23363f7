package web

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/totp"
)

// TestLoginPassword: a wrong password is told above the form with the
// identifier kept and the password not; the right one lands on the
// account with a new session, and a second login in the same browser
// rotates the cookie and ends the session it replaces.
func TestLoginPassword(t *testing.T) {
	e := newEnv(t)
	uid, _ := e.signUp("dave@example.com")
	b := e.browser()
	p := b.get("/login")
	wantIn(t, p, `name="identifier"`, `autocomplete="username"`, `autocomplete="current-password"`, `href="/login/code"`)

	p = b.post("/login", "identifier", "dave@example.com", "password", "not the password")
	wantStatus(t, p, http.StatusUnauthorized)
	if msg := formAlert(p.Body); !strings.Contains(msg, "wrong") {
		t.Fatalf("a wrong password: %q", msg)
	}
	wantIn(t, p, `value="dave@example.com"`)
	if strings.Contains(p.Body, "not the password") {
		t.Errorf("the wrong password is in the page")
	}

	p = b.post("/login", "identifier", "", "password", "x")
	if msg := fieldError(p.Body, "identifier"); msg == "" {
		t.Errorf("an empty identifier has no message beside it:\n%s", p.Body)
	}

	p = b.post("/login", "identifier", "  DAVE@example.com ", "password", goodPassword)
	wantStatus(t, p, 200)
	if got := uidIn(p.Body); got != uid {
		t.Fatalf("uid %q, want %q", got, uid)
	}
	first := b.cookie("watchword_session").Value

	// Logging in again from the same browser (a login page opened before,
	// sent while signed in): a new id, and the old session ended.
	p = b.get("/login")
	if p.URL != e.srv.URL+"/account" {
		t.Fatalf("signed in, /login went to %s", p.URL)
	}
	p = b.post("/login", "identifier", "dave@example.com", "password", goodPassword)
	wantStatus(t, p, 200)
	second := b.cookie("watchword_session").Value
	if second == first {
		t.Fatal("the session cookie did not change at login")
	}
	if _, err := e.svc.Authenticate(context.Background(), first); err == nil {
		t.Error("the replaced session still works")
	}
}

// TestLoginCode logs in with a code sent to the email.
func TestLoginCode(t *testing.T) {
	e := newEnv(t)
	uid, _ := e.signUp("erin@example.com")
	b := e.browser()
	b.get("/login/code")
	p := b.post("/login/code", "step", "identifier", "identifier", "erin@example.com")
	wantStatus(t, p, 200)
	wantIn(t, p, `name="code"`, `inputmode="numeric"`, `autocomplete="one-time-code"`, "erin@example.com")
	p = b.post("/login/code", "step", "code", "code", "99999")
	wantStatus(t, p, 400)
	if fieldError(p.Body, "code") == "" {
		t.Fatalf("a malformed code has no message beside it:\n%s", p.Body)
	}
	p = b.post("/login/code", "step", "code", "code", e.code("erin@example.com"))
	if got := uidIn(p.Body); got != uid {
		t.Fatalf("uid %q, want %q\n%s", got, uid, p.Body)
	}

	// An address of no account answers the same, and sends nothing.
	b2 := e.browser()
	b2.get("/login/code")
	p = b2.post("/login/code", "step", "identifier", "identifier", "nobody@example.com")
	wantStatus(t, p, 200)
	wantIn(t, p, `name="code"`, "If nobody@example.com is verified on an account")
}

// TestAuthenticatorStep: with an authenticator bound, both logins end on
// the authenticator step of their own page, with the recovery-code and
// lost-authenticator links; a wrong code is told beside the field.
func TestAuthenticatorStep(t *testing.T) {
	e := newEnv(t)
	secret, recovery := e.bindTOTP("frank@example.com")
	b := e.browser()
	b.get("/login")
	p := b.post("/login", "identifier", "frank@example.com", "password", goodPassword)
	wantStatus(t, p, 200)
	if p.URL != e.srv.URL+"/login" {
		t.Fatalf("the authenticator step is at %s", p.URL)
	}
	wantIn(t, p, `name="code"`, `autocomplete="one-time-code"`, `inputmode="numeric"`, `href="/login?recovery=1"`,
		`href="/unbind"`, "Lost your authenticator?", `action="/login"`)
	if b.cookie("watchword_session") != nil {
		t.Fatal("a session before the second factor")
	}

	p = b.post("/login", "step", "totp", "code", "000000")
	wantStatus(t, p, 400)
	if msg := fieldError(p.Body, "code"); !strings.Contains(msg, "wrong or was already used") {
		t.Fatalf("a wrong authenticator code: %q\n%s", msg, p.Body)
	}
	// The confirming code was spent; the next step's is accepted.
	p = b.post("/login", "step", "totp", "code", totp.Code(secret, totp.Step(time.Now())+1))
	if uidIn(p.Body) == "" {
		t.Fatalf("no account after the authenticator:\n%s", p.Body)
	}

	// The code login, then a recovery code in the same field.
	b2 := e.browser()
	b2.get("/login/code")
	b2.post("/login/code", "step", "identifier", "identifier", "frank@example.com")
	p = b2.post("/login/code", "step", "code", "code", e.code("frank@example.com"))
	wantIn(t, p, `action="/login/code"`, `href="/login/code?recovery=1"`)
	p = b2.get("/login/code?recovery=1")
	wantIn(t, p, "Recovery code", `name="recovery" value="1"`)
	p = b2.post("/login/code", "step", "totp", "recovery", "1", "code", recovery[0])
	if uidIn(p.Body) == "" {
		t.Fatalf("no account after a recovery code:\n%s", p.Body)
	}

	// Cancelling the step forgets the flow.
	b3 := e.browser()
	b3.get("/login")
	b3.post("/login", "identifier", "frank@example.com", "password", goodPassword)
	p = b3.post("/login", "step", "restart")
	wantIn(t, p, `name="password"`)
	p = b3.post("/login", "step", "totp", "code", "123456")
	if msg := formAlert(p.Body); !strings.Contains(msg, "start again") {
		t.Fatalf("the step after cancelling: %q", msg)
	}
}

// TestLogout: the button ends the session and deletes the cookie; the
// signed-in pages then send the browser to /login.
func TestLogout(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signUpByForm("gina@example.com")
	tok := b.cookie("watchword_session").Value
	p := b.get("/logout")
	wantIn(t, p, `<form method="post" action="/logout">`)
	p = b.post("/logout")
	if p.URL != e.srv.URL+"/login" {
		t.Fatalf("after logging out: %s", p.URL)
	}
	wantIn(t, p, "You have logged out.")
	if b.cookie("watchword_session") != nil {
		t.Error("the session cookie is still there")
	}
	if _, err := e.svc.Authenticate(context.Background(), tok); err == nil {
		t.Error("the session still works")
	}
	for _, path := range []string{"/account", "/logout"} {
		p := b.do(mustGet(t, e.srv.URL+path), false)
		if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/login" {
			t.Errorf("%s signed out: %d %q, want 303 /login", path, p.Status, p.Header.Get("Location"))
		}
	}
}

func mustGet(t testing.TB, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestHome sends the browser to its account or to /login.
func TestHome(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	if p := b.do(mustGet(t, e.srv.URL+"/"), false); p.Header.Get("Location") != "/login" {
		t.Errorf("signed out: %q", p.Header.Get("Location"))
	}
	b.signUpByForm("hank@example.com")
	if p := b.do(mustGet(t, e.srv.URL+"/"), false); p.Header.Get("Location") != "/account" {
		t.Errorf("signed in: %q", p.Header.Get("Location"))
	}
	// A cookie whose session ended is deleted on the way.
	if err := e.svc.Logout(context.Background(), testClient, mustSession(t, e, b)); err != nil {
		t.Fatal(err)
	}
	p := b.do(mustGet(t, e.srv.URL+"/account"), false)
	if c := setCookies(p)["watchword_session"]; c == nil || c.MaxAge >= 0 || p.Header.Get("Location") != "/login" {
		t.Errorf("an ended session: %d %q, cookie %v", p.Status, p.Header.Get("Location"), c)
	}
}

// mustSession returns the live session of b's cookie.
func mustSession(t testing.TB, e *env, b *browser) *account.Session {
	t.Helper()
	sess, err := e.svc.Authenticate(context.Background(), b.cookie("watchword_session").Value)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}
