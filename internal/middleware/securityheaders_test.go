package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

func TestSecurityHeaders(t *testing.T) {
	defaults := map[string]string{
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"Content-Security-Policy":    "default-src 'none'; frame-ancestors 'none'",
		"Cross-Origin-Opener-Policy": "same-origin",
	}
	const ownCSP = "default-src 'self'; frame-ancestors 'none'"
	tests := []struct {
		name    string
		before  func(h http.Header) // run before the middleware
		handler func(h http.Header) // run by the wrapped handler
		want    map[string]string   // overrides of defaults
	}{
		{name: "Defaults"},
		{
			name:    "HandlerSetsOwnCSP",
			handler: func(h http.Header) { h.Set("Content-Security-Policy", ownCSP) },
			want:    map[string]string{"Content-Security-Policy": ownCSP},
		},
		{
			name:    "HandlerAllowsSameOriginFrames",
			handler: func(h http.Header) { h.Set("X-Frame-Options", "SAMEORIGIN") },
			want:    map[string]string{"X-Frame-Options": "SAMEORIGIN"},
		},
		{
			name:   "OuterCSPKept",
			before: func(h http.Header) { h.Set("Content-Security-Policy", ownCSP) },
			want:   map[string]string{"Content-Security-Policy": ownCSP},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := middleware.SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.handler != nil {
					tc.handler(w.Header())
				}
				w.Write([]byte("ok"))
			}))
			w := httptest.NewRecorder()
			if tc.before != nil {
				tc.before(w.Header())
			}
			h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
			for name, want := range defaults {
				if v, ok := tc.want[name]; ok {
					want = v
				}
				if got := w.Result().Header.Values(name); !slices.Equal(got, []string{want}) {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestStrictTransport(t *testing.T) {
	rec := httptest.NewRecorder()
	middleware.StrictTransport(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Header().Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Fatalf("got %q", got)
	}
}
