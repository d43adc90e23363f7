package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/outbox"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// memQueue is an in-memory Queue with the semantics sqlstore provides.
type memQueue struct {
	mu       sync.Mutex
	nextID   int64
	rows     map[int64]*row
	claims   int
	claimErr []error   // returned by the next claims, in order
	marks    [][]int64 // the ids of each MarkSent, in order
}

type row struct {
	m        account.Message
	state    string // pending, sent, failed
	lastErr  string
	retries  []time.Time // next attempt times given to MarkRetry
	sentAt   time.Time
	failedAt time.Time
}

func newQueue() *memQueue { return &memQueue{rows: map[int64]*row{}} }

func (q *memQueue) add(now time.Time, ch account.Channel, to, text string) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.nextID++
	q.rows[q.nextID] = &row{
		m:     account.Message{ID: q.nextID, Channel: ch, To: to, Subject: "Your code", Text: text, CreatedAt: now, NextAttemptAt: now},
		state: "pending",
	}
	return q.nextID
}

func (q *memQueue) ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*account.Message, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.claims++
	if len(q.claimErr) > 0 {
		err := q.claimErr[0]
		q.claimErr = q.claimErr[1:]
		return nil, err
	}
	var ids []int64
	for id, r := range q.rows {
		if r.state == "pending" && !r.m.NextAttemptAt.After(now) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var out []*account.Message
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		r := q.rows[id]
		r.m.Attempts++
		r.m.NextAttemptAt = now.Add(lease)
		m := r.m
		out = append(out, &m)
	}
	return out, nil
}

func (q *memQueue) MarkSent(ctx context.Context, now time.Time, ids ...int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.marks = append(q.marks, ids)
	for _, id := range ids {
		r := q.rows[id]
		r.state, r.sentAt = "sent", now
	}
	return nil
}

func (q *memQueue) MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.rows[id]
	r.m.NextAttemptAt, r.lastErr = next, lastErr
	r.retries = append(r.retries, next)
	return nil
}

func (q *memQueue) MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.rows[id]
	r.state, r.failedAt, r.lastErr = "failed", now, lastErr
	return nil
}

// get returns a copy of row id.
func (q *memQueue) get(id int64) row {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := *q.rows[id]
	r.retries = append([]time.Time(nil), r.retries...)
	return r
}

func (q *memQueue) claimCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.claims
}

// recSender records what it is asked to send and fails with err when set.
type recSender struct {
	mu   sync.Mutex
	got  []account.Message
	fail func(m *account.Message) error
}

func (s *recSender) Send(ctx context.Context, m *account.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, *m)
	if s.fail != nil {
		return s.fail(m)
	}
	return nil
}

func (s *recSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// metrics counts outcomes per channel.
type metrics struct {
	mu           sync.Mutex
	sent, failed map[account.Channel]int
}

func newMetrics() *metrics {
	return &metrics{sent: map[account.Channel]int{}, failed: map[account.Channel]int{}}
}

func (m *metrics) MessageSent(ch account.Channel) {
	m.mu.Lock()
	m.sent[ch]++
	m.mu.Unlock()
}

func (m *metrics) MessageFailed(ch account.Channel) {
	m.mu.Lock()
	m.failed[ch]++
	m.mu.Unlock()
}

func (m *metrics) counts(ch account.Channel) (sent, failed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent[ch], m.failed[ch]
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond until it holds or fails the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// start runs w until the test ends and returns a function that stops it
// and returns Run's result.
func start(t *testing.T, w *outbox.Worker) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				err = errors.New("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func TestRunDeliversAtOnce(t *testing.T) {
	clk, q, m := newClock(), newQueue(), newMetrics()
	ids := []int64{
		q.add(clk.Now(), account.ChannelEmail, "alice@example.com", "code 111111"),
		q.add(clk.Now(), account.ChannelPhone, "+8613800138000", "code 222222"),
		q.add(clk.Now().Add(-time.Hour), account.ChannelEmail, "bob@example.com", "code 333333"),
	}
	email, phone := &recSender{}, &recSender{}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: email, account.ChannelPhone: phone},
		nil, outbox.Options{Now: clk.Now, PollInterval: time.Hour, Parallel: 2, Metrics: m})
	stop := start(t, w)

	waitFor(t, "three messages sent", func() bool {
		for _, id := range ids {
			if q.get(id).state != "sent" {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := email.count(), 2; got != want {
		t.Errorf("email sends: got %d, want %d", got, want)
	}
	if got, want := phone.count(), 1; got != want {
		t.Errorf("phone sends: got %d, want %d", got, want)
	}
	if r := q.get(ids[0]); !r.sentAt.Equal(clk.Now()) {
		t.Errorf("sent at: got %v, want %v", r.sentAt, clk.Now())
	}
	if sent, _ := m.counts(account.ChannelEmail); sent != 2 {
		t.Errorf("email sent metric: got %d, want 2", sent)
	}
	if sent, _ := m.counts(account.ChannelPhone); sent != 1 {
		t.Errorf("phone sent metric: got %d, want 1", sent)
	}
}

func TestRetryBackoffThenFail(t *testing.T) {
	clk, q, m := newClock(), newQueue(), newMetrics()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const to, body = "alice@example.com", "Your code is 424242"
	id := q.add(clk.Now(), account.ChannelEmail, to, body)
	sender := &recSender{fail: func(m *account.Message) error {
		// Servers echo the recipient; the worker must not store or log it.
		return fmt.Errorf("550 mailbox unavailable: <%s>", m.To)
	}}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: sender}, log, outbox.Options{
		Now: clk.Now, PollInterval: time.Hour, MaxAttempts: 6, BaseBackoff: time.Second, MaxBackoff: 4 * time.Second, Metrics: m,
	})
	start(t, w)

	wantDelays := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, want := range wantDelays {
		attempt := i + 1
		waitFor(t, fmt.Sprintf("retry %d", attempt), func() bool { return len(q.get(id).retries) == attempt })
		r := q.get(id)
		delay := r.retries[i].Sub(clk.Now())
		if delay > want || delay < want*9/10 {
			t.Errorf("attempt %d: next attempt in %v, want %v less at most 10%% jitter", attempt, delay, want)
		}
		if r.m.Attempts != attempt {
			t.Errorf("attempt %d: Attempts = %d", attempt, r.m.Attempts)
		}
		// Not due yet: a wake must not send it again.
		clk.Advance(delay - time.Millisecond)
		w.Wake()
		waitFor(t, "claim after wake", func() bool { return q.claimCount() > 2*i+1 })
		if got := sender.count(); got != attempt {
			t.Fatalf("attempt %d: sends before due: got %d, want %d", attempt, got, attempt)
		}
		clk.Advance(time.Millisecond)
		w.Wake()
	}
	waitFor(t, "failed", func() bool { return q.get(id).state == "failed" })
	r := q.get(id)
	if got, want := sender.count(), 6; got != want {
		t.Errorf("sends: got %d, want %d", got, want)
	}
	if !strings.Contains(r.lastErr, "550 mailbox unavailable") || strings.Contains(r.lastErr, to) {
		t.Errorf("last error %q: want the server reply with the address masked", r.lastErr)
	}
	if _, failed := m.counts(account.ChannelEmail); failed != 1 {
		t.Errorf("failed metric: got %d, want 1", failed)
	}
	out := logs.String()
	for _, secret := range []string{to, body, "424242"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"message_id=1", "channel=email", "attempt=6", "a***@example.com", "550 mailbox unavailable"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

func TestNoSenderForChannel(t *testing.T) {
	clk, q, m := newClock(), newQueue(), newMetrics()
	id := q.add(clk.Now(), account.ChannelPhone, "+8613800138000", "code")
	email := &recSender{}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: email}, nil,
		outbox.Options{Now: clk.Now, PollInterval: time.Hour, Metrics: m})
	start(t, w)
	waitFor(t, "failed", func() bool { return q.get(id).state == "failed" })
	if r := q.get(id); !strings.Contains(r.lastErr, `no sender configured for channel "phone"`) {
		t.Errorf("last error: got %q", r.lastErr)
	}
	if email.count() != 0 {
		t.Errorf("email sender used for a phone message")
	}
	if _, failed := m.counts(account.ChannelPhone); failed != 1 {
		t.Errorf("failed metric: got %d, want 1", failed)
	}
}

func TestWake(t *testing.T) {
	clk, q := newClock(), newQueue()
	sender := &recSender{}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: sender}, nil,
		outbox.Options{Now: clk.Now, PollInterval: time.Hour})
	start(t, w)
	waitFor(t, "first look at the queue", func() bool { return q.claimCount() >= 1 })

	id := q.add(clk.Now(), account.ChannelEmail, "alice@example.com", "code")
	w.Wake()
	w.Wake() // merged, never blocks
	waitFor(t, "delivery after Wake", func() bool { return q.get(id).state == "sent" })
}

func TestPollInterval(t *testing.T) {
	clk, q := newClock(), newQueue()
	sender := &recSender{}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: sender}, nil,
		outbox.Options{Now: clk.Now, PollInterval: 5 * time.Millisecond})
	start(t, w)
	waitFor(t, "first look at the queue", func() bool { return q.claimCount() >= 1 })
	id := q.add(clk.Now(), account.ChannelEmail, "alice@example.com", "code")
	waitFor(t, "delivery on the next tick", func() bool { return q.get(id).state == "sent" })
}

func TestQueueErrorsAreRetried(t *testing.T) {
	clk, q := newClock(), newQueue()
	q.claimErr = []error{errors.New("database is locked"), errors.New("database is locked")}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	id := q.add(clk.Now(), account.ChannelEmail, "alice@example.com", "code")
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: &recSender{}}, log,
		outbox.Options{Now: clk.Now, PollInterval: 5 * time.Millisecond})
	start(t, w)
	waitFor(t, "delivery after queue errors", func() bool { return q.get(id).state == "sent" })
	if !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("queue error not logged:\n%s", logs.String())
	}
}

// blockingSender blocks every Send until released.
type blockingSender struct {
	started chan *account.Message
	release chan struct{}
	ctxErr  chan error // ctx.Err() seen when released
}

func (s *blockingSender) Send(ctx context.Context, m *account.Message) error {
	s.started <- m
	select {
	case <-s.release:
		s.ctxErr <- ctx.Err()
		return nil
	case <-ctx.Done():
		s.ctxErr <- ctx.Err()
		return ctx.Err()
	}
}

func TestGracefulStop(t *testing.T) {
	clk, q := newClock(), newQueue()
	ids := []int64{
		q.add(clk.Now(), account.ChannelEmail, "a@example.com", "1"),
		q.add(clk.Now(), account.ChannelEmail, "b@example.com", "2"),
		q.add(clk.Now(), account.ChannelEmail, "c@example.com", "3"),
	}
	s := &blockingSender{started: make(chan *account.Message, 3), release: make(chan struct{}), ctxErr: make(chan error, 3)}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: s}, nil,
		outbox.Options{Now: clk.Now, PollInterval: time.Hour, Lease: time.Minute, Parallel: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	inHand := <-s.started
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while a send was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(s.release)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: got %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := <-s.ctxErr; err != nil {
		t.Errorf("send in flight saw ctx error %v; shutdown must not cut it", err)
	}
	if got := q.get(inHand.ID).state; got != "sent" {
		t.Errorf("message in hand: state %q, want sent", got)
	}
	for _, id := range ids {
		if id == inHand.ID {
			continue
		}
		r := q.get(id)
		if r.state != "pending" || r.m.Attempts != 0 || !r.m.NextAttemptAt.Equal(clk.Now()) {
			t.Errorf("message %d: state %q, %d attempts, due %v; want pending, never claimed, due now", id, r.state, r.m.Attempts, r.m.NextAttemptAt)
		}
	}
	if n := len(s.started); n != 0 {
		t.Errorf("%d more sends started after shutdown", n)
	}
}

func TestSendTimeout(t *testing.T) {
	clk, q := newClock(), newQueue()
	id := q.add(clk.Now(), account.ChannelEmail, "a@example.com", "1")
	s := &blockingSender{started: make(chan *account.Message, 1), release: make(chan struct{}), ctxErr: make(chan error, 1)}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: s}, nil,
		outbox.Options{Now: clk.Now, PollInterval: time.Hour, SendTimeout: 20 * time.Millisecond})
	start(t, w)
	waitFor(t, "retry after timeout", func() bool { return len(q.get(id).retries) == 1 })
	if err := <-s.ctxErr; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sender ctx: got %v, want deadline exceeded", err)
	}
	if r := q.get(id); !strings.Contains(r.lastErr, "deadline exceeded") {
		t.Errorf("last error: got %q", r.lastErr)
	}
}

func TestMaskAddress(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"alice@example.com", "a***@example.com"},
		{"élodie@example.fr", "é***@example.fr"},
		{"@example.com", "***@example.com"},
		{"+8613800138000", "+86******8000"},
		{"+12025550123", "+12******0123"},
		{"+1234", "***"},
		{"", "***"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := outbox.MaskAddress(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestParallelSendsAndBatchedMarks: the worker has up to Parallel sends in
// flight, never more, claims only as many messages as it has free places
// (a claimed message is never left waiting out its lease behind a slow
// relay), marks the messages delivered meanwhile in one write, and on
// shutdown lets every send in flight finish and marks it.
func TestParallelSendsAndBatchedMarks(t *testing.T) {
	clk, q := newClock(), newQueue()
	const parallel, total = 3, 7
	var ids []int64
	for i := range total {
		ids = append(ids, q.add(clk.Now(), account.ChannelEmail, fmt.Sprintf("u%d@example.com", i), "code 123456"))
	}
	s := &blockingSender{started: make(chan *account.Message, total), release: make(chan struct{}), ctxErr: make(chan error, total)}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: s}, nil,
		outbox.Options{Now: clk.Now, PollInterval: 5 * time.Millisecond, Parallel: parallel})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	for range parallel {
		<-s.started
	}
	time.Sleep(30 * time.Millisecond) // several polls: none may claim more
	if n := len(s.started); n != 0 {
		t.Fatalf("%d sends started beyond the %d in flight", n, parallel)
	}
	claimed := 0
	for _, id := range ids {
		if q.get(id).m.Attempts > 0 {
			claimed++
		}
	}
	if claimed != parallel {
		t.Errorf("%d messages claimed with %d places, want %d", claimed, parallel, parallel)
	}

	close(s.release) // every send now returns at once
	waitFor(t, "all sent", func() bool {
		for _, id := range ids {
			if q.get(id).state != "sent" {
				return false
			}
		}
		return true
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	q.mu.Lock()
	marks := q.marks
	q.mu.Unlock()
	marked := 0
	for _, batch := range marks {
		marked += len(batch)
	}
	if marked != total {
		t.Errorf("MarkSent covered %d ids in %d writes, want %d ids", marked, len(marks), total)
	}
	t.Logf("%d messages marked in %d writes", total, len(marks))
}

// TestShutdownFinishesEverySendInFlight: with several sends in flight when
// the context ends, Run returns only after each has finished, and each is
// marked sent.
func TestShutdownFinishesEverySendInFlight(t *testing.T) {
	clk, q := newClock(), newQueue()
	const n = 4
	var ids []int64
	for i := range n {
		ids = append(ids, q.add(clk.Now(), account.ChannelEmail, fmt.Sprintf("u%d@example.com", i), "code 123456"))
	}
	s := &blockingSender{started: make(chan *account.Message, n), release: make(chan struct{}), ctxErr: make(chan error, n)}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: s}, nil,
		outbox.Options{Now: clk.Now, PollInterval: time.Hour, Parallel: n})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	for range n {
		<-s.started
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v with %d sends in flight", err, n)
	case <-time.After(50 * time.Millisecond):
	}
	close(s.release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for range n {
		if err := <-s.ctxErr; err != nil {
			t.Errorf("a send in flight saw %v; shutdown must not cut it", err)
		}
	}
	for _, id := range ids {
		if st := q.get(id).state; st != "sent" {
			t.Errorf("message %d: state %q after shutdown, want sent", id, st)
		}
	}
}
