package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/watchword/watchword/internal/account"
)

// TestWrongMethod checks that a known path asked with another method
// answers 405 with the methods it takes, and an unknown path 404, both as
// the API's JSON errors. The Server has no service: none of these may
// reach a handler.
func TestWrongMethod(t *testing.T) {
	mux := http.NewServeMux()
	New(nil, nil, slog.New(slog.DiscardHandler)).Register(mux)
	tests := []struct {
		method, path string
		status       int
		allow        string
	}{
		{"DELETE", "/me", 405, "GET, HEAD"},
		{"POST", "/me", 405, "GET, HEAD"},
		{"GET", "/login/password", 405, "POST"},
		{"HEAD", "/login/password", 405, "POST"},
		{"PUT", "/registrations/some-flow/complete", 405, "POST"},
		{"GET", "/me/totp", 405, "POST, DELETE"},
		{"PATCH", "/me/password", 405, "PUT"},
		{"POST", "/me/sessions/some-id", 405, "DELETE"},
		{"POST", "/me/totp/qr.png", 405, "GET, HEAD"},
		{"OPTIONS", "/me/security-events", 405, "GET, HEAD"},
		{"TRACE", "/logout", 405, "POST"},
		{"BREW", "/logout", 405, "POST"},
		{"GET", "/no/such/thing", 404, ""},
		{"POST", "/", 404, ""},
		{"DELETE", "/me/sessions", 405, "GET, HEAD"},
		{"GET", "/me/sessions/some-id/more", 404, ""},
		{"GET", "/registrations/", 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(tc.method, Prefix+tc.path, nil))
			code := account.CodeNotFound
			if tc.status == http.StatusMethodNotAllowed {
				code = codeMethodNotAllowed
			}
			checkErrorAnswer(t, w, tc.status, code)
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow: got %q, want %q", got, tc.allow)
			}
		})
	}
}
