package web

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/middleware"
)

// everyPage visits every page and step, plain and refusing input, in
// lang, and returns them by name.
func everyPage(t *testing.T, e *env, lang i18n.Lang) map[string]*page {
	t.Helper()
	out := map[string]*page{}
	b := e.browser()
	b.lang = string(lang)
	addr := fmt.Sprintf("pages-%s@example.com", lang)

	out["signup"] = b.get("/signup")
	out["signup refused"] = b.post("/signup", "step", "address", "email", "not an address")
	out["signup phone"] = b.get("/signup?with=phone")
	b.post("/signup", "step", "address", "email", addr)
	out["signup code"] = b.last
	code := e.code(addr)
	out["signup code refused"] = b.post("/signup", "step", "code", "code", "12")
	out["signup resend refused"] = b.post("/signup", "step", "resend")
	out["signup password"] = b.post("/signup", "step", "code", "code", code)
	out["signup password refused"] = b.post("/signup", "step", "password", "password", "123")
	out["account"] = b.post("/signup", "step", "password", "password", goodPassword)
	out["logout"] = b.get("/logout")
	out["login after logout"] = b.post("/logout")

	out["login"] = b.get("/login")
	out["login refused"] = b.post("/login", "identifier", addr, "password", "wrong password")
	out["login code"] = b.get("/login/code")
	out["login code refused"] = b.post("/login/code", "step", "identifier", "identifier", "@@")
	out["login code sent"] = b.post("/login/code", "step", "identifier", "identifier", addr)
	e.code(addr)
	out["login code code refused"] = b.post("/login/code", "step", "code", "code", "000")

	mfa := fmt.Sprintf("mfa-%s@example.com", lang)
	e.bindTOTP(mfa)
	b2 := e.browser()
	b2.lang = string(lang)
	b2.get("/login")
	out["authenticator"] = b2.post("/login", "identifier", mfa, "password", goodPassword)
	out["authenticator refused"] = b2.post("/login", "step", "totp", "code", "000000")
	out["recovery"] = b2.get("/login?recovery=1")
	out["recovery refused"] = b2.post("/login", "step", "totp", "recovery", "1", "code", "aaaaa-bbbbb")

	out["cancel"] = b.get("/unbind/cancel/some-token")
	out["not found"] = b.get("/no/such/page")
	out["method not allowed"] = b.do(b.form("/account"), false)
	out["csrf"] = b.do(b.form("/login", csrfField, "forged"), false)
	return out
}

// idLike is what a message id looks like: the catalog returns the id
// itself when a language lacks it.
var idLike = regexp.MustCompile(`\b(web|mail|brand|lang)\.[a-z_]+(\.[a-z_]+)*\b`)

var (
	inputTag = regexp.MustCompile(`<input\b[^>]*>`)
	attr     = func(tag, name string) string {
		m := regexp.MustCompile(`\s` + name + `="([^"]*)"`).FindStringSubmatch(tag)
		if m == nil {
			return ""
		}
		return m[1]
	}
)

// TestEveryPageInEveryLanguage renders every page in both languages and
// checks what a reader and a screen reader need: the language in <html
// lang>, no missing message, a label for every field, the autocomplete
// and input mode of each kind of field, and an alert when input was
// refused.
func TestEveryPageInEveryLanguage(t *testing.T) {
	e := newEnv(t)
	for _, lang := range i18n.Langs {
		for name, p := range everyPage(t, e, lang) {
			t.Run(string(lang)+"/"+name, func(t *testing.T) {
				if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("%d %s: not a page:\n%s", p.Status, p.Header.Get("Content-Type"), p.Body)
				}
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
				if got := p.Header.Get("Content-Security-Policy"); got != csp {
					t.Errorf("CSP %q", got)
				}
				if p.Status >= 400 && !strings.Contains(p.Body, `role="alert"`) {
					t.Errorf("%d without an alert", p.Status)
				}
				checkFields(t, p.Body)
			})
		}
	}
}

// checkFields checks every visible input of a page.
func checkFields(t *testing.T, body string) {
	t.Helper()
	for _, tag := range inputTag.FindAllString(body, -1) {
		if attr(tag, "type") == "hidden" || strings.Contains(tag, " hidden ") || strings.HasSuffix(tag, " hidden>") {
			continue
		}
		id, name := attr(tag, "id"), attr(tag, "name")
		if id == "" || !strings.Contains(body, `<label for="`+id+`">`) {
			t.Errorf("no label for %s", tag)
		}
		want := map[string]string{"email": "email", "phone": "tel", "identifier": "username"}[name]
		switch {
		case name == "code" && strings.Contains(body, `name="recovery"`):
			want = "off"
		case name == "code":
			want = "one-time-code"
			if attr(tag, "inputmode") != "numeric" {
				t.Errorf("a code field without inputmode=numeric: %s", tag)
			}
		case name == "password" && strings.Contains(tag, "minlength"):
			want = "new-password"
		case name == "password":
			want = "current-password"
		}
		if got := attr(tag, "autocomplete"); got != want {
			t.Errorf("autocomplete=%q, want %q: %s", got, want, tag)
		}
	}
}

// TestPageHeaders: every page carries the pages' CSP (no inline script or
// style) and is HTML; the style sheet is served.
func TestPageHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	for _, path := range []string{"/signup", "/login", "/login/code", "/no/such/page", "/unbind/cancel/x"} {
		p := b.get(path)
		if got := p.Header.Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP %q", path, got)
		}
		if strings.Contains(p.Body, "<script") || strings.Contains(p.Body, "style=") || strings.Contains(p.Body, "<style") {
			t.Errorf("%s: inline script or style", path)
		}
	}
	for path, ctype := range map[string]string{"/static/site.css": "text/css", "/static/logo.svg": "image/svg+xml"} {
		p := b.get(path)
		if p.Status != 200 || !strings.HasPrefix(p.Header.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s", path, p.Status, p.Header.Get("Content-Type"))
		}
	}
}

// TestNotFoundAndMethod: unknown pages get the HTML 404 page in the
// user's language; a known page with another method 405 with Allow.
func TestNotFoundAndMethod(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.lang = "zh-CN"
	p := b.get("/no/such/page")
	wantStatus(t, p, 404)
	wantIn(t, p, `<html lang="zh-CN">`, "页面不存在")
	req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/login", nil)
	p = b.do(req, false)
	if p.Status != http.StatusMethodNotAllowed || p.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("DELETE /login: %d, Allow %q", p.Status, p.Header.Get("Allow"))
	}
}

// TestPanicPage: a panic in a page gives the HTML error page in the
// user's language, through the same recovery as the whole server.
func TestPanicPage(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.web.Register(mux)
	mux.Handle("GET /boom", e.web.handle(func(http.ResponseWriter, *http.Request) error { panic("boom") }))
	var logs bytes.Buffer
	h := middleware.RequestID(middleware.Recover(slog.New(slog.NewTextHandler(&logs, nil)), e.web.RenderInternalError, mux))
	for lang, want := range map[string]string{"en": "Something went wrong", "zh-CN": "出错了"} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/boom", nil)
		req.Header.Set("Accept-Language", lang)
		h.ServeHTTP(w, req)
		body := w.Body.String()
		if w.Code != 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `<html lang="`+lang+`">`) || !strings.Contains(body, want) {
			t.Fatalf("%s: %d %s\n%s", lang, w.Code, w.Header().Get("Content-Type"), body)
		}
		if !strings.Contains(body, w.Header().Get("X-Request-Id")) {
			t.Errorf("%s: the page does not give the request id", lang)
		}
		if w.Header().Get("Content-Security-Policy") != csp {
			t.Errorf("%s: CSP %q", lang, w.Header().Get("Content-Security-Policy"))
		}
	}
	if !strings.Contains(logs.String(), "boom") {
		t.Errorf("the panic is not logged")
	}
}

// TestStaffAndUploadWrappers checks the helpers the next pages use: a
// staff page answers 403 to anyone without a staff session; rotating the
// session (at step-up) changes the cookie; an upload form's token is its
// first part.
func TestStaffAndUploadWrappers(t *testing.T) {
	var got string
	e := newEnv(t, envOptions{extra: func(mux *http.ServeMux, s *Server) {
		mux.Handle("GET /staff-test", s.staff(func(w http.ResponseWriter, r *http.Request, _ *account.Session) error {
			_, err := io.WriteString(w, "staff")
			return err
		}))
		mux.Handle("POST /rotate-test", s.authed(func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
			if err := s.rotateSession(w, r, sess); err != nil {
				return err
			}
			return redirect(w, r, "/account")
		}))
		mux.Handle("POST /upload-test", s.handleUpload(func(w http.ResponseWriter, r *http.Request) error {
			mr, err := s.multipartReader(r)
			if err != nil {
				return err
			}
			part, err := mr.NextPart()
			if err != nil {
				return err
			}
			data, _ := io.ReadAll(part)
			got = part.FormName() + "=" + string(data)
			return redirect(w, r, "/")
		}))
	}})
	b := e.browser()
	if p := b.get("/staff-test"); p.Status != http.StatusForbidden {
		t.Errorf("staff page signed out: %d", p.Status)
	}
	b.signUpByForm("nina@example.com")
	if p := b.get("/staff-test"); p.Status != http.StatusForbidden || !strings.Contains(p.Body, `role="alert"`) {
		t.Errorf("staff page without a role: %d", p.Status)
	}

	// Rotation (the step-up page's): a new id, the old one ended.
	old := b.cookie(sessionCookie).Value
	if p := b.post("/rotate-test"); uidIn(p.Body) == "" {
		t.Fatalf("after rotating: %d\n%s", p.Status, p.Body)
	}
	if now := b.cookie(sessionCookie).Value; now == old {
		t.Error("the session id did not change")
	}
	if _, err := e.svc.Authenticate(t.Context(), old); err == nil {
		t.Error("the old id still works")
	}

	upload := func(first, token string) int {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if first == csrfField {
			mw.WriteField(csrfField, token)
			mw.WriteField("note", "hello")
		} else {
			mw.WriteField("note", "hello")
			mw.WriteField(csrfField, token)
		}
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/upload-test", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", e.srv.URL)
		return b.do(req, false).Status
	}
	b.get("/account")
	token := csrfIn(b.last.Body)
	if st := upload("note", token); st != http.StatusForbidden {
		t.Errorf("the token after a file: %d", st)
	}
	if st := upload(csrfField, "forged"); st != http.StatusForbidden {
		t.Errorf("a forged token: %d", st)
	}
	if st := upload(csrfField, token); st != http.StatusSeeOther || got != "note=hello" {
		t.Errorf("a genuine upload: %d, read %q", st, got)
	}
}

// TestEveryErrorHasAMessage: every code of the status table has its
// message in the catalog, so no error shows an id or English by mistake.
func TestEveryErrorHasAMessage(t *testing.T) {
	c := i18n.Default()
	ids := map[string]bool{}
	for _, id := range c.IDs(i18n.English) {
		ids[id] = true
	}
	for code := range statusOf {
		if !ids["web.error."+string(code)] {
			t.Errorf("no message web.error.%s", code)
		}
	}
}

// TestSiteMap: the pages of the contract's table are in the site map.
func TestSiteMap(t *testing.T) {
	s, err := New(Deps{Key: bytes.Repeat([]byte{1}, 32)}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	have := strings.Join(s.Patterns(), "\n") + "\n"
	for _, want := range []string{
		"GET /signup", "POST /signup", "GET /login", "POST /login", "GET /login/code", "POST /login/code",
		"GET /account", "GET /logout", "POST /logout", "GET /unbind/cancel/{token}", "POST /unbind/cancel/{token}",
	} {
		if !strings.Contains(have, want+"\n") {
			t.Errorf("no route %q", want)
		}
	}
}
