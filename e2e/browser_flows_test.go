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

// check runs axe on the page and photographs it at each viewport, and
// checks its language.
func (p *page) check(name string) {
	p.t.Helper()
	if got := p.docLang(); got != string(p.lang) {
		p.t.Errorf("%s: <html lang=%q>, want %q", name, got, p.lang)
	}
	for _, v := range viewports {
		p.resize(v)
		p.axeAt(v)
		p.shotAt(name, v)
	}
}

// checkLangs checks the page (see check) in its language, then shows the
// same address again in the other language, with the switch every page
// has (?lang=, kept in a cookie), and checks it there: the tab stays in
// that language. Pages reached by a flow are looked at in both languages
// without walking the flow twice.
func (p *page) checkLangs(name string) {
	p.t.Helper()
	p.check(name)
	other := i18n.Chinese
	if p.lang == i18n.Chinese {
		other = i18n.English
	}
	path := p.path()
	p.goTo(evalIn[string](p, "switch language",
		fmt.Sprintf(`(u => (u.searchParams.set('lang', %q), u.href))(new URL(location.href))`, other)))
	p.lang = other
	if p.Status != 200 || p.path() != path {
		p.t.Fatalf("%s in %s: status %d at %s, want 200 at %s:\n%s", name, other, p.Status, p.path(), path, p.text("main"))
	}
	p.check(name)
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
// add a phone in the personal center (after a step-up by email, the email
// and password pages looked at on the way), see the page asking to log in
// again, and log in with the phone and the password; the code login, the
// logout page and the error page are looked at too.
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
			if p.text(`[role="status"]`) == "" {
				t.Error("no flash message after the step-up")
			}
			p.check("phone-1-number")
			// The other sensitive pages, open after the step-up.
			p.goTo(s.Base + "/account/email")
			p.wantPath("/account/email")
			p.check("email-1-address")
			p.goTo(s.Base + "/account/password")
			p.wantPath("/account/password")
			p.check("password")
			p.goTo(s.Base + "/account/phone")
			p.typeIn("#number", phone)
			p.click(`form:has(#number) button[type="submit"]`)
			p.check("phone-2-code")
			p.typeIn("#code", s.SMSCode(phone))
			p.click(`form:has(#code) button[type="submit"]`)
			if p.count(`a[href="/login"]`) == 0 || p.text("h1") == "" {
				t.Fatalf("no page asking to log in again after the phone was set:\n%s", p.text("main"))
			}
			p.check("relogin")

			q := b.visit(s.Base+"/login/code", lang)
			q.check("login-code")
			q.goTo(s.Base + "/no/such/page")
			if q.Status != 404 {
				t.Errorf("/no/such/page: status %d, want 404", q.Status)
			}
			q.check("not-found")

			p = pagesLogin(t, b, s, lang, phone, "login")
			p.wantPath("/account")
			if got := p.text("#uid"); got != uid {
				t.Fatalf("logged in with the phone as %q, want %q", got, uid)
			}
			if st := p.text("#phone-state"); st == "" {
				t.Error("/account shows no state of the phone")
			}
			p.check("account-after-login")
			p.goTo(s.Base + "/logout")
			p.check("logout")
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
// with the password and the authenticator step. Each page is looked at in
// both languages (the switch reloads the same step).
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
		p.checkLangs("authenticator-intro")
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
	p.checkLangs("authenticator-setup")

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
	if p.text(`[role="status"]`) == "" {
		t.Error("no flash message after connecting the authenticator")
	}
	p.checkLangs("authenticator-codes")
	p.click(`form:has(input[name="step"][value="done"]) button[type="submit"]`)
	if p.count("#totp-state") != 1 || p.count(`input[name="step"][value="remove"]`) != 1 {
		t.Fatalf("no removal form once bound:\n%s", p.text("main"))
	}
	p.checkLangs("authenticator-bound")

	p.goTo(s.Base + "/logout")
	p.click(`form[action="/logout"] button[type="submit"]`)
	p.wantPath("/login")

	p = pagesLogin(t, b, s, lang, addr, "")
	if p.count("#code") != 1 {
		t.Fatalf("no authenticator step after the password:\n%s", p.text("main"))
	}
	p.checkLangs("login-authenticator")
	p.goTo(s.Base + "/login?recovery=1")
	if p.count("#code") != 1 {
		t.Fatalf("no code field for a recovery code:\n%s", p.text("main"))
	}
	p.check("login-recovery-code")
	p.goTo(s.Base + "/login")
	p.typeIn("#code", app.code(true))
	p.click(`form:has(#code) button[type="submit"]`)
	p.wantPath("/account")
	if got := p.text("#uid"); got != uid {
		t.Fatalf("logged in as %q, want %q", got, uid)
	}
}

// TestBrowserUnbindApprovedByStaff: a user verifies their identity on
// /account/identity (three photos) and a reviewer approves it on its staff
// page, with a note; later the user, who lost the authenticator, files an
// unbind request from the login's authenticator step, uploading a photo and
// a video; the reviewer opens the case, with the photo, the video and the
// identity verification's selfie, and approves it; the user then logs in
// with the password alone. Every page is looked at in both languages.
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
	files := map[string][]byte{
		"photo.png": rvPNG(t, 320, 240), "video.mp4": rvSmallVideo(t, 7),
		"front.jpg": rvJPEG(t, 320, 200), "back.png": rvPNG(t, 320, 200), "selfie.jpg": rvJPEG(t, 240, 320),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string) []string { return []string{filepath.Join(dir, name)} }

	// The owner verifies their identity, signed in with the authenticator.
	user := newBrowser(t)
	p := pagesLogin(t, user, s, lang, owner.addr, "")
	p.typeIn("#code", owner.app.code(true))
	p.click(`form:has(#code) button[type="submit"]`)
	p.wantPath("/account")
	p.goTo(s.Base + "/account/identity")
	p.checkLangs("identity-form")
	p.typeIn("#full_name", "Ada Lovelace")
	p.run("choose the document type", func(ctx context.Context) error {
		return chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#document_type"), "passport"))
	})
	p.typeIn("#document_number", "P1234567")
	p.run("choose the photos", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.SetUploadFiles(chromedp.CSS("#document_front"), file("front.jpg")),
			chromedp.SetUploadFiles(chromedp.CSS("#document_back"), file("back.png")),
			chromedp.SetUploadFiles(chromedp.CSS("#selfie"), file("selfie.jpg")))
	})
	p.click(`form[action="/account/identity"] button[type="submit"]`)
	p.wantPath("/account/identity")
	if got := evalIn[string](p, "identity state", `document.querySelector('#identity-state').dataset.state`); got != "pending" {
		t.Fatalf("after submitting: identity state %q, want pending:\n%s", got, p.text("main"))
	}
	if p.text(`[role="status"]`) == "" {
		t.Error("no flash message after submitting the identity verification")
	}
	p.checkLangs("identity-pending")

	// The reviewer, through the pages: the queue, the identity verification.
	sb := newBrowser(t)
	q := pagesLogin(t, sb, s, lang, staff.addr, "")
	if q.count("#code") != 1 {
		t.Fatalf("no authenticator step for the reviewer:\n%s", q.text("main"))
	}
	q.typeIn("#code", staff.app.code(true))
	q.click(`form:has(#code) button[type="submit"]`)
	q.wantPath("/account")
	q.goTo(s.Base + "/staff/identity/" + owner.uid)
	if q.Status != 200 {
		t.Fatalf("/staff/identity: status %d", q.Status)
	}
	for _, sel := range []string{"img#evidence-document_front", "img#evidence-document_back", "img#evidence-selfie"} {
		if q.count(sel) != 1 {
			t.Errorf("the identity verification shows no %s", sel)
		}
	}
	q.checkLangs("staff-identity")
	q.typeIn("#note", "document and selfie match")
	q.click(`form#approve button[type="submit"]`)
	if got := q.text("#state"); got != "approved" {
		t.Fatalf("after approving the identity: #state %q, want approved:\n%s", got, q.text("main"))
	}
	if q.text(`[role="status"]`) == "" {
		t.Error("no flash message after the decision")
	}
	if !strings.Contains(q.text("#audit + *"), "document and selfie match") {
		t.Errorf("the note is not on the audit trail:\n%s", q.text("main"))
	}
	q.checkLangs("staff-identity-approved")

	// The owner lost the authenticator: a new login stops at its step.
	p = pagesLogin(t, newBrowser(t), s, lang, owner.addr, "")
	if p.count(`a[href="/unbind"]`) != 1 {
		t.Fatalf("the authenticator step has no link to /unbind:\n%s", p.text("main"))
	}
	p.click(`a[href="/unbind"]`)
	p.wantPath("/unbind")
	challenge := p.text("#challenge")
	if challenge == "" {
		t.Fatal("/unbind shows no #challenge")
	}
	p.checkLangs("unbind-form")
	if got := p.text("#challenge"); got != challenge {
		t.Fatalf("the challenge changed with the language: %q, then %q", challenge, got)
	}
	p.typeIn("#uid", owner.uid)
	p.typeIn("#id_number", "P1234567")
	p.run("choose the files", func(ctx context.Context) error {
		return chromedp.Do(ctx,
			chromedp.SetUploadFiles(chromedp.CSS("#photo"), file("photo.png")),
			chromedp.SetUploadFiles(chromedp.CSS("#video"), file("video.mp4")))
	})
	// upload.js sends the form with a progress bar, then shows the answer.
	p.clickUntil(`#unbind-form button[type="submit"]`,
		`document.querySelector('#state') || document.querySelector('.field-error, .alert, #upload-failed:not([hidden])')`)
	if got := p.text("#state"); got != "pending" {
		t.Fatalf("after filing: #state %q, want pending:\n%s", got, p.text("main"))
	}
	p.checkLangs("unbind-status")

	// The reviewer opens the case from the queue.
	q.goTo(s.Base + "/staff")
	if q.Status != 200 {
		t.Fatalf("/staff: status %d", q.Status)
	}
	q.checkLangs("staff-queue")
	if q.count(`a[href^="/staff/unbind/"]`) != 1 {
		t.Fatalf("the queue does not link one case:\n%s", q.text("main"))
	}
	q.click(`a[href^="/staff/unbind/"]`)
	if !strings.HasPrefix(q.path(), "/staff/unbind/") {
		t.Fatalf("at %s, want a case", q.path())
	}
	for _, sel := range []string{"img#evidence-photo", "video#evidence-video", "img#evidence-selfie"} {
		if q.count(sel) != 1 {
			t.Errorf("the case shows no %s", sel)
		}
	}
	// The photo and the selfie are served to the reviewer and load.
	for _, id := range []string{"evidence-photo", "evidence-selfie"} {
		if w := evalIn[int](q, id+" width", `document.getElementById('`+id+`').naturalWidth`); w == 0 {
			t.Errorf("%s did not load", id)
		}
	}
	if got := q.text("#challenge"); got != challenge {
		t.Errorf("the case shows the challenge %q, the user was shown %q", got, challenge)
	}
	q.checkLangs("staff-case")
	q.typeIn("#note", "face and video match")
	q.click(`form#approve button[type="submit"]`)
	if got := q.text("#state"); got != "approved" {
		t.Errorf("after approving: #state %q, want approved:\n%s", got, q.text("main"))
	}
	q.checkLangs("staff-case-approved")

	// The password alone now signs the owner in.
	p = pagesLogin(t, newBrowser(t), s, lang, owner.addr, "")
	p.wantPath("/account")
	if got := p.text("#uid"); got != owner.uid {
		t.Fatalf("logged in as %q, want %q", got, owner.uid)
	}
	p.check("account-after-unbind")
}
