package e2e

// End-to-end tests of the lost-authenticator review: identity
// verification, requests to unbind an authenticator with their evidence,
// and their review by staff, over the real binary with real SMTP, the SMS
// webhook, SQLite and PostgreSQL. Staff get their role from the real
// `watchword staff grant` command and sign in with an authenticator app
// (oathtool); uploads are real images made with image/png and image/jpeg
// and MP4-framed videos, streamed as multipart bodies.

import (
	"bytes"
	"context"
	bin "encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// rvPublicURL is the address users see; the cancel link of a notice starts with it.
const rvPublicURL = "https://watchword.example"

// rvStart starts a server on dsn with the public URL set, and more flags.
func rvStart(t *testing.T, dsn string, extra ...string) *server {
	t.Helper()
	return start(t, options{DB: dsn, Extra: append([]string{"--public-url", rvPublicURL}, extra...)})
}

// rvSQLite is a fresh SQLite database.
func rvSQLite(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")
}

// --- multipart uploads

// formField and formFile are the parts of a multipart upload. Upload sends
// the fields first, as the API wants them, then the files.
type formField struct{ name, value string }

type formFile struct {
	name, filename string
	r              io.Reader
}

var errUploadAnswered = errors.New("the server answered before the body was sent")

// Upload sends a multipart/form-data body that is written while it is
// sent, through an io.Pipe, so that a file of 100 MB is streamed from its
// reader and never held in memory; the answer goes through the same
// checks against the document as every other call.
func (s *server) Upload(method, path, token string, fields []formField, files []formFile) *response {
	s.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	wrote := make(chan error, 1)
	go func() {
		err := func() error {
			for _, f := range fields {
				if err := mw.WriteField(f.name, f.value); err != nil {
					return err
				}
			}
			for _, f := range files {
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, f.name, f.filename))
				h.Set("Content-Type", "application/octet-stream") // the server judges the bytes, not this
				w, err := mw.CreatePart(h)
				if err != nil {
					return err
				}
				if _, err := io.Copy(w, f.r); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
		wrote <- err
	}()
	req, err := http.NewRequest(method, s.Base+"/api/v1"+path, pr)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := s.send(req)
	// A refused file is answered before the rest of the body is read:
	// stop writing it.
	pr.CloseWithError(errUploadAnswered)
	<-wrote
	return r
}

// rvUploadMust is Upload that fails the test unless the status (and, for
// an error, the code) is as wanted.
func rvUploadMust(s *server, status int, code, path, token string, fields []formField, files []formFile) *response {
	s.t.Helper()
	r := s.Upload("POST", path, token, fields, files)
	if r.Status != status || r.ErrorCode() != code {
		s.t.Fatalf("POST %s: got %d %.300s, want %d %s", path, r.Status, r.Raw, status, code)
	}
	return r
}

// --- real files

// rvImage is a gradient, so that encoders have something to compress.
func rvImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) % 256), 255})
		}
	}
	return img
}

func rvPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, rvImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func rvJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, rvImage(w, h), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rvGPSMarker is the position a phone wrote into a photo's EXIF.
const rvGPSMarker = "GPS 31.2304N 121.4737E watchword"

// rvJPEGWithGPS is a JPEG as a phone writes it: right after SOI, an APP1
// "Exif" segment whose TIFF structure has an orientation (1, upright) and
// a GPS IFD (GPSLatitudeRef N and a GPSMapDatum carrying rvGPSMarker).
func rvJPEGWithGPS(t *testing.T, w, h int) []byte {
	t.Helper()
	be := bin.BigEndian
	entry := func(b []byte, tag, typ uint16, count uint32, value []byte) []byte {
		b = be.AppendUint16(b, tag)
		b = be.AppendUint16(b, typ)
		b = be.AppendUint32(b, count)
		return append(b, value...)
	}
	const gpsIFD = 8 + 2 + 2*12 + 4     // after IFD0
	const datum = gpsIFD + 2 + 2*12 + 4 // after the GPS IFD
	tiff := []byte("MM\x00\x2a\x00\x00\x00\x08")
	tiff = be.AppendUint16(tiff, 2)
	tiff = entry(tiff, 0x0112, 3, 1, []byte{0, 1, 0, 0})                                   // Orientation SHORT 1
	tiff = entry(tiff, 0x8825, 4, 1, be.AppendUint32(nil, gpsIFD))                         // GPSInfo LONG offset
	tiff = be.AppendUint32(tiff, 0)                                                        // no IFD1
	tiff = be.AppendUint16(tiff, 2)                                                        // GPS IFD
	tiff = entry(tiff, 0x0001, 2, 2, []byte{'N', 0, 0, 0})                                 // GPSLatitudeRef ASCII "N"
	tiff = entry(tiff, 0x0012, 2, uint32(len(rvGPSMarker)+1), be.AppendUint32(nil, datum)) // GPSMapDatum
	tiff = be.AppendUint32(tiff, 0)
	tiff = append(append(tiff, rvGPSMarker...), 0)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	app1 := append([]byte{0xFF, 0xE1}, be.AppendUint16(nil, uint16(2+len(payload)))...)
	app1 = append(app1, payload...)
	base := rvJPEG(t, w, h)
	out := append([]byte{}, base[:2]...) // SOI
	out = append(out, app1...)
	return append(out, base[2:]...)
}

// rvJPEGSegments returns the markers of a JPEG's segments before its scan.
func rvJPEGSegments(t *testing.T, b []byte) []byte {
	t.Helper()
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		t.Fatalf("not a JPEG: % x", b[:min(len(b), 8)])
	}
	var markers []byte
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			t.Fatalf("JPEG segment at %d does not start with 0xFF", i)
		}
		m := b[i+1]
		markers = append(markers, m)
		if m == 0xDA { // start of scan
			break
		}
		i += 2 + int(bin.BigEndian.Uint16(b[i+2:]))
	}
	return markers
}

// rvRepeat reads block again and again, forever.
type rvRepeat struct {
	block []byte
	off   int
}

func (r *rvRepeat) Read(p []byte) (int, error) {
	n := copy(p, r.block[r.off:])
	r.off = (r.off + n) % len(r.block)
	return n, nil
}

// rvNoise is an endless reader of pseudo-random bytes (a 64 KiB block
// repeated: cheap enough for 100 MB).
func rvNoise(seed uint64) io.Reader {
	block := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(block)
	return &rvRepeat{block: block}
}

// rvVideo is an MP4 file of size bytes: an ftyp box (size 0x18, major
// brand isom, minor version 0x200, compatible brands isom and iso2), then
// an mdat box filled from body. It is generated as it is read.
func rvVideo(size int64, body io.Reader) io.Reader {
	head := []byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'i', 's', 'o', '2'}
	head = bin.BigEndian.AppendUint32(head, uint32(size-int64(len(head))))
	head = append(head, "mdat"...)
	return io.MultiReader(bytes.NewReader(head), io.LimitReader(body, size-int64(len(head))))
}

// rvSmallVideo is a 256 KiB video in memory, to compare with what staff get.
func rvSmallVideo(t *testing.T, seed uint64) []byte {
	t.Helper()
	b, err := io.ReadAll(rvVideo(256<<10, rvNoise(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rvLater reads what f returns, calling f at the first read.
type rvLater struct {
	f func() []byte
	r io.Reader
}

func (l *rvLater) Read(p []byte) (int, error) {
	if l.r == nil {
		l.r = bytes.NewReader(l.f())
	}
	return l.r.Read(p)
}

// rvPaddedPNG is a valid PNG of exactly size bytes, generated as it is
// read: a small image with a tEXt chunk between IHDR and IDAT as large as
// needed (decoders skip it), its CRC computed as the text streams by.
func rvPaddedPNG(t *testing.T, size int64) io.Reader {
	t.Helper()
	base := rvPNG(t, 64, 48)
	const ihdrEnd = 8 + 4 + 4 + 13 + 4 // signature, IHDR chunk
	keyword := []byte("Comment\x00")
	text := size - int64(len(base)) - 12 - int64(len(keyword))
	if text < 0 {
		t.Fatalf("a PNG cannot be as small as %d bytes", size)
	}
	crc := crc32.NewIEEE()
	crc.Write([]byte("tEXt"))
	crc.Write(keyword)
	head := bin.BigEndian.AppendUint32(nil, uint32(int64(len(keyword))+text))
	head = append(head, "tEXt"...)
	head = append(head, keyword...)
	filler := &rvRepeat{block: []byte("This picture was taken for watchword's review. ")}
	return io.MultiReader(
		bytes.NewReader(base[:ihdrEnd]),
		bytes.NewReader(head),
		io.TeeReader(io.LimitReader(filler, text), crc),
		&rvLater{f: func() []byte { return bin.BigEndian.AppendUint32(nil, crc.Sum32()) }},
		bytes.NewReader(base[ihdrEnd:]))
}

// --- accounts, staff and messages

// rvAccount is a user of the test: verified email, maybe a verified
// phone, maybe an authenticator, and a session.
type rvAccount struct {
	addr, phone string
	uid, tok    string
	app         *totpPhone
}

// rvMessage reads the messages to addr (an email address, or a phone
// number for SMS) until one carries every piece of want, and returns it;
// a notice never carries a code. Messages before it (notices the test
// does not look at) are skipped, at most a few.
func rvMessage(s *server, addr string, want ...string) string {
	s.t.Helper()
	for range 8 {
		var text string
		if strings.HasPrefix(addr, "+") {
			text = s.NextSMS(addr)
		} else {
			text = s.NextEmail(addr)
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(text, w)
		}
		if ok {
			if sixDigits.MatchString(text) {
				s.t.Fatalf("a notice to %s carries a 6-digit code: %q", addr, text)
			}
			return text
		}
	}
	s.t.Fatalf("no message to %s carries %q", addr, want)
	return ""
}

// rvSignUp makes an account with a verified email and, when phone is not
// empty, a verified phone added in the personal center (which ends every
// session, so it signs in again).
func rvSignUp(t *testing.T, s *server, addr, phone string) *rvAccount {
	t.Helper()
	a := &rvAccount{addr: addr, phone: phone}
	a.uid, a.tok = s.SignUpEmail(addr, goodPassword)
	if phone != "" {
		s.totpStepUp(a.tok, addr, "")
		flow := s.Must(202, "POST", "/me/phone", a.tok, map[string]string{"number": phone}).Str("flow_id")
		s.Must(200, "POST", "/me/phone/"+flow, a.tok, map[string]string{"code": s.SMSCode(phone)})
		rvMessage(s, addr, "phone number of your account was set")
		rvMessage(s, phone, "phone number of your account was set")
		a.tok = s.Login(addr, goodPassword)
	}
	return a
}

// rvBind connects an authenticator app (oathtool) to the account.
func rvBind(t *testing.T, s *server, oathtool string, a *rvAccount) {
	t.Helper()
	s.totpStepUp(a.tok, a.addr, "")
	secret := s.Must(200, "POST", "/me/totp", a.tok, nil).Str("secret")
	a.app = &totpPhone{t: t, oathtool: oathtool, secret: secret, used: map[int64]bool{}}
	s.Must(200, "POST", "/me/totp/confirm", a.tok, map[string]string{"code": a.app.step(totpSteadyStep())})
	rvMessage(s, a.addr, "authenticator app was connected")
	if a.phone != "" {
		rvMessage(s, a.phone, "authenticator app was connected")
	}
}

// rvUser is an account with an authenticator.
func rvUser(t *testing.T, s *server, oathtool, addr, phone string) *rvAccount {
	t.Helper()
	a := rvSignUp(t, s, addr, phone)
	rvBind(t, s, oathtool, a)
	return a
}

// rvDSN is the --db the server runs on.
func rvDSN(s *server) string {
	i := slices.Index(s.args, "--db")
	if i < 0 || i+1 >= len(s.args) {
		s.t.Fatal("the server has no --db")
	}
	return s.args[i+1]
}

// rvGrant makes the account a reviewer with the real command, on the
// server's database and key, while the server runs.
func rvGrant(t *testing.T, s *server, uid string) {
	t.Helper()
	cmd := exec.Command(binary, "staff", "grant", "--uid", uid, "--role", "reviewer", "--db", rvDSN(s), "--data-dir", s.dataDir)
	cmd.Env = append(os.Environ(), "WATCHWORD_DEV=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("watchword staff grant --uid %s: %v\n%s", uid, err, out)
	}
}

// rvStaff is a reviewer as the contract wants one: the role from the
// command, an authenticator bound (without it staff calls are refused),
// and a session from a login with the authenticator.
func rvStaff(t *testing.T, s *server, oathtool, addr string) *rvAccount {
	t.Helper()
	a := rvSignUp(t, s, addr, "")
	rvGrant(t, s, a.uid)
	s.Fails(403, "forbidden", "GET", "/admin/unbind-requests", a.tok, nil)
	rvBind(t, s, oathtool, a)
	flow := s.totpMFAFlow(addr)
	a.tok = s.Must(200, "POST", "/login/totp/"+flow, "", map[string]string{"code": a.app.code(true)}).Str("session_token")
	me := s.Must(200, "GET", "/me", a.tok, nil)
	if roles, _ := me.Body["roles"].([]any); len(roles) != 1 || roles[0] != "reviewer" {
		t.Fatalf("roles of a reviewer: %s", me.Raw)
	}
	return a
}

// --- identity verification

// rvIdentityFiles are the three images of an identity verification; the
// selfie carries EXIF with a GPS position.
func rvIdentityFiles(t *testing.T) []formFile {
	return []formFile{
		{"document_front", "front.jpg", bytes.NewReader(rvJPEG(t, 320, 200))},
		{"document_back", "back.png", bytes.NewReader(rvPNG(t, 320, 200))},
		{"selfie", "me.jpg", bytes.NewReader(rvJPEGWithGPS(t, 240, 320))},
	}
}

func rvIdentityFields(number string) []formField {
	return []formField{{"full_name", "Ada  Lovelace"}, {"document_type", "passport"}, {"document_number", number}}
}

// rvIdentityState checks GET /me/identity-verification.
func rvIdentityState(s *server, tok, state string, reason any) {
	s.t.Helper()
	r := s.Must(200, "GET", "/me/identity-verification", tok, nil)
	if r.Body["state"] != state || r.Body["reason"] != reason {
		s.t.Fatalf("identity verification: got %s, want state %q and reason %v", r.Raw, state, reason)
	}
}

// --- unbind requests

// rvRequest is a filed unbind request as its owner knows it.
type rvRequest struct {
	id, token, cancel, challenge string
	due                          time.Time
}

var rvCancelLink = regexp.MustCompile(regexp.QuoteMeta(rvPublicURL) + `/unbind/cancel/([A-Za-z0-9_-]+)`)

// rvFile files an unbind request for a, who knows the password but lost
// the authenticator: a password login that waits for the authenticator, a
// spoken challenge for it, then the photo and the video. It reads the
// notice (email, and SMS when a has a phone) for the cancel link.
func rvFile(t *testing.T, s *server, a *rvAccount, idNumber string, photo, video []byte) *rvRequest {
	t.Helper()
	flow := s.totpMFAFlow(a.addr)
	ch := s.Must(200, "POST", "/unbind-requests/challenge", "", map[string]string{"flow_id": flow}).Str("challenge")
	r := rvUploadMust(s, 201, "", "/unbind-requests", "",
		[]formField{{"flow_id", flow}, {"uid", a.uid}, {"id_number", idNumber}},
		[]formFile{{"photo", "photo.jpg", bytes.NewReader(photo)}, {"video", "video.mp4", bytes.NewReader(video)}})
	req := &rvRequest{id: r.Str("request_id"), token: r.Str("request_token"), challenge: ch}
	if r.Body["state"] != "pending" || req.id == "" || req.token == "" {
		t.Fatalf("filed: %s", r.Raw)
	}
	var err error
	if req.due, err = time.Parse(time.RFC3339Nano, r.Str("due_at")); err != nil {
		t.Fatalf("due_at: %v", err)
	}
	mail := rvMessage(s, a.addr, "request "+req.id)
	m := rvCancelLink.FindStringSubmatch(mail)
	if m == nil {
		t.Fatalf("the notice of a filed request has no link %s/unbind/cancel/…: %q", rvPublicURL, mail)
	}
	req.cancel = m[1]
	if a.phone != "" {
		if sms := rvMessage(s, a.phone, req.id); !strings.Contains(sms, m[0]) {
			t.Fatalf("the SMS notice lacks the cancel link %s: %q", m[0], sms)
		}
	}
	return req
}

// rvFileSimple files a request with a plain photo and a small video.
func rvFileSimple(t *testing.T, s *server, a *rvAccount, idNumber string) *rvRequest {
	t.Helper()
	return rvFile(t, s, a, idNumber, rvJPEG(t, 200, 150), rvSmallVideo(t, 1))
}

// rvStatus is GET /unbind-requests/{id} with the request token.
func rvStatus(s *server, id, token string) *response {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.Base+"/api/v1/unbind-requests/"+id, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Request-Token", token)
	}
	return s.send(req)
}

// rvCase is the staff view of a request.
func rvCase(s *server, staffTok, id string) *response {
	s.t.Helper()
	return s.Must(200, "GET", "/admin/unbind-requests/"+id, staffTok, nil)
}

// rvAudit lists a case's trail as "action by actor".
func rvAudit(r *response) []string {
	var out []string
	list, _ := r.Body["audit"].([]any)
	for _, x := range list {
		e, _ := x.(map[string]any)
		out = append(out, fmt.Sprintf("%v by %v", e["action"], e["actor_uid"]))
	}
	return out
}

// rvEvents lists the kinds of a case's security events.
func rvEvents(r *response) []string {
	var out []string
	list, _ := r.Body["security_events"].([]any)
	for _, x := range list {
		e, _ := x.(map[string]any)
		out = append(out, fmt.Sprint(e["kind"]))
	}
	return out
}

// rvLink returns a case's evidence link of kind, relative to /api/v1, or "".
func rvLink(r *response, kind string) string {
	ev, _ := r.Body["evidence"].(map[string]any)
	link, _ := ev[kind].(string)
	return strings.TrimPrefix(link, "/api/v1")
}

// rvTime reads a date-time field; the zero time for null.
func rvTime(t *testing.T, r *response, key string) time.Time {
	t.Helper()
	v, ok := r.Body[key].(string)
	if !ok {
		return time.Time{}
	}
	tm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatalf("%s = %q: %v", key, v, err)
	}
	return tm
}

// rvEvidence fetches a file as staff and checks the headers that keep a
// browser from treating it as anything else.
func rvEvidence(s *server, staffTok, link, contentType, filename string) []byte {
	s.t.Helper()
	r := s.Must(200, "GET", link, staffTok, nil)
	for h, want := range map[string]string{
		"Content-Type":            contentType,
		"Content-Disposition":     `inline; filename="` + filename + `"`,
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'none'; sandbox",
	} {
		if got := r.Header.Get(h); got != want {
			s.t.Fatalf("GET %s: %s %q, want %q", link, h, got, want)
		}
	}
	return r.Raw
}

// rvCleanPhoto checks that staff's copy of a JPEG decodes to the size of
// the upload and carries no EXIF (so no GPS position).
func rvCleanPhoto(t *testing.T, b []byte, w, h int) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("staff's copy does not decode: %v", err)
	}
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Fatalf("staff's copy is %v, the upload %dx%d", got, w, h)
	}
	if m := rvJPEGSegments(t, b); slices.Contains(m, 0xE1) {
		t.Fatalf("staff's copy has an APP1 segment (markers % x)", m)
	}
	for _, leak := range []string{"Exif", rvGPSMarker} {
		if bytes.Contains(b, []byte(leak)) {
			t.Fatalf("staff's copy carries %q", leak)
		}
	}
}

// rvAdminCalls is every staff endpoint, on real ids.
func rvAdminCalls(requestID, uid string) [][3]string {
	u, i := "/admin/unbind-requests/"+requestID, "/admin/identity-verifications/"+uid
	return [][3]string{
		{"GET", "/admin/unbind-requests", ""}, {"GET", u, ""}, {"GET", u + "/evidence/photo", ""},
		{"GET", u + "/evidence/video", ""}, {"GET", u + "/evidence/selfie", ""},
		{"POST", u + "/approve", ""}, {"POST", u + "/reject", "reason"},
		{"GET", "/admin/identity-verifications", ""}, {"GET", i, ""}, {"GET", i + "/evidence/document_front", ""},
		{"GET", i + "/evidence/selfie", ""}, {"POST", i + "/approve", ""}, {"POST", i + "/reject", "reason"},
	}
}

// rvHold reads security_hold_until of GET /me; the zero time for null.
func rvHold(t *testing.T, s *server, tok string) time.Time {
	t.Helper()
	return rvTime(t, s.Must(200, "GET", "/me", tok, nil), "security_hold_until")
}

// rvBlobs counts what the evidence blob store holds: the files (finished
// or half written) in the data folder's evidence/ on SQLite, the rows of
// evidence_blobs and evidence_chunks on PostgreSQL.
func rvBlobs(t *testing.T, s *server) int {
	t.Helper()
	dsn := rvDSN(s)
	if strings.HasPrefix(dsn, "sqlite:") {
		entries, err := os.ReadDir(filepath.Join(s.dataDir, "evidence"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return len(entries)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var blobs, chunks int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM evidence_blobs), (SELECT count(*) FROM evidence_chunks)`).
		Scan(&blobs, &chunks); err != nil {
		t.Fatal(err)
	}
	return blobs + chunks
}

// --- the tests

// TestReviewLostAuthenticator walks the whole review on both databases:
// an identity verification rejected, submitted again and approved; an
// unbind request approved, with its notices, evidence, audit trail and
// effect on the account; another rejected; and who may do what.
func TestReviewLostAuthenticator(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	forEachDB(t, func(t *testing.T, dsn string) {
		s := rvStart(t, dsn)
		staff := rvStaff(t, s, oathtool, "reviewer@example.com")

		// The owner: email and phone verified (adding the phone set a
		// security hold), and an authenticator.
		owner := rvSignUp(t, s, "owner@example.com", "+8613800138001")
		holdBefore := rvHold(t, s, owner.tok)
		if holdBefore.IsZero() {
			t.Fatal("GET /me: no security_hold_until after a phone change")
		}
		rvBind(t, s, oathtool, owner)

		// Identity verification: none yet; one pending at a time.
		rvIdentityState(s, owner.tok, "none", nil)
		r := rvUploadMust(s, 202, "", "/me/identity-verification", owner.tok, rvIdentityFields("EA1234567"), rvIdentityFiles(t))
		if r.Body["state"] != "pending" {
			t.Fatalf("submitted: %s", r.Raw)
		}
		rvIdentityState(s, owner.tok, "pending", nil)
		rvUploadMust(s, 409, "conflict", "/me/identity-verification", owner.tok, rvIdentityFields("EA1234567"), rvIdentityFiles(t))

		idv := "/admin/identity-verifications/" + owner.uid
		q := s.Must(200, "GET", "/admin/identity-verifications", staff.tok, nil)
		if items, _ := q.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["uid"] != owner.uid {
			t.Fatalf("identity queue: %s", q.Raw)
		}
		c := s.Must(200, "GET", idv, staff.tok, nil)
		if c.Body["full_name"] != "Ada Lovelace" || c.Body["document_number"] != "EA1234567" || c.Body["state"] != "pending" {
			t.Fatalf("identity case: %s", c.Raw)
		}
		front := rvEvidence(s, staff.tok, idv+"/evidence/document_front", "image/jpeg", "document_front.jpg")
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(front)); err != nil || cfg.Width != 320 || cfg.Height != 200 {
			t.Fatalf("document front: %v %+v", err, cfg)
		}

		// Rejected: the owner reads why (and is told), and submits again.
		const idvReason = "The photo of the back is blurred"
		s.Fails(400, "invalid_request", "POST", idv+"/reject", staff.tok, map[string]string{"reason": " "})
		c = s.Must(200, "POST", idv+"/reject", staff.tok, map[string]string{"reason": idvReason})
		if c.Body["state"] != "rejected" || c.Body["reason"] != idvReason {
			t.Fatalf("rejected: %s", c.Raw)
		}
		s.Fails(409, "conflict", "POST", idv+"/approve", staff.tok, nil)
		rvIdentityState(s, owner.tok, "rejected", idvReason)
		rvMessage(s, owner.addr, "identity verification was rejected: "+idvReason)
		rvUploadMust(s, 202, "", "/me/identity-verification", owner.tok, rvIdentityFields("EA1234567"), rvIdentityFiles(t))
		rvIdentityState(s, owner.tok, "pending", nil)
		c = s.Must(200, "POST", idv+"/approve", staff.tok, nil)
		if c.Body["state"] != "approved" || c.Body["reason"] != nil {
			t.Fatalf("approved: %s", c.Raw)
		}
		rvIdentityState(s, owner.tok, "approved", nil)
		rvMessage(s, owner.addr, "identity verification was approved")
		if got := rvAudit(c); !slices.Equal(got, []string{"approve by " + staff.uid}) {
			t.Fatalf("audit of the second submission: %v", got)
		}

		// The owner lost the phone with the authenticator: the password
		// login waits for it, and that flow files a request, once it got
		// a spoken challenge.
		photo, video := rvJPEGWithGPS(t, 640, 480), rvSmallVideo(t, 7)
		flow := s.totpMFAFlow(owner.addr)
		fields := []formField{{"flow_id", flow}, {"uid", owner.uid}, {"id_number", "ea 123-4567"}}
		files := func() []formFile {
			return []formFile{{"photo", "p.jpg", bytes.NewReader(photo)}, {"video", "v.mp4", bytes.NewReader(video)}}
		}
		rvUploadMust(s, 400, "invalid_request", "/unbind-requests", "", fields, files())
		challenge := s.Must(200, "POST", "/unbind-requests/challenge", "", map[string]string{"flow_id": flow}).Str("challenge")
		beforeFiling := time.Now()
		filed := rvUploadMust(s, 201, "", "/unbind-requests", "", fields, files())
		req := &rvRequest{id: filed.Str("request_id"), token: filed.Str("request_token"), challenge: challenge}
		if filed.Body["state"] != "pending" || !rvTime(t, filed, "due_at").After(beforeFiling.Add(72*time.Hour)) {
			t.Fatalf("filed: %s", filed.Raw)
		}
		rvUploadMust(s, 409, "conflict", "/unbind-requests", "", fields, files())

		// Every verified channel hears of it, with a link that cancels it.
		mail := rvMessage(s, owner.addr, "request "+req.id, "remove the authenticator")
		link := rvCancelLink.FindString(mail)
		if link == "" {
			t.Fatalf("the notice has no cancel link: %q", mail)
		}
		if sms := rvMessage(s, owner.phone, req.id); !strings.Contains(sms, link) {
			t.Fatalf("the SMS notice lacks the cancel link %s: %q", link, sms)
		}
		req.cancel = strings.TrimPrefix(link, rvPublicURL+"/unbind/cancel/")

		st := rvStatus(s, req.id, req.token)
		if st.Status != 200 || st.Body["state"] != "pending" || st.Body["reason"] != nil || st.Body["effective_at"] != nil {
			t.Fatalf("status of a pending request: %d %s", st.Status, st.Raw)
		}
		if st := rvStatus(s, req.id, "not-the-token"); st.Status != 404 || st.ErrorCode() != "not_found" {
			t.Fatalf("status with a wrong token: %d %s", st.Status, st.Raw)
		}

		// Plain users and callers without a session get nothing of staff.
		for _, call := range rvAdminCalls(req.id, owner.uid) {
			var body any
			if call[2] != "" {
				body = map[string]string{call[2]: "no"}
			}
			s.Fails(403, "forbidden", call[0], call[1], owner.tok, body)
			s.Fails(401, "unauthenticated", call[0], call[1], "", body)
		}

		// Staff see the request in the queue and the whole case.
		q = s.Must(200, "GET", "/admin/unbind-requests?state=pending", staff.tok, nil)
		items, _ := q.Body["items"].([]any)
		if len(items) != 1 {
			t.Fatalf("queue: %s", q.Raw)
		}
		if it := items[0].(map[string]any); it["request_id"] != req.id || it["uid"] != owner.uid || it["overdue"] != false || it["state"] != "pending" {
			t.Fatalf("queue item: %s", q.Raw)
		}
		cs := rvCase(s, staff.tok, req.id)
		if cs.Body["id_number_matches"] != true || cs.Body["challenge"] != challenge || cs.Body["state"] != "pending" ||
			cs.Body["approvals"] != float64(0) || cs.Body["approvals_needed"] != float64(1) || cs.Body["applied_at"] != nil {
			t.Fatalf("case: %s", cs.Raw)
		}
		if ev := rvEvents(cs); !slices.Contains(ev, "unbind_requested") {
			t.Fatalf("security events of the case: %v", ev)
		}
		if a := rvAudit(cs); len(a) != 0 {
			t.Fatalf("audit before any read: %v", a)
		}

		// The evidence comes back intact: the video as uploaded, the
		// photos as copies of the same size without EXIF or GPS.
		got := rvEvidence(s, staff.tok, rvLink(cs, "photo"), "image/jpeg", "photo.jpg")
		rvCleanPhoto(t, got, 640, 480)
		if got := rvEvidence(s, staff.tok, rvLink(cs, "video"), "video/mp4", "video.mp4"); !bytes.Equal(got, video) {
			t.Fatalf("the video staff get (%d bytes) is not the upload (%d bytes)", len(got), len(video))
		}
		got = rvEvidence(s, staff.tok, rvLink(cs, "selfie"), "image/jpeg", "selfie.jpg")
		rvCleanPhoto(t, got, 240, 320)

		// Approved: the authenticator goes, every session ends, the
		// password alone signs in, and the security hold starts.
		const note = "Face and ID match; challenge spoken"
		ap := s.Must(200, "POST", "/admin/unbind-requests/"+req.id+"/approve", staff.tok, map[string]string{"note": note})
		if ap.Body["state"] != "approved" || ap.Body["note"] != note || ap.Body["applied_at"] == nil || ap.Body["approvals"] != float64(1) {
			t.Fatalf("approved: %s", ap.Raw)
		}
		approvedAt := time.Now()
		s.Fails(409, "conflict", "POST", "/admin/unbind-requests/"+req.id+"/approve", staff.tok, nil)
		s.Fails(409, "conflict", "POST", "/admin/unbind-requests/"+req.id+"/reject", staff.tok, map[string]string{"reason": "late"})
		s.Fails(401, "unauthenticated", "GET", "/me", owner.tok, nil)
		owner.tok = s.Login(owner.addr, goodPassword)
		if owner.tok == "" {
			t.Fatal("the password alone does not sign in after the approval")
		}
		if s.totpEnabled(owner.tok) {
			t.Fatal("GET /me: the authenticator is still enabled")
		}
		hold := rvHold(t, s, owner.tok)
		if want := approvedAt.Add(24 * time.Hour); hold.Before(want.Add(-time.Minute)) || hold.After(want.Add(time.Minute)) || !hold.After(holdBefore) {
			t.Fatalf("security_hold_until %v, want about %v (and after the earlier %v)", hold, want, holdBefore)
		}
		rvMessage(s, owner.addr, "authenticator app was removed", req.id)
		rvMessage(s, owner.phone, "authenticator app was removed", req.id)
		st = rvStatus(s, req.id, req.token)
		if st.Body["state"] != "approved" || st.Body["effective_at"] == nil || st.Body["reason"] != nil {
			t.Fatalf("status of an approved request: %s", st.Raw)
		}
		s.Fails(409, "conflict", "POST", "/unbind-requests/cancel", "", map[string]string{"cancel_token": req.cancel})

		// The case keeps the trail: every read and the decision.
		cs = rvCase(s, staff.tok, req.id)
		want := []string{"read_photo by " + staff.uid, "read_video by " + staff.uid, "read_selfie by " + staff.uid, "approve by " + staff.uid}
		if got := rvAudit(cs); !slices.Equal(got, want) {
			t.Fatalf("audit: got %v, want %v", got, want)
		}
		if ev := rvEvents(cs); !slices.Contains(ev, "unbind_approved") || !slices.Contains(ev, "unbind_applied") {
			t.Fatalf("security events after the approval: %v", ev)
		}

		// Another request, rejected: the authenticator still guards the
		// login, and the owner reads why. Without an approved identity
		// verification the ID number matches nothing.
		other := rvUser(t, s, oathtool, "other@example.com", "")
		req2 := rvFileSimple(t, s, other, "X99887766")
		cs = rvCase(s, staff.tok, req2.id)
		if cs.Body["id_number_matches"] != nil || rvLink(cs, "selfie") != "" {
			t.Fatalf("case without an identity verification: %s", cs.Raw)
		}
		const reason = "The video does not show your face"
		s.Fails(400, "invalid_request", "POST", "/admin/unbind-requests/"+req2.id+"/reject", staff.tok, map[string]string{"reason": ""})
		rj := s.Must(200, "POST", "/admin/unbind-requests/"+req2.id+"/reject", staff.tok, map[string]string{"reason": reason})
		if rj.Body["state"] != "rejected" || rj.Body["reason"] != reason || rj.Body["applied_at"] != nil {
			t.Fatalf("rejected: %s", rj.Raw)
		}
		st = rvStatus(s, req2.id, req2.token)
		if st.Body["state"] != "rejected" || st.Body["reason"] != reason || st.Body["effective_at"] != nil {
			t.Fatalf("status of a rejected request: %s", st.Raw)
		}
		s.totpMFAFlow(other.addr)
		s.Must(200, "GET", "/me", other.tok, nil)
		rvMessage(s, other.addr, "rejected: "+reason)
		q = s.Must(200, "GET", "/admin/unbind-requests?state=rejected", staff.tok, nil)
		if items, _ := q.Body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["request_id"] != req2.id {
			t.Fatalf("rejected queue: %s", q.Raw)
		}
		s.Fails(400, "invalid_request", "GET", "/admin/unbind-requests?state=lost", staff.tok, nil)
		for _, path := range []string{
			"/admin/unbind-requests/no-such-request",
			"/admin/unbind-requests/" + req2.id + "/evidence/selfie", // no approved identity verification
			"/admin/unbind-requests/" + req2.id + "/evidence/document_front",
			"/admin/identity-verifications/" + other.uid,
			"/admin/identity-verifications/" + owner.uid + "/evidence/photo",
		} {
			s.Fails(404, "not_found", "GET", path, staff.tok, nil)
		}

		// A reviewer may not decide about their own account.
		own := rvFileSimple(t, s, staff, "Z1")
		s.Fails(403, "forbidden", "POST", "/admin/unbind-requests/"+own.id+"/approve", staff.tok, nil)
		s.Fails(403, "forbidden", "POST", "/admin/unbind-requests/"+own.id+"/reject", staff.tok, map[string]string{"reason": "no"})
		rvUploadMust(s, 202, "", "/me/identity-verification", staff.tok, rvIdentityFields("R1"), rvIdentityFiles(t))
		s.Fails(403, "forbidden", "POST", "/admin/identity-verifications/"+staff.uid+"/approve", staff.tok, nil)
		if st := rvStatus(s, own.id, own.token); st.Body["state"] != "pending" {
			t.Fatalf("own request after refused decisions: %s", st.Raw)
		}
	})
}

// TestReviewFourEyes: with --four-eyes, an approval needs two reviewers.
func TestReviewFourEyes(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	s := rvStart(t, rvSQLite(t), "--four-eyes")
	first := rvStaff(t, s, oathtool, "first@example.com")
	second := rvStaff(t, s, oathtool, "second@example.com")
	owner := rvUser(t, s, oathtool, "owner@example.com", "")
	req := rvFileSimple(t, s, owner, "P1234")
	approve := "/admin/unbind-requests/" + req.id + "/approve"

	r := s.Must(200, "POST", approve, first.tok, map[string]string{"note": "first look"})
	if r.Body["state"] != "pending" || r.Body["approvals"] != float64(1) || r.Body["approvals_needed"] != float64(2) || r.Body["applied_at"] != nil {
		t.Fatalf("after the first approval: %s", r.Raw)
	}
	if st := rvStatus(s, req.id, req.token); st.Body["state"] != "pending" {
		t.Fatalf("status after one approval: %s", st.Raw)
	}
	s.totpMFAFlow(owner.addr) // still guarded
	s.Fails(403, "forbidden", "POST", approve, first.tok, nil)

	r = s.Must(200, "POST", approve, second.tok, map[string]string{"note": "agreed"})
	if r.Body["state"] != "approved" || r.Body["approvals"] != float64(2) || r.Body["applied_at"] == nil {
		t.Fatalf("after the second approval: %s", r.Raw)
	}
	if got, want := rvAudit(r), []string{"approve_first by " + first.uid, "approve by " + second.uid}; !slices.Equal(got, want) {
		t.Fatalf("audit: got %v, want %v", got, want)
	}
	if s.Login(owner.addr, goodPassword) == "" {
		t.Fatal("the password alone does not sign in after two approvals")
	}
}

// TestReviewConcurrentDecisions: two reviewers approving at once, or an
// approval racing the owner's cancellation, end in exactly one outcome.
func TestReviewConcurrentDecisions(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	forEachDB(t, func(t *testing.T, dsn string) {
		s := rvStart(t, dsn)
		a := rvStaff(t, s, oathtool, "a@example.com")
		b := rvStaff(t, s, oathtool, "b@example.com")
		race := func(calls ...func() *response) []*response {
			out := make([]*response, len(calls))
			var wg sync.WaitGroup
			gate := make(chan struct{})
			for i, call := range calls {
				wg.Go(func() { <-gate; out[i] = call() })
			}
			close(gate)
			wg.Wait()
			return out
		}
		oneWins := func(res []*response) int {
			t.Helper()
			won := -1
			for i, r := range res {
				switch {
				case r.Status == 200 && won < 0:
					won = i
				case r.Status == 409 && r.ErrorCode() == "conflict":
				default:
					t.Fatalf("answers %d %s and %d %s: want one 200 and one 409 conflict",
						res[0].Status, res[0].Raw, res[1].Status, res[1].Raw)
				}
			}
			if won < 0 {
				t.Fatalf("no call won: %s / %s", res[0].Raw, res[1].Raw)
			}
			return won
		}
		for round := range 2 {
			u := rvUser(t, s, oathtool, fmt.Sprintf("both%d@example.com", round), "")
			req := rvFileSimple(t, s, u, "B1")
			approve := "/admin/unbind-requests/" + req.id + "/approve"
			oneWins(race(
				func() *response { return s.Do("POST", approve, a.tok, nil) },
				func() *response { return s.Do("POST", approve, b.tok, nil) }))
			cs := rvCase(s, a.tok, req.id)
			approvals := 0
			for _, e := range rvAudit(cs) {
				if strings.HasPrefix(e, "approve by ") {
					approvals++
				}
			}
			if cs.Body["state"] != "approved" || approvals != 1 || cs.Body["applied_at"] == nil {
				t.Fatalf("round %d: after two approvals at once: %d approvals in %s", round, approvals, cs.Raw)
			}
			if s.Login(u.addr, goodPassword) == "" {
				t.Fatalf("round %d: the authenticator was not removed", round)
			}
		}
		for round := range 2 {
			u := rvUser(t, s, oathtool, fmt.Sprintf("race%d@example.com", round), "")
			req := rvFileSimple(t, s, u, "C1")
			won := oneWins(race(
				func() *response { return s.Do("POST", "/admin/unbind-requests/"+req.id+"/approve", a.tok, nil) },
				func() *response {
					return s.Do("POST", "/unbind-requests/cancel", "", map[string]string{"cancel_token": req.cancel})
				}))
			st := rvStatus(s, req.id, req.token)
			login := s.Must(200, "POST", "/login/password", "", map[string]string{"identifier": u.addr, "password": goodPassword})
			if won == 0 {
				if st.Body["state"] != "approved" || login.Body["mfa_required"] == true {
					t.Fatalf("round %d: the approval won, but state %s and login %s", round, st.Raw, login.Raw)
				}
			} else if st.Body["state"] != "cancelled" || login.Body["mfa_required"] != true {
				t.Fatalf("round %d: the cancellation won, but state %s and login %s", round, st.Raw, login.Raw)
			}
			t.Logf("round %d of approve against cancel: %s won", round, []string{"the approval", "the cancellation"}[won])
		}
	})
}

// TestReviewCancelAndUnbindDelay: the owner cancels through the notice's
// link while the request is pending, and while an approval waits for
// --unbind-delay; an approval nobody cancels takes effect by itself.
func TestReviewCancelAndUnbindDelay(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	const delay = 4 * time.Second
	s := rvStart(t, rvSQLite(t), "--unbind-delay", delay.String())
	staff := rvStaff(t, s, oathtool, "reviewer@example.com")
	keep := rvUser(t, s, oathtool, "keep@example.com", "")
	lose := rvUser(t, s, oathtool, "lose@example.com", "")
	cancel := func(token string) *response {
		return s.Do("POST", "/unbind-requests/cancel", "", map[string]string{"cancel_token": token})
	}

	// Pending, cancelled through the link's token.
	r1 := rvFileSimple(t, s, keep, "K1")
	if r := cancel("no-such-token"); r.Status != 404 || r.ErrorCode() != "not_found" {
		t.Fatalf("cancel with an unknown token: %d %s", r.Status, r.Raw)
	}
	if r := cancel(r1.cancel); r.Status != 200 || r.Body["state"] != "cancelled" {
		t.Fatalf("cancel a pending request: %d %s", r.Status, r.Raw)
	}
	rvMessage(s, keep.addr, r1.id, "was cancelled")
	if r := cancel(r1.cancel); r.Status != 409 || r.ErrorCode() != "conflict" {
		t.Fatalf("cancel twice: %d %s", r.Status, r.Raw)
	}
	if st := rvStatus(s, r1.id, r1.token); st.Body["state"] != "cancelled" {
		t.Fatalf("status: %s", st.Raw)
	}
	s.Fails(409, "conflict", "POST", "/admin/unbind-requests/"+r1.id+"/approve", staff.tok, nil)
	s.totpMFAFlow(keep.addr)

	// Approved but not yet in effect: the owner is told when it will
	// be, the authenticator still guards the login, and the link still
	// cancels it.
	r2 := rvFileSimple(t, s, keep, "K1")
	before := time.Now()
	ap := s.Must(200, "POST", "/admin/unbind-requests/"+r2.id+"/approve", staff.tok, nil)
	if effective := rvTime(t, ap, "effective_at"); ap.Body["state"] != "approved" || ap.Body["applied_at"] != nil ||
		effective.Before(before.Add(delay-time.Millisecond)) || effective.After(time.Now().Add(delay)) {
		t.Fatalf("approved with a delay of %v: %s", delay, ap.Raw)
	}
	s.totpMFAFlow(keep.addr)
	if st := rvStatus(s, r2.id, r2.token); st.Body["state"] != "approved" || rvTime(t, st, "effective_at").IsZero() {
		t.Fatalf("status during the delay: %s", st.Raw)
	}
	if r := cancel(r2.cancel); r.Status != 200 || r.Body["state"] != "cancelled" {
		t.Fatalf("cancel during the delay: %d %s", r.Status, r.Raw)
	}
	rvMessage(s, keep.addr, r2.id, "was approved", "takes effect")
	rvMessage(s, keep.addr, r2.id, "was cancelled")

	// Approved later and left alone: it takes effect when the delay is
	// over, without anyone calling anything.
	r3 := rvFileSimple(t, s, lose, "L1")
	ap = s.Must(200, "POST", "/admin/unbind-requests/"+r3.id+"/approve", staff.tok, nil)
	s.Must(200, "GET", "/me", lose.tok, nil)
	s.totpMFAFlow(lose.addr)
	deadline := time.Now().Add(delay + 20*time.Second)
	for s.Do("GET", "/me", lose.tok, nil).Status != 401 {
		if time.Now().After(deadline) {
			t.Fatalf("the approval did not take effect within %v of its delay", deadline.Sub(rvTime(t, ap, "effective_at")))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if time.Now().Before(rvTime(t, ap, "effective_at")) {
		t.Fatal("the approval took effect before its delay was over")
	}
	tok := s.Login(lose.addr, goodPassword)
	if tok == "" || s.totpEnabled(tok) || rvHold(t, s, tok).IsZero() {
		t.Fatal("after the delay: the authenticator is not removed, or no security hold")
	}
	rvMessage(s, lose.addr, r3.id, "authenticator app was removed")
	if cs := rvCase(s, staff.tok, r3.id); cs.Body["applied_at"] == nil {
		t.Fatalf("case in effect: %s", cs.Raw)
	}
	if r := cancel(r3.cancel); r.Status != 409 {
		t.Fatalf("cancel in effect: %d %s", r.Status, r.Raw)
	}

	// The cancelled approval, due earlier, never took effect.
	s.totpMFAFlow(keep.addr)
	if cs := rvCase(s, staff.tok, r2.id); cs.Body["state"] != "cancelled" || cs.Body["applied_at"] != nil {
		t.Fatalf("cancelled approval after its time: %s", cs.Raw)
	}
}

// TestReviewEvidenceRetention: --evidence-retention deletes the files of
// decided cases, never of pending ones, and the decision and its trail
// stay.
func TestReviewEvidenceRetention(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	s := rvStart(t, rvSQLite(t), "--evidence-retention", "2s")
	staff := rvStaff(t, s, oathtool, "reviewer@example.com")
	owner := rvUser(t, s, oathtool, "owner@example.com", "")
	req := rvFileSimple(t, s, owner, "E1")
	if n := rvBlobs(t, s); n != 3 { // the photo, its copy for staff, the video
		t.Fatalf("%d blobs stored for a request, want 3", n)
	}
	// Waiting longer than the retention does not touch a pending case.
	time.Sleep(3 * time.Second)
	cs := rvCase(s, staff.tok, req.id)
	rvEvidence(s, staff.tok, rvLink(cs, "photo"), "image/jpeg", "photo.jpg")

	const reason = "Not the account holder"
	s.Must(200, "POST", "/admin/unbind-requests/"+req.id+"/reject", staff.tok, map[string]string{"reason": reason})
	deadline := time.Now().Add(20 * time.Second)
	for {
		cs = rvCase(s, staff.tok, req.id)
		if rvLink(cs, "photo") == "" && rvLink(cs, "video") == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("evidence still listed 20s after a decision with a retention of 2s: %s", cs.Raw)
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, kind := range []string{"photo", "video"} {
		s.Fails(404, "not_found", "GET", "/admin/unbind-requests/"+req.id+"/evidence/"+kind, staff.tok, nil)
	}
	if n := rvBlobs(t, s); n != 0 {
		t.Fatalf("%d blobs left after the retention", n)
	}
	if cs.Body["state"] != "rejected" || cs.Body["reason"] != reason {
		t.Fatalf("the decision is gone with the files: %s", cs.Raw)
	}
	if got, want := rvAudit(cs), []string{"read_photo by " + staff.uid, "reject by " + staff.uid}; !slices.Equal(got, want) {
		t.Fatalf("audit after the retention: got %v, want %v", got, want)
	}
	if st := rvStatus(s, req.id, req.token); st.Body["state"] != "rejected" || st.Body["reason"] != reason {
		t.Fatalf("the owner's status after the retention: %s", st.Raw)
	}
}

// rvDue is the contract's due date, computed here on its own: the same
// time of day on the third working day (not Saturday, Sunday or a
// holiday) after t's day, in UTC; a request filed on a day off counts
// from 00:00 of the next working day.
func rvDue(t time.Time, holidays map[string]bool) time.Time {
	working := func(d time.Time) bool {
		wd := d.Weekday()
		return wd != time.Saturday && wd != time.Sunday && !holidays[d.Format(time.DateOnly)]
	}
	t = t.UTC()
	if !working(t) {
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		for !working(t) {
			t = t.AddDate(0, 0, 1)
		}
	}
	for n := 3; n > 0; {
		t = t.AddDate(0, 0, 1)
		if working(t) {
			n--
		}
	}
	return t
}

// TestReviewDueDateSkipsWeekendsAndHolidays: the next two days are
// holidays (--holidays), so the due date skips them and any weekend.
func TestReviewDueDateSkipsWeekendsAndHolidays(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	today := time.Now().UTC()
	holidays := map[string]bool{}
	var days []string
	file := filepath.Join(t.TempDir(), "holidays.txt")
	text := "# the review team's days off\n"
	for i := 1; i <= 2; i++ {
		d := today.AddDate(0, 0, i).Format(time.DateOnly)
		holidays[d] = true
		days = append(days, d)
		text += d + " company holiday\n"
	}
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := rvStart(t, rvSQLite(t), "--holidays", file)
	owner := rvUser(t, s, oathtool, "owner@example.com", "")
	before := time.Now()
	req := rvFileSimple(t, s, owner, "D1")
	after := time.Now()
	// The due date keeps the time of day of the filing, which lies
	// between before and after.
	lo, hi := rvDue(before, holidays), rvDue(after, holidays)
	if req.due.Before(lo) || req.due.After(hi) {
		t.Fatalf("filed between %v and %v: due_at %v, want between %v and %v", before.UTC(), after.UTC(), req.due, lo, hi)
	}
	if d := req.due.Format(time.DateOnly); holidays[d] || req.due.Weekday() == time.Saturday || req.due.Weekday() == time.Sunday {
		t.Fatalf("due on a day off: %v", req.due)
	}
	st := rvStatus(s, req.id, req.token)
	if d := rvTime(t, st, "due_at").Sub(req.due); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("GET /unbind-requests/{id}: due_at %s, the filing said %v", st.Body["due_at"], req.due)
	}
	t.Logf("filed %s (holidays %s): due %s", before.UTC().Format(time.RFC1123), days, req.due.Format(time.RFC1123))
}

// TestReviewUploadsRefused: files that are too large or of the wrong type
// are refused, and nothing of the refused submission stays in the blob
// store, even files of the same form that were accepted before it.
func TestReviewUploadsRefused(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	forEachDB(t, func(t *testing.T, dsn string) {
		s := rvStart(t, dsn)
		owner := rvUser(t, s, oathtool, "owner@example.com", "")
		nothingStored := func(what string) {
			t.Helper()
			if n := rvBlobs(t, s); n != 0 {
				t.Fatalf("after %s: %d blobs left in the store", what, n)
			}
		}
		idv := func(files ...formFile) []formFile { return files }
		png200k := func() io.Reader { return rvPaddedPNG(t, 200<<10) } // a real, accepted image
		jpg := func() io.Reader { return bytes.NewReader(rvJPEG(t, 100, 80)) }
		mp4 := func() io.Reader { return bytes.NewReader(rvSmallVideo(t, 3)) }

		// Identity verification.
		s.Fails(415, "unsupported_media_type", "POST", "/me/identity-verification", owner.tok, map[string]string{"full_name": "Ada"})
		rvUploadMust(s, 415, "unsupported_media_type", "/me/identity-verification", owner.tok, rvIdentityFields("N1"),
			idv(formFile{"document_front", "front.jpg", strings.NewReader("this is a text file, not a picture\n")}))
		nothingStored("a text file as a picture")
		rvUploadMust(s, 413, "too_large", "/me/identity-verification", owner.tok, rvIdentityFields("N1"),
			idv(formFile{"document_front", "front.png", rvPaddedPNG(t, 10<<20+1)}))
		nothingStored("a picture of 10 MB + 1 byte")
		rvUploadMust(s, 415, "unsupported_media_type", "/me/identity-verification", owner.tok, rvIdentityFields("N1"),
			idv(formFile{"document_front", "f.png", png200k()}, formFile{"document_back", "b.jpg", jpg()}, formFile{"selfie", "s.mp4", mp4()}))
		nothingStored("a video as the selfie after two good pictures")
		rvUploadMust(s, 400, "invalid_request", "/me/identity-verification", owner.tok, rvIdentityFields("N1"),
			idv(formFile{"document_front", "f.png", png200k()}, formFile{"document_number", "n.txt", strings.NewReader("N2")}))
		nothingStored("a text field sent after a good picture")
		rvIdentityState(s, owner.tok, "none", nil)

		// Unbind request.
		flow := s.totpMFAFlow(owner.addr)
		s.Must(200, "POST", "/unbind-requests/challenge", "", map[string]string{"flow_id": flow})
		fields := []formField{{"flow_id", flow}, {"uid", owner.uid}, {"id_number", "N1"}}
		rvUploadMust(s, 415, "unsupported_media_type", "/unbind-requests", "", fields,
			[]formFile{{"photo", "p.mp4", mp4()}, {"video", "v.mp4", mp4()}})
		nothingStored("a video as the photo")
		rvUploadMust(s, 415, "unsupported_media_type", "/unbind-requests", "", fields,
			[]formFile{{"photo", "p.jpg", jpg()}, {"video", "v.png", png200k()}})
		nothingStored("a picture as the video after a good photo")
		if strings.HasPrefix(dsn, "sqlite:") { // 100 MB once, on SQLite only
			rvUploadMust(s, 413, "too_large", "/unbind-requests", "", fields,
				[]formFile{{"photo", "p.jpg", jpg()}, {"video", "v.mp4", rvVideo(100<<20+1, rvNoise(5))}})
			nothingStored("a video of 100 MB + 1 byte after a good photo")
		}

		// What is accepted is stored where the checks above look.
		rvUploadMust(s, 202, "", "/me/identity-verification", owner.tok, rvIdentityFields("N1"),
			idv(formFile{"document_front", "f.png", png200k()}, formFile{"document_back", "b.jpg", jpg()}, formFile{"selfie", "s.jpg", jpg()}))
		if n := rvBlobs(t, s); n < 6 {
			t.Fatalf("an accepted identity verification left %d blobs, want its 3 pictures and their copies", n)
		}
	})
}

// rvMemory reads VmRSS and VmHWM (peak RSS) of a process, in bytes.
func rvMemory(t *testing.T, pid int) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, _ := strings.Cut(line, ":")
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		switch {
		case err != nil:
		case name == "VmRSS":
			rss = kb << 10
		case name == "VmHWM":
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		t.Skipf("no VmRSS or VmHWM in /proc/%d/status", pid)
	}
	return rss, peak
}

// TestReviewLargeVideoStreams: a 100 MB video goes through the server
// without the server holding it in memory (its peak RSS grows by far less
// than the video).
func TestReviewLargeVideoStreams(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	s := rvStart(t, rvSQLite(t))
	owner := rvUser(t, s, oathtool, "owner@example.com", "")
	flow := s.totpMFAFlow(owner.addr)
	s.Must(200, "POST", "/unbind-requests/challenge", "", map[string]string{"flow_id": flow})
	photo := rvJPEG(t, 200, 150)

	pid := s.cmd.Process.Pid
	rss, peakBefore := rvMemory(t, pid)
	// Reset the peak to the current RSS (Linux clear_refs "5"), so that
	// what came before the upload does not hide its peak.
	reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	began := time.Now()
	const size = 100 << 20
	r := rvUploadMust(s, 201, "", "/unbind-requests", "",
		[]formField{{"flow_id", flow}, {"uid", owner.uid}, {"id_number", "M1"}},
		[]formFile{{"photo", "p.jpg", bytes.NewReader(photo)}, {"video", "v.mp4", rvVideo(size, rvNoise(9))}})
	took := time.Since(began)
	_, peakAfter := rvMemory(t, pid)
	base := peakBefore
	if reset {
		base = rss
	}
	growth := peakAfter - base
	t.Logf("100 MB video in %v: server RSS %.1f MB and peak %.1f MB before (peak reset: %v), peak %.1f MB after: +%.1f MB (race detector on: %v)",
		took.Round(time.Millisecond), float64(rss)/(1<<20), float64(peakBefore)/(1<<20), reset, float64(peakAfter)/(1<<20),
		float64(growth)/(1<<20), raceEnabled)
	if growth > 40<<20 {
		t.Fatalf("the server's peak RSS grew by %.1f MB for a 100 MB upload: it is not streamed", float64(growth)/(1<<20))
	}
	if r.Str("request_id") == "" {
		t.Fatalf("filed: %s", r.Raw)
	}
	entries, err := os.ReadDir(filepath.Join(s.dataDir, "evidence"))
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			stored += info.Size()
		}
	}
	if len(entries) != 3 || stored < size {
		t.Fatalf("%d blobs of %d bytes in all stored, want the photo, its copy and the video of %d bytes", len(entries), stored, size)
	}
}
