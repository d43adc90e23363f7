package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// enumerationTries is how many requests each side (known, unknown) of each
// endpoint gets. Medians of this many samples are stable to well under a
// millisecond on a quiet machine.
const enumerationTries = 80

// TestEnumerationResponsesAlike checks E-01..E-03 from outside: sign-up,
// code login and password login answer an address that has an account
// exactly as one that has none (status, JSON keys, error code, header
// names), and take the same time (medians within 25% or 3 ms, whichever is
// looser). Known and unknown tries alternate (ABBA), so machine noise hits
// both alike; every try has its own address and client IP (through a
// trusted proxy) so that no per-address or per-IP limit answers instead.
func TestEnumerationResponsesAlike(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn, Extra: []string{"--trusted-proxies", "127.0.0.1"}})
		run := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000)
		var ip atomic.Uint32
		nextIP := func() string {
			n := ip.Add(1)
			return fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
		}
		// Each sign-up from its own client IP: 20 per IP an hour.
		known := make([]string, enumerationTries)
		for i := range known {
			known[i] = fmt.Sprintf("enum-known-%s-%d@example.com", run, i)
			from := nextIP()
			r := s.rawDo("POST", "/registrations", "", `{"email":"`+known[i]+`"}`, from)
			if r.Status != 202 {
				t.Fatalf("sign-up: %d %s", r.Status, r.Raw)
			}
			done := s.rawDo("POST", "/registrations/"+r.Str("flow_id")+"/complete", "",
				`{"code":"`+s.EmailCode(known[i])+`","password":"correct horse battery staple"}`, from)
			if done.Status != 201 {
				t.Fatalf("sign-up: %d %s", done.Status, done.Raw)
			}
		}
		unknown := func(i int, flow string) string {
			return fmt.Sprintf("enum-nobody-%s-%s-%d@example.com", run, flow, i)
		}
		client := &http.Client{Timeout: 30 * time.Second}

		cases := []struct {
			name string
			path string
			body func(addr string) string
		}{
			{"code_login", "/api/v1/login/code", func(a string) string { return `{"identifier":"` + a + `"}` }},
			{"password_login", "/api/v1/login/password", func(a string) string {
				return `{"identifier":"` + a + `","password":"not the password at all"}`
			}},
			// Last: a second sign-up code for one address waits a minute
			// (the resend cooldown), so the owners' own sign-ups must be
			// over a minute old.
			{"signup", "/api/v1/registrations", func(a string) string { return `{"email":"` + a + `"}` }},
		}
		setupDone := time.Now()
		for _, c := range cases {
			if c.name == "signup" {
				time.Sleep(time.Until(setupDone.Add(61 * time.Second)))
			}
			t.Run(c.name, func(t *testing.T) {
				try := func(addr string) (time.Duration, *response) {
					req, err := newRawRequest(s.Base+c.path, "application/json", c.body(addr))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("X-Forwarded-For", nextIP())
					began := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						t.Fatalf("%s: %v", c.path, err)
					}
					r := readResponse(t, resp)
					return time.Since(began), r
				}
				// Warm up both paths (connections, statement caches).
				for i := range 3 {
					try(unknown(-1-i, c.name))
				}
				// A real difference shows in every round; a burst of load
				// from the other packages' tests rarely hits the same side
				// twice. So a round over the bound is measured once more
				// (after the resend cooldown, with fresh unknown addresses),
				// and only two rounds over it fail.
				for round := range 2 {
					var kt, ut []time.Duration
					var kr, ur *response
					for i := range enumerationTries {
						k := func() { d, r := try(known[i]); kt = append(kt, d); kr = compareShape(t, kr, r) }
						u := func() {
							d, r := try(unknown(i+round*enumerationTries, c.name))
							ut = append(ut, d)
							ur = compareShape(t, ur, r)
						}
						if i%2 == 0 {
							k()
							u()
						} else {
							u()
							k()
						}
					}
					if kr.Status >= 500 || kr.Status == http.StatusTooManyRequests {
						t.Fatalf("known address answered %d %s", kr.Status, kr.Raw)
					}
					sameShape(t, kr, ur)
					km, um := median(kt), median(ut)
					diff := km - um
					if diff < 0 {
						diff = -diff
					}
					allowed := max(3*time.Millisecond, min(km, um)/4)
					t.Logf("%s, round %d: status %d; median known %v, unknown %v (difference %v, allowed %v; %d tries each)",
						c.name, round+1, kr.Status, km.Round(10*time.Microsecond), um.Round(10*time.Microsecond),
						diff.Round(10*time.Microsecond), allowed.Round(10*time.Microsecond), enumerationTries)
					if diff <= allowed {
						break
					}
					if round == 1 {
						t.Errorf("%s: median known %v against unknown %v in two rounds: the time tells whether an account exists", c.name, km, um)
						break
					}
					time.Sleep(61 * time.Second) // the resend cooldown of the known addresses
				}
			})
		}
	})
}

// readResponse reads and decodes an answer after its time was taken.
func readResponse(t *testing.T, resp *http.Response) *response {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if err := json.Unmarshal(raw, &r.Body); err != nil {
		t.Fatalf("bad JSON %q: %v", raw, err)
	}
	return r
}

// compareShape fails unless r looks like prev (when there is one) and
// returns r as the new reference.
func compareShape(t *testing.T, prev, r *response) *response {
	t.Helper()
	if prev != nil {
		sameShape(t, prev, r)
	}
	return r
}

// sameShape fails unless a and b have the same status, the same JSON keys
// (recursively), the same error code and message, and the same header names.
func sameShape(t *testing.T, a, b *response) {
	t.Helper()
	if a.Status != b.Status {
		t.Fatalf("status %d %s against %d %s", a.Status, a.Raw, b.Status, b.Raw)
	}
	if ka, kb := jsonKeys("", a.Body), jsonKeys("", b.Body); !slices.Equal(ka, kb) {
		t.Fatalf("JSON keys %v against %v", ka, kb)
	}
	if a.ErrorCode() != b.ErrorCode() {
		t.Fatalf("error %s against %s", a.Raw, b.Raw)
	}
	if a.ErrorCode() != "" && string(a.Raw) != string(b.Raw) {
		t.Fatalf("error body %s against %s", a.Raw, b.Raw)
	}
	if ha, hb := headerNames(a.Header), headerNames(b.Header); !slices.Equal(ha, hb) {
		t.Fatalf("headers %v against %v", ha, hb)
	}
}

// jsonKeys lists the dotted paths of every key in v.
func jsonKeys(prefix string, v any) []string {
	var keys []string
	if m, ok := v.(map[string]any); ok {
		for k, sub := range m {
			keys = append(keys, prefix+k)
			keys = append(keys, jsonKeys(prefix+k+".", sub)...)
		}
	}
	sort.Strings(keys)
	return keys
}

// headerNames lists the header names, without those whose presence
// depends on the transport (Content-Length, Connection).
func headerNames(h http.Header) []string {
	var names []string
	for k := range h {
		switch strings.ToLower(k) {
		case "content-length", "connection", "keep-alive":
			continue
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// median returns the middle value of ds (which it sorts).
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	n := len(ds)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}
