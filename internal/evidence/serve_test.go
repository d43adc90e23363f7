package evidence_test

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"

	"github.com/watchword/watchword/internal/evidence"
)

func TestServe(t *testing.T) {
	be := dirBackend(t)
	blobs := be.open(t, evidence.Keys{Current: keyA})
	content := randomBytes(200_000, 9)
	id := put(t, blobs, content)
	safeName := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

	tests := []struct {
		name, method, contentType, filename, wantName string
	}{
		{"Photo", http.MethodGet, evidence.TypeJPEG, "photo", "photo.jpg"},
		{"PNG", http.MethodGet, evidence.TypePNG, "selfie.png", "selfie.png"},
		{"MP4", http.MethodGet, evidence.TypeMP4, "video", "video.mp4"},
		{"QuickTime", http.MethodGet, evidence.TypeQuickTime, "video", "video.mov"},
		{"WebM", http.MethodGet, evidence.TypeWebM, "video", "video.webm"},
		{"HEAD", http.MethodHead, evidence.TypeMP4, "video", "video.mp4"},
		{"HostileName", http.MethodGet, evidence.TypeJPEG, "../../\"x\r\nSet-Cookie: a=b;.html", "xSet-Cookieab.html.jpg"},
		{"NonASCIIName", http.MethodGet, evidence.TypePNG, "证件照", "evidence.png"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(tc.method, "/evidence", nil)
			f := evidence.File{ID: id, ContentType: tc.contentType, Size: int64(len(content))}
			if err := evidence.Serve(rec, req, blobs, f, tc.filename); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			h := rec.Result().Header
			for name, want := range map[string]string{
				"Content-Type":                 tc.contentType,
				"Content-Length":               strconv.Itoa(len(content)),
				"X-Content-Type-Options":       "nosniff",
				"Cache-Control":                "no-store",
				"Content-Security-Policy":      "default-src 'none'; sandbox",
				"Cross-Origin-Resource-Policy": "same-origin",
			} {
				if got := h.Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
			disp, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
			if err != nil || disp != "inline" || params["filename"] != tc.wantName || !safeName.MatchString(params["filename"]) {
				t.Errorf("Content-Disposition %q: %s %v, %v; want inline, filename %q",
					h.Get("Content-Disposition"), disp, params, err, tc.wantName)
			}
			wantBody := content
			if tc.method == http.MethodHead {
				wantBody = nil
			}
			if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), wantBody) {
				t.Fatalf("got %d with %d bytes, want 200 with %d", rec.Code, rec.Body.Len(), len(wantBody))
			}
		})
	}
}

func TestServeRefuses(t *testing.T) {
	be := dirBackend(t)
	blobs := be.open(t, evidence.Keys{Current: keyA})
	id := put(t, blobs, randomBytes(1000, 10))
	damaged := put(t, blobs, randomBytes(1000, 11))
	raw := be.raw(t, damaged)
	raw[len(raw)-1] ^= 1
	be.setRaw(t, damaged, raw)
	tests := []struct {
		name string
		file evidence.File
		want error
	}{
		{"HTML", evidence.File{ID: id, ContentType: "text/html"}, evidence.ErrUnsupportedType},
		{"SVG", evidence.File{ID: id, ContentType: "image/svg+xml"}, evidence.ErrUnsupportedType},
		{"JPEGWithParameters", evidence.File{ID: id, ContentType: "image/jpeg; charset=utf-8"}, evidence.ErrUnsupportedType},
		{"NoType", evidence.File{ID: id}, evidence.ErrUnsupportedType},
		{"Missing", evidence.File{ID: evidence.NewID(), ContentType: evidence.TypeJPEG}, evidence.ErrNotFound},
		{"InvalidID", evidence.File{ID: "../../etc/passwd", ContentType: evidence.TypeJPEG}, evidence.ErrInvalidID},
		{"DamagedStart", evidence.File{ID: damaged, ContentType: evidence.TypeJPEG}, evidence.ErrDecrypt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := evidence.Serve(rec, httptest.NewRequest(http.MethodGet, "/evidence", nil), blobs, tc.file, "x")
			wantErr(t, "Serve", err, tc.want)
			if len(rec.Header()) != 0 || rec.Body.Len() != 0 || rec.Flushed {
				t.Fatalf("Serve wrote %v and %d bytes before failing", rec.Header(), rec.Body.Len())
			}
		})
	}
}

// A blob that fails after its first package aborts the answer rather than
// end it as if whole.
func TestServeAbortsMidway(t *testing.T) {
	be := dirBackend(t)
	blobs := be.open(t, evidence.Keys{Current: keyA})
	id := put(t, blobs, randomBytes(300_000, 12))
	raw := be.raw(t, id)
	raw[headerLen+2*packageLen+100] ^= 1
	be.setRaw(t, id, raw)
	rec := httptest.NewRecorder()
	defer func() {
		p := recover()
		if err, ok := p.(error); !ok || !errors.Is(err, http.ErrAbortHandler) {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
		if rec.Body.Len() >= 300_000 {
			t.Fatalf("wrote %d bytes", rec.Body.Len())
		}
	}()
	evidence.Serve(rec, httptest.NewRequest(http.MethodGet, "/evidence", nil), blobs,
		evidence.File{ID: id, ContentType: evidence.TypeMP4}, "video")
	t.Fatal("Serve returned")
}
