// Package outbox delivers the messages that the account service stores in
// the durable outbox: a Worker claims due messages from a Queue, hands each
// to the Sender for its channel and records the outcome, retrying with
// capped exponential backoff. Storing first and delivering later means a
// code survives a crash or an SMTP outage between "sent" and "received".
//
// The package also holds the development sender (Dev), which shows messages
// on /dev/outbox instead of (or, with Tee, as well as) delivering them.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// Queue is the durable store of messages (implemented by sqlstore.DB).
type Queue interface {
	// ClaimMessages returns up to limit messages that are due at now and
	// leases them to the caller until now+lease, so that no other worker
	// takes them meanwhile. Attempts is already incremented: it is the
	// number of the attempt about to be made.
	ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*account.Message, error)
	// MarkSent records that the messages ids were delivered. The worker
	// marks the messages delivered meanwhile together, in one write.
	MarkSent(ctx context.Context, now time.Time, ids ...int64) error
	// MarkRetry makes message id due again at next and records lastErr.
	MarkRetry(ctx context.Context, id int64, next time.Time, lastErr string) error
	// MarkFailed records that message id will never be delivered.
	MarkFailed(ctx context.Context, id int64, now time.Time, lastErr string) error
}

// Sender delivers one message on one channel.
type Sender interface {
	// Send delivers m or returns why it could not. The outbox retries
	// any error, so Send need not distinguish temporary from permanent.
	Send(ctx context.Context, m *account.Message) error
}

// Metrics receives delivery outcomes (the lead implements it with
// Prometheus). A nil Metrics records nothing.
type Metrics interface {
	// MessageSent is called once per delivered message.
	MessageSent(channel account.Channel)
	// MessageFailed is called once per message given up on.
	MessageFailed(channel account.Channel)
}

// Options tune a Worker. Zero fields take the documented defaults.
type Options struct {
	Now          func() time.Time // clock for claims and retry times; default time.Now
	PollInterval time.Duration    // how often the queue is looked at without a Wake; default 2s
	Lease        time.Duration    // how long a claimed message is reserved; default 1m
	Parallel     int              // sends in flight at once (and most messages claimed at once); default 16
	MaxAttempts  int              // attempts before MarkFailed; default 15
	BaseBackoff  time.Duration    // delay after the first failure; default 2s
	MaxBackoff   time.Duration    // cap on the delay; default 10m
	SendTimeout  time.Duration    // time allowed for one Send; default 30s
	// WakeDelay is how long the worker waits after a Wake before it looks
	// at the queue; default 10ms. The request that queued the message then
	// answers before delivery competes with it for the CPU (an answer that
	// is slower when a message went out would tell whether an account
	// exists), and messages queued together are claimed together.
	WakeDelay time.Duration
	Metrics   Metrics // optional
}

// Default values of Options.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultWakeDelay    = 10 * time.Millisecond
	DefaultLease        = time.Minute
	DefaultParallel     = 16
	DefaultMaxAttempts  = 15
	DefaultBaseBackoff  = 2 * time.Second
	DefaultMaxBackoff   = 10 * time.Minute
	DefaultSendTimeout  = 30 * time.Second
)

// storeTimeout bounds the queue writes that record an outcome. They run on
// a context detached from shutdown, so that a message delivered just before
// shutdown is still marked sent rather than delivered twice.
const storeTimeout = 10 * time.Second

// Worker delivers the messages of a Queue through per-channel Senders.
// One Worker has up to Options.Parallel sends in flight, and claims only as
// many messages as it has free places, so that a claimed message is sent
// at once, well within its lease, however slow the relay. Several Workers
// (in one or several processes) may share a Queue because claims are
// leased.
type Worker struct {
	q       Queue
	senders map[account.Channel]Sender
	log     *slog.Logger
	opt     Options
	wake    chan struct{}
	places  chan struct{} // one token per send in flight
	sends   sync.WaitGroup
	sent    chan int64 // delivered messages on their way to MarkSent
}

// NewWorker returns a Worker that delivers the messages of q through
// senders, keyed by channel. A nil log discards log output.
func NewWorker(q Queue, senders map[account.Channel]Sender, log *slog.Logger, opt Options) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = DefaultPollInterval
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Parallel <= 0 {
		opt.Parallel = DefaultParallel
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	if opt.BaseBackoff <= 0 {
		opt.BaseBackoff = DefaultBaseBackoff
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = DefaultMaxBackoff
	}
	if opt.MaxBackoff < opt.BaseBackoff {
		opt.MaxBackoff = opt.BaseBackoff
	}
	if opt.WakeDelay <= 0 {
		opt.WakeDelay = DefaultWakeDelay
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = DefaultSendTimeout
	}
	s := make(map[account.Channel]Sender, len(senders))
	for ch, sender := range senders {
		if sender != nil {
			s[ch] = sender
		}
	}
	return &Worker{
		q: q, senders: s, log: log, opt: opt,
		wake:   make(chan struct{}, 1),
		places: make(chan struct{}, opt.Parallel),
		sent:   make(chan int64, opt.Parallel),
	}
}

// Wake asks the worker to look at the queue now. It never blocks; wakes
// that arrive while the worker is busy are merged into one.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers due messages until ctx is cancelled: at once when it starts
// (so a restart retries every pending message immediately), then on every
// Wake and every PollInterval. When ctx is cancelled it claims nothing
// more, lets the sends in flight finish (each keeps its SendTimeout and
// its outcome is recorded) and returns nil. Queue errors are logged and
// retried on the next tick. Run must not be called twice at once.
func (w *Worker) Run(ctx context.Context) error {
	marked := make(chan struct{})
	go func() {
		defer close(marked)
		w.markSent(context.WithoutCancel(ctx))
	}()
	defer func() {
		w.sends.Wait()
		close(w.sent)
		<-marked
	}()

	ticker := time.NewTicker(w.opt.PollInterval)
	defer ticker.Stop()
	for {
		w.drain(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-w.wake:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(w.opt.WakeDelay):
			}
		}
	}
}

// drain claims and starts sending messages until the queue has nothing
// due or ctx is done. It waits for a free place before each claim and
// claims as many messages as there are free places.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		select {
		case w.places <- struct{}{}:
		case <-ctx.Done():
			return
		}
		free := 1
	more:
		for free < w.opt.Parallel {
			select {
			case w.places <- struct{}{}:
				free++
			default:
				break more
			}
		}
		msgs, err := w.q.ClaimMessages(ctx, w.opt.Now(), w.opt.Lease, free)
		for range free - len(msgs) {
			<-w.places
		}
		if err != nil {
			if ctx.Err() == nil {
				w.log.ErrorContext(ctx, "outbox: claim messages", "error", err)
			}
			return
		}
		for _, m := range msgs {
			w.sends.Add(1)
			go func() {
				defer func() {
					<-w.places
					w.sends.Done()
				}()
				w.deliver(ctx, m)
			}()
		}
		if len(msgs) < free {
			return
		}
	}
}

// markSent records deliveries until w.sent is closed: whatever has been
// delivered while the last write ran goes into the next one, so that a
// busy outbox costs one write per batch rather than one per message, and
// a quiet one still marks each message at once.
func (w *Worker) markSent(ctx context.Context) {
	for id := range w.sent {
		ids := []int64{id}
	gather:
		for len(ids) < maxMarkBatch {
			select {
			case id, ok := <-w.sent:
				if !ok {
					break gather
				}
				ids = append(ids, id)
			default:
				break gather
			}
		}
		mctx, cancel := context.WithTimeout(ctx, storeTimeout)
		if err := w.q.MarkSent(mctx, w.opt.Now(), ids...); err != nil {
			// The messages went out but stay leased; they will be sent
			// again when the lease expires (at-least-once delivery).
			w.log.ErrorContext(ctx, "outbox: mark sent", "messages", len(ids), "error", err)
		}
		cancel()
	}
}

// maxMarkBatch bounds the ids of one MarkSent (and so its statement).
const maxMarkBatch = 256

// deliver sends m and records the outcome.
func (w *Worker) deliver(ctx context.Context, m *account.Message) {
	// Detached from ctx: shutdown must not cut a send in flight, or the
	// recording of its outcome.
	base := context.WithoutCancel(ctx)
	log := w.log.With("message_id", m.ID, "channel", string(m.Channel), "attempt", m.Attempts, "to", MaskAddress(m.To))

	sender, ok := w.senders[m.Channel]
	if !ok {
		w.fail(base, log, m, fmt.Sprintf("no sender configured for channel %q", m.Channel))
		return
	}

	start := time.Now()
	err := w.send(base, sender, m)
	if err == nil {
		w.sent <- m.ID
		if w.opt.Metrics != nil {
			w.opt.Metrics.MessageSent(m.Channel)
		}
		log.InfoContext(ctx, "outbox: message delivered", "duration", time.Since(start))
		return
	}

	lastErr := scrub(err.Error(), m.To)
	if m.Attempts >= w.opt.MaxAttempts {
		w.fail(base, log, m, lastErr)
		return
	}
	next := w.opt.Now().Add(w.backoff(m.Attempts))
	mctx, cancel := context.WithTimeout(base, storeTimeout)
	defer cancel()
	if err := w.q.MarkRetry(mctx, m.ID, next, lastErr); err != nil {
		// The lease expires and the message is claimed again.
		log.ErrorContext(ctx, "outbox: mark retry", "error", err)
	}
	log.WarnContext(ctx, "outbox: delivery failed, will retry", "error", lastErr, "next_attempt_at", next)
}

// send runs sender.Send with SendTimeout. A sender that ignores its
// context (a relay that never answers, a client without deadlines) is left
// behind when the time is up, so that one stalled relay never stops the
// delivery of every other message: the message counts as failed and is
// retried, and if the abandoned send went through after all, the message
// arrives twice, which at-least-once delivery allows.
func (w *Worker) send(ctx context.Context, sender Sender, m *account.Message) error {
	sctx, cancel := context.WithTimeout(ctx, w.opt.SendTimeout)
	defer cancel()
	done := make(chan error, 1) // buffered: an abandoned send never blocks
	go func() { done <- sender.Send(sctx, m) }()
	select {
	case err := <-done:
		return err
	case <-sctx.Done():
		select {
		case err := <-done: // it gave up at its deadline, as it should
			return err
		case <-time.After(sendGrace):
			return fmt.Errorf("send abandoned: no answer within %v", w.opt.SendTimeout)
		}
	}
}

// sendGrace is how long a sender may take past its deadline to return.
const sendGrace = time.Second

// fail gives up on m.
func (w *Worker) fail(ctx context.Context, log *slog.Logger, m *account.Message, reason string) {
	mctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := w.q.MarkFailed(mctx, m.ID, w.opt.Now(), reason); err != nil {
		log.ErrorContext(ctx, "outbox: mark failed", "error", err)
	}
	if w.opt.Metrics != nil {
		w.opt.Metrics.MessageFailed(m.Channel)
	}
	log.ErrorContext(ctx, "outbox: delivery failed permanently", "error", reason)
}

// backoff returns the delay before the attempt that follows attempt number
// attempts: BaseBackoff*2^(attempts-1), capped at MaxBackoff, less up to 10%
// of jitter so that messages failed together do not retry in lockstep.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.opt.BaseBackoff
	for i := 1; i < attempts && d < w.opt.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.opt.MaxBackoff)
	if j := int64(d / 10); j > 0 {
		d -= time.Duration(rand.Int64N(j + 1))
	}
	return d
}

// scrub removes the recipient's address from an error text (SMTP servers
// and gateways like to echo it), since the text is logged and stored.
func scrub(s, to string) string {
	if to == "" {
		return s
	}
	return strings.ReplaceAll(s, to, MaskAddress(to))
}

// MaskAddress hides most of an email address or phone number so that it
// can be logged: "alice@example.com" becomes "a***@example.com" and
// "+8613800138000" becomes "+86******8000".
func MaskAddress(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		if at == 0 {
			return "***" + addr[at:]
		}
		first := []rune(addr[:at])[0]
		return string(first) + "***" + addr[at:]
	}
	if len(addr) >= 10 {
		return addr[:3] + "******" + addr[len(addr)-4:]
	}
	return "***"
}
