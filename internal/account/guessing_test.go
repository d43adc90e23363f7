package account_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/storetest"
)

// guessEnv is an env whose limiter is in memory or in Redis; advance moves
// the fake clock and, for Redis, the expiry of every key of the test.
type guessEnv struct {
	*env
	advance func(time.Duration)
}

// onEveryStoreAndLimiter runs test on SQLite and PostgreSQL, each with
// the in-memory and the Redis limiter.
func onEveryStoreAndLimiter(t *testing.T, cfg account.Config, test func(t *testing.T, e *guessEnv)) {
	for _, store := range []string{"sqlite", "postgres"} {
		for _, lim := range []string{"memory", "redis"} {
			t.Run(store+"/"+lim, func(t *testing.T) {
				dsn := "sqlite:" + t.TempDir() + "/w.db"
				if store == "postgres" {
					dsn = storetest.OpenPostgres(t)
				}
				test(t, newGuessEnv(t, dsn, lim == "redis", cfg))
			})
		}
	}
}

func newGuessEnv(t *testing.T, dsn string, useRedis bool, cfg account.Config) *guessEnv {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	var lim ratelimit.Limiter = ratelimit.NewMemory(c.Now)
	advance := c.Advance
	if useRedis {
		client := guessRedis(t)
		prefix := "watchword-test:" + hex.EncodeToString(randomBytes(8)) + ":"
		t.Cleanup(func() {
			keys, _ := client.Keys(context.Background(), prefix+"*").Result()
			if len(keys) > 0 {
				client.Del(context.Background(), keys...)
			}
		})
		lim = ratelimit.NewRedis(client, prefix)
		advance = func(d time.Duration) {
			t.Helper()
			c.Advance(d)
			ctx := context.Background()
			keys, err := client.Keys(ctx, prefix+"*").Result()
			if err != nil {
				t.Fatalf("advance: %v", err)
			}
			for _, k := range keys {
				ttl, err := client.PTTL(ctx, k).Result()
				switch {
				case err != nil:
					t.Fatalf("advance: %v", err)
				case ttl < 0: // gone meanwhile
				case ttl <= d:
					err = client.Del(ctx, k).Err()
				default:
					err = client.PExpire(ctx, k, ttl-d).Err()
				}
				if err != nil {
					t.Fatalf("advance: %v", err)
				}
			}
		}
	}
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	svc := account.New(account.Deps{
		Store: db, Limiter: limiter{lim},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy, TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random: rand.Reader, Now: c.Now, Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, nil)),
	}, cfg)
	e := &env{t: t, svc: svc, db: db, clock: c, log: &logs, seen: map[string]int{}, inbox: map[string][]*account.Message{}}
	return &guessEnv{env: e, advance: advance}
}

// guessRedis connects to WATCHWORD_TEST_REDIS_URL (default: database 15
// on the local Redis); without one the test is skipped, but not in CI.
func guessRedis(t *testing.T) *redis.Client {
	t.Helper()
	url := os.Getenv("WATCHWORD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/15"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("WATCHWORD_TEST_REDIS_URL: %v", err)
	}
	opts.DialerRetries = 1
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		msg := "Redis unreachable at " + opts.Addr + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true, so Redis tests may not be skipped)")
		}
		t.Skip(msg + "; start Redis or set WATCHWORD_TEST_REDIS_URL to run the Redis tests")
	}
	t.Cleanup(func() { client.Close() })
	return client
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// retryAfter returns the Retry-After of a rate_limited error, failing
// the test for any other outcome.
func retryAfter(t *testing.T, what string, err error) time.Duration {
	t.Helper()
	wantCode(t, what, err, account.CodeRateLimited)
	var ae *account.Error
	if !errors.As(err, &ae) || ae.RetryAfter <= 0 {
		t.Fatalf("%s: no Retry-After in %#v", what, err)
	}
	return ae.RetryAfter
}

// K-02 and issue 10: sixteen correct logins of one account at once, over
// many rounds, are never refused. Failures only count once they happened,
// so logins in flight take nothing from each other.
func TestConcurrentCorrectLoginsAreNeverRefused(t *testing.T) {
	onEveryStoreAndLimiter(t, account.Config{}, func(t *testing.T, e *guessEnv) {
		e.signUp("busy@example.com")
		const clients, rounds = 16, 8
		var mu sync.Mutex
		refused := map[string]int{}
		for range rounds {
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range clients {
				wg.Go(func() {
					<-start
					res, err := e.svc.LoginPassword(context.Background(), client, "busy@example.com", goodPassword)
					if err != nil || res.SessionToken == "" {
						mu.Lock()
						refused[fmt.Sprint(account.ErrorCode(err), ": ", err)]++
						mu.Unlock()
					}
				})
			}
			close(start)
			wg.Wait()
		}
		if len(refused) > 0 {
			t.Fatalf("correct logins refused in %d tries: %v", clients*rounds, refused)
		}
	})
}

// K-02: fifty wrong passwords at once for one identifier: at most the
// limit plus the documented margin (GuessesInFlight-1 per instance) are
// checked; the rest are refused.
func TestParallelWrongGuessesStayWithinMargin(t *testing.T) {
	def := account.DefaultConfig().Limits
	onEveryStoreAndLimiter(t, account.Config{}, func(t *testing.T, e *guessEnv) {
		e.signUp("target@example.com")
		checked, refused := guessInParallel(t, []*account.Service{e.svc}, "target@example.com", 50)
		t.Logf("50 parallel wrong passwords: %d checked, %d refused", checked, refused)
		if limit := def.PasswordPerIdentifier.N + def.GuessesInFlight - 1; checked > limit {
			t.Fatalf("%d wrong passwords checked, want at most %d", checked, limit)
		}
		if checked < def.PasswordPerIdentifier.N {
			t.Fatalf("only %d wrong passwords checked before the limit of %d", checked, def.PasswordPerIdentifier.N)
		}
	})
	// Two instances sharing Redis: the margin is per instance.
	t.Run("two instances", func(t *testing.T) {
		client := guessRedis(t)
		prefix := "watchword-test:" + hex.EncodeToString(randomBytes(8)) + ":"
		t.Cleanup(func() {
			keys, _ := client.Keys(context.Background(), prefix+"*").Result()
			if len(keys) > 0 {
				client.Del(context.Background(), keys...)
			}
		})
		dsn := "sqlite:" + t.TempDir() + "/w.db"
		var svcs []*account.Service
		for range 2 {
			svcs = append(svcs, serviceWithLimiter(t, dsn, ratelimit.NewRedis(client, prefix)))
		}
		checked, refused := guessInParallel(t, svcs, "ghost@example.com", 50)
		t.Logf("50 parallel wrong passwords on two instances: %d checked, %d refused", checked, refused)
		if limit := def.PasswordPerIdentifier.N + 2*def.GuessesInFlight - 1; checked > limit {
			t.Fatalf("%d wrong passwords checked, want at most %d", checked, limit)
		}
	})
}

// serviceWithLimiter is a Service on dsn (already migrated) with lim.
func serviceWithLimiter(t *testing.T, dsn string, lim ratelimit.Limiter) *account.Service {
	t.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return account.New(account.Deps{
		Store: db, Limiter: limiter{lim},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy, TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random: rand.Reader, Now: time.Now, Log: slog.New(slog.DiscardHandler),
	}, account.Config{})
}

// guessInParallel sends n wrong passwords for ident at once, spread over
// svcs, and counts those checked (invalid_credentials) and refused.
func guessInParallel(t *testing.T, svcs []*account.Service, ident string, n int) (checked, refused int) {
	t.Helper()
	var mu sync.Mutex
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := svcs[i%len(svcs)].LoginPassword(context.Background(), client, ident, "wrong password")
			mu.Lock()
			defer mu.Unlock()
			switch account.ErrorCode(err) {
			case account.CodeInvalidCredentials:
				checked++
			case account.CodeRateLimited:
				refused++
			default:
				t.Errorf("wrong password: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	return checked, refused
}

// past ten wrong passwords in a row, each further one makes the
// next attempt wait: 30 s, doubling, at most an hour. The wait ends by
// itself, and a right password ends the streak.
func TestPasswordDelayGrows(t *testing.T) {
	cfg := account.DefaultConfig()
	// Only the delay is under test here, not the window limits.
	cfg.Limits.PasswordPerIdentifier = account.Limit{N: 1000, Window: 15 * time.Minute}
	cfg.Limits.PasswordPerIP = account.Limit{N: 1000, Window: 15 * time.Minute}
	onEveryStoreAndLimiter(t, cfg, func(t *testing.T, e *guessEnv) {
		ctx := context.Background()
		e.signUp("slow@example.com")
		wrong := func(what string) {
			t.Helper()
			_, err := e.svc.LoginPassword(ctx, client, "slow@example.com", "wrong password")
			wantCode(t, what, err, account.CodeInvalidCredentials)
		}
		for i := range 11 {
			wrong(fmt.Sprintf("wrong password %d", i+1))
		}
		for i, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
			8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour} {
			// Even the right password waits.
			_, err := e.svc.LoginPassword(ctx, client, "slow@example.com", goodPassword)
			got := retryAfter(t, fmt.Sprintf("attempt after failure %d", 11+i), err)
			if got > want || got <= want-time.Second {
				t.Fatalf("after failure %d: Retry-After %v, want %v", 11+i, got, want)
			}
			e.advance(got)
			if i < 8 {
				wrong(fmt.Sprintf("wrong password %d", 12+i))
			}
		}
		// The last wait has passed by itself: the right password works
		// and ends the streak, so ten wrong ones are free again.
		e.loginPassword("slow@example.com", goodPassword)
		for i := range 11 {
			wrong(fmt.Sprintf("wrong password %d after a success", i+1))
		}
		_, err := e.svc.LoginPassword(ctx, client, "slow@example.com", goodPassword)
		if got := retryAfter(t, "after eleven failures again", err); got > 30*time.Second {
			t.Fatalf("the delay did not start over: %v", got)
		}
	})
}

// an attacker who guesses as fast as the limits allow gets far
// fewer than 100 tries in an hour; no wait is longer than an hour; and the
// owner meanwhile logs in with a code to the verified address, and with
// the password once the wait ends.
func TestPasswordGuessingIsBoundedButNeverALock(t *testing.T) {
	onEveryStoreAndLimiter(t, account.Config{}, func(t *testing.T, e *guessEnv) {
		ctx := context.Background()
		e.signUp("victim@example.com")
		attacker := account.Client{IP: "203.0.113.9"}
		attack := func(d time.Duration) (failures int) {
			for end := e.clock.Now().Add(d); e.clock.Now().Before(end); {
				_, err := e.svc.LoginPassword(ctx, attacker, "victim@example.com", "guess")
				if account.ErrorCode(err) == account.CodeInvalidCredentials {
					failures++
					continue
				}
				wait := retryAfter(t, "attacker", err)
				if wait > time.Hour {
					t.Fatalf("a wait of %v: longer than the hour a delay may last", wait)
				}
				e.advance(wait)
			}
			return failures
		}
		first := attack(time.Hour)
		t.Logf("wrong passwords checked in the first hour of an attack: %d", first)
		if first >= 100 {
			t.Fatalf("%d wrong passwords in an hour", first)
		}
		// One more wrong guess, so that a wait is running now.
		for {
			_, err := e.svc.LoginPassword(ctx, attacker, "victim@example.com", "guess")
			if account.ErrorCode(err) == account.CodeInvalidCredentials {
				break
			}
			e.advance(retryAfter(t, "attacker", err))
		}
		// The owner's password waits like the attacker's...
		_, err := e.svc.LoginPassword(ctx, client, "victim@example.com", goodPassword)
		wait := retryAfter(t, "owner's password during the attack", err)
		// ...but a code to the verified address still logs in.
		e.loginCode("victim@example.com")
		// And the wait ends by itself.
		e.advance(wait)
		e.loginPassword("victim@example.com", goodPassword)
		day := attack(24 * time.Hour)
		t.Logf("wrong passwords checked in a whole day of attack: %d", day)
		if day >= 100 {
			t.Fatalf("%d wrong passwords in a day", day)
		}
	})
}

// wrong codes count per address over every flow and purpose: a new
// code brings no fresh guesses. Past five wrong codes in a row the next
// try waits, on every flow to that address; the right code after the
// wait ends the streak. An address of no account behaves the same.
func TestCodeDelayAcrossFlows(t *testing.T) {
	onEveryStoreAndLimiter(t, account.Config{}, func(t *testing.T, e *guessEnv) {
		ctx := context.Background()
		const addr = "coder@example.com"
		_, tok := e.signUp(addr)

		flow1, err := e.svc.StartCodeLogin(ctx, client, addr)
		mustOK(t, "code login", err)
		code1 := e.code(addr)
		for i := range 5 {
			_, err := e.svc.CompleteCodeLogin(ctx, client, flow1, wrongCode(code1))
			wantCode(t, fmt.Sprintf("wrong code %d", i+1), err, account.CodeInvalidCode)
		}
		// A new code: only one more wrong try before the delay.
		e.advance(time.Minute)
		flow2, err := e.svc.StartCodeLogin(ctx, client, addr)
		mustOK(t, "second code login", err)
		code2 := e.code(addr)
		_, err = e.svc.CompleteCodeLogin(ctx, client, flow2, wrongCode(code2))
		wantCode(t, "sixth wrong code, on a new code", err, account.CodeInvalidCode)
		_, err = e.svc.CompleteCodeLogin(ctx, client, flow2, code2)
		if wait := retryAfter(t, "right code during the delay", err); wait > 30*time.Second {
			t.Fatalf("first code delay %v, want at most 30s", wait)
		}
		// Step-up codes go to the same address: they wait too.
		sess := e.session(tok)
		stepFlow, err := e.svc.StartStepUp(ctx, client, sess, "email")
		mustOK(t, "step-up", err)
		_, err = e.svc.CompleteStepUp(ctx, client, sess, stepFlow, e.code(addr), "")
		retryAfter(t, "step-up code during the delay", err)

		// The delay ends by itself; the right code ends the streak.
		e.advance(30 * time.Second)
		_, err = e.svc.CompleteCodeLogin(ctx, client, flow2, code2)
		mustOK(t, "right code after the delay", err)
		stepFlow, err = e.svc.StartStepUp(ctx, client, sess, "email")
		mustOK(t, "step-up", err)
		stepCode := e.code(addr)
		for i := range 5 {
			_, err := e.svc.CompleteStepUp(ctx, client, sess, stepFlow, wrongCode(stepCode), "")
			wantCode(t, fmt.Sprintf("wrong step-up code %d after a success", i+1), err, account.CodeInvalidCode)
		}

		// Registration and a new-address check count together, and an
		// address without an account answers as one with an account.
		const fresh = "fresh@example.com"
		reg, _, err := e.svc.StartRegistration(ctx, client, fresh, "")
		mustOK(t, "registration", err)
		regCode := e.code(fresh)
		for i := range 3 {
			_, _, err := e.svc.CompleteRegistration(ctx, client, reg, wrongCode(regCode), goodPassword)
			wantCode(t, fmt.Sprintf("wrong registration code %d", i+1), err, account.CodeInvalidCode)
		}
		_, otherTok := e.signUp("other@example.com")
		other := e.stepUp(otherTok, "other@example.com")
		change, err := e.svc.StartContactChange(ctx, client, other, account.ChannelEmail, fresh)
		mustOK(t, "contact change", err)
		changeCode := e.code(fresh)
		for i := range 3 {
			err := e.svc.ConfirmContactChange(ctx, client, other, account.ChannelEmail, change, wrongCode(changeCode))
			wantCode(t, fmt.Sprintf("wrong new-address code %d", i+1), err, account.CodeInvalidCode)
		}
		_, _, err = e.svc.CompleteRegistration(ctx, client, reg, regCode, goodPassword)
		retryAfter(t, "registration after six wrong codes over two flows", err)

		ghostFlow, err := e.svc.StartCodeLogin(ctx, client, "ghost@example.com")
		mustOK(t, "code login of no account", err)
		for i := range 6 {
			_, err := e.svc.CompleteCodeLogin(ctx, client, ghostFlow, "123456")
			wantCode(t, fmt.Sprintf("code %d for no account", i+1), err, account.CodeInvalidCode)
		}
		_, err = e.svc.CompleteCodeLogin(ctx, client, ghostFlow, "123456")
		retryAfter(t, "seventh code for no account", err)
	})
}

// T-08: wrong authenticator codes count per account whichever way they
// come: confirming a new binding, the login's second step and step-up
// share one count of ten per fifteen minutes.
func TestTOTPWrongCodesSharedAcrossFlows(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "shared@example.com"
	a := e.totpBind(email, 0)
	e.clock.Advance(30 * time.Second)
	wrong := e.totpWrong(a.secret)

	sess := e.session(a.tok) // still privileged from the binding
	_, err := e.svc.BeginTOTP(ctx, client, sess)
	mustOK(t, "begin a new binding", err)
	for i := range 3 {
		_, err := e.svc.ConfirmTOTP(ctx, client, sess, wrong)
		wantCode(t, fmt.Sprintf("wrong confirm code %d", i+1), err, account.CodeInvalidTOTP)
	}
	flow := e.totpFlow(email)
	for i := range 4 {
		_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, wrong)
		wantCode(t, fmt.Sprintf("wrong login code %d", i+1), err, account.CodeInvalidTOTP)
	}
	for i := range 3 {
		stepFlow, err := e.svc.StartStepUp(ctx, client, sess, "email")
		mustOK(t, "step-up", err)
		_, err = e.svc.CompleteStepUp(ctx, client, sess, stepFlow, e.totpLastCode(email), wrong)
		wantCode(t, fmt.Sprintf("wrong step-up code %d", i+1), err, account.CodeInvalidTOTP)
	}
	// Ten in all: the right code is now refused on every path.
	_, err = e.svc.CompleteTOTPLogin(ctx, client, e.totpFlow(email), e.totpAt(a.secret, 0))
	retryAfter(t, "login after ten wrong codes over three paths", err)
}
