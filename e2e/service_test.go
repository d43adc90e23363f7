package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServiceEndpoints(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	s.SignUpEmail("metrics@example.com", goodPassword)
	s.Do("POST", "/login/password", "", map[string]string{"identifier": "metrics@example.com", "password": "not the password"})

	if resp, body := get(t, s.Base+"/healthz"); resp.StatusCode != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, s.Base+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
	// Metrics are served on --metrics-addr only (see metrics_test.go).
	if resp, _ := get(t, s.Base+"/metrics"); resp.StatusCode != 404 {
		t.Fatalf("metrics on the public listener: %d, want 404", resp.StatusCode)
	}

	t.Run("UnknownRouteIsJSON404", func(t *testing.T) {
		r := s.Do("GET", "/no/such/thing", "", nil)
		if r.Status != 404 || r.ErrorCode() != "not_found" {
			t.Fatalf("got %d %s", r.Status, r.Raw)
		}
	})
	t.Run("SecurityHeaders", func(t *testing.T) {
		r := s.Do("GET", "/me", "", nil)
		for h, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Cache-Control":          "no-store",
			"X-Frame-Options":        "DENY",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s: got %q, want %q", h, got, want)
			}
		}
		if r.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
	})
	t.Run("ForwardedForIgnoredWithoutTrustedProxy", func(t *testing.T) {
		// Ten failures per identifier are allowed; spoofed client addresses
		// do not buy more.
		for i := 0; i < 12; i++ {
			req, _ := newRawRequest(s.Base+"/api/v1/login/password", "application/json",
				`{"identifier":"spoof@example.com","password":"not the password"}`)
			req.Header.Set("X-Forwarded-For", "203.0.113."+string(rune('1'+i%9)))
			r := s.send(req)
			if i < 10 && r.Status != 401 || i >= 10 && r.Status != 429 {
				t.Fatalf("attempt %d: got %d %s", i+1, r.Status, r.Raw)
			}
			if i >= 10 && r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	})
}

// TestDevelopmentMode is the README's first command: no delivery
// configured, so codes go to the log and to /dev/outbox.
func TestDevelopmentMode(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	s := &server{t: t, Base: "http://" + addr, dataDir: dir, seen: map[string]int{},
		args: []string{"serve", "--addr", addr, "--password-hash", "m=1024,t=1,p=1"}}
	// Like a fresh checkout: no flags for the database or the key.
	s.launchIn(dir)
	t.Cleanup(s.Stop)
	if _, err := os.Stat(filepath.Join(dir, "watchword-data", "secret.key")); err != nil {
		t.Fatalf("no key generated: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "watchword-data", "watchword.db")); err != nil {
		t.Fatalf("no SQLite database: %v", err)
	}
	if !strings.Contains(s.Logs(), "DEVELOPMENT MODE") {
		t.Fatal("dev mode not announced in the log")
	}
	flow := s.Must(202, "POST", "/registrations", "", map[string]string{"email": "dev@example.com"}).Str("flow_id")
	var out struct {
		Messages []struct{ To, Text string } `json:"messages"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(out.Messages) == 0 && time.Now().Before(deadline) {
		_, body := get(t, s.Base+"/dev/outbox?format=json")
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(out.Messages) != 1 || out.Messages[0].To != "dev@example.com" {
		t.Fatalf("dev outbox: %+v", out.Messages)
	}
	code := codeIn(t, out.Messages[0].Text)
	if !strings.Contains(s.Logs(), code) {
		t.Error("dev mode: the code is not in the log")
	}
	if resp, body := get(t, s.Base+"/dev/outbox"); resp.StatusCode != 200 || !strings.Contains(body, "dev@example.com") {
		t.Fatalf("dev outbox page: %d", resp.StatusCode)
	}
	s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": code, "password": goodPassword})
}

// launchIn starts the process with dir as its working folder.
func (s *server) launchIn(dir string) {
	s.t.Helper()
	s.logs = &syncBuffer{}
	s.workDir = dir
	s.launch()
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("version"); err != nil || !strings.HasPrefix(out, "watchword ") {
		t.Fatalf("version: %q %v", out, err)
	}
	if out, err := run("migrate"); err != nil || !strings.Contains(out, "migrations applied") {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if out, err := run("bogus"); err == nil {
		t.Fatalf("unknown command accepted: %q", out)
	}

	// staff grant/revoke on an account made through the API.
	s := &server{t: t, dataDir: dir, seen: map[string]int{}}
	addr := freeAddr(t)
	s.Base = "http://" + addr
	s.args = []string{"serve", "--addr", addr, "--password-hash", "m=1024,t=1,p=1"}
	s.launchIn(dir)
	flow := s.Must(202, "POST", "/registrations", "", map[string]string{"email": "staff@example.com"}).Str("flow_id")
	var out struct {
		Messages []struct{ Text string } `json:"messages"`
	}
	for i := 0; i < 200 && len(out.Messages) == 0; i++ {
		_, body := get(t, s.Base+"/dev/outbox?format=json")
		json.Unmarshal([]byte(body), &out)
		time.Sleep(50 * time.Millisecond)
	}
	if len(out.Messages) == 0 {
		t.Fatal("no code in the dev outbox")
	}
	s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": codeIn(t, out.Messages[0].Text), "password": goodPassword})
	s.Stop()

	roles := func() []any {
		s.launch()
		defer s.Stop()
		me := s.Must(200, "GET", "/me", s.Login("staff@example.com", goodPassword), nil)
		r, _ := me.Body["roles"].([]any)
		return r
	}
	if out, err := run("staff", "grant", "--email", "STAFF@example.com", "--role", "reviewer"); err != nil {
		t.Fatalf("grant: %q %v", out, err)
	}
	if r := roles(); len(r) != 1 || r[0] != "reviewer" {
		t.Fatalf("roles after grant: %v", r)
	}
	if out, err := run("staff", "revoke", "--email", "staff@example.com"); err != nil {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if r := roles(); len(r) != 0 {
		t.Fatalf("roles after revoke: %v", r)
	}
	t.Run("GrantUnknownUser", func(t *testing.T) {
		if out, err := run("staff", "grant", "--email", "nobody@example.com", "--role", "admin"); err == nil {
			t.Fatalf("granted to nobody: %q", out)
		}
	})
	t.Run("BadRole", func(t *testing.T) {
		if out, err := run("staff", "grant", "--email", "staff@example.com", "--role", "king"); err == nil {
			t.Fatalf("bad role accepted: %q", out)
		}
	})
}

// TestTwoInstancesShareLimitsThroughRedis runs two servers on one
// PostgreSQL database and one Redis: a guesser cannot double the
// password-failure budget by spreading over instances.
func TestTwoInstancesShareLimitsThroughRedis(t *testing.T) {
	url := os.Getenv("WATCHWORD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/14"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	if err := rc.Ping(t.Context()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis unreachable at %s: %v", url, err)
		}
		t.Skipf("Redis unreachable at %s (%v); skipping", url, err)
	}
	rc.FlushDB(t.Context())
	dsn := databases(t)["postgres"](t)
	a := start(t, options{DB: dsn, Extra: []string{"--redis-url", url}})
	b := start(t, options{DB: dsn, Extra: []string{"--redis-url", url}})
	ident := "shared-" + time.Now().Format("150405.000") + "@example.com"
	for i := 0; i < 10; i++ {
		srv := a
		if i%2 == 1 {
			srv = b
		}
		srv.Fails(401, "invalid_credentials", "POST", "/login/password", "", map[string]string{"identifier": ident, "password": "wrong wrong wrong"})
	}
	a.Fails(429, "rate_limited", "POST", "/login/password", "", map[string]string{"identifier": ident, "password": "wrong wrong wrong"})
	b.Fails(429, "rate_limited", "POST", "/login/password", "", map[string]string{"identifier": ident, "password": "wrong wrong wrong"})
}
