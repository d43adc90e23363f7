// Package e2e runs the real watchword binary against a real SMTP server,
// an SMS webhook receiver and real databases, and walks the product's
// flows over HTTP as a client would.
package e2e

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/email/smtptest"
	"github.com/watchword/watchword/internal/sms/smstest"
	"github.com/watchword/watchword/internal/storetest"
)

// binary is the watchword executable built once for the whole package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "watchword-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "watchword")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../cmd/watchword")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build watchword:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// databases lists the stores every flow is run against: SQLite always,
// PostgreSQL when reachable (and always in CI, where its absence fails).
func databases(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite": func(t *testing.T) string {
			return "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")
		},
		"postgres": func(t *testing.T) string { return storetest.OpenPostgres(t) },
	}
}

// forEachDB runs fn once per database as subtests.
func forEachDB(t *testing.T, fn func(t *testing.T, dsn string)) {
	for _, name := range []string{"sqlite", "postgres"} {
		open := databases(t)[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, open(t))
		})
	}
}

// server is one running watchword process with its mail and SMS peers.
type server struct {
	t       *testing.T
	Base    string
	SMTP    *smtptest.Server
	SMS     *smstest.Receiver
	dataDir string
	workDir string // the process's working folder, if set
	bin     string // the executable, if not the package's binary
	args    []string
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}

	mu   sync.Mutex
	seen map[string]int // messages already read per recipient
}

// options adjust how a server starts.
type options struct {
	DB    string
	Extra []string // more flags
	// Binary runs another build of watchword (empty: the package's).
	Binary string
	// SMTP and SMS, when set, are peers shared with other servers, as the
	// instances of one deployment share them; unset, the server gets its own.
	SMTP *smtptest.Server
	SMS  *smstest.Receiver
}

// start launches watchword with real email and SMS delivery.
func start(t *testing.T, o options) *server {
	t.Helper()
	s := &server{
		t: t, SMTP: o.SMTP, SMS: o.SMS, bin: o.Binary,
		dataDir: t.TempDir(), seen: map[string]int{},
	}
	if s.SMTP == nil {
		s.SMTP = smtptest.NewServer(t)
	}
	if s.SMS == nil {
		s.SMS = smstest.NewWebhookReceiver(t)
	}
	addr := freeAddr(t)
	s.Base = "http://" + addr
	s.args = append([]string{"serve",
		"--addr", addr,
		"--db", o.DB,
		"--data-dir", s.dataDir,
		"--smtp-url", s.SMTP.URL(),
		"--mail-from", "watchword <no-reply@example.com>",
		"--sms-webhook-url", s.SMS.URL(),
		"--password-hash", "m=1024,t=1,p=1", // cheap: the tests log in many times
		"--log-level", "debug",
	}, o.Extra...)
	s.launch()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	return s
}

// launch starts the process and waits until it is ready.
func (s *server) launch() {
	s.t.Helper()
	if s.logs == nil {
		s.logs = &syncBuffer{}
	}
	s.cmd = exec.Command(cmp.Or(s.bin, binary), s.args...)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	s.cmd.Dir = s.workDir
	s.cmd.Env = append(os.Environ(), "WATCHWORD_DEV=") // never inherit a dev flag
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start watchword: %v", err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			s.t.Fatalf("watchword exited at start:\n%s", s.logs.String())
		default:
		}
		resp, err := http.Get(s.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("watchword not ready after 60s:\n%s", s.logs.String())
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("watchword did not stop within 30s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		s.t.Errorf("watchword exited with %d", code)
	}
}

// Restart stops the process and starts it again on the same data.
func (s *server) Restart() {
	s.t.Helper()
	s.Stop()
	s.launch()
}

// Logs returns what the server wrote so far.
func (s *server) Logs() string { return s.logs.String() }

// response is a decoded HTTP answer.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// Str returns a top-level string field.
func (r *response) Str(key string) string {
	v, _ := r.Body[key].(string)
	return v
}

// ErrorCode returns error.code of an error answer.
func (r *response) ErrorCode() string {
	e, _ := r.Body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// Do sends a request with an optional JSON body and bearer token.
func (s *server) Do(method, path, token string, body any) *response {
	s.t.Helper()
	return s.DoAs("", method, path, token, body)
}

// DoAs is Do with a chosen User-Agent (none when empty).
func (s *server) DoAs(userAgent, method, path, token string, body any) *response {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.Base+"/api/v1"+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	return s.send(req)
}

func (s *server) send(req *http.Request) *response {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(req.URL.Path, "/api/v1/") {
		s.checkAPIAnswer(req, resp, raw)
	}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			s.t.Fatalf("%s %s: bad JSON %q: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	return r
}

// Must sends a request and fails the test unless the status is want.
func (s *server) Must(want int, method, path, token string, body any) *response {
	s.t.Helper()
	r := s.Do(method, path, token, body)
	if r.Status != want {
		s.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// Fails sends a request and checks its error status and code.
func (s *server) Fails(status int, code, method, path, token string, body any) *response {
	s.t.Helper()
	r := s.Do(method, path, token, body)
	if r.Status != status || r.ErrorCode() != code {
		s.t.Fatalf("%s %s: got %d %s, want %d %s", method, path, r.Status, r.Raw, status, code)
	}
	return r
}

// sixDigits finds the code: the only standalone run of exactly 6 digits.
var sixDigits = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// codeIn returns the code of a message body, failing unless there is
// exactly one.
func codeIn(t *testing.T, body string) string {
	t.Helper()
	m := sixDigits.FindAllStringSubmatch(body, -1)
	if len(m) != 1 {
		t.Fatalf("want exactly one 6-digit code in %q, found %d", body, len(m))
	}
	return m[0][1]
}

// NextEmail waits for the next message to addr and returns its text.
func (s *server) NextEmail(addr string) string {
	s.t.Helper()
	s.mu.Lock()
	n := s.seen["email:"+addr]
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var mine []smtptest.Received
		for _, m := range s.SMTP.Messages() {
			for _, to := range m.To {
				if strings.EqualFold(to, addr) {
					mine = append(mine, m)
				}
			}
		}
		if len(mine) > n {
			s.mu.Lock()
			s.seen["email:"+addr] = n + 1
			s.mu.Unlock()
			text, err := mine[n].Text()
			if err != nil {
				s.t.Fatalf("email to %s: %v", addr, err)
			}
			return text
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no email to %s within 20s", addr)
	return ""
}

// NextSMS waits for the next text message to number and returns its body.
func (s *server) NextSMS(number string) string {
	s.t.Helper()
	s.mu.Lock()
	n := s.seen["sms:"+number]
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var mine []smstest.Message
		for _, m := range s.SMS.Messages() {
			if m.To == number {
				mine = append(mine, m)
			}
		}
		if len(mine) > n {
			s.mu.Lock()
			s.seen["sms:"+number] = n + 1
			s.mu.Unlock()
			return mine[n].Body
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no SMS to %s within 20s", number)
	return ""
}

// EmailCode and SMSCode wait for the next message and return its code.
func (s *server) EmailCode(addr string) string { s.t.Helper(); return codeIn(s.t, s.NextEmail(addr)) }
func (s *server) SMSCode(number string) string { s.t.Helper(); return codeIn(s.t, s.NextSMS(number)) }

// NoMoreMessages checks that nothing else arrived for addr within wait.
func (s *server) NoMoreMessages(addr string, wait time.Duration) {
	s.t.Helper()
	time.Sleep(wait)
	s.mu.Lock()
	defer s.mu.Unlock()
	count := 0
	for _, m := range s.SMTP.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				count++
			}
		}
	}
	for _, m := range s.SMS.Messages() {
		if m.To == addr {
			count++
		}
	}
	if count != s.seen["email:"+addr]+s.seen["sms:"+addr] {
		s.t.Fatalf("%s received %d messages, %d were expected", addr, count, s.seen["email:"+addr]+s.seen["sms:"+addr])
	}
}

// SignUpEmail registers addr with password and returns uid and token.
func (s *server) SignUpEmail(addr, password string) (uid, token string) {
	s.t.Helper()
	flow := s.Must(202, "POST", "/registrations", "", map[string]string{"email": addr}).Str("flow_id")
	r := s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": s.EmailCode(addr), "password": password})
	return r.Str("uid"), r.Str("session_token")
}

// SignUpPhone registers number (E.164) with password.
func (s *server) SignUpPhone(number, password string) (uid, token string) {
	s.t.Helper()
	flow := s.Must(202, "POST", "/registrations", "", map[string]string{"phone": number}).Str("flow_id")
	r := s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": s.SMSCode(number), "password": password})
	return r.Str("uid"), r.Str("session_token")
}

// Login signs in with password and returns the session token.
func (s *server) Login(ident, password string) string {
	s.t.Helper()
	return s.Must(200, "POST", "/login/password", "", map[string]string{"identifier": ident, "password": password}).Str("session_token")
}

// freeAddr returns a free 127.0.0.1 port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the process's output goroutine.
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

var _ = context.Background

// newRawRequest builds a POST with a raw body and content type.
func newRawRequest(url, contentType, body string) (*http.Request, error) {
	r, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", contentType)
	return r, nil
}
