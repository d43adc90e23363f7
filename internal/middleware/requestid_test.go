package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

func TestRequestID(t *testing.T) {
	var fromCtx string
	h := middleware.RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fromCtx = middleware.RequestIDFrom(r.Context())
	}))
	valid := regexp.MustCompile(`^[0-9a-f]{16}$`)
	seen := make(map[string]bool)
	for range 100 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Request-Id", "chosen-by-client")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("X-Request-Id")
		if !valid.MatchString(got) {
			t.Fatalf("got X-Request-Id %q, want 16 hex digits", got)
		}
		if fromCtx != got {
			t.Fatalf("got %q in the context, want %q as in the header", fromCtx, got)
		}
		if seen[got] {
			t.Fatalf("ID %q repeated", got)
		}
		seen[got] = true
	}
}

func TestRequestIDFromWithoutHandler(t *testing.T) {
	if got := middleware.RequestIDFrom(t.Context()); got != "" {
		t.Errorf("got %q, want empty", got)
	}
}
