package outbox_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/outbox"
)

// deafSender never returns until released, whatever its context says: a
// relay client without deadlines.
type deafSender struct{ release chan struct{} }

func (s deafSender) Send(context.Context, *account.Message) error {
	<-s.release
	return nil
}

// TestStuckSenderDoesNotStallTheWorker: a send that ignores its deadline
// is abandoned after SendTimeout (plus a short grace), the message is
// retried later, and the other channel's messages still go out.
func TestStuckSenderDoesNotStallTheWorker(t *testing.T) {
	clk, q := newClock(), newQueue()
	stuck := q.add(clk.Now(), account.ChannelEmail, "a@example.com", "1")
	other := q.add(clk.Now(), account.ChannelPhone, "+8613800138000", "2")
	deaf := deafSender{release: make(chan struct{})}
	defer close(deaf.release)
	sms := &recSender{}
	w := outbox.NewWorker(q, map[account.Channel]outbox.Sender{account.ChannelEmail: deaf, account.ChannelPhone: sms}, nil,
		outbox.Options{Now: clk.Now, PollInterval: time.Hour, SendTimeout: 20 * time.Millisecond})
	start(t, w)
	waitFor(t, "stuck send abandoned", func() bool { return len(q.get(stuck).retries) == 1 })
	if r := q.get(stuck); !strings.Contains(r.lastErr, "abandoned") {
		t.Errorf("last error: got %q", r.lastErr)
	}
	waitFor(t, "other channel delivered", func() bool { return q.get(other).state == "sent" })
	if sms.count() != 1 {
		t.Errorf("SMS sent %d times, want 1", sms.count())
	}
}
