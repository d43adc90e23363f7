package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSMSPumping runs the binary behind a trusted proxy and sends sign-ups
// over one number prefix (+1 415 555 0000 to 9999), each from its own
// client address: at most the prefix limit of SMS (10) reach the
// webhook, the rest are 429 rate_limited with Retry-After, the trip is
// logged once and counted in the metrics, and other users' codes (another
// country, another prefix, an email) still arrive.
func TestSMSPumping(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	metricsAddr := freeAddr(t)
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db"),
		Extra: []string{"--trusted-proxies", "127.0.0.1", "--metrics-addr", metricsAddr}})
	requests := 10_000
	if raceEnabled {
		requests = 2_000 // the race detector slows the server about tenfold
	}
	const clients = 16
	var next, accepted, limited atomic.Int64
	var mu sync.Mutex
	var problems []string
	var wg sync.WaitGroup
	started := time.Now()
	for range clients {
		wg.Go(func() {
			hc := &http.Client{Timeout: 30 * time.Second}
			for {
				i := next.Add(1) - 1
				if i >= int64(requests) {
					return
				}
				body := fmt.Sprintf(`{"phone":"+1 415 555 %04d"}`, i)
				req, _ := http.NewRequest("POST", s.Base+"/api/v1/registrations", bytes.NewBufferString(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					problems = append(problems, err.Error())
					mu.Unlock()
					return
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode == 202:
					accepted.Add(1)
				case resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "":
					limited.Add(1)
				default:
					mu.Lock()
					problems = append(problems, fmt.Sprintf("request %d: %d", i, resp.StatusCode))
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)
	if len(problems) > 0 {
		t.Fatalf("%d unexpected answers, first: %s", len(problems), problems[0])
	}

	// Other users are still served.
	s.SignUpPhone("+8613800138000", goodPassword)
	s.SignUpPhone("+14155560000", goodPassword)
	s.SignUpEmail("pumping-bystander@example.com", goodPassword)

	sent := 0
	for _, m := range s.SMS.Messages() {
		if strings.HasPrefix(m.To, "+1415555") {
			sent++
		}
	}
	t.Logf("%d sign-ups over +1 415 555 from %d addresses in %v: %d accepted, %d rate_limited, %d SMS delivered to the prefix",
		requests, requests, elapsed.Round(time.Millisecond), accepted.Load(), limited.Load(), sent)
	if sent > 10 || accepted.Load() > 10 {
		t.Fatalf("%d SMS to the prefix (%d accepted), want at most 10", sent, accepted.Load())
	}
	if n := strings.Count(s.Logs(), "SMS limit reached"); n != 1 {
		t.Errorf("the prefix limit was logged %d times, want once", n)
	}
	_, metrics := get(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{
		`watchword_sms_limit_trips_total{limit="prefix"} 1`,
		fmt.Sprintf(`watchword_sms_refused_total{reason="prefix_limit"} %d`, limited.Load()),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestSMSCountries: numbers outside --sms-countries, premium-rate and
// shared-cost numbers are 400 invalid_phone and get nothing; a Guernsey
// number (+44 7911) is GG, not GB.
func TestSMSCountries(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db"), Extra: []string{"--sms-countries", "us,CN,GG"}})
	for _, phone := range []string{"+4915123456789", "+447400123456", "+19002345678", "+33884012345"} {
		s.Fails(400, "invalid_phone", "POST", "/registrations", "", map[string]string{"phone": phone})
		s.Fails(400, "invalid_phone", "POST", "/login/code", "", map[string]string{"identifier": phone})
	}
	s.SignUpPhone("+447911123456", goodPassword)
	if n := len(s.SMS.Messages()); n != 1 {
		t.Fatalf("%d SMS delivered, want only the Guernsey code", n)
	}
}

// TestSMSCountriesUnknownCodeStopsStart: a typo in --sms-countries stops
// the server before it listens, naming the setting.
func TestSMSCountriesUnknownCodeStopsStart(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	for _, args := range [][]string{
		{"--sms-countries", "US,XX"},
		{"--sms-prefix-limit", "0"},
	} {
		cmd := exec.Command(binary, append([]string{"serve", "--addr", freeAddr(t), "--data-dir", t.TempDir()}, args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), args[0]) {
			t.Errorf("%v: got %v, %q; want a refusal naming %s", args, err, out, args[0])
		}
	}
}
