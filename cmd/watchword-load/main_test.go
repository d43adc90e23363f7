package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"Empty", nil, 50, 0},
		{"One", []time.Duration{ms(7)}, 99, ms(7)},
		{"OneLow", []time.Duration{ms(7)}, 1, ms(7)},
		{"TwoMedian", []time.Duration{ms(1), ms(2)}, 50, ms(1)},
		{"TwoP99", []time.Duration{ms(1), ms(2)}, 99, ms(2)},
		{"HundredP50", hundred, 50, ms(50)},
		{"HundredP90", hundred, 90, ms(90)},
		{"HundredP99", hundred, 99, ms(99)},
		{"HundredMax", hundred, 100, ms(100)},
		{"HundredTiny", hundred, 0.1, ms(1)},
		{"TenP99", hundred[:10], 99, ms(10)},
		{"TenP90", hundred[:10], 90, ms(9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	ok := []struct{ in, base, host string }{
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", "127.0.0.1"},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080", "127.0.0.1"},
		{"http://localhost:18181", "http://localhost:18181", "127.0.0.1"},
		{"https://LOCALHOST", "https://LOCALHOST", "127.0.0.1"},
		{"http://[::1]:8080", "http://[::1]:8080", "::1"},
		{"http://127.0.0.1:8080/prefix/", "http://127.0.0.1:8080/prefix", "127.0.0.1"},
	}
	for _, tt := range ok {
		base, host, err := checkURL(tt.in)
		if err != nil || base != tt.base || host != tt.host {
			t.Errorf("checkURL(%q) = %q, %q, %v; want %q, %q", tt.in, base, host, err, tt.base, tt.host)
		}
	}
	refused := []string{
		"http://10.0.0.1:8080",
		"http://example.com",
		"http://127.0.0.2:8080",
		"http://0.0.0.0:8080",
		"http://[::]:8080",
		"http://[::ffff:127.0.0.1]:8080",
		"http://localhost.example.com",
		"http://192.168.1.10",
		"ftp://127.0.0.1",
		"127.0.0.1:8080",
		"http://user:pw@127.0.0.1",
		"http://127.0.0.1/?x=1",
		"http://[fe80::1%25lo]:8080",
	}
	for _, in := range refused {
		if _, _, err := checkURL(in); err == nil {
			t.Errorf("checkURL(%q) accepted a URL that is not on this machine or not plain", in)
		}
	}
	_, _, err := checkURL("http://203.0.113.5:8080")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1, ::1 or localhost") || !strings.Contains(err.Error(), "only drives a server on this machine") {
		t.Errorf("refusal does not say why: %v", err)
	}
	// run refuses before it sends anything.
	err = run(context.Background(), []string{"--url", "http://203.0.113.5:8080", "-q"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "not 127.0.0.1, ::1 or localhost") {
		t.Errorf("run with a remote URL: %v", err)
	}
}

// fakeServer imitates the endpoints of watchword the tool uses.
type fakeServer struct {
	t            *testing.T
	ignoreXFF    bool // record sessions from the TCP peer, as without --trusted-proxies
	signupStatus int  // when set, registrations answer this status

	mu        sync.Mutex
	n         int
	flows     map[string]fakeFlow
	passwords map[string]string // email → password
	tokens    map[string]string // token → email
	sessionIP map[string]string // token → client address
	signupIPs map[string]bool
	outbox    []message // newest first
}

type fakeFlow struct {
	email, code, password string
}

func newFake(t *testing.T) *fakeServer {
	return &fakeServer{t: t, flows: map[string]fakeFlow{}, passwords: map[string]string{},
		tokens: map[string]string{}, sessionIP: map[string]string{}, signupIPs: map[string]bool{}}
}

func (f *fakeServer) start() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /api/v1/registrations", f.register)
	mux.HandleFunc("POST /api/v1/registrations/{flow_id}/complete", f.complete)
	mux.HandleFunc("GET /dev/outbox", f.devOutbox)
	mux.HandleFunc("GET /api/v1/me", f.me)
	mux.HandleFunc("GET /api/v1/me/sessions", f.sessions)
	mux.HandleFunc("POST /api/v1/login/password", f.loginPassword)
	mux.HandleFunc("POST /api/v1/login/code", f.loginCode)
	mux.HandleFunc("POST /api/v1/login/code/{flow_id}", f.loginCodeComplete)
	srv := httptest.NewServer(mux)
	f.t.Cleanup(srv.Close)
	return srv
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}

// decode reads a strict JSON body, as the real server does.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || r.Header.Get("Content-Type") != "application/json" {
		writeErr(w, http.StatusBadRequest, "invalid_request")
		return false
	}
	return true
}

func (f *fakeServer) clientIP(r *http.Request) string {
	if f.ignoreXFF {
		return "127.0.0.1"
	}
	return r.Header.Get("X-Forwarded-For")
}

// send stores a code message a moment later, as the durable outbox does.
func (f *fakeServer) send(to, code string) {
	time.AfterFunc(3*time.Millisecond, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		m := message{Channel: "email", To: to, Subject: "Your watchword code",
			Text: "Your watchword code is:\n\n    " + code + "\n\nUse it. It expires in ten minutes.\n", SentAt: time.Now().UTC()}
		f.outbox = append([]message{m}, f.outbox...)
		if len(f.outbox) > 200 {
			f.outbox = f.outbox[:200]
		}
	})
}

func (f *fakeServer) newID(prefix string) string {
	f.n++
	return fmt.Sprintf("%s%d", prefix, f.n)
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &in) {
		return
	}
	if f.signupStatus != 0 {
		w.Header().Set("Retry-After", "3600")
		writeErr(w, f.signupStatus, "rate_limited")
		return
	}
	ip := r.Header.Get("X-Forwarded-For")
	if !strings.HasPrefix(ip, "198.18.") && !strings.HasPrefix(ip, "198.19.") {
		f.t.Errorf("registration from X-Forwarded-For %q, want 198.18.0.0/15", ip)
	}
	f.mu.Lock()
	id := f.newID("flow")
	code := fmt.Sprintf("%06d", 100000+f.n)
	f.flows[id] = fakeFlow{email: in.Email, code: code}
	f.signupIPs[ip] = true
	f.mu.Unlock()
	f.send(in.Email, code)
	writeJSON(w, http.StatusAccepted, map[string]string{"flow_id": id, "expires_at": time.Now().Add(10 * time.Minute).Format(time.RFC3339)})
}

func (f *fakeServer) complete(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code     string `json:"code"`
		Password string `json:"password"`
	}
	if !decode(w, r, &in) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.flows[r.PathValue("flow_id")]
	if !ok || fl.code != in.Code {
		writeErr(w, http.StatusBadRequest, "invalid_code")
		return
	}
	if len(in.Password) < 16 {
		writeErr(w, http.StatusBadRequest, "weak_password")
		return
	}
	delete(f.flows, r.PathValue("flow_id"))
	f.passwords[fl.email] = in.Password
	tok := f.newID("tok")
	f.tokens[tok] = fl.email
	f.sessionIP[tok] = f.clientIP(r)
	writeJSON(w, http.StatusCreated, map[string]string{"uid": f.newID("u"), "session_token": tok})
}

func (f *fakeServer) devOutbox(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") != "json" {
		http.Error(w, "html page", http.StatusOK)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"messages": f.outbox})
}

func (f *fakeServer) session(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok = f.tokens[tok]
	return tok, ok
}

func (f *fakeServer) me(w http.ResponseWriter, r *http.Request) {
	tok, ok := f.session(r)
	if !ok {
		writeErr(w, http.StatusUnauthorized, "unauthenticated")
		return
	}
	f.mu.Lock()
	email := f.tokens[tok]
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"uid": "u", "email": map[string]any{"address": email, "verified": true},
		"phone": nil, "totp": map[string]bool{"enabled": false}, "roles": []string{}, "privileged_until": nil})
}

func (f *fakeServer) sessions(w http.ResponseWriter, r *http.Request) {
	tok, ok := f.session(r)
	if !ok {
		writeErr(w, http.StatusUnauthorized, "unauthenticated")
		return
	}
	f.mu.Lock()
	ip := f.sessionIP[tok]
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"items": []map[string]any{{"id": "s1", "ip": ip, "current": true}}})
}

func (f *fakeServer) loginPassword(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Identifier string `json:"identifier"`
		Password   string `json:"password"`
	}
	if !decode(w, r, &in) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pw, ok := f.passwords[in.Identifier]
	if !ok || pw != in.Password {
		writeErr(w, http.StatusUnauthorized, "invalid_credentials")
		return
	}
	tok := f.newID("tok")
	f.tokens[tok] = in.Identifier
	writeJSON(w, http.StatusOK, map[string]string{"session_token": tok})
}

func (f *fakeServer) loginCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Identifier string `json:"identifier"`
	}
	if !decode(w, r, &in) {
		return
	}
	f.mu.Lock()
	id := f.newID("login")
	code := fmt.Sprintf("%06d", 200000+f.n)
	f.flows[id] = fakeFlow{email: in.Identifier, code: code}
	f.mu.Unlock()
	f.send(in.Identifier, code)
	writeJSON(w, http.StatusAccepted, map[string]string{"flow_id": id})
}

func (f *fakeServer) loginCodeComplete(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code string `json:"code"`
	}
	if !decode(w, r, &in) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	fl, ok := f.flows[r.PathValue("flow_id")]
	if !ok || fl.code != in.Code {
		writeErr(w, http.StatusBadRequest, "invalid_code")
		return
	}
	delete(f.flows, r.PathValue("flow_id"))
	tok := f.newID("tok")
	f.tokens[tok] = fl.email
	writeJSON(w, http.StatusOK, map[string]string{"session_token": tok})
}

// runJSON runs the tool with --json -q against srv and decodes the report.
func runJSON(t *testing.T, srv *httptest.Server, args ...string) *report {
	t.Helper()
	var out bytes.Buffer
	args = append([]string{"--url", srv.URL, "--json", "-q"}, args...)
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run %v: %v", args, err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out.String())
	}
	return &rep
}

func rows(p phaseResult) map[string]opResult {
	m := map[string]opResult{}
	for _, r := range p.Operations {
		m[r.Op] = r
	}
	return m
}

func TestRunMixed(t *testing.T) {
	f := newFake(t)
	srv := f.start()
	start := time.Now()
	rep := runJSON(t, srv, "--users", "6", "--concurrency", "3", "--duration", "300ms", "--scenario", "mixed")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the run took %v", took)
	}
	setup := rows(rep.Setup)
	for _, op := range setupOrder {
		if r := setup[op]; r.Count != 6 || r.Errors != 0 || r.RateLimited != 0 {
			t.Errorf("setup %s: %+v, want 6 clean", op, r)
		}
	}
	run := rows(rep.Run)
	for _, op := range []string{"me", "login", "total"} {
		if r := run[op]; r.Count == 0 || r.Errors != 0 || r.P50 <= 0 || r.Max < r.P99 || r.P99 < r.P90 || r.P90 < r.P50 || r.PerSecond <= 0 {
			t.Errorf("run %s: %+v", op, r)
		}
	}
	if run["login.fail"].Errors != 0 {
		t.Errorf("failed logins counted as errors: %+v", run["login.fail"])
	}
	if rep.Run.ElapsedSeconds < 0.29 || rep.Run.ElapsedSeconds > 5 {
		t.Errorf("run elapsed %.3fs for --duration 300ms", rep.Run.ElapsedSeconds)
	}
	f.mu.Lock()
	ips := len(f.signupIPs)
	f.mu.Unlock()
	if ips != 6 {
		t.Errorf("registrations came from %d addresses, want one per user (6)", ips)
	}
}

func TestRunTextMe(t *testing.T) {
	srv := newFake(t).start()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--url", srv.URL, "-q", "--users", "3", "--concurrency", "2",
		"--duration", "300ms", "--scenario", "me"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"scenario=me", "setup: 3 users", "operation", "register.complete", "\n  me ", "p99 ms"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func TestRunRequestsCap(t *testing.T) {
	srv := newFake(t).start()
	start := time.Now()
	rep := runJSON(t, srv, "--users", "2", "--concurrency", "4", "--duration", "30s", "--requests", "25", "--scenario", "me")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a run capped at 25 requests took %v", took)
	}
	if r := rows(rep.Run)["me"]; r.Count != 25 {
		t.Errorf("me count %d, want 25", r.Count)
	}
}

func TestRunCode(t *testing.T) {
	srv := newFake(t).start()
	rep := runJSON(t, srv, "--users", "3", "--concurrency", "2", "--duration", "300ms", "--scenario", "code")
	run := rows(rep.Run)
	// Each user may have one login code a minute: three in all.
	for _, op := range []string{"code.request", "code.outbox", "code.verify"} {
		if r := run[op]; r.Count != 3 || r.Errors != 0 {
			t.Errorf("%s: %+v, want 3 clean", op, r)
		}
	}
	if len(rep.Notes) == 0 {
		t.Error("no note on the code sending limits")
	}
	// The first code login replays its spent code, which must be refused.
	if r := run["code.replay"]; r.Count != 1 || r.Errors != 0 {
		t.Errorf("code.replay: %+v, want 1 refused replay", r)
	}
}

func TestRunSignup(t *testing.T) {
	f := newFake(t)
	srv := f.start()
	rep := runJSON(t, srv, "--users", "50", "--concurrency", "3", "--duration", "300ms", "--scenario", "signup")
	if r := rows(rep.Setup)["register.complete"]; r.Count != 1 {
		t.Errorf("setup registered %d users, want 1 (a sign-up run registers its own)", r.Count)
	}
	r := rows(rep.Run)["signup.complete"]
	if r.Count == 0 || r.Errors != 0 {
		t.Errorf("signup.complete: %+v", r)
	}
	f.mu.Lock()
	ips := len(f.signupIPs)
	f.mu.Unlock()
	if ips != r.Count+1 {
		t.Errorf("%d sign-ups came from %d addresses, want one each", r.Count+1, ips)
	}
}

func TestRunAll(t *testing.T) {
	srv := newFake(t).start()
	rep := runJSON(t, srv, "--users", "4", "--concurrency", "8", "--duration", "300ms", "--scenario", "all")
	run := rows(rep.Run)
	for _, op := range []string{"signup.complete", "code.verify", "login", "me"} {
		if r := run[op]; r.Count == 0 || r.Errors != 0 {
			t.Errorf("%s: %+v", op, r)
		}
	}
}

// The fake server runs in the test process, so the listener found on
// --url's port is this process.
func TestServerUsage(t *testing.T) {
	srv := newFake(t).start()
	rep := runJSON(t, srv, "--users", "2", "--concurrency", "2", "--duration", "200ms", "--scenario", "me")
	u := rep.Server
	if u == nil || u.Error != "" {
		t.Fatalf("server usage: %+v, notes %q", u, rep.Notes)
	}
	if u.PID != os.Getpid() || u.RSSEndMB <= 0 || u.CPUMSEnd < u.CPUMSStart || u.MainOp != "me" {
		t.Errorf("server usage %+v, want this process (%d)", u, os.Getpid())
	}
	none := runJSON(t, srv, "--users", "2", "--concurrency", "2", "--duration", "100ms", "--server-pid", "-1")
	if none.Server != nil {
		t.Errorf("--server-pid -1 still read %+v", none.Server)
	}
}

func TestProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": "0100007F",
		"::1":       "00000000000000000000000001000000",
	} {
		if got := procAddr(netip.MustParseAddr(in)); got != want {
			t.Errorf("procAddr(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestBareHandler(t *testing.T) {
	srv := httptest.NewServer(bareHandler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer x")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	for _, k := range []string{"uid", "email", "phone", "totp", "roles", "privileged_until"} {
		if _, ok := body[k]; !ok {
			t.Errorf("bare body lacks %q: %v", k, body)
		}
	}
	if err := serveBare(context.Background(), "192.0.2.1:80", io.Discard, nil); err == nil {
		t.Error("--serve-bare accepted an address that is not loopback")
	}
}

func TestTrustedProxiesHint(t *testing.T) {
	t.Run("SessionAddress", func(t *testing.T) {
		f := newFake(t)
		f.ignoreXFF = true
		srv := f.start()
		err := run(context.Background(), []string{"--url", srv.URL, "-q", "--users", "3", "--duration", "100ms"}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--trusted-proxies 127.0.0.1") {
			t.Errorf("got %v, want a hint to start the server with --trusted-proxies 127.0.0.1", err)
		}
	})
	t.Run("SignUp429", func(t *testing.T) {
		f := newFake(t)
		f.signupStatus = http.StatusTooManyRequests
		srv := f.start()
		err := run(context.Background(), []string{"--url", srv.URL, "-q", "--users", "3", "--duration", "100ms"}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "429") || !strings.Contains(err.Error(), "--trusted-proxies 127.0.0.1") {
			t.Errorf("got %v, want a hint to start the server with --trusted-proxies 127.0.0.1", err)
		}
	})
}

func TestParseArgs(t *testing.T) {
	bad := [][]string{
		{"--scenario", "nope"},
		{"--users", "0"},
		{"--concurrency", "0"},
		{"--duration", "0s"},
		{"--requests", "-1"},
		{"extra"},
	}
	for _, args := range bad {
		if _, err := parseArgs(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseArgs(%q) accepted", args)
		}
	}
	cfg, err := parseArgs([]string{"--url", "http://localhost:9/", "--scenario", "login", "--users", "7"}, &bytes.Buffer{})
	if err != nil || cfg.base != "http://localhost:9" || cfg.scenario != "login" || cfg.users != 7 {
		t.Errorf("parseArgs: %+v, %v", cfg, err)
	}
	var usage bytes.Buffer
	if _, err := parseArgs([]string{"-h"}, &usage); err == nil || !strings.Contains(usage.String(), "--trusted-proxies 127.0.0.1") {
		t.Errorf("usage does not tell how to start the server: %v\n%s", err, usage.String())
	}
}

// TestReadMachine: the machine's busy time and the tool's own CPU time are
// read from /proc and grow while the tool works; the split never shows a
// negative "other".
func TestReadMachine(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	before, err := readMachine()
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(100 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	_ = x
	after, err := readMachine()
	if err != nil {
		t.Fatal(err)
	}
	if after.totalMS <= before.totalMS || after.busyMS < before.busyMS || after.busyMS > after.totalMS {
		t.Errorf("machine: before %+v, after %+v", before, after)
	}
	if after.toolMS <= before.toolMS {
		t.Errorf("the tool's CPU did not grow over 100 ms of work: %v then %v", before.toolMS, after.toolMS)
	}
	run := phaseResult{Operations: []opResult{{Op: "me", Count: 10}}}
	m := machineUsage(before, nil, &usage{CPUMS: 1e9}, run, "me")
	if m.Error != "" || m.OtherMS != 0 || m.PerOp.Server != 1e8 {
		t.Errorf("split with a server that used more than the machine: %+v", m)
	}
}
