package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needTool returns the path of a program the test cannot do without. When
// it is missing the test is skipped, except with CI=true, where it fails:
// CI must never silently skip the fault tests.
func needTool(t *testing.T, name string, candidates ...string) string {
	t.Helper()
	for _, c := range candidates {
		if matches, _ := filepath.Glob(c); len(matches) > 0 {
			sort.Strings(matches)
			return matches[len(matches)-1] // the highest version
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := name + " not found (install it to run this test)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a free TCP port of 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// privatePostgres is a PostgreSQL cluster of the test's own, on a free
// port, which the test may stop and start at will (never the shared one).
type privatePostgres struct {
	t    *testing.T
	bin  string // folder of initdb, pg_ctl and postgres
	dir  string // owned by the postgres user: data, socket, log
	port int
	asPG func(args ...string) *exec.Cmd
}

// startPrivatePostgres creates a cluster with trust authentication and
// starts it. PostgreSQL refuses to run as root, so when the tests run as
// root the cluster belongs to the postgres user.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	initdb := needTool(t, "initdb", "/usr/lib/postgresql/*/bin/initdb")
	p := &privatePostgres{t: t, bin: filepath.Dir(initdb), port: freePort(t)}
	dir, err := os.MkdirTemp("", "watchword-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	p.asPG = func(args ...string) *exec.Cmd { return exec.Command(args[0], args[1:]...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.asPG = func(args ...string) *exec.Cmd {
			c := exec.Command(args[0], args[1:]...)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			c.Env = append(os.Environ(), "HOME="+dir)
			c.Dir = dir
			return c
		}
	}
	if out, err := p.asPG(initdb, "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(func() {
		p.asPG(filepath.Join(p.bin, "pg_ctl"), "stop", "-D", p.data(), "-m", "immediate", "-w").Run()
	})
	return p
}

func (p *privatePostgres) data() string { return filepath.Join(p.dir, "data") }

// DSN is the URL of the cluster's postgres database.
func (p *privatePostgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Start starts the cluster and waits until it accepts connections.
func (p *privatePostgres) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", p.port, p.dir)
	out, err := p.asPG(filepath.Join(p.bin, "pg_ctl"), "start", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-w", "-t", "60", "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
		p.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// Stop shuts the cluster down at once, cutting every connection.
func (p *privatePostgres) Stop() {
	p.t.Helper()
	if out, err := p.asPG(filepath.Join(p.bin, "pg_ctl"), "stop", "-D", p.data(), "-m", "fast", "-w").CombinedOutput(); err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// privateRedis is a redis-server of the test's own on a free port.
type privateRedis struct {
	t      *testing.T
	bin    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// startPrivateRedis starts a redis-server without persistence.
func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	r := &privateRedis{t: t, bin: needTool(t, "redis-server"), port: freePort(t)}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// URL is the redis:// URL of the server.
func (r *privateRedis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Start runs the server and waits until it accepts connections.
func (r *privateRedis) Start() {
	r.t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "no")
	var logs syncBuffer
	r.cmd.Stdout, r.cmd.Stderr = &logs, &logs
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("redis-server: %v", err)
	}
	r.exited = make(chan struct{})
	go func() { r.cmd.Wait(); close(r.exited) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server not listening on %s:\n%s", addr, logs.String())
}

// Stop kills the server, as a crash would.
func (r *privateRedis) Stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Kill()
	<-r.exited
}

// kill9 ends the watchword process at once, as a crash would: no
// graceful shutdown, nothing finished.
func (s *server) kill9() {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// relaunch starts the process again on the same data after kill9.
func (s *server) relaunch() {
	s.t.Helper()
	s.launch()
}

// rawDo sends a JSON request without the OpenAPI check of send, for
// answers the document cannot foresee for every endpoint (a database
// outage answers 503 anywhere). It fails the test on transport errors.
func (s *server) rawDo(method, path, token, body string, xff string) *response {
	s.t.Helper()
	req, err := newRawRequest(s.Base+"/api/v1"+path, "application/json", body)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Method = method
	if body == "" {
		req.Body, req.ContentLength = nil, 0
		req.Header.Del("Content-Type")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := (&httpClient).Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return readResponse(s.t, resp)
}

// ready reports the status of GET /readyz.
func (s *server) ready() int {
	resp, err := (&httpClient).Get(s.Base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// eventually retries cond every 100 ms until it is true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within %v", what, timeout)
}

// countTo counts the messages the mail server holds for addr.
func (s *server) countTo(addr string) int {
	n := 0
	for _, m := range s.SMTP.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				n++
			}
		}
	}
	return n
}
