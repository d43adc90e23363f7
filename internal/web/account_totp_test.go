package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/totp"
)

// totpSignedIn signs a browser up as email and gives its session a
// recent step-up through the service (the step-up page is another
// page's business).
func (e *env) totpSignedIn(email string) *browser {
	e.t.Helper()
	b := e.browser()
	b.signUpByForm(email)
	e.totpStepUp(b, email)
	return b
}

// totpStepUp gives b's session a recent step-up, with a code sent to email.
func (e *env) totpStepUp(b *browser, email string) {
	e.t.Helper()
	ctx := context.Background()
	c := b.cookie(sessionCookie)
	if c == nil {
		e.t.Fatal("no session cookie")
	}
	sess, err := e.svc.Authenticate(ctx, c.Value)
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
}

var (
	totpSecretPattern   = regexp.MustCompile(`id="totp-secret"[^>]*>([^<]*)<`)
	totpQRPattern       = regexp.MustCompile(`<img id="totp-qr"[^>]* src="([^"]+)"[^>]* alt="([^"]+)"`)
	recoveryCodePattern = regexp.MustCompile(`class="recovery-code[^"]*">([^<]+)<`)
)

// totpConnect presses Connect and returns the setup page and the secret
// read from #totp-secret.
func (b *browser) totpConnect() (*page, []byte) {
	b.t.Helper()
	b.get("/account/authenticator")
	p := b.post("/account/authenticator", "step", "connect")
	wantStatus(b.t, p, 200)
	m := totpSecretPattern.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("no #totp-secret:\n%s", p.Body)
	}
	key := strings.ReplaceAll(html.UnescapeString(m[1]), " ", "")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key)
	if err != nil {
		b.t.Fatalf("the key %q: %v", m[1], err)
	}
	return p, secret
}

// TestTOTPBindThroughPages: Connect shows the key and the QR image (a PNG,
// no-store, only with the session); a code computed from the key confirms
// and shows ten recovery codes once, which download as a text file; the
// page then shows the state, and removal takes a code.
func TestTOTPBindThroughPages(t *testing.T) {
	e := newEnv(t)
	b := e.totpSignedIn("bind@example.com")

	p := b.get("/account/authenticator")
	wantStatus(t, p, 200)
	wantIn(t, p, `id="totp-state"`, `name="step" value="connect"`)

	p, secret := b.totpConnect()
	wantIn(t, p, `name="code"`, `inputmode="numeric"`, `autocomplete="one-time-code"`, `/static/totp.js`)
	m := totpQRPattern.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no <img id=totp-qr> with src and alt:\n%s", p.Body)
	}
	src := html.UnescapeString(m[1])
	if !strings.HasPrefix(src, "/") || strings.Contains(strings.ToUpper(src), base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)) {
		t.Fatalf("the QR image's address %q is not a same-origin path without the key", src)
	}
	for _, visit := range b.visits {
		if strings.Contains(visit, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)) {
			t.Fatalf("the key is in an address: %s", visit)
		}
	}

	// The QR image: a PNG, never cached, only with the session.
	img := b.get(src)
	wantStatus(t, img, 200)
	if ct := img.Header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("QR content type %q", ct)
	}
	if cc := img.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("QR Cache-Control %q", cc)
	}
	if _, err := png.Decode(strings.NewReader(img.Body)); err != nil {
		t.Fatalf("QR is no PNG: %v", err)
	}
	anon := e.browser()
	if q := anon.do(mustRequest(t, http.MethodGet, e.srv.URL+src), false); q.Status != http.StatusSeeOther || q.Header.Get("Location") != "/login" {
		t.Fatalf("QR without a session: %d %q", q.Status, q.Header.Get("Location"))
	}

	// A wrong code: its error beside the field, the key still shown.
	wrong := totp.Code(secret, totp.Step(time.Now())+40)
	p = b.post("/account/authenticator", "step", "confirm", "code", wrong)
	wantStatus(t, p, 400)
	if fieldError(p.Body, "code") == "" {
		t.Fatalf("no error beside the code:\n%s", p.Body)
	}
	wantIn(t, p, `id="totp-secret"`, `aria-invalid="true"`)

	// The right one: ten recovery codes, once.
	p = b.post("/account/authenticator", "step", "confirm", "code", totp.Code(secret, totp.Step(time.Now())))
	wantStatus(t, p, 200)
	codes := recoveryCodePattern.FindAllStringSubmatch(p.Body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes, want 10:\n%s", len(codes), p.Body)
	}
	wantIn(t, p, `action="/account/authenticator/recovery-codes"`, `data-print`)
	if strings.Contains(p.Body, `id="totp-secret"`) {
		t.Fatal("the key is still shown after confirming")
	}

	// Download: a POST that answers the same codes as an attachment.
	file := b.post("/account/authenticator/recovery-codes")
	wantStatus(t, file, 200)
	if !strings.HasPrefix(file.Header.Get("Content-Disposition"), "attachment;") ||
		!strings.HasPrefix(file.Header.Get("Content-Type"), "text/plain") || file.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download headers: %v", file.Header)
	}
	for _, c := range codes {
		if !strings.Contains(file.Body, c[1]) {
			t.Fatalf("code %s not in the file:\n%s", c[1], file.Body)
		}
	}
	// A GET of it is no download.
	if g := b.do(mustRequest(t, http.MethodGet, e.srv.URL+"/account/authenticator/recovery-codes"), false); g.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET of the download: %d", g.Status)
	}
	b.get("/account/authenticator") // the codes, until done

	// Done: the codes are gone from the page for good.
	p = b.post("/account/authenticator", "step", "done")
	wantStatus(t, p, 200)
	if recoveryCodePattern.MatchString(p.Body) {
		t.Fatal("the codes are shown again after done")
	}
	wantIn(t, p, `name="step" value="remove"`, `name="step" value="connect"`)
	if file := b.post("/account/authenticator/recovery-codes"); strings.Contains(file.Body, codes[0][1]) {
		t.Fatal("the codes download again after done")
	}

	// Removal: a wrong code beside the field, then a recovery code.
	p = b.post("/account/authenticator", "step", "remove", "code", "000000")
	wantStatus(t, p, 400)
	if fieldError(p.Body, "code") == "" {
		t.Fatalf("no error beside the removal code:\n%s", p.Body)
	}
	p = b.post("/account/authenticator", "step", "remove", "code", codes[0][1])
	wantStatus(t, p, 200)
	wantIn(t, p, `name="step" value="connect"`)
	if _, bound, _ := e.svc.Me(context.Background(), e.totpSession(b)); bound {
		t.Fatal("still bound after removal")
	}
}

// TestTOTPRemoveWithAppCode removes a binding made elsewhere with the
// app's current code.
func TestTOTPRemoveWithAppCode(t *testing.T) {
	e := newEnv(t)
	b := e.totpSignedIn("remove@example.com")
	_, secret := b.totpConnect()
	b.post("/account/authenticator", "step", "confirm", "code", totp.Code(secret, totp.Step(time.Now())))
	b.post("/account/authenticator", "step", "done")
	// Connect again with a new key while bound: the setup shows, and
	// cancelling it keeps the binding.
	p, again := b.totpConnect()
	if bytes.Equal(again, secret) {
		t.Fatal("the same key again")
	}
	wantIn(t, p, `id="totp-qr"`)
	p = b.post("/account/authenticator", "step", "cancel")
	wantIn(t, p, `name="step" value="remove"`)
	// A code of a clock three minutes ahead: how far, and the advice to
	// correct the time in the app, beside the field, in the page's
	// language; then a clock 90 seconds behind.
	p = b.post("/account/authenticator", "step", "remove", "code", totp.Code(secret, totp.Step(time.Now())+6))
	wantStatus(t, p, 400)
	if msg := fieldError(p.Body, "code"); !strings.Contains(msg, "3 minutes ahead") || !strings.Contains(msg, "Sync now") {
		t.Fatalf("clock drift: %q\n%s", msg, p.Body)
	}
	b.lang = "zh-CN"
	p = b.post("/account/authenticator", "step", "remove", "code", totp.Code(secret, totp.Step(time.Now())-3))
	wantStatus(t, p, 400)
	if msg := fieldError(p.Body, "code"); !strings.Contains(msg, "慢了 90 秒") || !strings.Contains(msg, "立即同步") {
		t.Fatalf("clock drift in Chinese: %q\n%s", msg, p.Body)
	}
	b.lang = ""
	// The confirming code is spent; the next step's is accepted.
	p = b.post("/account/authenticator", "step", "remove", "code", totp.Code(secret, totp.Step(time.Now())+1))
	wantStatus(t, p, 200)
	if _, bound, _ := e.svc.Me(context.Background(), e.totpSession(b)); bound {
		t.Fatalf("still bound:\n%s", p.Body)
	}
}

// TestTOTPNeedsStepUp: without a recent step-up, Connect goes to the
// step-up page, which comes back here.
func TestTOTPNeedsStepUp(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signUpByForm("stepup@example.com")
	b.get("/account/authenticator")
	req := b.form("/account/authenticator", "step", "connect")
	p := b.do(req, false)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/account/step-up?next=/account/authenticator" {
		t.Fatalf("connect without step-up: %d %q", p.Status, p.Header.Get("Location"))
	}
	if q := b.do(mustRequest(t, http.MethodGet, e.srv.URL+"/account/authenticator/qr"), false); q.Status == 200 {
		t.Fatal("the QR image without a step-up")
	}
	if q := e.browser().get("/account/authenticator"); !strings.HasSuffix(q.URL, "/login") {
		t.Fatalf("signed out: %s", q.URL)
	}
}

func (e *env) totpSession(b *browser) *account.Session {
	e.t.Helper()
	sess, err := e.svc.Authenticate(context.Background(), b.cookie(sessionCookie).Value)
	if err != nil {
		e.t.Fatal(err)
	}
	return sess
}

func mustRequest(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// --- identity verification ---

// idvEvidence keeps uploads in memory, taking JPEG and PNG images.
type idvEvidence struct {
	mu    sync.Mutex
	blobs map[string][]byte
	n     int
}

func (m *idvEvidence) Ingest(_ context.Context, kind review.Kind, r io.Reader) (*review.Stored, error) {
	b, err := io.ReadAll(io.LimitReader(r, 10<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 10<<20 {
		return nil, review.ErrTooLarge
	}
	ct := http.DetectContentType(b)
	if kind != review.KindImage || (ct != "image/png" && ct != "image/jpeg") {
		return nil, review.ErrUnsupportedType
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	id := "blob" + strings.Repeat("x", m.n)
	m.blobs[id] = b
	return &review.Stored{BlobID: id, ContentType: ct, Size: int64(len(b))}, nil
}

func (m *idvEvidence) Open(_ context.Context, id string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return io.NopCloser(bytes.NewReader(m.blobs[id])), nil
}

func (m *idvEvidence) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, id)
	return nil
}

// idvEnv is an env whose pages have the review service.
func idvEnv(t testing.TB) (*env, *review.Service) {
	e := newEnv(t)
	rev := review.New(review.Deps{
		Store: e.db.Review(), Accounts: e.svc, Evidence: &idvEvidence{blobs: map[string][]byte{}},
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}, Random: rand.Reader, Now: time.Now, Log: slog.New(slog.DiscardHandler),
	}, review.Config{})
	e.web.reviews = rev
	return e, rev
}

// idvPNG is a small generated PNG.
func idvPNG(t testing.TB, c color.Color) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for x := range 16 {
		for y := range 12 {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// idvSubmit sends the identity form as a browser does: the CSRF token
// first, the texts, then the files (an empty part for a file not chosen).
func (b *browser) idvSubmit(fields [][2]string, files map[string][]byte) *page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField(csrfField, csrfIn(b.last.Body))
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	for _, name := range []string{"document_front", "document_back", "selfie"} {
		fname := name + ".png"
		if files[name] == nil {
			fname = ""
		}
		w, err := mw.CreateFormFile(name, fname)
		if err != nil {
			b.t.Fatal(err)
		}
		_, _ = w.Write(files[name])
	}
	_ = mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+"/account/identity", &buf)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.origin)
	return b.do(req, true)
}

var idvStatePattern = regexp.MustCompile(`id="identity-state" data-state="([a-z]+)"`)

// TestIdentityThroughPage: the form refuses missing text and a missing
// file beside their fields, keeping what was typed; a full submission
// is pending; a rejection shows its reason and the form again.
func TestIdentityThroughPage(t *testing.T) {
	e, rev := idvEnv(t)
	b := e.browser()
	b.signUpByForm("idv@example.com")

	p := b.get("/account/identity")
	wantStatus(t, p, 200)
	wantIn(t, p, `enctype="multipart/form-data"`, `name="full_name"`, `name="document_type"`, `name="document_number"`,
		`name="document_front"`, `name="document_back"`, `name="selfie"`, `data-state="none"`)
	form := p.Body[strings.Index(p.Body, `<form method="post" action="/account/identity"`):]
	if i := strings.Index(form, "<input"); !strings.HasPrefix(form[i:], `<input type="hidden" name="csrf_token"`) {
		t.Fatalf("the CSRF token is not the form's first field:\n%s", form)
	}

	imgs := map[string][]byte{
		"document_front": idvPNG(t, color.RGBA{200, 0, 0, 255}),
		"document_back":  idvPNG(t, color.RGBA{0, 200, 0, 255}),
		"selfie":         idvPNG(t, color.RGBA{0, 0, 200, 255}),
	}
	text := [][2]string{{"full_name", "Li Lei"}, {"document_type", "id_card"}, {"document_number", "110101199003071234"}}

	p = b.idvSubmit([][2]string{{"full_name", ""}, {"document_type", "id_card"}, {"document_number", "X1"}}, imgs)
	wantStatus(t, p, 400)
	if fieldError(p.Body, "full_name") == "" {
		t.Fatalf("no error beside full_name:\n%s", p.Body)
	}
	wantIn(t, p, `value="X1"`)

	p = b.idvSubmit(text, map[string][]byte{"document_front": imgs["document_front"], "document_back": imgs["document_back"]})
	wantStatus(t, p, 400)
	if fieldError(p.Body, "selfie") == "" {
		t.Fatalf("no error beside selfie:\n%s", p.Body)
	}
	wantIn(t, p, `value="Li Lei"`)

	bad := map[string][]byte{"document_front": []byte("not an image at all"), "document_back": imgs["document_back"], "selfie": imgs["selfie"]}
	p = b.idvSubmit(text, bad)
	if p.Status != http.StatusUnsupportedMediaType || fieldError(p.Body, "document_front") == "" {
		t.Fatalf("a text file as an image: %d\n%s", p.Status, p.Body)
	}

	p = b.idvSubmit(text, imgs)
	wantStatus(t, p, 200)
	if m := idvStatePattern.FindStringSubmatch(p.Body); m == nil || m[1] != "pending" {
		t.Fatalf("after submitting:\n%s", p.Body)
	}
	if strings.Contains(p.Body, `name="full_name"`) {
		t.Fatal("the form is offered while one is pending")
	}

	// A rejection: the reason, and the form to submit again.
	idvReject(e, rev, e.totpSession(b).UID, "The photo is blurred.")
	p = b.get("/account/identity")
	wantIn(t, p, `data-state="rejected"`, "The photo is blurred.", `name="full_name"`)
	p = b.idvSubmit(text, imgs)
	if m := idvStatePattern.FindStringSubmatch(p.Body); m == nil || m[1] != "pending" {
		t.Fatalf("after submitting again:\n%s", p.Body)
	}
}

// idvReject rejects uid's pending verification as a new reviewer.
func idvReject(e *env, rev *review.Service, uid, reason string) {
	e.t.Helper()
	ctx := context.Background()
	secret, _ := e.bindTOTP("reviewer@example.com")
	res, err := e.svc.LoginPassword(ctx, testClient, "reviewer@example.com", goodPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.svc.CompleteTOTPLogin(ctx, testClient, res.MFAFlowID, totp.Code(secret, totp.Step(time.Now())+1))
	if err != nil {
		e.t.Fatal(err)
	}
	sess, err := e.svc.Authenticate(ctx, tok)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := account.GrantRole(ctx, e.db, sess.UID, "reviewer"); err != nil {
		e.t.Fatal(err)
	}
	rv, err := rev.Reviewer(ctx, sess)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := rev.RejectIdentity(ctx, rv, testClient, uid, reason); err != nil {
		e.t.Fatal(err)
	}
}

// TestTOTPIdentityLanguages: both pages, at every step, in both
// languages, with no message id left untranslated.
func TestTOTPIdentityLanguages(t *testing.T) {
	e, _ := idvEnv(t)
	ids := regexp.MustCompile(`web\.(totp|identity|error)\.[a-z_.]+`)
	for _, lang := range i18n.Langs {
		b := e.totpSignedIn("lang-" + strings.ToLower(string(lang)) + "@example.com")
		b.lang = string(lang)
		var pages []*page
		pages = append(pages, b.get("/account/authenticator"))
		p, secret := b.totpConnect()
		pages = append(pages, p)
		pages = append(pages, b.post("/account/authenticator", "step", "confirm", "code", "12"))
		pages = append(pages, b.post("/account/authenticator", "step", "confirm", "code", totp.Code(secret, totp.Step(time.Now()))))
		pages = append(pages, b.post("/account/authenticator", "step", "done"))
		pages = append(pages, b.post("/account/authenticator", "step", "remove", "code", "111111"))
		pages = append(pages, b.get("/account/identity"))
		pages = append(pages, b.idvSubmit([][2]string{{"full_name", ""}, {"document_type", "id_card"}, {"document_number", ""}}, nil))
		for _, p := range pages {
			if !strings.Contains(p.Body, `<html lang="`+string(lang)+`"`) {
				t.Fatalf("%s not in %s:\n%s", p.URL, lang, p.Body)
			}
			if m := ids.FindString(p.Body); m != "" {
				t.Fatalf("%s in %s shows the id %s", p.URL, lang, m)
			}
		}
	}
}

// BenchmarkTOTPIdentityPages measures the authenticator page at each of
// its states and the identity page.
func BenchmarkTOTPIdentityPages(b *testing.B) {
	e, _ := idvEnv(b)
	mux := http.NewServeMux()
	e.web.Register(mux)
	u, _ := url.Parse(e.srv.URL)

	off := e.totpSignedIn("bench-off@example.com")
	setup := e.totpSignedIn("bench-setup@example.com")
	_, secret := setup.totpConnect()
	codes := e.totpSignedIn("bench-codes@example.com")
	_, s2 := codes.totpConnect()
	codes.post("/account/authenticator", "step", "confirm", "code", totp.Code(s2, totp.Step(time.Now())))
	bound := e.totpSignedIn("bench-bound@example.com")
	_, s3 := bound.totpConnect()
	bound.post("/account/authenticator", "step", "confirm", "code", totp.Code(s3, totp.Step(time.Now())))
	bound.post("/account/authenticator", "step", "done")
	_ = secret

	for _, tc := range []struct {
		name, path string
		b          *browser
	}{
		{"authenticator_off", "/account/authenticator", off},
		{"authenticator_setup", "/account/authenticator", setup},
		{"authenticator_qr", "/account/authenticator/qr", setup},
		{"authenticator_codes", "/account/authenticator", codes},
		{"authenticator_bound", "/account/authenticator", bound},
		{"identity", "/account/identity", off},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9")
			for _, c := range tc.b.client.Jar.Cookies(u) {
				req.AddCookie(c)
			}
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("got %d\n%s", w.Code, w.Body)
				}
			}
		})
	}
}
