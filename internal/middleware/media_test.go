package middleware_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

// TestServeMedia: media is served inline with headers that keep it from
// being sniffed, cached or run, and never as a type it does not know.
func TestServeMedia(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	rec := httptest.NewRecorder()
	err := middleware.ServeMedia(rec, httptest.NewRequest("GET", "/x", nil), log, "video/mp4", "video", io.NopCloser(strings.NewReader("movie bytes")))
	if err != nil || rec.Body.String() != "movie bytes" {
		t.Fatalf("got %v, %q", err, rec.Body.String())
	}
	for name, want := range map[string]string{
		"Content-Type": "video/mp4", "Content-Disposition": `inline; filename="video.mp4"`, "X-Content-Type-Options": "nosniff",
		"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'none'; sandbox",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	for _, ct := range []string{"text/html", "image/svg+xml", "application/octet-stream", ""} {
		rec := httptest.NewRecorder()
		err := middleware.ServeMedia(rec, httptest.NewRequest("GET", "/x", nil), log, ct, "photo", io.NopCloser(strings.NewReader("<svg/>")))
		if !errors.Is(err, middleware.ErrUnservableType) || rec.Body.Len() != 0 {
			t.Errorf("%q: got %v and %d bytes, want refused and nothing sent", ct, err, rec.Body.Len())
		}
	}
}
