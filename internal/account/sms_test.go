package account_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/smsguard"
	"github.com/watchword/watchword/internal/sqlstore"
)

// smsMetrics counts what the guard reports.
type smsMetrics struct {
	mu                          sync.Mutex
	refused, limits, conversion map[string]int
}

func (m *smsMetrics) add(into map[string]int, k string) { m.mu.Lock(); into[k]++; m.mu.Unlock() }
func (m *smsMetrics) SMSRefused(r string)               { m.add(m.refused, r) }
func (m *smsMetrics) SMSLimitTripped(l string)          { m.add(m.limits, l) }
func (m *smsMetrics) SMSConversionTripped(s string)     { m.add(m.conversion, s) }
func (m *smsMetrics) get(from map[string]int, k string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return from[k]
}

// smsEnv is an env whose Service has the SMS pumping defence.
type smsEnv struct {
	*env
	metrics *smsMetrics
}

// newSMSEnv builds a Service over SQLite with the guard configured by
// cfg, its limits and conversion state in memory or, with useRedis, in
// Redis (as with --redis-url).
func newSMSEnv(t *testing.T, useRedis bool, cfg smsguard.Config) *smsEnv {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil))
	var lim ratelimit.Limiter = ratelimit.NewMemory(c.Now)
	var conv smsguard.Conversions = smsguard.NewMemory(cfg.Conversion, c.Now)
	if useRedis {
		client := smsRedis(t)
		prefix := smsRedisPrefix(t, client)
		lim = ratelimit.NewRedis(client, prefix+"rl:")
		conv = smsguard.NewRedis(client, prefix, cfg.Conversion, c.Now)
	}
	m := &smsMetrics{refused: map[string]int{}, limits: map[string]int{}, conversion: map[string]int{}}
	guard, err := smsguard.New(smsguard.Deps{Limiter: lim, Conversions: conv, Log: logger, Metrics: m}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), "sqlite:"+t.TempDir()+"/w.db", box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	svc := account.New(account.Deps{
		Store: db, Limiter: limiter{lim}, Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy: password.DefaultPolicy, TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)}, Random: rand.Reader,
		Now: c.Now, Log: logger, SMSGuard: guard,
	}, account.Config{})
	e := &env{t: t, svc: svc, db: db, clock: c, log: &logs, seen: map[string]int{}, inbox: map[string][]*account.Message{}}
	return &smsEnv{env: e, metrics: m}
}

// smsRedis connects to WATCHWORD_TEST_REDIS_URL (default: database 15 on
// the local Redis); without one the test is skipped, except when CI=true.
func smsRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("WATCHWORD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/15"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("WATCHWORD_TEST_REDIS_URL: %v", err)
	}
	opts.DialerRetries = 1
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		msg := "Redis unreachable at " + opts.Addr + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + " (CI=true, so Redis tests may not be skipped)")
		}
		tb.Skip(msg + "; start Redis or set WATCHWORD_TEST_REDIS_URL to run the Redis tests")
	}
	tb.Cleanup(func() { client.Close() })
	return client
}

func smsRedisPrefix(tb testing.TB, client *redis.Client) string {
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "watchword-test:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, err := client.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	return prefix
}

// smsTo counts the SMS queued to numbers starting with prefix.
func (e *smsEnv) smsTo(prefix string) int {
	for _, m := range e.messages() {
		e.inbox[m.To] = append(e.inbox[m.To], m)
	}
	n := 0
	for to, list := range e.inbox {
		if strings.HasPrefix(to, prefix) {
			for _, m := range list {
				if m.Channel == account.ChannelPhone {
					n++
				}
			}
		}
	}
	return n
}

// TestSMSPumpingSignUps sends 10,000 sign-ups over one number prefix from
// 10,000 client addresses: at most the prefix limit of SMS go out, every
// refusal is rate_limited with a Retry-After, and other users' codes (a
// number of another prefix and country, an email) still arrive.
func TestSMSPumpingSignUps(t *testing.T) {
	// The full 10,000 in memory; fewer against Redis (as with --redis-url),
	// whose round trips make the same code slower.
	for _, tc := range []struct {
		name     string
		useRedis bool
		requests int
	}{{"redis", true, 2_000}, {"memory", false, 10_000}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSMSEnv(t, tc.useRedis, smsguard.DefaultConfig())
			requests, workers := tc.requests, 16
			var accepted, limited, other atomic.Int64
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(requests) {
							return
						}
						c := account.Client{IP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), UserAgent: "bot"}
						_, _, err := e.svc.StartRegistration(context.Background(), c, "", fmt.Sprintf("+1 415 555 %04d", i))
						var ae *account.Error
						switch {
						case err == nil:
							accepted.Add(1)
						case account.ErrorCode(err) == account.CodeRateLimited && errorAs(err, &ae) && ae.RetryAfter > 0:
							limited.Add(1)
						default:
							other.Add(1)
							t.Errorf("request %d: %v", i, err)
						}
					}
				})
			}
			wg.Wait()
			sent := e.smsTo("+1415555")
			t.Logf("%d sign-ups over +1 415 555: %d accepted, %d rate_limited, %d SMS queued", requests, accepted.Load(), limited.Load(), sent)
			if sent > 10 || accepted.Load() > 10 {
				t.Fatalf("%d SMS to the prefix (%d accepted), want at most the prefix limit of 10", sent, accepted.Load())
			}
			if got := e.metrics.get(e.metrics.limits, "prefix"); got != 1 {
				t.Errorf("prefix limit trips counted: %d, want 1 (once per window)", got)
			}
			if got := strings.Count(e.log.String(), "SMS limit reached"); got != 1 {
				t.Errorf("prefix limit logged %d times, want once", got)
			}
			// Other users are served: another country, another prefix, an email.
			for _, phone := range []string{"+8613800138000", "+14155560000"} {
				flow, _, err := e.svc.StartRegistration(context.Background(), client, "", phone)
				mustOK(t, "sign-up of "+phone, err)
				_, _, err = e.svc.CompleteRegistration(context.Background(), client, flow, e.code(phone), goodPassword)
				mustOK(t, "complete sign-up of "+phone, err)
			}
			e.signUp("carol@example.com")
		})
	}
}

func errorAs(err error, target **account.Error) bool {
	e, ok := err.(*account.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestSMSRefusedNumbers: numbers of a country not allowed, premium-rate
// and shared-cost numbers are invalid_phone wherever a code would go, and
// nothing is sent; a password login never meets the defence.
func TestSMSRefusedNumbers(t *testing.T) {
	e := newSMSEnv(t, false, smsguard.Config{Countries: []string{"US", "CN", "GG"}})
	ctx := context.Background()
	_, tok := e.signUp("dave@example.com")
	sess := e.stepUp(tok, "dave@example.com")
	for _, phone := range []string{
		"+49 151 23456789",  // Germany: not allowed
		"+44 20 7946 0018",  // the United Kingdom: GG is allowed, GB is not
		"+1 900 234 5678",   // premium rate
		"+33 8 84 01 23 45", // shared cost (and France)
		"+1 415 555",        // invalid
	} {
		_, _, err := e.svc.StartRegistration(ctx, client, "", phone)
		wantCode(t, "sign-up with "+phone, err, account.CodeInvalidPhone)
		_, err = e.svc.StartCodeLogin(ctx, client, phone)
		wantCode(t, "code login with "+phone, err, account.CodeInvalidPhone)
		_, err = e.svc.StartContactChange(ctx, client, sess, account.ChannelPhone, phone)
		wantCode(t, "phone change to "+phone, err, account.CodeInvalidPhone)
	}
	if n := e.smsTo("+"); n != 0 {
		t.Fatalf("%d SMS sent to refused numbers", n)
	}
	// Guernsey by the metadata, although +44: allowed.
	_, _, err := e.svc.StartRegistration(ctx, client, "", "+44 7911 123456")
	mustOK(t, "sign-up with a Guernsey number", err)
	if got := e.metrics.get(e.metrics.refused, "premium_rate"); got != 3 {
		t.Errorf("premium-rate refusals counted: %d, want 3", got)
	}
}

// TestSMSCountryAndGlobalLimits: over the country or the global limit a
// code request is rate_limited with Retry-After, code logins of numbers of
// no account count as well, and email is not affected.
func TestSMSCountryAndGlobalLimits(t *testing.T) {
	e := newSMSEnv(t, true, smsguard.Config{CountryLimit: 3, GlobalLimit: 5})
	ctx := context.Background()
	for i := range 3 { // code logins of unknown numbers count: the limits reveal nothing
		_, err := e.svc.StartCodeLogin(ctx, client, fmt.Sprintf("+1 212 %03d 0000", 200+i))
		mustOK(t, "code login", err)
	}
	_, _, err := e.svc.StartRegistration(ctx, client, "", "+1 646 200 0000")
	wantRateLimited(t, "sign-up over the country limit", err, time.Hour)
	for _, phone := range []string{"+8613800138000", "+447911123456"} {
		_, _, err := e.svc.StartRegistration(ctx, client, "", phone)
		mustOK(t, "sign-up in another country", err)
	}
	_, _, err = e.svc.StartRegistration(ctx, client, "", "+33612345678")
	wantRateLimited(t, "sign-up over the global limit", err, time.Hour)
	e.signUp("erin@example.com")
	if e.metrics.get(e.metrics.limits, "country") != 1 || e.metrics.get(e.metrics.limits, "global") != 1 {
		t.Errorf("limit trips counted: %v", e.metrics.limits)
	}
}

// TestSMSNoticeOverLimit: a notice to an account whose number is over the
// limits goes by email only; a password login with the number still works.
func TestSMSNoticeOverLimit(t *testing.T) {
	e := newSMSEnv(t, false, smsguard.Config{PrefixLimit: 2})
	ctx := context.Background()
	const phone = "+14155550100"
	flow, _, err := e.svc.StartRegistration(ctx, client, "", phone)
	mustOK(t, "sign-up", err)
	uid, tok, err := e.svc.CompleteRegistration(ctx, client, flow, e.code(phone), goodPassword)
	mustOK(t, "complete sign-up", err)
	sess := e.stepUpPhone(tok, phone)
	f2, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, "frank@example.com")
	mustOK(t, "add email", err)
	mustOK(t, "confirm email", e.svc.ConfirmContactChange(ctx, client, sess, account.ChannelEmail, f2, e.code("frank@example.com")))
	e.next("frank@example.com") // the email-set notice
	// The prefix has had its 2 SMS this hour; the notice goes by email only.
	before := e.smsTo("+1415555")
	tok = e.loginPassword(phone, goodPassword)
	sess = e.stepUp(tok, "frank@example.com")
	mustOK(t, "change password", e.svc.ChangePassword(ctx, client, sess, "another long passphrase"))
	if got := e.smsTo("+1415555"); got != before {
		t.Errorf("notice SMS sent over the limit (%d → %d)", before, got)
	}
	if m := e.next("frank@example.com"); !strings.Contains(strings.ToLower(m.Text), "password") {
		t.Errorf("no email notice: %q", m.Text)
	}
	_ = uid
}

// stepUpPhone steps the session up through its phone.
func (e *smsEnv) stepUpPhone(tok, phone string) *account.Session {
	e.t.Helper()
	sess := e.session(tok)
	flow, err := e.svc.StartStepUp(context.Background(), client, sess, account.ChannelPhone)
	mustOK(e.t, "step-up by phone", err)
	_, err = e.svc.CompleteStepUp(context.Background(), client, sess, flow, e.code(phone), "")
	mustOK(e.t, "complete step-up", err)
	return e.session(tok)
}

// TestSMSConversionGuard: a prefix whose codes are not entered gets no SMS
// for an hour, logged and counted once; a prefix whose codes are entered
// keeps getting them; after the hour the blocked prefix is served again.
func TestSMSConversionGuard(t *testing.T) {
	for _, useRedis := range []bool{false, true} {
		t.Run(map[bool]string{false: "memory", true: "redis"}[useRedis], func(t *testing.T) {
			rule := smsguard.Rule{MinRate: 0.1, Sample: 10, Settle: 10 * time.Minute, Block: time.Hour}
			e := newSMSEnv(t, useRedis, smsguard.Config{PrefixLimit: 100, Conversion: rule})
			ctx := context.Background()
			for i := range 10 {
				c := account.Client{IP: fmt.Sprintf("10.0.0.%d", i)}
				_, _, err := e.svc.StartRegistration(ctx, c, "", fmt.Sprintf("+1415555%04d", i))
				mustOK(t, "bot sign-up", err)
				// A real user in another prefix enters each code.
				phone := fmt.Sprintf("+1212555%04d", i)
				flow, _, err := e.svc.StartRegistration(ctx, c, "", phone)
				mustOK(t, "user sign-up", err)
				_, _, err = e.svc.CompleteRegistration(ctx, c, flow, e.code(phone), goodPassword)
				mustOK(t, "complete user sign-up", err)
			}
			e.clock.Advance(11 * time.Minute) // the codes have settled
			_, _, err := e.svc.StartRegistration(ctx, client, "", "+14155559999")
			wantRateLimited(t, "sign-up in the blocked prefix", err, time.Hour)
			_, _, err = e.svc.StartRegistration(ctx, client, "", "+12125559999")
			mustOK(t, "sign-up in the healthy prefix", err)
			if e.metrics.get(e.metrics.conversion, "prefix") != 1 || strings.Count(e.log.String(), "conversion guard tripped") != 1 {
				t.Errorf("trip counted %v, log:\n%s", e.metrics.conversion, e.log.String())
			}
			e.clock.Advance(time.Hour)
			_, _, err = e.svc.StartRegistration(ctx, account.Client{IP: "10.9.9.9"}, "", "+14155559998")
			mustOK(t, "sign-up in the prefix after the hour", err)
		})
	}
}
