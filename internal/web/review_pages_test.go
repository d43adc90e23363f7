package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/evidence"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/totp"
)

// testEvidence is the review's Evidence over package evidence, wrapped as
// cmd/watchword does: encrypted blobs in a temporary folder.
type testEvidence struct {
	blobs    evidence.Blobs
	ingester *evidence.Ingester
}

func (e *testEvidence) Ingest(ctx context.Context, kind review.Kind, r io.Reader) (*review.Stored, error) {
	k := evidence.Video
	if kind == review.KindImage {
		k = evidence.Image
	}
	st, err := e.ingester.Ingest(ctx, k, r)
	switch {
	case errors.Is(err, evidence.ErrTooLarge):
		return nil, review.ErrTooLarge
	case errors.Is(err, evidence.ErrUnsupportedType):
		return nil, review.ErrUnsupportedType
	case err != nil:
		return nil, err
	}
	out := &review.Stored{BlobID: st.Original.ID, ContentType: st.View.ContentType, Size: st.Original.Size}
	if st.View.ID != st.Original.ID {
		out.ViewBlobID = st.View.ID
	}
	return out, nil
}

func (e *testEvidence) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	return e.blobs.Open(ctx, id)
}

func (e *testEvidence) Delete(ctx context.Context, id string) error { return e.blobs.Delete(ctx, id) }

// newReviewEnv is newEnv with a real review service behind the pages.
func newReviewEnv(t testing.TB) (*env, *review.Service) {
	t.Helper()
	e := newEnv(t)
	blobs, err := evidence.NewDirBlobs(t.TempDir(), evidence.Keys{Current: evidence.Key{ID: 1, Secret: bytes.Repeat([]byte{3}, evidence.KeySize)}})
	if err != nil {
		t.Fatal(err)
	}
	rs := review.New(review.Deps{
		Store: e.db.Review(), Accounts: e.svc, Evidence: &testEvidence{blobs: blobs, ingester: evidence.NewIngester(blobs)},
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}, Random: rand.Reader, Now: time.Now, Log: slog.New(slog.DiscardHandler),
	}, review.Config{})
	e.web.reviews = rs // before any request
	return e, rs
}

// testPNG is a small generated PNG.
func testPNG(t testing.TB, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for x := 0; x < 16; x++ {
		for y := 0; y < 12; y++ {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testMP4 is bytes that look like an MP4: an ftyp box, then a little data.
func testMP4() []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(0x18))
	b.WriteString("ftypisom")
	binary.Write(&b, binary.BigEndian, uint32(0x200))
	b.WriteString("isomiso2")
	b.Write(make([]byte, 8))
	b.Write([]byte{0, 0, 0, 8, 'f', 'r', 'e', 'e'})
	b.Write(bytes.Repeat([]byte{0x42}, 1000))
	return b.Bytes()
}

// uidOf returns the UID of a verified email.
func (e *env) uidOf(email string) string {
	e.t.Helper()
	u, err := e.db.UserByVerifiedEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.UID
}

// mfaBrowser logs email in with its password, stopping at the
// authenticator step.
func (e *env) mfaBrowser(email string) *browser {
	e.t.Helper()
	b := e.browser()
	b.get("/login")
	p := b.post("/login", "identifier", email, "password", goodPassword)
	wantStatus(e.t, p, 200)
	wantIn(e.t, p, `href="/unbind"`)
	return b
}

// upload sends the unbind form as a browser does: the fields in the
// form's order, the CSRF token first.
func (b *browser) upload(path string, fields [][2]string, files map[string][]byte) *page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField(csrfField, csrfIn(b.last.Body))
	for _, f := range fields {
		mw.WriteField(f[0], f[1])
	}
	for _, name := range []string{"photo", "video"} {
		if data, ok := files[name]; ok {
			w, _ := mw.CreateFormFile(name, name+".bin")
			w.Write(data)
		}
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, b.e.srv.URL+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.origin)
	return b.do(req, true)
}

var challengePattern = regexp.MustCompile(`id="challenge"[^>]*>([^<]+)<`)
var statePattern = regexp.MustCompile(`id="state"[^>]*>([^<]+)<`)

// fileUnbind walks /unbind for email (bound to an authenticator) and
// returns the browser on its status page.
func (e *env) fileUnbind(email, idNumber string) (*browser, *page) {
	e.t.Helper()
	b := e.mfaBrowser(email)
	p := b.get("/unbind")
	wantStatus(e.t, p, 200)
	m := challengePattern.FindStringSubmatch(p.Body)
	if m == nil || strings.TrimSpace(m[1]) == "" {
		e.t.Fatalf("no challenge:\n%s", p.Body)
	}
	// A reload shows the same phrase.
	if again := challengePattern.FindStringSubmatch(b.get("/unbind").Body); again == nil || again[1] != m[1] {
		e.t.Fatalf("the challenge changed on reload: %q then %v", m[1], again)
	}
	p = b.upload("/unbind", [][2]string{{"uid", e.uidOf(email)}, {"id_number", idNumber}},
		map[string][]byte{"photo": testPNG(e.t, color.RGBA{200, 10, 10, 255}), "video": testMP4()})
	return b, p
}

func TestUnbindPage(t *testing.T) {
	e, _ := newReviewEnv(t)

	// Without a login waiting for the authenticator: explained, no form.
	b := e.browser()
	p := b.get("/unbind")
	wantStatus(t, p, 200)
	wantIn(t, p, `href="/login"`)
	if strings.Contains(p.Body, `id="challenge"`) || strings.Contains(p.Body, `name="video"`) {
		t.Fatalf("a form without a flow:\n%s", p.Body)
	}

	e.bindTOTP("ursula@example.com")
	// A wrong UID is shown beside its field.
	b = e.mfaBrowser("ursula@example.com")
	b.get("/unbind")
	p = b.upload("/unbind", [][2]string{{"uid", "nobody"}, {"id_number", "X1"}},
		map[string][]byte{"photo": testPNG(t, color.White), "video": testMP4()})
	wantStatus(t, p, 400)
	if fieldError(p.Body, "uid") == "" {
		t.Fatalf("no error beside uid:\n%s", p.Body)
	}
	// A video that is no video: beside the video field, in Chinese too.
	b.lang = "zh-CN"
	b.get("/unbind")
	p = b.upload("/unbind", [][2]string{{"uid", e.uidOf("ursula@example.com")}, {"id_number", "X1"}},
		map[string][]byte{"photo": testPNG(t, color.White), "video": []byte("not a video at all")})
	wantStatus(t, p, 415)
	if msg := fieldError(p.Body, "video"); msg == "" || !strings.Contains(p.Body, `lang="zh-CN"`) {
		t.Fatalf("no Chinese error beside video:\n%s", p.Body)
	}
	b.lang = ""

	// The progress bar's script is served, and the form works without it.
	wantStatus(t, b.get("/static/upload.js"), 200)

	// Filed: the status page, its token in a cookie of its own path.
	b, p = e.fileUnbind("ursula@example.com", "X1")
	wantStatus(t, p, 200)
	if !regexp.MustCompile(`/unbind/status/[A-Za-z0-9_-]+$`).MatchString(p.URL) {
		t.Fatalf("the status page is at %s", p.URL)
	}
	if m := statePattern.FindStringSubmatch(p.Body); m == nil || m[1] != "pending" {
		t.Fatalf("state: %v\n%s", m, p.Body)
	}
	for _, v := range b.visits {
		if strings.Contains(v, "token") || strings.Contains(v, "?") {
			t.Fatalf("a secret in an address: %s", v)
		}
	}
	// Another browser, without the cookie, sees nothing.
	other := e.browser()
	u, _ := url.Parse(p.URL)
	wantStatus(t, other.get(u.Path), 404)
}

// staffBrowser signs up email as a reviewer with an authenticator and
// logs it in through the pages.
func (e *env) staffBrowser(email string) *browser {
	e.t.Helper()
	secret, _ := e.bindTOTP(email)
	if err := account.GrantRole(context.Background(), e.db, e.uidOf(email), "reviewer"); err != nil {
		e.t.Fatal(err)
	}
	b := e.mfaBrowser(email)
	p := b.post("/login", "step", "totp", "code", totp.Code(secret, totp.Step(time.Now())+1))
	if uidIn(p.Body) == "" {
		e.t.Fatalf("the staff member is not signed in:\n%s", p.Body)
	}
	return b
}

func TestStaffPages(t *testing.T) {
	e, rs := newReviewEnv(t)
	secret, _ := e.bindTOTP("victor@example.com")
	sb := e.staffBrowser("staff@example.com")

	// Victor's identity verification, submitted through the service and
	// approved on its staff page.
	ctx := context.Background()
	vb := e.mfaBrowser("victor@example.com")
	if p := vb.post("/login", "step", "totp", "code", totp.Code(secret, totp.Step(time.Now())+1)); uidIn(p.Body) == "" {
		t.Fatalf("victor is not signed in:\n%s", p.Body)
	}
	sess, err := e.svc.Authenticate(ctx, vb.cookie("watchword_session").Value)
	if err != nil {
		t.Fatal(err)
	}
	d, err := rs.BeginIdentityVerification(ctx, testClient, sess, review.IdentityForm{FullName: "Victor Vale", DocumentType: "id_card", DocumentNumber: "AB123"})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []review.Role{review.RoleDocumentFront, review.RoleDocumentBack, review.RoleSelfie} {
		if err := d.Add(ctx, role, bytes.NewReader(testPNG(t, color.RGBA{10, 10, 200, 255}))); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Submit(ctx); err != nil {
		t.Fatal(err)
	}
	vuid := e.uidOf("victor@example.com")
	p := sb.get("/staff")
	wantIn(t, p, `href="/staff/identity/`+vuid+`"`)
	p = sb.get("/staff/identity/" + vuid)
	wantStatus(t, p, 200)
	wantIn(t, p, `id="evidence-document_front"`, `id="evidence-selfie"`, `id="approve"`, `id="reject"`, "Victor Vale")
	wantStatus(t, sb.get("/staff/identity/"+vuid+"/evidence/selfie"), 200)
	// Approved with a note for other staff: back on the case (a GET,
	// so a reload sends nothing again), the decision said once, the note
	// on the audit trail.
	p = sb.post("/staff/identity/"+vuid+"/approve", "note", "document checked")
	if m := statePattern.FindStringSubmatch(p.Body); m == nil || m[1] != "approved" {
		t.Fatalf("identity after approval: %v\n%s", m, p.Body)
	}
	wantIn(t, p, `<div class="notice" role="status">Approved.`, "document checked")
	if u, _ := url.Parse(p.URL); u.Path != "/staff/identity/"+vuid {
		t.Fatalf("after the decision: at %s", p.URL)
	}
	if again := sb.get("/staff/identity/" + vuid); strings.Contains(again.Body, `role="status"`) {
		t.Fatalf("the flash message shows twice:\n%s", again.Body)
	}

	_, filed := e.fileUnbind("victor@example.com", "AB-123")
	wantStatus(t, filed, 200)
	u, _ := url.Parse(filed.URL)
	id := u.Path[len("/unbind/status/"):]

	// Signed out, or signed in without the role: 403 on every staff page.
	nobody := e.browser()
	for _, path := range []string{"/staff", "/staff/unbind/" + id, "/staff/unbind/" + id + "/evidence/photo", "/staff/identity/x"} {
		wantStatus(t, nobody.get(path), 403)
	}
	plain := e.browser()
	plain.signUpByForm("wendy@example.com")
	wantStatus(t, plain.get("/staff"), 403)

	p = sb.get("/staff")
	wantStatus(t, p, 200)
	wantIn(t, p, `href="/staff/unbind/`+id+`"`)
	p = sb.get("/staff/unbind/" + id)
	wantStatus(t, p, 200)
	wantIn(t, p, `<img id="evidence-photo"`, `<video id="evidence-video"`, `<img id="evidence-selfie"`, `id="challenge"`,
		`id="approve"`, `id="reject"`, `name="note"`, `name="reason"`, `class="badge match-yes"`)
	if !strings.Contains(p.Header.Get("Content-Security-Policy"), "media-src 'self'") {
		t.Fatalf("the case page's policy blocks the video: %s", p.Header.Get("Content-Security-Policy"))
	}

	// The evidence, with the API's headers; each read is on the trail.
	for _, role := range []string{"photo", "video", "selfie"} {
		ev := sb.get("/staff/unbind/" + id + "/evidence/" + role)
		wantStatus(t, ev, 200)
		h := ev.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") {
			t.Fatalf("%s headers: %v", role, h)
		}
		if want := map[string]string{"photo": "image/png", "video": "video/mp4", "selfie": "image/png"}[role]; h.Get("Content-Type") != want {
			t.Fatalf("%s served as %q", role, h.Get("Content-Type"))
		}
	}
	wantIn(t, sb.get("/staff/unbind/"+id), "read_photo", "read_video", "read_selfie")

	// A reject without a reason: beside the field.
	p = sb.post("/staff/unbind/"+id+"/reject", "reason", "")
	wantStatus(t, p, 400)
	if fieldError(p.Body, "reason") == "" {
		t.Fatalf("no error beside reason:\n%s", p.Body)
	}
	// Approve.
	p = sb.post("/staff/unbind/"+id+"/approve", "note", "video matches")
	wantStatus(t, p, 200)
	if m := statePattern.FindStringSubmatch(p.Body); m == nil || m[1] != "approved" {
		t.Fatalf("after approval: %v\n%s", m, p.Body)
	}
	wantIn(t, p, `role="status"`, "video matches")
	if strings.Contains(p.Body, `id="approve"`) {
		t.Fatalf("a decided case still offers the decision:\n%s", p.Body)
	}

	// Both languages, without a missing message id.
	for _, lang := range []string{"en", "zh-CN"} {
		sb.lang = lang
		for _, path := range []string{"/staff", "/staff/unbind/" + id} {
			p := sb.get(path)
			wantStatus(t, p, 200)
			wantIn(t, p, `lang="`+lang+`"`)
			if strings.Contains(p.Body, "web.") {
				t.Fatalf("%s in %s: a missing message id:\n%s", path, lang, p.Body)
			}
		}
	}
}

func TestReviewPagesLanguages(t *testing.T) {
	e, _ := newReviewEnv(t)
	e.bindTOTP("yara@example.com")
	for _, lang := range []string{"en", "zh-CN"} {
		b := e.browser()
		b.lang = lang
		for _, path := range []string{"/unbind"} {
			p := b.get(path)
			wantStatus(t, p, 200)
			if strings.Contains(p.Body, "web.unbind") || strings.Contains(p.Body, "web.staff") {
				t.Fatalf("%s: a missing message id:\n%s", lang, p.Body)
			}
		}
	}
	b, p := e.fileUnbind("yara@example.com", "Z9")
	for _, lang := range []string{"en", "zh-CN"} {
		b.lang = lang
		u, _ := url.Parse(p.URL)
		q := b.get(u.Path)
		wantStatus(t, q, 200)
		wantIn(t, q, `lang="`+lang+`"`, `id="state"`)
		if strings.Contains(q.Body, "web.unbind") {
			t.Fatalf("%s: a missing message id:\n%s", lang, q.Body)
		}
	}
}
