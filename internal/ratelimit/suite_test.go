package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/ratelimit"
)

// slack is how far a RetryAfter may fall short of the exact value: Redis's
// clock keeps running while the test does, the fake clock does not.
const slack = time.Second

// runLimiterSuite checks the Limiter contract. newLimiter returns an empty
// limiter and a function that moves its clock forward.
func runLimiterSuite(t *testing.T, newLimiter func(t *testing.T) (ratelimit.Limiter, func(time.Duration))) {
	const window = time.Minute

	t.Run("AllowsUpToLimit", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		for want := 2; want >= 0; want-- {
			wantAllowed(t, take(t, l, "k", 3, window), want)
		}
		wantDenied(t, take(t, l, "k", 3, window), window)
		wantDenied(t, take(t, l, "k", 3, window), window)
	})

	t.Run("DeniedEventsAreNotCounted", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		take(t, l, "k", 2, window)
		take(t, l, "k", 2, window)
		for range 5 {
			wantDenied(t, take(t, l, "k", 2, window), window)
		}
		// Had the denials counted, one Undo would not free a slot.
		undo(t, l, "k", window)
		wantAllowed(t, take(t, l, "k", 2, window), 0)
		wantDenied(t, take(t, l, "k", 2, window), window)
	})

	t.Run("WindowStartsAtFirstTake", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		wantAllowed(t, take(t, l, "k", 2, window), 1)
		advance(20 * time.Second)
		wantAllowed(t, take(t, l, "k", 2, window), 0)
		advance(10 * time.Second)
		wantDenied(t, take(t, l, "k", 2, window), 30*time.Second)
	})

	t.Run("NewWindowAfterExpiry", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		take(t, l, "k", 2, window)
		advance(10 * time.Second)
		take(t, l, "k", 2, window)
		wantDenied(t, take(t, l, "k", 2, window), 50*time.Second)
		advance(50 * time.Second)
		wantAllowed(t, take(t, l, "k", 2, window), 1)
		advance(5 * time.Second)
		wantAllowed(t, take(t, l, "k", 2, window), 0)
		// The new window started at the first Take after the expiry.
		wantDenied(t, take(t, l, "k", 2, window), 55*time.Second)
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		take(t, l, "a", 1, window)
		wantDenied(t, take(t, l, "a", 1, window), window)
		wantAllowed(t, take(t, l, "b", 1, window), 0)
		wantAllowed(t, take(t, l, "a:b", 1, window), 0)
		wantDenied(t, take(t, l, "a", 1, window), window)
	})

	t.Run("UndoGivesBackOne", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		take(t, l, "k", 2, window)
		take(t, l, "k", 2, window)
		undo(t, l, "k", window)
		wantAllowed(t, take(t, l, "k", 2, window), 0)
		wantDenied(t, take(t, l, "k", 2, window), window)
	})

	t.Run("UndoNeverGoesBelowZero", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		for range 3 {
			undo(t, l, "unknown", window)
		}
		wantAllowed(t, take(t, l, "unknown", 1, window), 0)
		wantDenied(t, take(t, l, "unknown", 1, window), window)

		take(t, l, "k", 2, window)
		for range 3 {
			undo(t, l, "k", window)
		}
		wantAllowed(t, take(t, l, "k", 2, window), 1)
		wantAllowed(t, take(t, l, "k", 2, window), 0)
		wantDenied(t, take(t, l, "k", 2, window), window)
	})

	t.Run("UndoKeepsWindow", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		take(t, l, "k", 1, window)
		advance(30 * time.Second)
		undo(t, l, "k", window) // back to 0, but the window goes on
		wantAllowed(t, take(t, l, "k", 1, window), 0)
		wantDenied(t, take(t, l, "k", 1, window), 30*time.Second)
	})

	t.Run("UndoAfterExpiry", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		take(t, l, "k", 1, window)
		advance(window)
		undo(t, l, "k", window)
		wantAllowed(t, take(t, l, "k", 1, window), 0)
		wantDenied(t, take(t, l, "k", 1, window), window)
	})

	t.Run("Reset", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		take(t, l, "k", 1, window)
		take(t, l, "other", 1, window)
		advance(30 * time.Second)
		if err := l.Reset(t.Context(), "k"); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		wantAllowed(t, take(t, l, "k", 1, window), 0)
		wantDenied(t, take(t, l, "k", 1, window), window) // a fresh window
		wantDenied(t, take(t, l, "other", 1, window), 30*time.Second)
		if err := l.Reset(t.Context(), "unknown"); err != nil {
			t.Fatalf("Reset(unknown): %v", err)
		}
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		tests := []struct {
			name   string
			limit  int
			window time.Duration
		}{
			{"ZeroLimit", 0, window},
			{"NegativeLimit", -1, window},
			{"ZeroWindow", 1, 0},
			{"NegativeWindow", 1, -time.Second},
			{"SubMillisecondWindow", 1, 500 * time.Microsecond},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d, err := l.Take(t.Context(), "k", tc.limit, tc.window)
				if !errors.Is(err, ratelimit.ErrInvalid) {
					t.Errorf("got %v, want ErrInvalid", err)
				}
				if d.Allowed {
					t.Error("allowed with an error")
				}
			})
		}
		if err := l.Undo(t.Context(), "k", 0); !errors.Is(err, ratelimit.ErrInvalid) {
			t.Errorf("Undo with zero window: got %v, want ErrInvalid", err)
		}
		if d, err := l.Peek(t.Context(), "k", 0); !errors.Is(err, ratelimit.ErrInvalid) || d.Allowed {
			t.Errorf("Peek with zero limit: got %+v, %v; want ErrInvalid", d, err)
		}
		if _, err := l.Strike(t.Context(), "k", 0); !errors.Is(err, ratelimit.ErrInvalid) {
			t.Errorf("Strike with zero idle: got %v, want ErrInvalid", err)
		}
	})

	t.Run("CancelledContext", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		d, err := l.Take(ctx, "k", 1, window)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Take: got %v, want context.Canceled", err)
		}
		if d.Allowed {
			t.Error("Take: allowed with an error")
		}
		if err := l.Undo(ctx, "k", window); !errors.Is(err, context.Canceled) {
			t.Errorf("Undo: got %v, want context.Canceled", err)
		}
		if err := l.Reset(ctx, "k"); !errors.Is(err, context.Canceled) {
			t.Errorf("Reset: got %v, want context.Canceled", err)
		}
		if d, err := l.Peek(ctx, "k", 1); !errors.Is(err, context.Canceled) || d.Allowed {
			t.Errorf("Peek: got %+v, %v; want context.Canceled", d, err)
		}
		if _, err := l.Strike(ctx, "k", window); !errors.Is(err, context.Canceled) {
			t.Errorf("Strike: got %v, want context.Canceled", err)
		}
	})

	t.Run("PeekCountsNothing", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		for range 5 {
			wantAllowed(t, peek(t, l, "k", 2), 2)
		}
		take(t, l, "k", 2, window)
		wantAllowed(t, peek(t, l, "k", 2), 1)
		wantAllowed(t, peek(t, l, "k", 2), 1)
		wantAllowed(t, take(t, l, "k", 2, window), 0)
		wantDenied(t, peek(t, l, "k", 2), window)
		// The same count under a higher limit: Peek reads, it does not
		// remember a limit.
		wantAllowed(t, peek(t, l, "k", 5), 3)
	})

	t.Run("PeekFollowsTheWindow", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		take(t, l, "k", 1, window)
		advance(20 * time.Second)
		wantDenied(t, peek(t, l, "k", 1), 40*time.Second)
		undo(t, l, "k", window)
		wantAllowed(t, peek(t, l, "k", 1), 1)
		take(t, l, "k", 1, window)
		advance(40 * time.Second)
		wantAllowed(t, peek(t, l, "k", 1), 1)
		wantAllowed(t, take(t, l, "k", 1, window), 0)
		wantDenied(t, peek(t, l, "k", 1), window)
	})

	t.Run("StrikeCountsAStreak", func(t *testing.T) {
		t.Parallel()
		l, advance := newLimiter(t)
		for want := 1; want <= 4; want++ {
			wantStreak(t, strike(t, l, "s", window), want)
			// Each strike pushes the end back: the streak survives far
			// longer than one idle period while strikes keep coming.
			advance(window - time.Second)
		}
		wantStreak(t, strike(t, l, "other", window), 1)
		advance(time.Second) // a full idle period since the last strike
		wantStreak(t, strike(t, l, "s", window), 1)
		wantStreak(t, strike(t, l, "s", window), 2)
		if err := l.Reset(t.Context(), "s"); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		wantStreak(t, strike(t, l, "s", window), 1)
		wantStreak(t, strike(t, l, "other", window), 2)
	})

	t.Run("ConcurrentStrikes", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		seen := make([]bool, 51)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				n, err := l.Strike(t.Context(), "s", window)
				mu.Lock()
				defer mu.Unlock()
				if err != nil || n < 1 || n > 50 || seen[n] {
					t.Errorf("Strike: %d, %v (a count seen twice or out of range)", n, err)
					return
				}
				seen[n] = true
			})
		}
		wg.Wait()
	})

	t.Run("ConcurrentTakes", func(t *testing.T) {
		t.Parallel()
		l, _ := newLimiter(t)
		decisions := takeConcurrently(t, []ratelimit.Limiter{l}, "k", 50, 10, window)
		wantExactlyAllowed(t, decisions, 10)
	})
}

// takeConcurrently calls Take n times at once, spread over limiters, and
// returns the decisions.
func takeConcurrently(t *testing.T, limiters []ratelimit.Limiter, key string, n, limit int, window time.Duration) []ratelimit.Decision {
	t.Helper()
	decisions := make([]ratelimit.Decision, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			decisions[i], errs[i] = limiters[i%len(limiters)].Take(t.Context(), key, limit, window)
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Take: %v", err)
	}
	return decisions
}

// wantExactlyAllowed checks that exactly limit decisions were allowed, each
// with a different Remaining from limit-1 down to 0.
func wantExactlyAllowed(t *testing.T, decisions []ratelimit.Decision, limit int) {
	t.Helper()
	remaining := make(map[int]int)
	for _, d := range decisions {
		if d.Allowed {
			remaining[d.Remaining]++
		}
	}
	allowed := 0
	for _, n := range remaining {
		allowed += n
	}
	if allowed != limit {
		t.Fatalf("got %d allowed, want %d", allowed, limit)
	}
	for r := range limit {
		if remaining[r] != 1 {
			t.Errorf("Remaining %d seen %d times, want once", r, remaining[r])
		}
	}
}

func take(t *testing.T, l ratelimit.Limiter, key string, limit int, window time.Duration) ratelimit.Decision {
	t.Helper()
	d, err := l.Take(t.Context(), key, limit, window)
	if err != nil {
		t.Fatalf("Take(%q): %v", key, err)
	}
	return d
}

func peek(t *testing.T, l ratelimit.Limiter, key string, limit int) ratelimit.Decision {
	t.Helper()
	d, err := l.Peek(t.Context(), key, limit)
	if err != nil {
		t.Fatalf("Peek(%q): %v", key, err)
	}
	return d
}

func strike(t *testing.T, l ratelimit.Limiter, key string, idle time.Duration) int {
	t.Helper()
	n, err := l.Strike(t.Context(), key, idle)
	if err != nil {
		t.Fatalf("Strike(%q): %v", key, err)
	}
	return n
}

func wantStreak(t *testing.T, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("got a streak of %d, want %d", got, want)
	}
}

func undo(t *testing.T, l ratelimit.Limiter, key string, window time.Duration) {
	t.Helper()
	if err := l.Undo(t.Context(), key, window); err != nil {
		t.Fatalf("Undo(%q): %v", key, err)
	}
}

func wantAllowed(t *testing.T, d ratelimit.Decision, remaining int) {
	t.Helper()
	want := ratelimit.Decision{Allowed: true, Remaining: remaining}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

// wantDenied checks a denial whose window ends in retryAfter, give or take
// the time the test itself took.
func wantDenied(t *testing.T, d ratelimit.Decision, retryAfter time.Duration) {
	t.Helper()
	if d.Allowed || d.Remaining != 0 || d.RetryAfter > retryAfter || d.RetryAfter <= retryAfter-slack {
		t.Fatalf("got %+v, want denied with RetryAfter %v (-%v)", d, retryAfter, slack)
	}
}
