package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

func testEnqueueMessage(t *testing.T, x *suite) {
	ctx := t.Context()
	var last int64
	for i := range 3 {
		m := &account.Message{Channel: account.ChannelEmail, To: "to@example.com", Subject: "Your code",
			Text: fmt.Sprintf("code %d", i), HTML: "<p>code</p>", CreatedAt: t0, NextAttemptAt: t0}
		wantErr(t, "EnqueueMessage", x.s.EnqueueMessage(ctx, m), nil)
		if m.ID <= last {
			t.Errorf("message %d got ID %d, want one above %d", i, m.ID, last)
		}
		last = m.ID
	}
}

func testEvents(t *testing.T, x *suite) {
	ctx := t.Context()
	u, v := x.createUser(t), x.createUser(t)
	var mine []*account.Event
	for i, kind := range []account.EventKind{account.EventSignUp, account.EventLogin, account.EventTOTPEnabled, account.EventLogout} {
		e := &account.Event{UID: u.UID, Kind: kind, IP: "198.51.100.7", UserAgent: "storetest",
			Detail: "n=" + fmt.Sprint(i), CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		wantErr(t, "RecordEvent", x.s.RecordEvent(ctx, e), nil)
		if len(mine) > 0 && e.ID <= mine[0].ID {
			t.Errorf("event got ID %d, want one above %d", e.ID, mine[0].ID)
		}
		mine = append([]*account.Event{e}, mine...)
	}
	wantErr(t, "RecordEvent", x.s.RecordEvent(ctx, &account.Event{UID: v.UID, Kind: account.EventLogin, CreatedAt: t0}), nil)
	wantErr(t, "RecordEvent without user", x.s.RecordEvent(ctx, &account.Event{Kind: account.EventLoginFailed, CreatedAt: t0}), nil)

	for _, tc := range []struct {
		name  string
		limit int
		want  []*account.Event
	}{
		{"All", 10, mine},
		{"Limit", 2, mine[:2]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := x.s.ListEvents(ctx, u.UID, tc.limit)
			wantErr(t, "ListEvents", err, nil)
			wantEqual(t, "events", got, tc.want)
		})
	}
	t.Run("None", func(t *testing.T) {
		got, err := x.s.ListEvents(ctx, x.uid(), 10)
		wantErr(t, "ListEvents", err, nil)
		if len(got) != 0 {
			t.Errorf("got %d events, want none", len(got))
		}
	})
}
