package smsguard_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchword/watchword/internal/smsguard"
)

// fakeClock moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rule is small enough to trip in a test: 10 codes judged, 2 must be entered.
var rule = smsguard.Rule{MinRate: 0.2, Sample: 10, Settle: 10 * time.Minute, Block: time.Hour}

// runConversionsSuite checks the Conversions contract on a store built by
// newStore with the given rule and clock.
func runConversionsSuite(t *testing.T, newStore func(t *testing.T, r smsguard.Rule, now func() time.Time) smsguard.Conversions) {
	send := func(t *testing.T, c smsguard.Conversions, scope string, n int, entered int, clock *fakeClock) {
		t.Helper()
		for i := range n {
			phone := fmt.Sprintf("+1415555%04d", i)
			if err := c.Sent(t.Context(), scope, phone); err != nil {
				t.Fatal(err)
			}
			if i < entered {
				if err := c.Entered(t.Context(), scope, phone); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(time.Second)
		}
	}
	judge := func(t *testing.T, c smsguard.Conversions, scope string) (time.Duration, bool) {
		t.Helper()
		d, tripped, err := c.Judge(t.Context(), scope)
		if err != nil {
			t.Fatal(err)
		}
		return d, tripped
	}

	t.Run("TripsWhenCodesAreNotEnteredAndRecoversAfterBlock", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		c := newStore(t, rule, clock.Now)
		send(t, c, "prefix:+1415555", 10, 1, clock)
		if d, tripped := judge(t, c, "prefix:+1415555"); d != 0 || tripped {
			t.Fatalf("before the codes settle: got %v %v, want not blocked", d, tripped)
		}
		clock.Advance(10 * time.Minute)
		if d, tripped := judge(t, c, "prefix:+1415555"); d != time.Hour || !tripped {
			t.Fatalf("settled, 1 of 10 entered: got %v %v, want blocked 1h, tripped", d, tripped)
		}
		clock.Advance(30 * time.Minute)
		if d, tripped := judge(t, c, "prefix:+1415555"); d != 30*time.Minute || tripped {
			t.Fatalf("half way: got %v %v, want 30m left, not tripped again", d, tripped)
		}
		if d, _ := judge(t, c, "prefix:+1415444"); d != 0 {
			t.Fatalf("another scope: got blocked %v", d)
		}
		clock.Advance(30 * time.Minute)
		if d, tripped := judge(t, c, "prefix:+1415555"); d != 0 || tripped {
			t.Fatalf("after the block: got %v %v, want a fresh start", d, tripped)
		}
	})

	t.Run("EnoughEnteredDoesNotTrip", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		c := newStore(t, rule, clock.Now)
		send(t, c, "country:US", 10, 2, clock)
		clock.Advance(time.Hour)
		if d, tripped := judge(t, c, "country:US"); d != 0 || tripped {
			t.Fatalf("2 of 10 entered: got %v %v, want not blocked", d, tripped)
		}
	})

	t.Run("TooFewSettledIsNotJudged", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		c := newStore(t, rule, clock.Now)
		send(t, c, "country:GG", 9, 0, clock)
		clock.Advance(time.Hour)
		send(t, c, "country:GG", 5, 0, clock) // young: not judged yet
		if d, _ := judge(t, c, "country:GG"); d != 0 {
			t.Fatalf("9 settled codes: got blocked %v, want not judged", d)
		}
	})

	t.Run("OnlyTheLastSampleCounts", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		c := newStore(t, rule, clock.Now)
		send(t, c, "country:FR", 10, 10, clock) // a good past...
		send(t, c, "country:FR", 10, 0, clock)  // ...then none entered
		clock.Advance(time.Hour)
		if d, tripped := judge(t, c, "country:FR"); d != time.Hour || !tripped {
			t.Fatalf("got %v %v, want the last 10 judged and blocked", d, tripped)
		}
	})

	t.Run("LateEntryWithinSettleCounts", func(t *testing.T) {
		t.Parallel()
		clock := newFakeClock()
		c := newStore(t, rule, clock.Now)
		send(t, c, "country:DE", 10, 0, clock)
		clock.Advance(9 * time.Minute)
		// The last two codes are still young and entered now.
		for _, p := range []string{"+14155550008", "+14155550009"} {
			if err := c.Entered(t.Context(), "country:DE", p); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Hour)
		if d, _ := judge(t, c, "country:DE"); d != 0 {
			t.Fatalf("2 of 10 entered late: got blocked %v", d)
		}
	})
}

func TestMemoryConversions(t *testing.T) {
	t.Parallel()
	runConversionsSuite(t, func(t *testing.T, r smsguard.Rule, now func() time.Time) smsguard.Conversions {
		return smsguard.NewMemory(r, now)
	})
}

func TestRedisConversions(t *testing.T) {
	t.Parallel()
	runConversionsSuite(t, func(t *testing.T, r smsguard.Rule, now func() time.Time) smsguard.Conversions {
		client := redisClient(t)
		return smsguard.NewRedis(client, randomPrefix(t, client), r, now)
	})
}

// redisClient connects to WATCHWORD_TEST_REDIS_URL (default: database 15 on
// the local Redis). Without a Redis the test is skipped, except when
// CI=true: CI must never skip it silently.
func redisClient(tb testing.TB) *redis.Client {
	tb.Helper()
	url := os.Getenv("WATCHWORD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/15"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("WATCHWORD_TEST_REDIS_URL: %v", err)
	}
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
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

// randomPrefix returns a key prefix of its own for one test and deletes
// the test's keys when it ends.
func randomPrefix(tb testing.TB, client *redis.Client) string {
	tb.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "watchword-test:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, err := client.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = client.Del(ctx, keys...).Err()
		}
		if err != nil {
			tb.Errorf("delete test keys: %v", err)
		}
	})
	return prefix
}
