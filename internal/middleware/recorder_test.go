package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/middleware"
)

func TestStatusRecorder(t *testing.T) {
	tests := []struct {
		name       string
		write      func(w http.ResponseWriter)
		wantStatus int
		wantBytes  int64
	}{
		{"Nothing", func(w http.ResponseWriter) {}, 0, 0},
		{"ImplicitOK", func(w http.ResponseWriter) { io.WriteString(w, "hello") }, 200, 5},
		{"ExplicitStatus", func(w http.ResponseWriter) { w.WriteHeader(201); io.WriteString(w, "hi") }, 201, 2},
		{"FirstStatusWins", func(w http.ResponseWriter) { w.WriteHeader(404); w.WriteHeader(500) }, 404, 0},
		{"InformationalThenFinal", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(204) }, 204, 0},
		{"FlushSendsOK", func(w http.ResponseWriter) { w.(http.Flusher).Flush() }, 200, 0},
		{"ManyWrites", func(w http.ResponseWriter) {
			for range 3 {
				io.WriteString(w, "abcd")
			}
		}, 200, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := middleware.NewStatusRecorder(httptest.NewRecorder())
			tc.write(rec)
			if rec.Status() != tc.wantStatus || rec.BytesWritten() != tc.wantBytes {
				t.Errorf("got status %d, %d bytes; want %d, %d bytes", rec.Status(), rec.BytesWritten(), tc.wantStatus, tc.wantBytes)
			}
		})
	}
}

func TestStatusRecorderFlushes(t *testing.T) {
	inner := httptest.NewRecorder()
	rec := middleware.NewStatusRecorder(inner)
	io.WriteString(rec, "part")
	rec.Flush()
	if !inner.Flushed {
		t.Error("Flush did not reach the underlying writer")
	}

	inner = httptest.NewRecorder()
	if err := http.NewResponseController(middleware.NewStatusRecorder(inner)).Flush(); err != nil || !inner.Flushed {
		t.Errorf("ResponseController.Flush: got %v, flushed %v", err, inner.Flushed)
	}
}

// noFlusher is a ResponseWriter that cannot flush.
type noFlusher struct{ http.ResponseWriter }

func TestStatusRecorderFlushNotSupported(t *testing.T) {
	rec := middleware.NewStatusRecorder(noFlusher{httptest.NewRecorder()})
	rec.Flush() // must not panic
	if err := rec.FlushError(); err == nil {
		t.Error("FlushError: got nil, want http.ErrNotSupported")
	}
}

// TestStatusRecorderUnwraps uses a real server: deadlines and hijacking reach
// the connection only through Unwrap.
func TestStatusRecorderUnwraps(t *testing.T) {
	errs := make(chan error, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(middleware.NewStatusRecorder(w))
		errs <- rc.SetWriteDeadline(time.Now().Add(time.Minute))
		conn, _, err := rc.Hijack()
		errs <- err
		if err == nil {
			io.WriteString(conn, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
			conn.Close()
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Errorf("got status %d, want 204 from the hijacked connection", resp.StatusCode)
	}
	for _, what := range []string{"SetWriteDeadline", "Hijack"} {
		if err := <-errs; err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
}
