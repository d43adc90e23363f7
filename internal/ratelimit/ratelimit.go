// Package ratelimit counts events per key in fixed windows, in memory for a
// single instance or in Redis when several instances share the limits.
//
// A window starts at the first Take for a key and lasts the given duration;
// keys carry no time, so there is no boundary at which a client can double
// its rate by straddling two calendar windows.
//
// Strike counts a streak instead: consecutive failures that are forgotten
// only after a quiet spell, which is what growing delays are built on.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is returned for a limit below 1 or a window shorter than a
// millisecond, the resolution of Redis expiry.
var ErrInvalid = errors.New("ratelimit: invalid limit or window")

// Limiter counts events per key in fixed windows.
//
// Implementations return errors (unreachable store, cancelled context)
// rather than guessing; callers should then refuse the attempt (fail closed).
type Limiter interface {
	// Take counts one event for key and reports whether the count stays
	// within limit for the current window. When it does not, the event is
	// not counted and Decision.RetryAfter says when the window ends.
	Take(ctx context.Context, key string, limit int, window time.Duration) (Decision, error)
	// Undo gives back one event taken in the current window (used when an
	// attempt succeeded and only failures should count). It never goes
	// below 0 and does not move the end of the window.
	Undo(ctx context.Context, key string, window time.Duration) error
	// Peek reports what Take would decide now for key, without counting
	// anything: callers that only count failures check before the attempt
	// and Take after it failed.
	Peek(ctx context.Context, key string, limit int) (Decision, error)
	// Strike counts one more failure in key's streak and returns how long
	// the streak is now. Unlike a window, every Strike pushes the end back:
	// the streak is forgotten only once idle passes without one (or on
	// Reset). Use keys of their own for streaks, not those of Take.
	Strike(ctx context.Context, key string, idle time.Duration) (int, error)
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// Decision is the outcome of a Take or a Peek.
type Decision struct {
	// Allowed reports whether the event was within the limit (and, for
	// Take, counted).
	Allowed bool
	// Remaining is how many more events the window allows (for Peek,
	// counting the one peeked at as not yet taken); 0 when denied.
	Remaining int
	// RetryAfter is the time until the window ends; set only when denied.
	RetryAfter time.Duration
}

func checkTake(limit int, window time.Duration) error {
	if err := checkLimit(limit); err != nil {
		return err
	}
	return checkWindow(window)
}

func checkLimit(limit int) error {
	if limit < 1 {
		return fmt.Errorf("%w: limit %d", ErrInvalid, limit)
	}
	return nil
}

func checkWindow(window time.Duration) error {
	if window < time.Millisecond {
		return fmt.Errorf("%w: window %v", ErrInvalid, window)
	}
	return nil
}
