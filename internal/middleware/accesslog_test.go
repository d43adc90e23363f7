package middleware_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/middleware"
)

// logLines decodes the JSON lines written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var line map[string]any
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("decode log: %v", err)
		}
		lines = append(lines, line)
	}
	return lines
}

// newAccessLogServer returns the recommended chain around a mux with a few
// routes, and the buffer it logs to.
func newAccessLogServer(t *testing.T) (http.Handler, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login/code/{flow_id}", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":1}`)
	})
	mux.HandleFunc("GET /empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("Flush through AccessLog: %v", err)
		}
		io.WriteString(w, "b")
	})
	trusted, err := middleware.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = mux
	h = middleware.AccessLog(log, h)
	h = middleware.NewClientIP(trusted).Handler(h)
	h = middleware.RequestID(h)
	return h, &buf
}

func TestAccessLog(t *testing.T) {
	const secret = "S3CRET-481516"
	tests := []struct {
		name       string
		method     string
		target     string
		wantRoute  string
		wantStatus float64
		wantBytes  float64
	}{
		{"WithBody", "POST", "/login/code/flow-" + secret + "?code=" + secret, "POST /login/code/{flow_id}", 201, 8},
		{"NothingWritten", "GET", "/empty?token=" + secret, "GET /empty", 200, 0},
		{"NoContent", "GET", "/nocontent", "GET /nocontent", 204, 0},
		{"Flushed", "GET", "/stream", "GET /stream", 200, 2},
		{"NotFound", "GET", "/reset/" + secret, "", 404, -1}, // body length is the mux's business
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, buf := newAccessLogServer(t)
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(`{"code":"`+secret+`"}`))
			r.RemoteAddr = "10.0.0.5:443"
			r.Header.Set("X-Forwarded-For", "198.51.100.1")
			r.Header.Set("Authorization", "Bearer "+secret)
			r.Header.Set("Cookie", "session="+secret)
			r.Header.Set("User-Agent", secret)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if strings.Contains(buf.String(), secret) {
				t.Fatalf("the log holds a secret from the URL, headers or body:\n%s", buf)
			}
			lines := logLines(t, buf)
			if len(lines) != 1 {
				t.Fatalf("got %d log lines, want 1:\n%s", len(lines), buf)
			}
			line := lines[0]
			want := map[string]any{
				"level":      "INFO",
				"msg":        "request",
				"method":     tc.method,
				"route":      tc.wantRoute,
				"status":     tc.wantStatus,
				"client_ip":  "198.51.100.1",
				"request_id": w.Header().Get("X-Request-Id"),
			}
			if tc.wantBytes >= 0 {
				want["bytes"] = tc.wantBytes
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s: got %v, want %v", k, line[k], v)
				}
			}
			if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
				t.Errorf("duration_ms: got %v, want a number >= 0", line["duration_ms"])
			}
			if _, ok := line["aborted"]; ok {
				t.Error("aborted set for a completed request")
			}
			for k := range line {
				switch k {
				case "time", "level", "msg", "method", "route", "status", "bytes", "duration_ms", "client_ip", "request_id":
				default:
					t.Errorf("unexpected attribute %q", k)
				}
			}
		})
	}
}

func TestAccessLogAbortedRequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	h := middleware.AccessLog(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("got panic %v, want http.ErrAbortHandler to go on", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("got %d log lines, want 1", len(lines))
	}
	if lines[0]["aborted"] != true || lines[0]["status"] != float64(202) {
		t.Errorf("got %v, want aborted with status 202", lines[0])
	}
}
