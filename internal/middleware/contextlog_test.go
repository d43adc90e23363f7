package middleware_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

// serveLogged runs one request from 198.51.100.1 through the request id and
// client IP middleware around handler, logging through ContextLogHandler,
// and returns the log lines and the request id sent.
func serveLogged(t *testing.T, handler func(log *slog.Logger) http.Handler) ([]map[string]any, string, string) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(middleware.ContextLogHandler(slog.NewJSONHandler(&buf, nil)))
	var h http.Handler = handler(log)
	h = middleware.NewClientIP(nil).Handler(h)
	h = middleware.RequestID(h)
	r := httptest.NewRequest("GET", "/items/7", nil)
	r.RemoteAddr = "198.51.100.1:4321"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	raw := buf.String()
	return logLines(t, &buf), w.Header().Get("X-Request-Id"), raw
}

func TestContextLogHandler(t *testing.T) {
	tests := []struct {
		name    string
		handler func(log *slog.Logger) http.Handler
		want    []string // msg of each line, in order
	}{
		{"InfoContext", func(log *slog.Logger) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				log.InfoContext(r.Context(), "deep in a use case", "user", "4839201746")
			})
		}, []string{"deep in a use case"}},
		{"LoggerWithAttrs", func(log *slog.Logger) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				log.With("message_id", 7).WarnContext(r.Context(), "delivery failed")
			})
		}, []string{"delivery failed"}},
		// AccessLog and Recover name the request themselves: no key twice.
		{"AccessLog", func(log *slog.Logger) http.Handler {
			return middleware.AccessLog(log, http.NotFoundHandler())
		}, []string{"request"}},
		{"Recover", func(log *slog.Logger) http.Handler {
			render := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
			return middleware.Recover(log, render, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
		}, []string{"panic"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, id, raw := serveLogged(t, tc.handler)
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(tc.want), raw)
			}
			for i, line := range lines {
				if line["msg"] != tc.want[i] {
					t.Errorf("line %d: got msg %v, want %q", i, line["msg"], tc.want[i])
				}
				if line["request_id"] != id || id == "" {
					t.Errorf("line %d: got request_id %v, want %q", i, line["request_id"], id)
				}
				if line["client_ip"] != "198.51.100.1" {
					t.Errorf("line %d: got client_ip %v, want 198.51.100.1", i, line["client_ip"])
				}
			}
			for _, key := range []string{`"request_id":`, `"client_ip":`} {
				if n := strings.Count(raw, key); n != len(tc.want) {
					t.Errorf("%s appears %d times in %d lines:\n%s", key, n, len(tc.want), raw)
				}
			}
		})
	}
}

func TestContextLogHandlerOutsideRequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(middleware.ContextLogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	log.InfoContext(t.Context(), "below the level")
	log.WarnContext(t.Context(), "no request")
	log.Warn("no context")
	log.With("request_id", "given").WarnContext(t.Context(), "preset")
	lines := logLines(t, &buf)
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (the level still applies)", len(lines))
	}
	for _, line := range lines[:2] {
		if _, ok := line["request_id"]; ok {
			t.Errorf("%v: request_id without a request", line["msg"])
		}
		if _, ok := line["client_ip"]; ok {
			t.Errorf("%v: client_ip without a request", line["msg"])
		}
	}
	if lines[2]["request_id"] != "given" {
		t.Errorf("preset: got %v", lines[2]["request_id"])
	}
}
