package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/web"
)

// TestRenderPanic: a panic answers in the shape of the delivery that was
// serving, JSON under /api/v1 and the HTML error page elsewhere.
func TestRenderPanic(t *testing.T) {
	pages, err := web.New(web.Deps{Key: bytes.Repeat([]byte{1}, 32)}, web.Config{})
	if err != nil {
		t.Fatal(err)
	}
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := middleware.Recover(slog.New(slog.DiscardHandler), renderPanic(pages), boom)
	for path, want := range map[string]string{
		"/api/v1/me": "application/json", "/api/v1": "application/json",
		"/account": "text/html", "/api/v10": "text/html", "/": "text/html",
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), want) {
			t.Errorf("%s: %d %s, want 500 %s", path, w.Code, w.Header().Get("Content-Type"), want)
		}
	}
}

// TestServePages: the pages are served by serve, behind the security
// headers of the whole server, never cached.
func TestServePages(t *testing.T) {
	s := startServe(t)
	resp, body := fetch(t, "GET", s.base+"/login")
	if resp.StatusCode != 200 || !strings.Contains(body, `name="csrf_token"`) {
		t.Fatalf("GET /login: %d\n%s", resp.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cross-Origin-Opener-Policy": "same-origin",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	if resp, _ := fetch(t, "GET", s.base+"/"); resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET /: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := fetch(t, "GET", s.base+"/api/v1/no/such"); !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("the API's own 404 became a page: %s", resp.Header.Get("Content-Type"))
	}
	resp, body = fetch(t, "GET", s.base+"/no/such/page")
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "Page not found") {
		t.Errorf("an unknown page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
