package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/ratelimit"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

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

func newMemoryLimiter(t *testing.T) (ratelimit.Limiter, func(time.Duration)) {
	clock := newFakeClock()
	return ratelimit.NewMemory(clock.Now), clock.Advance
}

func TestMemory(t *testing.T) {
	t.Parallel()
	runLimiterSuite(t, newMemoryLimiter)
}

func TestMemoryRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := ratelimit.NewMemory(clock.Now)
	take(t, l, "k", 1, time.Minute)
	clock.Advance(12*time.Second + time.Millisecond)
	d := take(t, l, "k", 1, time.Minute)
	if want := 48*time.Second - time.Millisecond; d.RetryAfter != want {
		t.Fatalf("got RetryAfter %v, want %v", d.RetryAfter, want)
	}
	clock.Advance(d.RetryAfter - time.Nanosecond)
	wantDenied(t, take(t, l, "k", 1, time.Minute), time.Nanosecond)
	clock.Advance(time.Nanosecond)
	wantAllowed(t, take(t, l, "k", 1, time.Minute), 0)
}

func TestMemorySweepsExpiredEntries(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	l := ratelimit.NewMemory(clock.Now)
	const keys = 5000
	for i := range keys {
		take(t, l, fmt.Sprintf("k%d", i), 1, time.Second)
	}
	if got := ratelimit.EntryCount(l); got != keys {
		t.Fatalf("got %d entries before expiry, want %d", got, keys)
	}
	clock.Advance(time.Second)
	for range 2 * keys {
		take(t, l, "hot", 1<<30, time.Minute)
	}
	if got := ratelimit.EntryCount(l); got != 1 {
		t.Fatalf("got %d entries after expiry, want 1", got)
	}
}

func TestMemoryNilNowUsesWallClock(t *testing.T) {
	t.Parallel()
	l := ratelimit.NewMemory(nil)
	take(t, l, "k", 1, time.Hour)
	wantDenied(t, take(t, l, "k", 1, time.Hour), time.Hour)
}
