package smtptest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/email"
	"github.com/watchword/watchword/internal/email/smtptest"
)

func TestServerOutage(t *testing.T) {
	srv := smtptest.NewServer(t)
	if want := "smtp://" + srv.Addr(); srv.URL() != want {
		t.Errorf("URL: got %q, want %q", srv.URL(), want)
	}
	sender, err := email.NewSMTP(srv.URL(), "no-reply@watchword.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(text string) error {
		return sender.Send(context.Background(), &account.Message{
			ID: 1, Channel: account.ChannelEmail, To: "alice@example.com", Subject: "Code", Text: text, HTML: "<p>" + text + "</p>",
		})
	}

	if err := send("Your code is 111111."); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.WaitFor(t, 1, time.Second)
	if msgs[0].From != "no-reply@watchword.test" || len(msgs[0].To) != 1 || msgs[0].To[0] != "alice@example.com" {
		t.Errorf("envelope: got %q → %q", msgs[0].From, msgs[0].To)
	}
	if text, err := msgs[0].Text(); err != nil || strings.TrimSpace(text) != "Your code is 111111." {
		t.Errorf("Text: got %q, %v", text, err)
	}

	srv.Stop()
	srv.Stop()
	if err := send("Your code is 222222."); err == nil {
		t.Fatal("Send while stopped: got nil error")
	}
	srv.Start()
	srv.Start()
	if err := send("Your code is 333333."); err != nil {
		t.Fatalf("Send after Start: %v", err)
	}

	srv.SetFailing(true)
	if err := send("Your code is 444444."); err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("Send while failing: got %v, want a 451 error", err)
	}
	srv.SetFailing(false)

	msgs = srv.WaitFor(t, 2, time.Second)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if text, _ := msgs[1].Text(); !strings.Contains(text, "333333") {
		t.Errorf("second message: got %q", text)
	}
}

func TestWaitForWakesOnDelivery(t *testing.T) {
	srv := smtptest.NewServer(t)
	sender, err := email.NewSMTP(srv.URL(), "no-reply@watchword.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = sender.Send(context.Background(), &account.Message{To: "bob@example.com", Text: "hello"})
	}()
	if msgs := srv.WaitFor(t, 1, 5*time.Second); len(msgs) != 1 {
		t.Fatalf("got %d messages", len(msgs))
	}
}
