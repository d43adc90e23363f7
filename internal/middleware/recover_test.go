package middleware_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

// renderTeapot stands for a delivery's error renderer: it records that it
// ran for the request and answers in a shape of its own.
func renderTeapot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, "rendered for "+r.URL.Path)
}

func TestRecover(t *testing.T) {
	const wantBody = "rendered for /items/7"
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantPanic string // in the log
	}{
		{"String", func(w http.ResponseWriter, r *http.Request) { panic("boom") }, "boom"},
		{"Error", func(w http.ResponseWriter, r *http.Request) { panic(errors.New("db gone")) }, "db gone"},
		{"NilMap", func(w http.ResponseWriter, r *http.Request) {
			var m map[string]int
			m["x"] = 1
		}, "assignment to entry in nil map"},
		{"HeadersSetBeforePanic", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Length", "1234")
			w.Header().Set("Set-Cookie", "session=half-made")
			w.Header().Set("Cache-Control", "public, max-age=3600")
			panic("late")
		}, "late"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, nil))
			mux := http.NewServeMux()
			mux.Handle("GET /items/{id}", tc.handler)
			h := middleware.RequestID(middleware.Recover(log, renderTeapot, middleware.SecurityHeaders(mux)))

			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/items/7", nil))

			if w.Code != http.StatusInternalServerError || w.Body.String() != wantBody {
				t.Errorf("got %d %q, want 500 %q", w.Code, w.Body, wantBody)
			}
			for name, want := range map[string]string{
				"Content-Type":           "text/plain; charset=utf-8",
				"Content-Length":         "",
				"Set-Cookie":             "",
				"Cache-Control":          "no-store",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := w.Header().Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}

			lines := logLines(t, &buf)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1", len(lines))
			}
			line := lines[0]
			if line["level"] != "ERROR" || !strings.Contains(line["panic"].(string), tc.wantPanic) {
				t.Errorf("got %v, want an ERROR with panic %q", line, tc.wantPanic)
			}
			if stack, _ := line["stack"].(string); !strings.Contains(stack, "middleware_test.TestRecover") {
				t.Errorf("the stack does not show where the panic happened:\n%s", stack)
			}
			if line["route"] != "GET /items/{id}" || line["request_id"] != w.Header().Get("X-Request-Id") {
				t.Errorf("got route %v, request_id %v", line["route"], line["request_id"])
			}
		})
	}
}

func TestRecoverPassesThrough(t *testing.T) {
	var buf bytes.Buffer
	h := middleware.Recover(slog.New(slog.NewJSONHandler(&buf, nil)), renderTeapot, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "fine")
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != http.StatusTeapot || w.Body.String() != "fine" || buf.Len() != 0 {
		t.Errorf("got %d %q, log %q", w.Code, w.Body, buf.String())
	}
}

func TestRecoverRepanicsAbortHandler(t *testing.T) {
	var buf bytes.Buffer
	h := middleware.Recover(slog.New(slog.NewJSONHandler(&buf, nil)), renderTeapot, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	w := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("got panic %v, want http.ErrAbortHandler", p)
			}
		}()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	}()
	if buf.Len() != 0 || w.Body.Len() != 0 {
		t.Errorf("got log %q, body %q; want neither", buf.String(), w.Body)
	}
}

// TestRecoverAfterResponseBegan checks that a client that already received
// part of a response sees a broken connection, not a short "complete" body.
func TestRecoverAfterResponseBegan(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	srv := httptest.NewServer(middleware.Recover(log, renderTeapot, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("midway")
	})))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err == nil {
		t.Errorf("got %d %q, %v; want 200 and a read error", resp.StatusCode, body, err)
	}
	srv.Close() // wait for the handler, and its log line, to finish
	if !strings.Contains(buf.String(), "midway") {
		t.Errorf("panic not logged: %q", buf.String())
	}
}
