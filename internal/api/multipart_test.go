package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/review"
)

// sinkRecorder is an upload sink that keeps what it is given, up to a
// limit, as the evidence store would.
type sinkRecorder struct {
	files     map[review.Role][]byte
	discarded bool
	limit     int64
}

func (s *sinkRecorder) Add(ctx context.Context, role review.Role, r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, s.limit+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > s.limit {
		return review.ErrTooLarge
	}
	s.files[role] = b
	return nil
}

func (s *sinkRecorder) Discard(ctx context.Context) { s.discarded, s.files = true, nil }

type part struct{ name, filename, body string }

func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

// parseUpload runs multipartForm over body as a handler would.
func parseUpload(contentType string, body []byte, maxBody int64) (*sinkRecorder, map[string]string, error) {
	r := httptest.NewRequest(http.MethodPost, "/upload", bytes.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	rec := &sinkRecorder{files: map[review.Role][]byte{}, limit: 1 << 10}
	var began map[string]string
	_, form, err := multipartForm(httptest.NewRecorder(), r, maxBody, []string{"flow_id", "uid"}, []string{"photo", "video"},
		func(form map[string]string) (uploadSink, error) {
			began = form
			if form["uid"] == "refuse" {
				return nil, account.Errorf(account.CodeInvalidRequest, "refused")
			}
			return rec, nil
		})
	if began != nil && form == nil {
		form = began
	}
	return rec, form, err
}

func TestMultipartForm(t *testing.T) {
	ok := []part{{"flow_id", "", "f1"}, {"uid", "", "1234567890"}, {"photo", "p.jpg", "PHOTO"}, {"video", "v.mp4", "VIDEO"}}
	ct, body := multipartBody(t, ok...)
	rec, form, err := parseUpload(ct, body, 1<<20)
	if err != nil || form["flow_id"] != "f1" || string(rec.files["photo"]) != "PHOTO" || string(rec.files["video"]) != "VIDEO" {
		t.Fatalf("a good form: %v, %v, %v", err, form, rec.files)
	}
	for _, tc := range []struct {
		name        string
		contentType string
		parts       []part
		maxBody     int64
		want        account.Code
		discarded   bool
	}{
		{"not multipart", "application/json", nil, 1 << 20, account.CodeUnsupportedMediaType, false},
		{"no boundary", "multipart/form-data", nil, 1 << 20, account.CodeUnsupportedMediaType, false},
		{"unknown field", "", []part{{"flow_id", "", "f"}, {"admin", "", "yes"}}, 1 << 20, account.CodeInvalidRequest, false},
		{"field after a file", "", []part{{"uid", "", "u"}, {"photo", "p", "x"}, {"flow_id", "", "f"}}, 1 << 20, account.CodeInvalidRequest, true},
		{"field twice", "", []part{{"uid", "", "u"}, {"uid", "", "v"}}, 1 << 20, account.CodeInvalidRequest, false},
		{"field too long", "", []part{{"uid", "", strings.Repeat("u", maxFieldBytes+1)}}, 1 << 20, account.CodeInvalidRequest, false},
		{"file over its limit", "", []part{{"uid", "", "u"}, {"photo", "p", "x"}, {"video", "v", strings.Repeat("v", 2<<10)}}, 1 << 20, account.CodeTooLarge, true},
		{"body over the limit", "", ok, -30, account.CodeTooLarge, true}, // cut inside the video
		{"text refused by the domain", "", []part{{"uid", "", "refuse"}, {"photo", "p", "x"}}, 1 << 20, account.CodeInvalidRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, body := multipartBody(t, tc.parts...)
			if tc.contentType != "" {
				ct = tc.contentType
			}
			max := tc.maxBody
			if max < 0 {
				max += int64(len(body))
			}
			rec, _, err := parseUpload(ct, body, max)
			if got := account.ErrorCode(err); got != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
			if rec.discarded != tc.discarded {
				t.Fatalf("discarded = %v, want %v", rec.discarded, tc.discarded)
			}
		})
	}
	// A body cut short is the client's fault, not an internal error.
	_, _, err = parseUpload(ct, body[:len(body)-40], 1<<20)
	if got := account.ErrorCode(err); got != account.CodeInvalidRequest {
		t.Fatalf("a truncated body: %v", err)
	}
}

// FuzzMultipartForm: whatever the body, multipartForm never panics, and
// it either succeeds or fails with an error the client is shown (never an
// internal error), discarding what it stored.
func FuzzMultipartForm(f *testing.F) {
	ct, body := multipartBody(f, part{"flow_id", "", "f"}, part{"uid", "", "u"}, part{"photo", "p.jpg", "x"})
	boundary := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	f.Add(boundary, body)
	f.Add(boundary, body[:len(body)/2])
	f.Add("x", []byte("--x\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a\"\r\n\r\nabc\r\n--x--\r\n"))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		rec, _, err := parseUpload("multipart/form-data; boundary=\""+strings.ReplaceAll(boundary, `"`, "")+"\"", body, 4<<10)
		if err == nil {
			return
		}
		var e *account.Error
		if !errors.As(err, &e) {
			t.Fatalf("an error the client is not shown: %v", err)
		}
		if len(rec.files) != 0 && !rec.discarded {
			t.Fatalf("failed with files kept: %v", err)
		}
	})
}
