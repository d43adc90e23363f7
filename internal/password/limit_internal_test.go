package password

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var cheapParams = Params{Memory: 64, Time: 1, Threads: 1}

// gatedHasher returns a Hasher whose derivations count themselves in
// inFlight, record the most seen at once in peak, and block until gate is
// closed.
func gatedHasher(limit int) (h *Hasher, inFlight, peak *atomic.Int32, gate chan struct{}) {
	h = NewHasherLimit(cheapParams, limit)
	inFlight, peak, gate = new(atomic.Int32), new(atomic.Int32), make(chan struct{})
	real := h.idKey
	h.idKey = func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		defer inFlight.Add(-1)
		return real(password, salt, time, memory, threads, keyLen)
	}
	return h, inFlight, peak, gate
}

// waitFor polls cond; it only guards against a hang, it measures nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 20s", what)
}

// TestHasherBoundsInFlight: however many callers hash, verify and verify
// the dummy at once, no more than the limit derive at the same time, and
// every caller finishes once the slots free up.
func TestHasherBoundsInFlight(t *testing.T) {
	const limit, callers = 3, 24
	h, inFlight, peak, gate := gatedHasher(limit)
	if got := h.MaxInFlight(); got != limit {
		t.Fatalf("MaxInFlight = %d, want %d", got, limit)
	}
	// A hash made before the derivations are gated, for the verifiers.
	stored := encode(cheapParams, make([]byte, saltLen), cheapKey(t, "right one"))
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.Hash("a new password")
			case 1:
				var ok bool
				if ok, err = h.Verify(stored, "right one"); err == nil && !ok {
					err = errors.New("right password refused")
				}
			case 2:
				h.VerifyDummy("no such account")
			}
			errs <- err
		})
	}
	waitFor(t, "limit reached", func() bool { return inFlight.Load() == limit })
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := peak.Load(); got != limit {
		t.Errorf("at most %d derivations ran at once, want exactly the limit %d", got, limit)
	}
}

// cheapKey derives the key of password with the all-zero salt, without
// the limit.
func cheapKey(t *testing.T, password string) []byte {
	t.Helper()
	h := NewHasherLimit(cheapParams, 1)
	return h.idKey([]byte(password), make([]byte, saltLen), cheapParams.Time, cheapParams.Memory, cheapParams.Threads, keyLen)
}

// TestHasherWaitEndsWithContext: a caller whose context ends while every
// slot is taken leaves with the context's error, derives nothing, and
// does not keep a slot.
func TestHasherWaitEndsWithContext(t *testing.T) {
	h, inFlight, peak, gate := gatedHasher(1)
	done := make(chan error, 1)
	go func() { _, err := h.Hash("holds the only slot"); done <- err }()
	waitFor(t, "slot taken", func() bool { return inFlight.Load() == 1 })

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := h.HashContext(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("HashContext = %v, want context.Canceled", err)
	}
	if ok, rehash, err := h.VerifyRehashContext(ctx, h.dummy, "pw"); ok || rehash || !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyRehashContext = %v, %v, %v; want false, false, context.Canceled", ok, rehash, err)
	}
	if err := h.VerifyDummyContext(ctx, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyDummyContext = %v, want context.Canceled", err)
	}
	// A deadline that passes while waiting ends the wait too.
	short, cancelShort := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancelShort()
	if _, err := h.HashContext(short, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("HashContext past its deadline = %v, want context.DeadlineExceeded", err)
	}
	if got := peak.Load(); got != 1 {
		t.Errorf("%d derivations ran at once, want 1", got)
	}

	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The callers that gave up left the slot free.
	if _, err := h.HashContext(t.Context(), "after"); err != nil {
		t.Fatalf("Hash after the others gave up: %v", err)
	}
	// A malformed hash is reported as before, without waiting.
	if _, _, err := h.VerifyRehashContext(ctx, "nope", "pw"); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("VerifyRehashContext(malformed) = %v, want ErrMalformedHash", err)
	}
}

func TestDefaultMaxInFlight(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	tests := []struct {
		threads uint8
		want    int
	}{
		{1, procs},
		{2, max(1, procs/2)},
		{255, max(1, procs/255)},
	}
	for _, tc := range tests {
		p := Params{Memory: 8 * uint32(tc.threads), Time: 1, Threads: tc.threads}
		if got := DefaultMaxInFlight(p); got != tc.want {
			t.Errorf("DefaultMaxInFlight(p=%d) with GOMAXPROCS %d = %d, want %d", tc.threads, procs, got, tc.want)
		}
		if got := NewHasher(p).MaxInFlight(); got != tc.want {
			t.Errorf("NewHasher(p=%d).MaxInFlight() = %d, want %d", tc.threads, got, tc.want)
		}
	}
}
