package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/watchword/watchword/internal/api"
	"github.com/watchword/watchword/internal/middleware"
)

// TestRecoverRendersAPIError checks that a panic behind middleware.Recover
// with the API's renderer answers as any internal error of the API does.
func TestRecoverRendersAPIError(t *testing.T) {
	const want = `{"error":{"code":"internal","message":"Internal error."}}` + "\n"
	h := middleware.Recover(slog.New(slog.DiscardHandler), api.RenderInternalError,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "image/png")
			w.Header().Set("Set-Cookie", "half=made")
			panic("boom")
		}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", api.Prefix+"/me", nil))
	if w.Code != http.StatusInternalServerError || w.Body.String() != want {
		t.Errorf("got %d %q, want 500 %q", w.Code, w.Body, want)
	}
	for name, want := range map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
		"Set-Cookie":    "",
	} {
		if got := w.Header().Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}
