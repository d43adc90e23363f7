package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/account"
)

// TestSignUpByEmail walks the three steps through the forms: a wrong code
// is shown beside its field and kept, a weak password beside its own, and
// the account's page follows with the new UID and a session cookie.
func TestSignUpByEmail(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.get("/signup")
	wantStatus(t, p, 200)
	wantIn(t, p, `<html lang="en">`, `name="email"`, `autocomplete="email"`, `Step 1 of 3`)

	p = b.post("/signup", "step", "address", "email", "alice@example.com")
	wantStatus(t, p, 200)
	if p.URL != e.srv.URL+"/signup" {
		t.Fatalf("the code step is at %s, want /signup", p.URL)
	}
	wantIn(t, p, `name="code"`, `inputmode="numeric"`, `autocomplete="one-time-code"`, "alice@example.com", `Step 2 of 3`)
	code := e.code("alice@example.com")

	// A wrong code: its error beside the field, the code kept, no step on.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p = b.post("/signup", "step", "code", "code", wrong)
	wantStatus(t, p, 400)
	if msg := fieldError(p.Body, "code"); !strings.Contains(msg, "wrong or no longer valid") {
		t.Fatalf("the code's error: %q\n%s", msg, p.Body)
	}
	wantIn(t, p, `value="`+wrong+`"`, `aria-invalid="true"`, `aria-describedby="code-hint code-error"`)

	// The right code, typed with a space and full-width digits as a
	// Chinese input method might: the password step.
	typed := string([]rune{'０' + rune(code[0]-'0')}) + code[1:3] + " " + code[3:]
	p = b.post("/signup", "step", "code", "code", typed)
	wantStatus(t, p, 200)
	wantIn(t, p, `Step 3 of 3`, `autocomplete="new-password"`, `id="password-policy"`, "At least 8 characters")
	policy, field := strings.Index(p.Body, `id="password-policy"`), strings.Index(p.Body, `name="password"`)
	if policy < 0 || field < policy {
		t.Errorf("the policy comes after the password field")
	}

	// A weak password: refused beside the field, never echoed.
	p = b.post("/signup", "step", "password", "password", "password1")
	wantStatus(t, p, 400)
	if msg := fieldError(p.Body, "password"); !strings.Contains(msg, "at least 8 characters") {
		t.Fatalf("the password's error: %q", msg)
	}
	if strings.Contains(p.Body, "password1") {
		t.Errorf("the refused password is in the page")
	}

	p = b.post("/signup", "step", "password", "password", goodPassword)
	wantStatus(t, p, 200)
	if p.URL != e.srv.URL+"/account" {
		t.Fatalf("after sign-up: %s, want /account", p.URL)
	}
	uid := uidIn(p.Body)
	wantIn(t, p, "Welcome!")
	sess, err := e.svc.Authenticate(context.Background(), b.cookie("watchword_session").Value)
	if err != nil || sess.UID != uid || uid == "" {
		t.Fatalf("the session cookie: %v, %v; page uid %q", sess, err, uid)
	}
	if b.cookie("watchword_flow") != nil {
		t.Errorf("the flow cookie outlived the flow")
	}
}

// TestSignUpByPhone uses the phone tab: the field is a tel input and the
// code goes by SMS.
func TestSignUpByPhone(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.get("/signup?with=phone")
	wantIn(t, p, `name="phone"`, `type="tel"`, `autocomplete="tel"`, `href="/signup?with=phone" aria-current="page"`)
	p = b.post("/signup", "step", "address", "phone", "138 0013")
	wantStatus(t, p, 400)
	if msg := fieldError(p.Body, "phone"); !strings.Contains(msg, "country code") {
		t.Fatalf("a bad number: %q", msg)
	}
	wantIn(t, p, `name="phone"`, `value="138 0013"`)
	b.post("/signup", "step", "address", "phone", "+86 138 0013 8000")
	b.post("/signup", "step", "code", "code", e.code("+8613800138000"))
	p = b.post("/signup", "step", "password", "password", goodPassword)
	if uidIn(p.Body) == "" {
		t.Fatalf("no account page after a phone sign-up:\n%s", p.Body)
	}

	// A server that sends no text messages offers no phone.
	e = newEnv(t, envOptions{channels: []account.Channel{account.ChannelEmail}})
	p = e.browser().get("/signup?with=phone")
	if !strings.Contains(p.Body, `name="email"`) || strings.Contains(p.Body, `name="phone"`) || strings.Contains(p.Body, `class="tabs"`) {
		t.Errorf("without SMS, /signup?with=phone:\n%s", p.Body)
	}
}

// TestSignUpSteps covers the edges of the flow: a new code too soon is
// refused with the wait in the page's language, starting over forgets
// the flow, and a step whose flow is gone says so on the first step.
func TestSignUpSteps(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.lang = "zh-CN"
	b.get("/signup")
	b.post("/signup", "step", "address", "email", "bob@example.com")
	e.code("bob@example.com")

	p := b.post("/signup", "step", "resend")
	wantStatus(t, p, http.StatusTooManyRequests)
	if p.Header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After")
	}
	if msg := formAlert(p.Body); !strings.Contains(msg, "尝试次数过多") || !strings.Contains(msg, "秒") {
		t.Fatalf("the wait, in Chinese: %q\n%s", msg, p.Body)
	}
	wantIn(t, p, `name="code"`) // still the code step

	p = b.post("/signup", "step", "restart")
	wantIn(t, p, `name="email"`)
	if b.cookie("watchword_flow") != nil {
		t.Errorf("starting over kept the flow")
	}
	p = b.post("/signup", "step", "code", "code", "123456")
	wantStatus(t, p, 400)
	if msg := formAlert(p.Body); !strings.Contains(msg, "重新开始") {
		t.Fatalf("a step without its flow: %q", msg)
	}
	wantIn(t, p, `name="email"`)

	// Signed in, the sign-up page sends the browser to its account.
	b2 := e.browser()
	b2.signUpByForm("carol@example.com")
	if p := b2.get("/signup"); p.URL != e.srv.URL+"/account" {
		t.Fatalf("signed in, /signup went to %s", p.URL)
	}
}
