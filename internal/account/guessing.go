package account

import (
	"context"
	"sync"
	"time"
)

// Backoff is a delay that grows with consecutive failures: the first Free
// failures in a row cost nothing; after each further one the next attempt
// must wait, First after the first of them, doubling with each failure up
// to Max. The streak is forgotten Forget after its last failure, and at once
// on a success. Nothing ever locks for good: every wait ends by itself.
type Backoff struct {
	Free   int
	First  time.Duration
	Max    time.Duration
	Forget time.Duration
}

// delay is the wait that n consecutive failures impose on the next attempt.
func (b Backoff) delay(n int) time.Duration {
	if n <= b.Free {
		return 0
	}
	d := b.First
	for i := b.Free + 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max)
}

// guessWait is how long a check waits for its turn (see turns) before
// giving up with rate_limited.
const guessWait = 10 * time.Second

// guess names one thing an attacker may try to guess: the password behind
// one login identifier ("pw:"+key) or the codes sent to one address
// ("code:"+key). Its streak of failures and its delay live in the limiter,
// so they are shared by every instance when the limiter is Redis.
type guess string

func passwordGuess(identifierKey string) guess { return guess("pw:" + identifierKey) }
func codeGuess(addrKey string) guess           { return guess("code:" + addrKey) }

// checkDelay refuses an attempt while g's delay runs.
func (s *Service) checkDelay(ctx context.Context, g guess) error {
	return s.peek(ctx, "delay:"+string(g), 1)
}

// guessFailed counts a wrong guess in g's streak and, past b.Free failures
// in a row, makes the next attempt wait b.delay. The count is written
// before the request answers, so it stands whatever happens to the rest of
// the request; if it cannot be written the request fails (closed).
func (s *Service) guessFailed(ctx context.Context, g guess, b Backoff) error {
	n, err := s.limiter.Strike(ctx, "streak:"+string(g), b.Forget)
	if err != nil {
		s.log.ErrorContext(ctx, "rate limiter unavailable", "err", err)
		return ErrUnavailable
	}
	d := b.delay(n)
	if d <= 0 {
		return nil
	}
	// A delay still running (set by a failure checked at the same time)
	// keeps its end; the next failure sets the longer one.
	if _, _, err := s.limiter.Take(ctx, "delay:"+string(g), 1, d); err != nil {
		s.log.ErrorContext(ctx, "rate limiter unavailable", "err", err)
		return ErrUnavailable
	}
	s.log.InfoContext(ctx, "guessing delay", "kind", g.kind(), "failures", n, "delay", d)
	return nil
}

// guessSucceeded forgets g's streak and delay. Failing to only keeps the
// delay going, so the error is logged, not returned.
func (s *Service) guessSucceeded(ctx context.Context, g guess) {
	for _, key := range []string{"streak:" + string(g), "delay:" + string(g)} {
		if err := s.limiter.Reset(ctx, key); err != nil {
			s.log.WarnContext(ctx, "rate limit reset failed", "err", err)
		}
	}
}

// kind is what g is a guess of, for logs (never the identifier itself).
func (g guess) kind() string {
	if len(g) > 3 && g[:3] == "pw:" {
		return "password"
	}
	return "code"
}

// turns lets at most n checks of one key run at once on this instance;
// further ones wait for a turn instead of being refused. Checks peek at
// the failure counts and count a failure only once it happened, so without
// turns any number of parallel guesses would pass the same peek; with them
// at most n-1 more than a limit allow are checked per instance. The zero
// value is ready to use.
type turns struct {
	mu     sync.Mutex
	queues map[string]*turnQueue
}

type turnQueue struct {
	slots chan struct{}
	users int // holding or waiting for a slot; the queue goes when it is 0
}

// wait blocks until key has a free slot of n, for at most guessWait, and
// returns the function that frees it. A wait that ends without a slot is
// rate_limited: the key is busier than any person makes it.
func (t *turns) wait(ctx context.Context, key string, n int) (release func(), err error) {
	t.mu.Lock()
	if t.queues == nil {
		t.queues = make(map[string]*turnQueue)
	}
	q := t.queues[key]
	if q == nil {
		q = &turnQueue{slots: make(chan struct{}, max(n, 1))}
		t.queues[key] = q
	}
	q.users++
	t.mu.Unlock()

	leave := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if q.users--; q.users == 0 {
			delete(t.queues, key)
		}
	}
	timer := time.NewTimer(guessWait)
	defer timer.Stop()
	select {
	case q.slots <- struct{}{}:
		return func() { <-q.slots; leave() }, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	leave()
	return nil, RateLimited(time.Second)
}

// peek applies a limit that only failures count: it refuses when key has
// used up l in the current window, without counting this attempt.
func (s *Service) peek(ctx context.Context, key string, n int) error {
	ok, retry, err := s.limiter.Peek(ctx, key, n)
	if err != nil {
		s.log.ErrorContext(ctx, "rate limiter unavailable", "err", err)
		return ErrUnavailable
	}
	if !ok {
		return RateLimited(retry)
	}
	return nil
}

// countFailure counts one failure against a limit that peek checks. Over
// the limit already (a check that ran in parallel) it stays at the limit.
func (s *Service) countFailure(ctx context.Context, key string, l Limit) error {
	if _, _, err := s.limiter.Take(ctx, key, l.N, l.Window); err != nil {
		s.log.ErrorContext(ctx, "rate limiter unavailable", "err", err)
		return ErrUnavailable
	}
	return nil
}
