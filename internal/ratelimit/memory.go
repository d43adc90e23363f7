package ratelimit

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is the minimum number of calls between two sweeps of expired
// entries. A sweep also waits for as many calls as there are entries, so its
// cost stays constant per call however many keys are live.
const sweepEvery = 1024

var _ Limiter = (*Memory)(nil)

// Memory is a Limiter for a single instance, safe for concurrent use.
type Memory struct {
	now func() time.Time

	mu      sync.Mutex
	entries map[string]memEntry
	calls   int // since the last sweep
}

type memEntry struct {
	count int
	end   time.Time // the window ends at end; the entry is dead from then on
}

// NewMemory returns an empty Memory that reads the time from now, or from
// time.Now when now is nil.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, entries: make(map[string]memEntry)}
}

// Take implements Limiter.
func (m *Memory) Take(ctx context.Context, key string, limit int, window time.Duration) (Decision, error) {
	if err := checkTake(limit, window); err != nil {
		return Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	now := m.now()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)

	e, ok := m.entries[key]
	if !ok || !now.Before(e.end) {
		e = memEntry{end: now.Add(window)}
	}
	if e.count >= limit {
		return Decision{RetryAfter: e.end.Sub(now)}, nil
	}
	e.count++
	m.entries[key] = e
	return Decision{Allowed: true, Remaining: limit - e.count}, nil
}

// Undo implements Limiter.
func (m *Memory) Undo(ctx context.Context, key string, window time.Duration) error {
	if err := checkWindow(window); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()

	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	switch {
	case !ok:
	case !now.Before(e.end):
		delete(m.entries, key)
	case e.count > 0:
		// Keep the entry at 0 rather than deleting it: the window that
		// started at the first Take goes on, as it does in Redis.
		e.count--
		m.entries[key] = e
	}
	return nil
}

// Peek implements Limiter.
func (m *Memory) Peek(ctx context.Context, key string, limit int) (Decision, error) {
	if err := checkLimit(limit); err != nil {
		return Decision{}, err
	}
	if err := ctx.Err(); err != nil {
		return Decision{}, err
	}
	now := m.now()

	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || !now.Before(e.end) {
		return Decision{Allowed: true, Remaining: limit}, nil
	}
	if e.count >= limit {
		return Decision{RetryAfter: e.end.Sub(now)}, nil
	}
	return Decision{Allowed: true, Remaining: limit - e.count}, nil
}

// Strike implements Limiter.
func (m *Memory) Strike(ctx context.Context, key string, idle time.Duration) (int, error) {
	if err := checkWindow(idle); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.now()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)
	e, ok := m.entries[key]
	if !ok || !now.Before(e.end) {
		e = memEntry{}
	}
	e.count++
	e.end = now.Add(idle)
	m.entries[key] = e
	return e.count, nil
}

// Reset implements Limiter.
func (m *Memory) Reset(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.entries, key)
	return nil
}

// maybeSweep deletes expired entries once enough calls have gone by, so
// memory stays bounded by the keys live in their window. m.mu must be held.
func (m *Memory) maybeSweep(now time.Time) {
	m.calls++
	if m.calls < sweepEvery || m.calls < len(m.entries) {
		return
	}
	m.calls = 0
	for k, e := range m.entries {
		if !now.Before(e.end) {
			delete(m.entries, k)
		}
	}
}
