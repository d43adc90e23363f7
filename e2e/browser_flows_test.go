package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/watchword/watchword/internal/i18n"
)

// Browser flows: a person's way through the pages, in Chromium, typing into
// the fields, clicking the buttons and choosing files, against the real
// binary with real mail and SMS delivery. Every page on the way is checked
// with axe-core and photographed.

// goTo opens url in the same tab (its cookies and Accept-Language stay).
func (p *page) goTo(url string) {
	p.t.Helper()
	p.url = url
	p.run("open "+url, func(ctx context.Context) error {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
		if err == nil && resp != nil {
			p.Status = int(resp.Status)
		}
		return err
	})
	p.settle()
}

// typeIn types value into the field the CSS selector names, clearing it first.
func (p *page) typeIn(selector, value string) {
	p.t.Helper()
	evalIn[bool](p, "clear "+selector, fmt.Sprintf("(document.querySelector(%q).value = '') === ''", selector))
	p.run("type into "+selector, func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.WaitVisible(chromedp.CSS(selector)),
			chromedp.SendKeys(chromedp.CSS(selector), value))
	})
}

// click clicks the element the CSS selector names and, since it submits a
// form or follows a link, waits until the next document has loaded.
func (p *page) click(selector string) {
	p.t.Helper()
	p.clickUntil(selector, `typeof window.__wwOld === 'undefined'`)
}

// clickUntil clicks the element the CSS selector names and waits until
// the JavaScript condition holds on a loaded document. The page's own
// script may replace the document in place (document.write keeps the
// window), which the condition then names.
func (p *page) clickUntil(selector, cond string) {
	p.t.Helper()
	evalIn[bool](p, "mark the document", `(window.__wwOld = true)`)
	p.run("click "+selector, func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector), chromedp.NodeVisible))
	})
	p.run("wait for the next page after "+selector, func(ctx context.Context) error {
		for {
			done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
				`!!(`+cond+`) && document.readyState === 'complete'`))
			if err == nil && done {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	p.url = evalIn[string](p, "location", "location.href")
	p.settle()
}

// path is the path of the page shown.
func (p *page) path() string {
	p.t.Helper()
	return evalIn[string](p, "location.pathname", "location.pathname")
}

// wantPath fails the test unless the page shown is at path.
func (p *page) wantPath(path string) {
	p.t.Helper()
	if got := p.path(); got != path {
		p.t.Fatalf("at %s, want %s; the page says:\n%s", got, path, p.text("main"))
	}
}

// check runs axe and photographs the page, and checks its language.
func (p *page) check(name string) {
	p.t.Helper()
	if got := p.docLang(); got != string(p.lang) {
		p.t.Errorf("%s: <html lang=%q>, want %q", name, got, p.lang)
	}
	p.axe()
	p.screenshot(name)
}

// submitOf is the submit button of the form the selector names.
func submitOf(form string) string { return form + ` button[type="submit"]` }

// pagesSignUp signs up with addr through /signup in a fresh tab and
// returns the tab on /account. shots says whether to check every page.
func pagesSignUp(t *testing.T, b *browser, s *server, lang i18n.Lang, addr string, shots bool) *page {
	t.Helper()
	p := b.visit(s.Base+"/signup", lang)
	if shots {
		p.check("signup-1-email")
	}
	p.typeIn("#email", addr)
	p.click(submitOf(`form[action="/signup"]`))
	p.wantPath("/signup")
	if shots {
		p.check("signup-2-code")
	}
	p.typeIn("#code", s.EmailCode(addr))
	p.click(`form:has(#code) button[type="submit"]`)
	if p.count("#password") != 1 {
		t.Fatalf("no password step after the code; the page says:\n%s", p.text("main"))
	}
	if shots {
		p.check("signup-3-password")
	}
	p.typeIn("#password", goodPassword)
	p.click(`form:has(#password) button[type="submit"]`)
	p.wantPath("/account")
	if p.text("#uid") == "" {
		t.Fatal("/account shows no #uid")
	}
	if shots {
		p.check("account")
	}
	return p
}

// pagesStepUp passes the step-up the tab was sent to, by the email code.
func pagesStepUp(t *testing.T, p *page, s *server, addr string, shots bool) {
	t.Helper()
	p.wantPath("/account/step-up")
	if shots {
		p.check("stepup-1-channel")
	}
	p.run("choose email", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#channel-email"), chromedp.NodeVisible))
	})
	p.click(`form:has(#channel-email) button[type="submit"]`)
	if shots {
		p.check("stepup-2-code")
	}
	p.typeIn("#code", s.EmailCode(addr))
	p.click(`form:has(#code) button[type="submit"]`)
}

// pagesLogin logs in at /login with the password in a fresh tab.
func pagesLogin(t *testing.T, b *browser, s *server, lang i18n.Lang, ident string, shot string) *page {
	t.Helper()
	p := b.visit(s.Base+"/login", lang)
	if shot != "" {
		p.check(shot)
	}
	p.typeIn("#identifier", ident)
	p.typeIn("#password", goodPassword)
	p.click(`form:has(#password) button[type="submit"]`)
	return p
}

// TestBrowserSignUpVerifyPhoneLogin: in both languages, sign up by email,
// add a phone in the personal center (after a step-up by email), see the
// page asking to log in again, and log in with the phone and the password.
func TestBrowserSignUpVerifyPhoneLogin(t *testing.T) {
	axeSource(t)
	chromium(t)
	t.Parallel()
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	parent := t
	for i, lang := range i18n.Langs {
		t.Run(string(lang), func(t *testing.T) {
			b := newBrowser(t)
			s.t = t
			defer func() { s.t = parent }()
			addr := "flow" + string(rune('a'+i)) + "@example.com"
			phone := "+861380013800" + string(rune('1'+i))
			p := pagesSignUp(t, b, s, lang, addr, true)
			uid := p.text("#uid")

			p.goTo(s.Base + "/account/phone")
			pagesStepUp(t, p, s, addr, true)
			p.wantPath("/account/phone")
			p.check("phone-1-number")
			p.typeIn("#number", phone)
			p.click(`form:has(#number) button[type="submit"]`)
			p.check("phone-2-code")
			p.typeIn("#code", s.SMSCode(phone))
			p.click(`form:has(#code) button[type="submit"]`)
			if p.count(`a[href="/login"]`) == 0 || p.text("h1") == "" {
				t.Fatalf("no page asking to log in again after the phone was set:\n%s", p.text("main"))
			}
			p.check("relogin")

			p = pagesLogin(t, b, s, lang, phone, "login")
			p.wantPath("/account")
			if got := p.text("#uid"); got != uid {
				t.Fatalf("logged in with the phone as %q, want %q", got, uid)
			}
			if st := p.text("#phone-state"); st == "" {
				t.Error("/account shows no state of the phone")
			}
			p.check("account-after-login")
		})
	}
}

// TestBrowserBadCodeShowsError: a wrong sign-up code shows an alert beside
// the code field, in the page's language.
func TestBrowserBadCodeShowsError(t *testing.T) {
	axeSource(t)
	chromium(t)
	t.Parallel()
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	alerts := map[i18n.Lang]string{}
	for i, lang := range i18n.Langs {
		b := newBrowser(t) // a sign-up under way is remembered in a cookie
		addr := "bad" + string(rune('a'+i)) + "@example.com"
		p := b.visit(s.Base+"/signup", lang)
		p.typeIn("#email", addr)
		p.click(submitOf(`form[action="/signup"]`))
		s.EmailCode(addr) // delivered; the test types another
		p.typeIn("#code", "000000")
		p.click(`form:has(#code) button[type="submit"]`)
		if n := p.count(`.field:has(#code) [role="alert"]`); n != 1 {
			t.Fatalf("%s: %d alerts beside the code field, want 1:\n%s", lang, n, p.text("main"))
		}
		alerts[lang] = p.text(`.field:has(#code) [role="alert"]`)
		if alerts[lang] == "" {
			t.Errorf("%s: the alert is empty", lang)
		}
		if got := evalIn[string](p, "aria-invalid", `document.querySelector('#code').getAttribute('aria-invalid') || ''`); got != "true" {
			t.Errorf("%s: the code field has aria-invalid=%q, want true", lang, got)
		}
		p.check("signup-bad-code")
	}
	if alerts["en"] == alerts["zh-CN"] {
		t.Errorf("the alert reads the same in both languages: %q", alerts["en"])
	}
}

// TestBrowserAuthenticator: a user binds the authenticator through the
// pages (the QR read back by zbarimg matches the key shown as text, the
// code comes from oathtool), sees ten recovery codes, logs out, and logs in
// with the password and the authenticator step.
func TestBrowserAuthenticator(t *testing.T) {
	axeSource(t)
	chromium(t)
	oathtool := totpTool(t, "oathtool", "oathtool")
	zbarimg := totpTool(t, "zbarimg", "zbar-tools")
	t.Parallel()
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	b := newBrowser(t)
	const lang, addr = i18n.Lang("en"), "app@example.com"
	p := pagesSignUp(t, b, s, lang, addr, false)
	uid := p.text("#uid")

	p.goTo(s.Base + "/account/authenticator")
	if p.path() == "/account/step-up" {
		pagesStepUp(t, p, s, addr, false)
	}
	p.wantPath("/account/authenticator")
	if p.count("#totp-secret") == 0 {
		p.check("authenticator-intro")
		p.click(`form:has(input[name="step"][value="connect"]) button[type="submit"]`)
	}
	if p.path() == "/account/step-up" {
		pagesStepUp(t, p, s, addr, false)
		p.wantPath("/account/authenticator")
		if p.count("#totp-secret") == 0 {
			p.click(`form:has(input[name="step"][value="connect"]) button[type="submit"]`)
		}
	}
	secret := strings.ReplaceAll(p.text("#totp-secret"), " ", "")
	if secret == "" {
		t.Fatalf("no key in #totp-secret:\n%s", p.text("main"))
	}
	p.check("authenticator-setup")

	// The QR code as shown, read by a real scanner.
	p.resize(viewports[1])
	var qr []byte
	p.run("screenshot #totp-qr", func(ctx context.Context) error {
		var err error
		qr, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#totp-qr"), chromedp.NodeVisible))
		return err
	})
	uri := totpZbar(t, zbarimg, qr)
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" {
		t.Fatalf("the QR code reads %q, want an otpauth://totp/ URI", uri)
	}
	if got := u.Query().Get("secret"); !strings.EqualFold(got, secret) {
		t.Fatalf("the QR code's secret %q differs from the key shown %q", got, secret)
	}

	app := &totpPhone{t: t, oathtool: oathtool, secret: secret, used: map[int64]bool{}}
	p.typeIn("#code", app.step(totpSteadyStep()))
	p.click(`form:has(#code) button[type="submit"]`)
	if n := p.count(".recovery-code"); n != 10 {
		t.Fatalf("%d recovery codes shown, want 10:\n%s", n, p.text("main"))
	}
	p.check("authenticator-codes")
	p.click(`form:has(input[name="step"][value="done"]) button[type="submit"]`)

	p.goTo(s.Base + "/logout")
	p.click(`form[action="/logout"] button[type="submit"]`)
	p.wantPath("/login")

	p = pagesLogin(t, b, s, lang, addr, "")
	if p.count("#code") != 1 {
		t.Fatalf("no authenticator step after the password:\n%s", p.text("main"))
	}
	p.check("login-authenticator")
	p.typeIn("#code", app.code(true))
	p.click(`form:has(#code) button[type="submit"]`)
	p.wantPath("/account")
	if got := p.text("#uid"); got != uid {
		t.Fatalf("logged in as %q, want %q", got, uid)
	}
}

// TestBrowserUnbindApprovedByStaff: a user who lost the authenticator
// files an unbind request from the login's authenticator step, uploading
// a photo and a video; a reviewer logs in through the pages (password and
// authenticator), opens the case with its evidence and approves it; the
// user then logs in with the password alone.
func TestBrowserUnbindApprovedByStaff(t *testing.T) {
	axeSource(t)
	chromium(t)
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	staff := rvStaff(t, s, oathtool, "reviewer@example.com")
	owner := rvUser(t, s, oathtool, "owner@example.com", "")
	const lang = i18n.Lang("en")

	dir := t.TempDir()
	photo, video := filepath.Join(dir, "photo.png"), filepath.Join(dir, "video.mp4")
	if err := os.WriteFile(photo, rvPNG(t, 320, 240), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(video, rvSmallVideo(t, 7), 0o600); err != nil {
		t.Fatal(err)
	}

	user := newBrowser(t)
	p := pagesLogin(t, user, s, lang, owner.addr, "")
	if p.count(`a[href="/unbind"]`) != 1 {
		t.Fatalf("the authenticator step has no link to /unbind:\n%s", p.text("main"))
	}
	p.click(`a[href="/unbind"]`)
	p.wantPath("/unbind")
	challenge := p.text("#challenge")
	if challenge == "" {
		t.Fatal("/unbind shows no #challenge")
	}
	p.check("unbind-form")
	p.typeIn("#uid", owner.uid)
	p.typeIn("#id_number", "P1234567")
	p.run("choose the files", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.SetUploadFiles(chromedp.CSS("#photo"), []string{photo}),
			chromedp.SetUploadFiles(chromedp.CSS("#video"), []string{video}))
	})
	// upload.js sends the form with a progress bar, then shows the answer.
	p.clickUntil(`#unbind-form button[type="submit"]`,
		`document.querySelector('#state') || document.querySelector('.field-error, .alert, #upload-failed:not([hidden])')`)
	if got := p.text("#state"); got != "pending" {
		t.Fatalf("after filing: #state %q, want pending:\n%s", got, p.text("main"))
	}
	p.check("unbind-status")

	// The reviewer, through the pages.
	sb := newBrowser(t)
	q := pagesLogin(t, sb, s, lang, staff.addr, "")
	if q.count("#code") != 1 {
		t.Fatalf("no authenticator step for the reviewer:\n%s", q.text("main"))
	}
	q.typeIn("#code", staff.app.code(true))
	q.click(`form:has(#code) button[type="submit"]`)
	q.wantPath("/account")
	q.goTo(s.Base + "/staff")
	if q.Status != 200 {
		t.Fatalf("/staff: status %d", q.Status)
	}
	q.check("staff-queue")
	if q.count(`a[href^="/staff/unbind/"]`) != 1 {
		t.Fatalf("the queue does not link one case:\n%s", q.text("main"))
	}
	q.click(`a[href^="/staff/unbind/"]`)
	if !strings.HasPrefix(q.path(), "/staff/unbind/") {
		t.Fatalf("at %s, want a case", q.path())
	}
	for _, sel := range []string{"img#evidence-photo", "video#evidence-video"} {
		if q.count(sel) != 1 {
			t.Errorf("the case shows no %s", sel)
		}
	}
	// The photo is served to the reviewer and loads in the page.
	if w := evalIn[int](q, "photo width", `document.querySelector('#evidence-photo').naturalWidth`); w == 0 {
		t.Error("the evidence photo did not load")
	}
	// No identity verification: no selfie to compare with.
	if q.count("#evidence-selfie") != 0 {
		t.Error("a selfie shows without an identity verification")
	}
	if got := q.text("#challenge"); got != challenge {
		t.Errorf("the case shows the challenge %q, the user was shown %q", got, challenge)
	}
	q.check("staff-case")
	q.typeIn("#note", "face and video match")
	q.click(`form#approve button[type="submit"]`)
	if got := q.text("#state"); got != "approved" {
		t.Errorf("after approving: #state %q, want approved:\n%s", got, q.text("main"))
	}
	q.check("staff-case-approved")

	// The password alone now signs the owner in.
	// (A fresh browser: the first one still holds the login waiting for the
	// authenticator.)
	p = pagesLogin(t, newBrowser(t), s, lang, owner.addr, "")
	p.wantPath("/account")
	if got := p.text("#uid"); got != owner.uid {
		t.Fatalf("logged in as %q, want %q", got, owner.uid)
	}
	p.check("account-after-unbind")
}
