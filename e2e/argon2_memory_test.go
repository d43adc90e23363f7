package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// plainBinary is watchword built without the race detector, for tests that
// measure the server's memory: the detector's shadow memory would multiply
// it. When the tests run without -race it is the package's binary.
var plainBinary = sync.OnceValues(func() (string, error) {
	if !raceEnabled {
		return binary, nil
	}
	bin := filepath.Join(filepath.Dir(binary), "watchword-norace")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/watchword").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build watchword without -race: %v\n%s", err, out)
	}
	return bin, nil
})

// peakRSS reads the process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestArgon2MemoryBoundedUnderLoginStorm fires 200 password logins at
// once at a server hashing with the real, default argon2id cost (19 MiB
// per hash) and checks that its peak resident memory stays under 300 MB:
// the hashes in flight are bounded (one per core by default), the rest
// wait their turn instead of each holding 19 MiB. Unbounded, 16 logins at
// once took the server to 450-650 MB. Every login is answered as it should
// be (none refused for the load), and the rate is logged, not asserted.
//
// The logins go to 80 accounts, two each, and to 40 unknown identifiers,
// each login from its own client IP through --trusted-proxies: the server
// lets only two checks of one identifier (and eight of one IP) run at once
// and refuses one that waits more than 10 s for its turn, so a storm on a
// few accounts or from one address would be refused rather than hashed.
func TestArgon2MemoryBoundedUnderLoginStorm(t *testing.T) {
	bin, err := plainBinary()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, options{
		DB:     "sqlite:" + filepath.Join(t.TempDir(), "watchword.db"),
		Binary: bin,
		Extra:  []string{"--password-hash", "m=19456,t=2,p=1", "--trusted-proxies", "127.0.0.1", "--log-level", "warn"},
	})
	const (
		accounts = 80
		logins   = 200
		password = "storm-tested passphrase 41"
	)
	client := &http.Client{Timeout: 5 * time.Minute}
	post := func(path, xff string, body map[string]string) (int, map[string]any, error) {
		b, _ := json.Marshal(body)
		req, err := http.NewRequest("POST", s.Base+"/api/v1"+path, bytes.NewReader(b))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var got map[string]any
		json.NewDecoder(resp.Body).Decode(&got)
		return resp.StatusCode, got, nil
	}
	addr := func(i int) string { return fmt.Sprintf("storm%02d@example.com", i) }
	// Sign-ups hash at the real cost too; a few at a time, each from its
	// own IP (sign-ups per IP are limited).
	var wg sync.WaitGroup
	errs := make(chan error, logins)
	sem := make(chan struct{}, 4)
	for i := range accounts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			xff := fmt.Sprintf("198.18.0.%d", i+1)
			st, body, err := post("/registrations", xff, map[string]string{"email": addr(i)})
			if err != nil || st != 202 {
				errs <- fmt.Errorf("sign-up of %s: %d %v %v", addr(i), st, body, err)
				return
			}
			flow, _ := body["flow_id"].(string)
			code, err := emailCode(s, addr(i))
			if err != nil {
				errs <- err
				return
			}
			st, body, err = post("/registrations/"+flow+"/complete", xff, map[string]string{"code": code, "password": password})
			if err != nil || st != 201 {
				errs <- fmt.Errorf("sign-up of %s: %d %v %v", addr(i), st, body, err)
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	pid := s.cmd.Process.Pid
	before := peakRSS(t, pid)

	// Four in five for an account, nearly all with the right password;
	// the rest for no account. At most one failure per identifier: far
	// from every limit.
	begin := time.Now()
	gate := make(chan struct{})
	for i := range logins {
		wg.Go(func() {
			<-gate
			ident, pw, want := addr(i%accounts), password, 200
			switch {
			case i >= 2*accounts:
				ident, want = fmt.Sprintf("nobody%d@example.com", i), 401
			case i%20 == 7:
				pw, want = "not the passphrase", 401
			}
			st, body, err := post("/login/password", fmt.Sprintf("198.18.1.%d", i+1), map[string]string{"identifier": ident, "password": pw})
			if err != nil || st != want {
				errs <- fmt.Errorf("login %d as %s: got %d %v %v, want %d", i, ident, st, body, err, want)
			}
		})
	}
	close(gate)
	wg.Wait()
	elapsed := time.Since(begin)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	peak := peakRSS(t, pid)
	t.Logf("%d concurrent logins in %v (%.1f logins/s); peak RSS %.0f MB after sign-up, %.0f MB after the storm",
		logins, elapsed.Round(time.Millisecond), float64(logins)/elapsed.Seconds(), float64(before)/1e6, float64(peak)/1e6)
	if peak >= 300e6 {
		t.Errorf("peak RSS %.0f MB under %d concurrent logins, want under 300 MB", float64(peak)/1e6, logins)
	}
}

// emailCode is server.EmailCode for goroutines other than the test's: it
// returns an error instead of failing the test.
func emailCode(s *server, addr string) (string, error) {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, m := range s.SMTP.Messages() {
			for _, to := range m.To {
				if !strings.EqualFold(to, addr) {
					continue
				}
				text, err := m.Text()
				if err != nil {
					return "", fmt.Errorf("email to %s: %v", addr, err)
				}
				if found := sixDigits.FindAllStringSubmatch(text, -1); len(found) == 1 {
					return found[0][1], nil
				}
				return "", fmt.Errorf("want exactly one 6-digit code in the email to %s", addr)
			}
		}
	}
	return "", fmt.Errorf("no email to %s within 60s", addr)
}
