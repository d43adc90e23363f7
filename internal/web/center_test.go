package web

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/i18n"
)

// loginByForm logs b in with a password and returns the page it lands on.
func (b *browser) loginByForm(ident, password string) *page {
	b.t.Helper()
	b.get("/login")
	return b.post("/login", "identifier", ident, "password", password)
}

// stepUpFor opens the sensitive page path, which must send b through the
// step-up; the code goes to email. It returns the page it comes back to.
func (b *browser) stepUpFor(path, email string) *page {
	b.t.Helper()
	p := b.get(path)
	if !strings.Contains(p.URL, "/account/step-up?next=") {
		b.t.Fatalf("%s without privilege went to %s", path, p.URL)
	}
	b.post("/account/step-up", "step", "channel", "channel", "email", "next", path)
	p = b.post("/account/step-up", "step", "code", "code", b.e.code(email))
	if p.URL != b.e.srv.URL+path {
		b.t.Fatalf("after the step-up: %s, want %s\n%s", p.URL, path, p.Body)
	}
	return p
}

var sessionIDs = regexp.MustCompile(`name="session" value="([^"]+)"`)

// TestCenterShowsChannelsAndUID: the center shows the UID, the state of
// the email (verified) and of the phone (none) with their buttons, the
// authenticator, the sessions and the activity.
func TestCenterShowsChannelsAndUID(t *testing.T) {
	e := newEnv(t)
	uid, _ := e.signUp("center@example.com")
	b := e.browser()
	p := b.loginByForm("center@example.com", goodPassword)
	wantStatus(t, p, 200)
	if got := uidIn(p.Body); got != uid {
		t.Fatalf("uid %q, want %q", got, uid)
	}
	wantIn(t, p, `id="email-state">Verified<`, `id="phone-state">Not set<`, "center@example.com",
		`href="/account/email">Change<`, `href="/account/phone">Verify<`, `href="/account/authenticator"`,
		`href="/account/identity"`, `href="/account/password"`, "This device", "Logged in", "Account created")
	if strings.Contains(p.Body, "withdrawals are held") {
		t.Error("a security hold without a security change")
	}
	b.lang = "zh-CN"
	p = b.get("/account")
	wantIn(t, p, `id="email-state">已验证<`, `id="phone-state">未设置<`, "登录中的设备")
}

// TestCenterEndOtherSession: ending another session from the center
// ends it and leaves this one.
func TestCenterEndOtherSession(t *testing.T) {
	e := newEnv(t)
	_, other := e.signUp("two@example.com")
	b := e.browser()
	p := b.loginByForm("two@example.com", goodPassword)
	ids := sessionIDs.FindAllStringSubmatch(p.Body, -1)
	if len(ids) != 1 {
		t.Fatalf("%d end buttons, want 1 (the other session):\n%s", len(ids), p.Body)
	}
	p = b.post("/account/sessions/end", "session", ids[0][1])
	wantStatus(t, p, 200)
	if p.URL != e.srv.URL+"/account" {
		t.Fatalf("after ending a session: %s", p.URL)
	}
	if _, err := e.svc.Authenticate(context.Background(), other); err == nil {
		t.Fatal("the ended session still works")
	}
	if sessionIDs.MatchString(p.Body) {
		t.Error("the ended session is still listed")
	}
	wantIn(t, p, "Session ended")
	// Without the CSRF token, nothing ends.
	p = b.post("/account/sessions/end", "session", "x", csrfField, "forged")
	wantStatus(t, p, 403)
}

// TestStepUpAndBack: a sensitive page without privilege goes through the
// step-up; a bad code is told beside the field; the right one rotates the
// session and comes back to the page.
func TestStepUpAndBack(t *testing.T) {
	e := newEnv(t)
	e.signUp("step@example.com")
	b := e.browser()
	b.loginByForm("step@example.com", goodPassword)
	before := b.cookie("watchword_session").Value
	p := b.get("/account/password")
	if p.URL != e.srv.URL+"/account/step-up?next=%2Faccount%2Fpassword" {
		t.Fatalf("/account/password without privilege: %s", p.URL)
	}
	wantIn(t, p, `name="channel"`, `value="email"`, `name="next" value="/account/password"`)
	p = b.post("/account/step-up", "step", "channel", "channel", "email", "next", "/account/password")
	wantStatus(t, p, 200)
	wantIn(t, p, `name="code"`, `autocomplete="one-time-code"`, `inputmode="numeric"`)
	code := e.code("step@example.com")
	bad := "000000"
	if code == bad {
		bad = "111111"
	}
	p = b.post("/account/step-up", "step", "code", "code", bad)
	wantStatus(t, p, 400)
	if fieldError(p.Body, "code") == "" {
		t.Fatalf("a wrong code has no message beside the field:\n%s", p.Body)
	}
	p = b.post("/account/step-up", "step", "code", "code", code)
	wantStatus(t, p, 200)
	if p.URL != e.srv.URL+"/account/password" {
		t.Fatalf("after the step-up: %s", p.URL)
	}
	wantIn(t, p, `autocomplete="new-password"`, `id="password-policy"`)
	if after := b.cookie("watchword_session").Value; after == before {
		t.Error("the session was not rotated at step-up")
	}
	if _, err := e.svc.Authenticate(context.Background(), before); err == nil {
		t.Error("the session id from before the step-up still works")
	}
	for _, v := range b.visits {
		if strings.Contains(v, code) {
			t.Errorf("the code is in an address: %s", v)
		}
	}
}

// TestStepUpNextIsLocal: ?next= leads only to a page of the center.
func TestStepUpNextIsLocal(t *testing.T) {
	e := newEnv(t)
	e.signUp("next@example.com")
	b := e.browser()
	b.loginByForm("next@example.com", goodPassword)
	for _, next := range []string{"https://evil.example/", "//evil.example/account", "/account/../login", `/\evil.example`, "/account/step-up", "javascript:alert(1)"} {
		p := b.get("/account/step-up?next=" + url.QueryEscape(next))
		wantIn(t, p, `name="next" value="/account"`)
	}
	b.post("/account/step-up", "step", "channel", "channel", "email", "next", "https://evil.example/")
	p := b.post("/account/step-up", "step", "code", "code", e.code("next@example.com"))
	if p.URL != e.srv.URL+"/account" {
		t.Fatalf("a foreign next led to %s", p.URL)
	}
}

// TestAddPhoneThroughStepUp: adding a phone goes through the step-up,
// then ends every session; the phone then logs in.
func TestAddPhoneThroughStepUp(t *testing.T) {
	e := newEnv(t)
	uid, other := e.signUp("phone@example.com")
	b := e.browser()
	b.loginByForm("phone@example.com", goodPassword)
	p := b.stepUpFor("/account/phone", "phone@example.com")
	wantIn(t, p, `name="number"`, `autocomplete="tel"`)
	p = b.post("/account/phone", "step", "address", "number", "12")
	wantStatus(t, p, 400)
	if fieldError(p.Body, "number") == "" {
		t.Fatalf("a bad number has no message beside it:\n%s", p.Body)
	}
	p = b.post("/account/phone", "step", "address", "number", "+86 138 0013 8000")
	wantStatus(t, p, 200)
	wantIn(t, p, `name="code"`, "138 0013 8000")
	p = b.post("/account/phone", "step", "code", "code", e.code("+8613800138000"))
	wantStatus(t, p, 200)
	wantIn(t, p, `href="/login"`, "Log in again")
	if c := b.cookie("watchword_session"); c != nil {
		t.Errorf("the session cookie is still there")
	}
	if _, err := e.svc.Authenticate(context.Background(), other); err == nil {
		t.Error("another session survived the change")
	}
	p = b.get("/account")
	if !strings.HasSuffix(p.URL, "/login") {
		t.Fatalf("after the change /account went to %s", p.URL)
	}
	p = b.loginByForm("+8613800138000", goodPassword)
	if got := uidIn(p.Body); got != uid {
		t.Fatalf("the phone logs in as %q, want %q\n%s", got, uid, p.Body)
	}
	wantIn(t, p, `id="phone-state">Verified<`, "withdrawals are held until", "Mobile number changed")
}

// TestChangePasswordLogsOut: the password change ends every session;
// the new password then logs in, the old one no longer.
func TestChangePasswordLogsOut(t *testing.T) {
	e := newEnv(t)
	_, other := e.signUp("pw@example.com")
	b := e.browser()
	b.loginByForm("pw@example.com", goodPassword)
	b.stepUpFor("/account/password", "pw@example.com")
	p := b.post("/account/password", "password", "123")
	wantStatus(t, p, 400)
	if fieldError(p.Body, "password") == "" {
		t.Fatalf("a weak password has no message beside it:\n%s", p.Body)
	}
	const next = "a brand new passphrase for me"
	p = b.post("/account/password", "password", next)
	wantStatus(t, p, 200)
	wantIn(t, p, `href="/login"`, "Your password has been changed.")
	if strings.Contains(p.Body, next) {
		t.Error("the password is in the page")
	}
	if _, err := e.svc.Authenticate(context.Background(), other); err == nil {
		t.Error("another session survived the change")
	}
	if c := b.cookie("watchword_session"); c != nil {
		t.Error("the session cookie is still there")
	}
	p = b.loginByForm("pw@example.com", goodPassword)
	wantStatus(t, p, 401)
	p = b.loginByForm("pw@example.com", next)
	wantStatus(t, p, 200)
	wantIn(t, p, `id="uid"`)
}

// TestStepUpWithAuthenticator: with an authenticator bound the step-up
// asks for its code too, beside its own field.
func TestStepUpWithAuthenticator(t *testing.T) {
	e := newEnv(t)
	_, recovery := e.bindTOTP("totp@example.com")
	b := e.browser()
	b.get("/login")
	b.post("/login", "identifier", "totp@example.com", "password", goodPassword)
	b.post("/login", "step", "totp", "code", recovery[0])
	b.get("/account/email")
	b.post("/account/step-up", "step", "channel", "channel", "email", "next", "/account/email")
	code := e.code("totp@example.com")
	p := b.post("/account/step-up", "step", "code", "code", code)
	wantStatus(t, p, 400)
	wantIn(t, p, `name="totp"`)
	if fieldError(p.Body, "totp") == "" {
		t.Fatalf("no message beside the authenticator field:\n%s", p.Body)
	}
	p = b.post("/account/step-up", "step", "code", "code", code, "totp", recovery[1])
	if p.URL != e.srv.URL+"/account/email" {
		t.Fatalf("after the step-up: %s\n%s", p.URL, p.Body)
	}
	wantIn(t, p, `name="address"`, `autocomplete="email"`)
}

// centerPages visits every page and step of the center in lang.
func centerPages(t *testing.T, e *env, lang i18n.Lang) map[string]*page {
	t.Helper()
	out := map[string]*page{}
	addr := fmt.Sprintf("center-%s@example.com", lang)
	e.signUp(addr)
	b := e.browser()
	b.lang = string(lang)
	out["center"] = b.loginByForm(addr, goodPassword)
	out["step-up"] = b.get("/account/email")
	out["step-up refused"] = b.post("/account/step-up", "step", "channel", "channel", "pigeon", "next", "/account/email")
	out["step-up code"] = b.post("/account/step-up", "step", "channel", "channel", "email", "next", "/account/email")
	code := e.code(addr)
	out["step-up code refused"] = b.post("/account/step-up", "step", "code", "code", "12")
	out["email"] = b.post("/account/step-up", "step", "code", "code", code)
	out["email refused"] = b.post("/account/email", "step", "address", "address", "nope")
	out["email code"] = b.post("/account/email", "step", "address", "address", "new-"+addr)
	out["email code refused"] = b.post("/account/email", "step", "code", "code", "1")
	b.post("/account/email", "step", "restart")
	out["phone"] = b.get("/account/phone")
	out["phone refused"] = b.post("/account/phone", "step", "address", "number", "12")
	out["password"] = b.get("/account/password")
	out["password refused"] = b.post("/account/password", "password", "123")
	out["relogin"] = b.post("/account/password", "password", "another fine passphrase")
	return out
}

// TestCenterPagesInEveryLanguage: every page of the center in both
// languages, without a missing message, each field labelled and with its
// autocomplete, and an alert when input was refused.
func TestCenterPagesInEveryLanguage(t *testing.T) {
	e := newEnv(t)
	autocomplete := map[string]string{
		"address": "email", "number": "tel", "code": "one-time-code", "totp": "one-time-code", "password": "new-password",
	}
	for _, lang := range i18n.Langs {
		for name, p := range centerPages(t, e, lang) {
			t.Run(string(lang)+"/"+name, func(t *testing.T) {
				if !strings.Contains(p.Body, `<html lang="`+string(lang)+`">`) {
					t.Errorf("not in %s", lang)
				}
				if m := idLike.FindString(p.Body); m != "" {
					t.Errorf("a missing message: %q", m)
				}
				if strings.Contains(p.Body, "<no value>") {
					t.Errorf("a message without its data")
				}
				if lang == i18n.Chinese && !regexp.MustCompile(`<h1[^>]*>[^<]*\p{Han}`).MatchString(p.Body) {
					t.Errorf("the heading is not in Chinese")
				}
				if p.Status >= 400 && !strings.Contains(p.Body, `role="alert"`) {
					t.Errorf("%d without an alert", p.Status)
				}
				if strings.HasSuffix(name, "refused") && p.Status < 400 {
					t.Errorf("refused input answered %d", p.Status)
				}
				if strings.Contains(p.Body, "<form") && !strings.Contains(p.Body, `name="csrf_token"`) {
					t.Errorf("a form without its CSRF token")
				}
				for _, tag := range inputTag.FindAllString(p.Body, -1) {
					typ, id, name := attr(tag, "type"), attr(tag, "id"), attr(tag, "name")
					if typ == "hidden" {
						continue
					}
					if id == "" || !strings.Contains(p.Body, `<label for="`+id+`">`) {
						t.Errorf("no label for %s", tag)
					}
					if typ == "radio" {
						continue
					}
					if got, want := attr(tag, "autocomplete"), autocomplete[name]; got != want {
						t.Errorf("autocomplete=%q, want %q: %s", got, want, tag)
					}
					if (name == "code" || name == "totp") && attr(tag, "inputmode") != "numeric" {
						t.Errorf("a code field without inputmode=numeric: %s", tag)
					}
				}
			})
		}
	}
}

// BenchmarkCenterPages renders each page of the center.
func BenchmarkCenterPages(b *testing.B) {
	e := newEnv(b)
	e.signUp("bench-center@example.com")
	br := e.browser()
	br.loginByForm("bench-center@example.com", goodPassword)
	br.get("/account/email")
	br.post("/account/step-up", "step", "channel", "channel", "email", "next", "/account/email")
	br.post("/account/step-up", "step", "code", "code", e.code("bench-center@example.com"))
	for _, path := range []string{"/account", "/account/email", "/account/phone", "/account/password"} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			for b.Loop() {
				if p := br.get(path); p.Status != 200 || p.URL != e.srv.URL+path {
					b.Fatalf("%s: %d at %s", path, p.Status, p.URL)
				}
			}
		})
	}
	br.post("/account/email", "step", "address", "address", "bench-new@example.com")
	b.Run("account/email code", func(b *testing.B) {
		for b.Loop() {
			if p := br.get("/account/email"); p.Status != 200 || !strings.Contains(p.Body, `name="code"`) {
				b.Fatalf("%d", p.Status)
			}
		}
	})
	br.post("/account/email", "step", "restart")
	b.Run("account/step-up", func(b *testing.B) {
		for b.Loop() {
			if p := br.get("/account/step-up?next=%2Faccount%2Fpassword"); p.Status != 200 {
				b.Fatalf("%d", p.Status)
			}
		}
	})
}
