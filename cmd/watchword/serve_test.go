package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadyHandler(t *testing.T) {
	up := func(context.Context) error { return nil }
	down := func(context.Context) error {
		return errors.New("dial tcp: redis://:hunter2@cache:6379: connection refused")
	}
	slow := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	stuck := make(chan struct{}) // a ping that ignores its context
	t.Cleanup(func() { close(stuck) })
	deaf := func(context.Context) error { <-stuck; return nil }
	tests := []struct {
		name       string
		deps       []dependency
		wantStatus int
		wantBody   string
	}{
		{"AllUp", []dependency{{"database", up}, {"redis", up}}, 200, "ready\n"},
		{"OnlyDatabase", []dependency{{"database", up}}, 200, "ready\n"},
		{"RedisDown", []dependency{{"database", up}, {"redis", down}}, 503, "redis unreachable\n"},
		{"DatabaseDown", []dependency{{"database", down}, {"redis", up}}, 503, "database unreachable\n"},
		{"BothDown", []dependency{{"database", down}, {"redis", slow}}, 503, "database, redis unreachable\n"},
		{"PingIgnoresTimeout", []dependency{{"database", up}, {"redis", deaf}}, 503, "redis unreachable\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := readyHandler(slog.New(slog.NewJSONHandler(&logs, nil)), tc.deps, 100*time.Millisecond)
			start := time.Now()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v, want about the 100ms timeout", took)
			}
			if w.Code != tc.wantStatus || w.Body.String() != tc.wantBody {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body, tc.wantStatus, tc.wantBody)
			}
			if strings.Contains(w.Body.String(), "hunter2") {
				t.Errorf("the answer shows a secret: %q", w.Body)
			}
			if tc.wantStatus != 200 && !strings.Contains(logs.String(), `"msg":"not ready"`) {
				t.Errorf("the failure is not logged: %s", logs.String())
			}
		})
	}
}

func TestServerTimeouts(t *testing.T) {
	srv := newServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s: got %v, want a bound of at most 2m", name, d)
		}
	}
	if srv.ReadTimeout > 30*time.Second || srv.WriteTimeout > 30*time.Second {
		t.Errorf("read %v, write %v: want at most 30s for a JSON API", srv.ReadTimeout, srv.WriteTimeout)
	}
}

// freeAddr returns a 127.0.0.1 address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects the server's log from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// runningServer is serve run in this process through run, as main does.
type runningServer struct {
	base string
	logs *syncBuffer
	stop func() error
}

// startServe runs "watchword serve" with args on a fresh data folder and
// a free port, in development mode, and waits until /readyz answers 200.
func startServe(t *testing.T, args ...string) *runningServer {
	t.Helper()
	addr := freeAddr(t)
	args = append([]string{"serve", "--addr", addr, "--data-dir", t.TempDir(), "--password-hash", "m=1024,t=1,p=1"}, args...)
	ctx, cancel := context.WithCancel(t.Context())
	s := &runningServer{base: "http://" + addr, logs: &syncBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, s.logs) }()
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("serve did not return within 30s of the signal")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve returned at start: %v\n%s", err, s.logs)
		default:
		}
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
	}
	t.Fatalf("not ready after 30s:\n%s", s.logs)
	return nil
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// fetch sends a request and returns the answer with its body read.
func fetch(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestServeMetricsListener(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := startServe(t, "--metrics-addr", metricsAddr)
	fetch(t, "GET", s.base+"/healthz")

	if resp, _ := fetch(t, "GET", s.base+"/metrics"); resp.StatusCode != 404 {
		t.Errorf("public /metrics: got %d, want 404", resp.StatusCode)
	}
	resp, body := fetch(t, "GET", "http://"+metricsAddr+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(body, `watchword_http_request_duration_seconds_count{method="GET",route="GET /healthz",status="200"}`) {
		t.Errorf("metrics listener: got %d\n%s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("metrics Cache-Control: got %q", got)
	}
	// Profiles are on the metrics listener only, without the command line
	// (it may carry a password).
	if resp, body := fetch(t, "GET", "http://"+metricsAddr+"/debug/pprof/"); resp.StatusCode != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("metrics listener /debug/pprof/: got %d", resp.StatusCode)
	}
	for _, url := range []string{s.base + "/debug/pprof/", s.base + "/debug/pprof/profile", "http://" + metricsAddr + "/debug/pprof/cmdline"} {
		if resp, _ := fetch(t, "GET", url); resp.StatusCode != 404 {
			t.Errorf("%s: got %d, want 404", url, resp.StatusCode)
		}
	}
	// The metrics listener serves nothing else.
	for _, path := range []string{"/healthz", "/api/v1/me", "/dev/outbox"} {
		if resp, _ := fetch(t, "GET", "http://"+metricsAddr+path); resp.StatusCode != 404 {
			t.Errorf("metrics listener %s: got %d, want 404", path, resp.StatusCode)
		}
	}
	if !strings.Contains(s.logs.String(), `"msg":"metrics listening","addr":"`+metricsAddr+`"`) {
		t.Errorf("the metrics address is not logged:\n%s", s.logs)
	}

	// Both listeners stop with the server.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{strings.TrimPrefix(s.base, "http://"), metricsAddr} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after shutdown", addr)
		}
	}
}

func TestServeWithoutMetricsAddr(t *testing.T) {
	s := startServe(t)
	if resp, _ := fetch(t, "GET", s.base+"/metrics"); resp.StatusCode != 404 {
		t.Errorf("public /metrics: got %d, want 404", resp.StatusCode)
	}
	if strings.Contains(s.logs.String(), "metrics listening") {
		t.Errorf("a metrics listener started without --metrics-addr:\n%s", s.logs)
	}
}

// TestServeNoStoreEverywhere checks Cache-Control on every kind of answer
// the server gives, not only the API's.
func TestServeNoStoreEverywhere(t *testing.T) {
	s := startServe(t)
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"POST", "/healthz", 405},
		{"DELETE", "/readyz", 405},
		{"GET", "/no/such/page", 404},
		{"GET", "/metrics", 404},
		{"GET", "/dev/./outbox", 307}, // ServeMux cleans the path
		{"GET", "/dev/outbox", 200},
		{"GET", "/dev/outbox.css", 200},
		{"GET", "/dev/outbox?format=json", 200},
		{"GET", "/api/v1/me", 401},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, body := fetch(t, tc.method, s.base+tc.path)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("got %d %q, want %d", resp.StatusCode, body, tc.wantStatus)
			}
			if got := resp.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
		})
	}
}

// TestServeLogsNameTheRequest checks that request lines carry the request
// id and client IP once, through the logger serve builds.
func TestServeLogsNameTheRequest(t *testing.T) {
	s := startServe(t)
	resp, _ := fetch(t, "GET", s.base+"/healthz")
	id := resp.Header.Get("X-Request-Id")
	var line string
	for l := range strings.SplitSeq(s.logs.String(), "\n") {
		if strings.Contains(l, `"request_id":"`+id+`"`) {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no log line names request %s:\n%s", id, s.logs)
	}
	if strings.Count(line, `"request_id"`) != 1 || strings.Count(line, `"client_ip":"127.0.0.1"`) != 1 {
		t.Errorf("want request_id and client_ip once each: %s", line)
	}
}

// TestServeReadyzFollowsRedis runs the server on a Redis reached through a
// proxy the test can cut: /readyz turns 503 naming Redis, and 200 again
// once it is back.
func TestServeReadyzFollowsRedis(t *testing.T) {
	target := "127.0.0.1:6379"
	if c, err := net.DialTimeout("tcp", target, time.Second); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis unreachable at %s: %v", target, err)
		}
		t.Skipf("Redis unreachable at %s (%v); skipping", target, err)
	} else {
		c.Close()
	}
	p := newTCPProxy(t, target)
	s := startServe(t, "--redis-url", "redis://"+p.addr+"/13")
	if resp, body := fetch(t, "GET", s.base+"/readyz"); resp.StatusCode != 200 || body != "ready\n" {
		t.Fatalf("with Redis: got %d %q", resp.StatusCode, body)
	}

	p.cut()
	resp, body := fetch(t, "GET", s.base+"/readyz")
	if resp.StatusCode != 503 || body != "redis unreachable\n" {
		t.Fatalf("without Redis: got %d %q, want 503 naming redis", resp.StatusCode, body)
	}
	if strings.Contains(body, p.addr) {
		t.Errorf("the answer shows the Redis address: %q", body)
	}

	p.restore()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, body := fetch(t, "GET", s.base+"/readyz")
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Redis back: got %d %q", resp.StatusCode, body)
		}
	}
}

// tcpProxy forwards connections on addr to a target until cut.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{t: t, target: target, addr: freeAddr(t)}
	p.restore()
	t.Cleanup(p.cut)
	return p
}

// restore listens again on the same address.
func (p *tcpProxy) restore() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// cut stops listening and closes every open connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
