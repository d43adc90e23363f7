package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

func TestNoStore(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /docs/", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /fails", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	h := middleware.NoStore(middleware.SecurityHeaders(mux))
	tests := []struct {
		name       string
		method     string
		target     string
		wantStatus int
	}{
		{"OK", "GET", "/healthz", 200},
		{"NotFound", "GET", "/nope", 404},
		{"MethodNotAllowed", "POST", "/healthz", 405},
		{"Redirect", "GET", "/docs", http.StatusTemporaryRedirect}, // ServeMux adds the slash
		{"ErrorFromHandler", "GET", "/fails", 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.target, nil))
			if w.Code != tc.wantStatus {
				t.Fatalf("status: got %d, want %d", w.Code, tc.wantStatus)
			}
			if got := w.Result().Header.Values("Cache-Control"); !slices.Equal(got, []string{"no-store"}) {
				t.Errorf("Cache-Control: got %q, want [no-store]", got)
			}
		})
	}
}
