package smstest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/sms"
	"github.com/watchword/watchword/internal/sms/smstest"
)

func TestReceiver(t *testing.T) {
	r := smstest.NewWebhookReceiver(t)
	w := sms.NewWebhook(r.URL(), nil)
	m := &account.Message{ID: 1, Channel: account.ChannelPhone, To: "+8613800138000", Text: "Your code is 123456"}

	r.SetFailing(true)
	if err := w.Send(context.Background(), m); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("failing: got %v, want a 503 error", err)
	}
	r.SetFailing(false)
	go func() {
		time.Sleep(10 * time.Millisecond)
		_ = w.Send(context.Background(), m)
	}()
	got := r.WaitFor(t, 1, 5*time.Second)
	if len(got) != 1 || got[0] != (smstest.Message{To: m.To, Body: m.Text}) {
		t.Errorf("got %+v", got)
	}
	if len(r.Messages()) != 1 {
		t.Errorf("Messages: got %d, want 1", len(r.Messages()))
	}
}
