package smsguard_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/smsguard"
)

// countingMetrics records what the guard counted.
type countingMetrics struct {
	mu                          sync.Mutex
	refused, limits, conversion map[string]int
}

func newCountingMetrics() *countingMetrics {
	return &countingMetrics{refused: map[string]int{}, limits: map[string]int{}, conversion: map[string]int{}}
}

func (m *countingMetrics) SMSRefused(r string) { m.mu.Lock(); m.refused[r]++; m.mu.Unlock() }
func (m *countingMetrics) SMSLimitTripped(l string) {
	m.mu.Lock()
	m.limits[l]++
	m.mu.Unlock()
}
func (m *countingMetrics) SMSConversionTripped(s string) {
	m.mu.Lock()
	m.conversion[s]++
	m.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

type fixture struct {
	guard   *smsguard.Guard
	clock   *fakeClock
	metrics *countingMetrics
	log     *syncBuffer
}

// backends builds a guard on the memory stores and on Redis.
var backends = []struct {
	name string
	new  func(t *testing.T, clock *fakeClock, r smsguard.Rule) (ratelimit.Limiter, smsguard.Conversions)
}{
	{"Memory", func(t *testing.T, clock *fakeClock, r smsguard.Rule) (ratelimit.Limiter, smsguard.Conversions) {
		return ratelimit.NewMemory(clock.Now), smsguard.NewMemory(r, clock.Now)
	}},
	{"Redis", func(t *testing.T, clock *fakeClock, r smsguard.Rule) (ratelimit.Limiter, smsguard.Conversions) {
		client := redisClient(t)
		prefix := randomPrefix(t, client)
		return ratelimit.NewRedis(client, prefix+"rl:"), smsguard.NewRedis(client, prefix, r, clock.Now)
	}},
}

func newFixture(t *testing.T, backend int, cfg smsguard.Config) *fixture {
	t.Helper()
	clock := newFakeClock()
	if cfg.Conversion == (smsguard.Rule{}) {
		cfg.Conversion = rule
	}
	lim, conv := backends[backend].new(t, clock, cfg.Conversion)
	f := &fixture{clock: clock, metrics: newCountingMetrics(), log: &syncBuffer{}}
	g, err := smsguard.New(smsguard.Deps{Limiter: lim, Conversions: conv, Metrics: f.metrics,
		Log: slog.New(slog.NewTextHandler(f.log, nil))}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.guard = g
	return f
}

func (f *fixture) admit(t *testing.T, phone string) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := f.guard.Admit(t.Context(), phone, true)
	if err != nil {
		t.Fatal(err)
	}
	return ok, retry
}

func TestCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0, smsguard.Config{Countries: []string{"US", "GG", "CN", "GB", "FR"}})
	for _, tc := range []struct {
		phone, country string
		want           smsguard.Reason
	}{
		{"+447911123456", "GG", ""}, // Guernsey by the metadata, not GB by the +44
		{"+14155550123", "US", ""},
		{"+8613800138000", "CN", ""},
		{"+33612345678", "FR", ""},
		{"+4915123456789", "DE", smsguard.ReasonCountry},
		{"+19002345678", "US", smsguard.ReasonPremiumRate},
		{"+449012345678", "GB", smsguard.ReasonPremiumRate},
		{"+33884012345", "FR", smsguard.ReasonSharedCost},
		{"+861380013", "", smsguard.ReasonInvalid},
		{"not a number", "", smsguard.ReasonInvalid},
	} {
		n, got := f.guard.Check(tc.phone)
		if got != tc.want || n.Country != tc.country {
			t.Errorf("Check(%s) = %q, %q; want %q, %q", tc.phone, n.Country, got, tc.country, tc.want)
		}
		if ok, retry := f.admit(t, tc.phone); ok != (tc.want == "") || retry != 0 {
			t.Errorf("Admit(%s) = %v, %v; want %v, 0", tc.phone, ok, retry, tc.want == "")
		}
	}
	if n, _ := f.guard.Check("+14155550123"); n.Prefix != "+1415555" {
		t.Errorf("prefix = %q, want +1415555", n.Prefix)
	}
	f.metrics.mu.Lock()
	defer f.metrics.mu.Unlock()
	if f.metrics.refused["premium_rate"] != 2 || f.metrics.refused["shared_cost"] != 1 || f.metrics.refused["country_not_allowed"] != 1 {
		t.Errorf("refusals counted: %v", f.metrics.refused)
	}
}

func TestParseCountries(t *testing.T) {
	t.Parallel()
	got, err := smsguard.ParseCountries(" us, CN,gg,US ")
	if err != nil || strings.Join(got, ",") != "CN,GG,US" {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"XX", "US,UK", "USA", "1"} {
		if _, err := smsguard.ParseCountries(bad); err == nil {
			t.Errorf("ParseCountries(%q): no error", bad)
		}
	}
	if got, err := smsguard.ParseCountries(""); err != nil || len(got) != 0 {
		t.Errorf("empty: got %v, %v", got, err)
	}
	if _, err := smsguard.New(smsguard.Deps{Conversions: smsguard.NewMemory(rule, nil)}, smsguard.Config{Countries: []string{"ZZ"}}); err == nil {
		t.Error("New with an unknown country: no error")
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	for i, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("Prefix", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, i, smsguard.Config{PrefixLimit: 3})
				for n := range 3 {
					if ok, _ := f.admit(t, fmt.Sprintf("+1415555%04d", n)); !ok {
						t.Fatalf("SMS %d refused", n)
					}
				}
				f.clock.Advance(time.Minute)
				for n := range 20 {
					ok, retry := f.admit(t, fmt.Sprintf("+1415555%04d", 100+n))
					if ok || retry <= 0 || retry > time.Hour {
						t.Fatalf("over the prefix limit: got %v, retry %v", ok, retry)
					}
				}
				// Another prefix of the same country still gets SMS.
				if ok, _ := f.admit(t, "+14155560000"); !ok {
					t.Fatal("another prefix refused")
				}
				wantTripsLogged(t, f, "prefix", 1)
				if got := f.metrics.refused["prefix_limit"]; got != 20 {
					t.Errorf("refusals counted: %d, want 20", got)
				}
			})
			t.Run("Country", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, i, smsguard.Config{PrefixLimit: 100, CountryLimit: 5})
				for n := range 5 {
					if ok, _ := f.admit(t, fmt.Sprintf("+1415%03d0000", 200+n)); !ok {
						t.Fatalf("SMS %d refused", n)
					}
				}
				for n := range 5 {
					if ok, retry := f.admit(t, fmt.Sprintf("+1212%03d0000", 200+n)); ok || retry <= 0 {
						t.Fatalf("over the country limit: got %v %v", ok, retry)
					}
				}
				if ok, _ := f.admit(t, "+8613800138000"); !ok {
					t.Fatal("another country refused")
				}
				wantTripsLogged(t, f, "country", 1)
			})
			t.Run("Global", func(t *testing.T) {
				t.Parallel()
				f := newFixture(t, i, smsguard.Config{GlobalLimit: 4})
				phones := []string{"+14155550000", "+8613800138000", "+447911123456", "+33612345678"}
				for _, p := range phones {
					if ok, _ := f.admit(t, p); !ok {
						t.Fatalf("%s refused", p)
					}
				}
				for range 3 {
					if ok, retry := f.admit(t, "+4915123456789"); ok || retry <= 0 || retry > time.Hour {
						t.Fatalf("over the global limit: got %v %v", ok, retry)
					}
				}
				wantTripsLogged(t, f, "global", 1)
			})
		})
	}
}

// TestLimitLoggedOncePerWindow: a limit that refuses for a whole window is
// logged once, and again in the next window it trips in.
func TestLimitLoggedOncePerWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, 0, smsguard.Config{PrefixLimit: 1})
	f.admit(t, "+14155550000")
	for range 50 {
		f.admit(t, "+14155550001")
	}
	wantTripsLogged(t, f, "prefix", 1)
	f.clock.Advance(time.Hour)
	f.admit(t, "+14155550002")
	for range 50 {
		f.admit(t, "+14155550003")
	}
	wantTripsLogged(t, f, "prefix", 2)
}

func wantTripsLogged(t *testing.T, f *fixture, limit string, n int) {
	t.Helper()
	logs := strings.Count(f.log.String(), "SMS limit reached: further SMS are refused until the window ends\" limit="+limit)
	f.metrics.mu.Lock()
	counted := f.metrics.limits[limit]
	f.metrics.mu.Unlock()
	if logs != n || counted != n {
		t.Errorf("%s limit: logged %d times, counted %d; want %d\n%s", limit, logs, counted, n, f.log.String())
	}
}

// TestConversionGuard: a prefix whose codes are not entered gets no SMS for
// an hour, then gets them again; its country and other prefixes are not
// affected, and entered codes keep a prefix open.
func TestConversionGuard(t *testing.T) {
	t.Parallel()
	for i, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, i, smsguard.Config{PrefixLimit: 1000})
			for n := range 10 {
				phone := fmt.Sprintf("+1415555%04d", n)
				if ok, _ := f.admit(t, phone); !ok {
					t.Fatalf("SMS %d refused", n)
				}
				// A healthy prefix beside it: every code entered.
				other := fmt.Sprintf("+1212555%04d", n)
				f.admit(t, other)
				if err := f.guard.Entered(t.Context(), other); err != nil {
					t.Fatal(err)
				}
			}
			f.clock.Advance(11 * time.Minute)
			ok, retry := f.admit(t, "+14155559999")
			if ok || retry != time.Hour {
				t.Fatalf("after 10 codes none entered: got %v %v, want blocked for 1h", ok, retry)
			}
			if !strings.Contains(f.log.String(), "SMS conversion guard tripped") || f.metrics.conversion["prefix"] != 1 {
				t.Errorf("trip not logged or counted: %v\n%s", f.metrics.conversion, f.log.String())
			}
			if ok, _ := f.admit(t, "+12125550000"); !ok {
				t.Error("the healthy prefix was blocked too")
			}
			f.clock.Advance(59 * time.Minute)
			if ok, retry := f.admit(t, "+14155559999"); ok || retry != time.Minute {
				t.Fatalf("a minute before the end: got %v %v", ok, retry)
			}
			f.clock.Advance(time.Minute)
			if ok, _ := f.admit(t, "+14155559999"); !ok {
				t.Fatal("still blocked after the hour")
			}
		})
	}
}
