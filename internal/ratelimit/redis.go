package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var _ Limiter = (*Redis)(nil)

// takeScript runs as one atomic step, so instances sharing a Redis never
// admit more than limit events between them. The expiry is set whenever the
// key has none (rather than only when INCR returns 1) so that a key brought
// back to 0 by Undo keeps the window of its first Take.
//
// KEYS[1] key; ARGV[1] limit; ARGV[2] window in ms.
// Returns {allowed 0|1, count, ttl ms}.
var takeScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
	ttl = tonumber(ARGV[2])
	redis.call('PEXPIRE', KEYS[1], ttl)
end
if n > tonumber(ARGV[1]) then
	redis.call('DECR', KEYS[1])
	return {0, n - 1, ttl}
end
return {1, n, ttl}
`)

// undoScript decrements a live key without going below 0 and without
// touching its expiry. KEYS[1] key.
var undoScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then
	redis.call('DECR', KEYS[1])
end
return 0
`)

// peekScript reads a key's count and expiry in one step, so a count is
// never paired with the expiry of a newer window. KEYS[1] key.
// Returns {count, ttl ms}.
var peekScript = redis.NewScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
return {n, redis.call('PTTL', KEYS[1])}
`)

// strikeScript counts a failure and moves the end of the streak to idle
// from now. KEYS[1] key; ARGV[1] idle in ms. Returns the count.
var strikeScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return n
`)

// Redis is a Limiter whose counters live in Redis, shared by every instance
// that uses the same prefix.
type Redis struct {
	client *redis.Client
	prefix string
}

// NewRedis returns a Redis limiter that stores each key under prefix+key.
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// Take implements Limiter.
func (l *Redis) Take(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := checkTake(limit, window); err != nil {
		return Decision{}, err
	}
	res, err := takeScript.Run(ctx, l.client, []string{l.prefix + key}, limit, window.Milliseconds()).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis take: %w", err)
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("ratelimit: redis take: unexpected reply %v", res)
	}
	if res[0] == 0 {
		// PTTL can round a key in its last millisecond down to 0; a denial
		// must still tell the caller to wait.
		return Decision{RetryAfter: time.Duration(max(res[2], 1)) * time.Millisecond}, nil
	}
	return Decision{Allowed: true, Remaining: limit - int(res[1])}, nil
}

// Undo implements Limiter.
func (l *Redis) Undo(ctx context.Context, key string, window time.Duration) error {
	if err := checkWindow(window); err != nil {
		return err
	}
	if err := undoScript.Run(ctx, l.client, []string{l.prefix + key}).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis undo: %w", err)
	}
	return nil
}

// Peek implements Limiter.
func (l *Redis) Peek(ctx context.Context, key string, limit int) (Decision, error) {
	if err := checkLimit(limit); err != nil {
		return Decision{}, err
	}
	res, err := peekScript.Run(ctx, l.client, []string{l.prefix + key}).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis peek: %w", err)
	}
	if len(res) != 2 {
		return Decision{}, fmt.Errorf("ratelimit: redis peek: unexpected reply %v", res)
	}
	n := int(res[0])
	if n >= limit {
		return Decision{RetryAfter: time.Duration(max(res[1], 1)) * time.Millisecond}, nil
	}
	return Decision{Allowed: true, Remaining: limit - n}, nil
}

// Strike implements Limiter.
func (l *Redis) Strike(ctx context.Context, key string, idle time.Duration) (int, error) {
	if err := checkWindow(idle); err != nil {
		return 0, err
	}
	n, err := strikeScript.Run(ctx, l.client, []string{l.prefix + key}, idle.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("ratelimit: redis strike: %w", err)
	}
	return int(n), nil
}

// Reset implements Limiter.
func (l *Redis) Reset(ctx context.Context, key string) error {
	if err := l.client.Del(ctx, l.prefix+key).Err(); err != nil {
		return fmt.Errorf("ratelimit: redis reset: %w", err)
	}
	return nil
}
