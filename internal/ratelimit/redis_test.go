package ratelimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/watchword/watchword/internal/ratelimit"
)

// redisClient connects to WATCHWORD_TEST_REDIS_URL (default: database 15 on
// the local Redis). Without a Redis the test is skipped, except when CI=true:
// CI must never skip it silently.
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
		opts.DialerRetries = 1 // fail fast, without a Redis, instead of retrying every test
	}
	client := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		// Addr and DB only: the URL may hold a password.
		msg := "Redis unreachable at " + opts.Addr + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg + " (CI=true, so Redis tests may not be skipped)")
		}
		tb.Skip(msg + "; start Redis or set WATCHWORD_TEST_REDIS_URL to run the Redis tests")
	}
	tb.Cleanup(func() { client.Close() })
	return client
}

// randomPrefix returns a key prefix of its own for one test, and deletes
// the test's keys when it ends.
func randomPrefix(tb testing.TB, client *redis.Client) string {
	tb.Helper()
	prefix := "watchword-test:" + hex.EncodeToString(randomBytes(8)) + ":"
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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newRedisLimiter returns a Redis limiter whose "advance" shortens the
// expiry of every key of the test by d, which is what the passing of d does
// to a fixed window, without waiting for it.
func newRedisLimiter(t *testing.T) (ratelimit.Limiter, func(time.Duration)) {
	client := redisClient(t)
	prefix := randomPrefix(t, client)
	advance := func(d time.Duration) {
		t.Helper()
		ctx := t.Context()
		keys, err := client.Keys(ctx, prefix+"*").Result()
		if err != nil {
			t.Fatalf("advance: %v", err)
		}
		for _, k := range keys {
			ttl, err := client.Do(ctx, "PTTL", k).Int64()
			if err != nil {
				t.Fatalf("advance: %v", err)
			}
			switch {
			case ttl == -1:
				t.Fatalf("key %q has no expiry", k)
			case ttl == -2: // expired meanwhile
			case ttl <= d.Milliseconds():
				err = client.Del(ctx, k).Err()
			default:
				err = client.PExpire(ctx, k, time.Duration(ttl)*time.Millisecond-d).Err()
			}
			if err != nil {
				t.Fatalf("advance: %v", err)
			}
		}
	}
	return ratelimit.NewRedis(client, prefix), advance
}

func TestRedis(t *testing.T) {
	t.Parallel()
	runLimiterSuite(t, newRedisLimiter)
}

func TestRedisWindowExpiresInRealTime(t *testing.T) {
	t.Parallel()
	const window = 200 * time.Millisecond
	client := redisClient(t)
	l := ratelimit.NewRedis(client, randomPrefix(t, client))
	take(t, l, "k", 1, window)
	d := take(t, l, "k", 1, window)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > window {
		t.Fatalf("got %+v, want denied with RetryAfter in (0, %v]", d, window)
	}
	time.Sleep(d.RetryAfter + 20*time.Millisecond)
	wantAllowed(t, take(t, l, "k", 1, window), 0)
}

func TestRedisStoresKeysUnderPrefix(t *testing.T) {
	t.Parallel()
	client := redisClient(t)
	prefix := randomPrefix(t, client)
	l := ratelimit.NewRedis(client, prefix)
	take(t, l, "login:alice", 5, time.Minute)
	got, err := client.Get(t.Context(), prefix+"login:alice").Result()
	if err != nil || got != "1" {
		t.Fatalf("got %q, %v; want \"1\"", got, err)
	}
	ttl, err := client.PTTL(t.Context(), prefix+"login:alice").Result()
	if err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("got TTL %v, %v; want in (0, 1m]", ttl, err)
	}
}

// TestRedisSharedAcrossInstances plays several server instances, each with
// its own connection pool, hitting the same key at once.
func TestRedisSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	first := redisClient(t)
	prefix := randomPrefix(t, first)
	var limiters []ratelimit.Limiter
	for range 3 {
		limiters = append(limiters, ratelimit.NewRedis(redisClient(t), prefix))
	}
	wantExactlyAllowed(t, takeConcurrently(t, limiters, "k", 50, 10, time.Minute), 10)
}

func TestRedisErrorsAreReturned(t *testing.T) {
	t.Parallel()
	// A port that was just free: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	defer client.Close()
	l := ratelimit.NewRedis(client, "watchword-test:")

	d, err := l.Take(t.Context(), "k", 10, time.Minute)
	if err == nil || d.Allowed {
		t.Errorf("Take: got %+v, %v; want an error and not allowed", d, err)
	}
	if err := l.Undo(t.Context(), "k", time.Minute); err == nil {
		t.Error("Undo: got nil error")
	}
	if d, err := l.Peek(t.Context(), "k", 10); err == nil || d.Allowed {
		t.Errorf("Peek: got %+v, %v; want an error and not allowed", d, err)
	}
	if _, err := l.Strike(t.Context(), "k", time.Minute); err == nil {
		t.Error("Strike: got nil error")
	}
	if err := l.Reset(t.Context(), "k"); err == nil {
		t.Error("Reset: got nil error")
	}
}

func TestRedisScriptErrorsAreReturned(t *testing.T) {
	t.Parallel()
	client := redisClient(t)
	prefix := randomPrefix(t, client)
	if err := client.Set(t.Context(), prefix+"k", "not a number", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	l := ratelimit.NewRedis(client, prefix)
	d, err := l.Take(t.Context(), "k", 10, time.Minute)
	var redisErr redis.Error
	if !errors.As(err, &redisErr) || d.Allowed {
		t.Errorf("Take: got %+v, %v; want a Redis error and not allowed", d, err)
	}
	if err := l.Undo(t.Context(), "k", time.Minute); err == nil {
		t.Error("Undo: got nil error")
	}
	if d, err := l.Peek(t.Context(), "k", 10); err == nil || d.Allowed {
		t.Errorf("Peek: got %+v, %v; want an error and not allowed", d, err)
	}
	if _, err := l.Strike(t.Context(), "k", time.Minute); err == nil {
		t.Error("Strike: got nil error")
	}
}
