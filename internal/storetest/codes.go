package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

func testCreateFlow(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		f := x.flow(u.UID)
		f.Purpose, f.Channel, f.SessionID, f.Method = account.PurposeLoginMFA, account.ChannelPhone, "sid-1", "password"
		wantErr(t, "CreateFlow", x.s.CreateFlow(ctx, f), nil)
		got, err := x.s.FlowByIDHash(ctx, f.IDHash)
		wantErr(t, "FlowByIDHash", err, nil)
		wantEqual(t, "flow", got, f)
	})
	t.Run("Conflict", func(t *testing.T) {
		f := x.createFlow(t)
		g := x.flow("")
		g.IDHash = f.IDHash
		wantErr(t, "CreateFlow", x.s.CreateFlow(ctx, g), account.ErrConflict)
	})
	t.Run("NotFound", func(t *testing.T) {
		f, err := x.s.FlowByIDHash(ctx, x.bytes())
		wantErr(t, "FlowByIDHash", err, account.ErrNoRows)
		if f != nil {
			t.Errorf("got flow %+v with the error, want nil", f)
		}
	})
	t.Run("ExpiredStillReturned", func(t *testing.T) {
		f := x.flow("")
		f.ExpiresAt = t0.Add(time.Hour) // "expired" for any now after it
		wantErr(t, "CreateFlow", x.s.CreateFlow(ctx, f), nil)
		_, err := x.s.FlowByIDHash(ctx, f.IDHash)
		wantErr(t, "FlowByIDHash", err, nil)
	})
}

func testFinishFlow(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		f := x.createFlow(t)
		done := t0.Add(time.Minute)
		wantErr(t, "FinishFlow", x.s.FinishFlow(ctx, f.IDHash, done), nil)
		got, err := x.s.FlowByIDHash(ctx, f.IDHash)
		wantErr(t, "FlowByIDHash", err, nil)
		f.DoneAt = &done
		wantEqual(t, "flow", got, f)
	})
	t.Run("Twice", func(t *testing.T) {
		f := x.createFlow(t)
		wantErr(t, "FinishFlow", x.s.FinishFlow(ctx, f.IDHash, t0), nil)
		wantErr(t, "FinishFlow again", x.s.FinishFlow(ctx, f.IDHash, t0.Add(time.Second)), account.ErrConflict)
		got, err := x.s.FlowByIDHash(ctx, f.IDHash)
		wantErr(t, "FlowByIDHash", err, nil)
		if got.DoneAt == nil || !got.DoneAt.Equal(t0) {
			t.Errorf("DoneAt = %v, want the first finish %v", got.DoneAt, t0)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		wantErr(t, "FinishFlow", x.s.FinishFlow(ctx, x.bytes(), t0), account.ErrNoRows)
	})
	t.Run("Concurrent", func(t *testing.T) {
		f := x.createFlow(t)
		errs := race(10, func(int) error { return x.s.FinishFlow(ctx, f.IDHash, t0) })
		wantOneWinner(t, "FinishFlow", errs)
	})
}

func testFailFlow(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("Counts", func(t *testing.T) {
		f := x.createFlow(t)
		for want := 1; want <= 3; want++ {
			got, err := x.s.FailFlow(ctx, f.IDHash)
			wantErr(t, "FailFlow", err, nil)
			if got != want {
				t.Errorf("FailFlow = %d, want %d", got, want)
			}
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := x.s.FailFlow(ctx, x.bytes())
		wantErr(t, "FailFlow", err, account.ErrNoRows)
	})
	t.Run("Concurrent", func(t *testing.T) {
		f := x.createFlow(t)
		counts := make([]int, 20)
		errs := race(20, func(i int) (err error) {
			counts[i], err = x.s.FailFlow(ctx, f.IDHash)
			return err
		})
		wantCounts(t, "FailFlow", counts, errs)
	})
}

// wantCounts fails t unless the counts returned by n concurrent
// increments are 1..n, each once: no increment was lost or seen twice.
func wantCounts(t *testing.T, op string, counts []int, errs []error) {
	t.Helper()
	for i, err := range errs {
		wantErr(t, fmt.Sprintf("%s caller %d", op, i), err, nil)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("%s: sorted counts %v, want 1..%d", op, counts, len(counts))
		}
	}
}

func testPutCode(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		c := x.putCode(t)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		wantEqual(t, "code", got, c)
	})
	t.Run("NotFound", func(t *testing.T) {
		c := x.putCode(t)
		got, err := x.s.CodeFor(ctx, account.PurposeLogin, c.AddressKey)
		wantErr(t, "CodeFor another purpose", err, account.ErrNoRows)
		if got != nil {
			t.Errorf("got code %+v with the error, want nil", got)
		}
		_, err = x.s.CodeFor(ctx, c.Purpose, "other-"+c.AddressKey)
		wantErr(t, "CodeFor another address", err, account.ErrNoRows)
	})
	t.Run("Replaces", func(t *testing.T) {
		old := x.putCode(t)
		_, err := x.s.FailCode(ctx, old.Purpose, old.AddressKey, old.FlowIDHash)
		wantErr(t, "FailCode", err, nil)
		c := *old
		c.FlowIDHash, c.Hash, c.CreatedAt, c.ExpiresAt = x.bytes(), x.bytes(), t0.Add(time.Minute), t0.Add(2*time.Hour)
		wantErr(t, "PutCode", x.s.PutCode(ctx, &c), nil)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		wantEqual(t, "code (attempts reset)", got, &c)
		wantErr(t, "ConsumeCode by the old flow",
			x.s.ConsumeCode(ctx, old.Purpose, old.AddressKey, old.FlowIDHash, 5, t0), account.ErrConflict)
		wantErr(t, "ConsumeCode by the new flow",
			x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, 5, t0), nil)
	})
	t.Run("ReplacesConsumed", func(t *testing.T) {
		old := x.putCode(t)
		wantErr(t, "ConsumeCode", x.s.ConsumeCode(ctx, old.Purpose, old.AddressKey, old.FlowIDHash, 5, t0), nil)
		c := *old
		c.FlowIDHash, c.Hash = x.bytes(), x.bytes()
		wantErr(t, "PutCode", x.s.PutCode(ctx, &c), nil)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		if got.ConsumedAt != nil {
			t.Errorf("ConsumedAt = %v after replacement, want nil", got.ConsumedAt)
		}
		wantErr(t, "ConsumeCode new code", x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, 5, t0), nil)
	})
	t.Run("PerPurpose", func(t *testing.T) {
		c := x.putCode(t)
		d := *c
		d.Purpose, d.FlowIDHash = account.PurposeStepUp, x.bytes()
		wantErr(t, "PutCode", x.s.PutCode(ctx, &d), nil)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		wantEqual(t, "code of the first purpose", got, c)
	})
}

func testFailCode(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("Counts", func(t *testing.T) {
		c := x.putCode(t)
		for want := 1; want <= 3; want++ {
			got, err := x.s.FailCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash)
			wantErr(t, "FailCode", err, nil)
			if got != want {
				t.Errorf("FailCode = %d, want %d", got, want)
			}
		}
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		if got.Attempts != 3 {
			t.Errorf("Attempts = %d, want 3", got.Attempts)
		}
	})
	t.Run("OtherFlow", func(t *testing.T) {
		c := x.putCode(t)
		_, err := x.s.FailCode(ctx, c.Purpose, c.AddressKey, x.bytes())
		wantErr(t, "FailCode", err, account.ErrNoRows)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		if got.Attempts != 0 {
			t.Errorf("Attempts = %d after another flow's try, want 0", got.Attempts)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		_, key := x.email()
		_, err := x.s.FailCode(ctx, account.PurposeLogin, key, x.bytes())
		wantErr(t, "FailCode", err, account.ErrNoRows)
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := x.putCode(t)
		counts := make([]int, 20)
		errs := race(20, func(i int) (err error) {
			counts[i], err = x.s.FailCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash)
			return err
		})
		wantCounts(t, "FailCode", counts, errs)
	})
}

func testConsumeCode(t *testing.T, x *suite) {
	ctx := t.Context()
	const max = 3
	t.Run("OK", func(t *testing.T) {
		c := x.putCode(t)
		now := t0.Add(time.Minute)
		wantErr(t, "ConsumeCode", x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, max, now), nil)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		if got.ConsumedAt == nil || !got.ConsumedAt.Equal(now) {
			t.Errorf("ConsumedAt = %v, want %v", got.ConsumedAt, now)
		}
	})
	for _, tc := range []struct {
		name     string
		failures int // FailCode calls first
		flow     func(c *account.OneTimeCode) []byte
		purpose  account.Purpose // when not the code's
		now      time.Time
		err      error
	}{
		{name: "BelowMaxAttempts", failures: max - 1, now: t0, err: nil},
		{name: "MaxAttempts", failures: max, now: t0, err: account.ErrConflict},
		{name: "JustBeforeExpiry", now: t0.Add(time.Hour - time.Microsecond), err: nil},
		{name: "AtExpiry", now: t0.Add(time.Hour), err: account.ErrConflict},
		{name: "Expired", now: t0.Add(2 * time.Hour), err: account.ErrConflict},
		{name: "OtherFlow", flow: func(*account.OneTimeCode) []byte { return x.bytes() }, now: t0, err: account.ErrConflict},
		{name: "OtherPurpose", purpose: account.PurposeLogin, now: t0, err: account.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := x.putCode(t)
			for range tc.failures {
				if _, err := x.s.FailCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash); err != nil {
					t.Fatal(err)
				}
			}
			flow, purpose := c.FlowIDHash, c.Purpose
			if tc.flow != nil {
				flow = tc.flow(c)
			}
			if tc.purpose != "" {
				purpose = tc.purpose
			}
			wantErr(t, "ConsumeCode", x.s.ConsumeCode(ctx, purpose, c.AddressKey, flow, max, tc.now), tc.err)
			got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
			wantErr(t, "CodeFor", err, nil)
			if used := got.ConsumedAt != nil; used != (tc.err == nil) {
				t.Errorf("consumed = %v, want %v", used, tc.err == nil)
			}
		})
	}
	t.Run("Twice", func(t *testing.T) {
		c := x.putCode(t)
		wantErr(t, "ConsumeCode", x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, max, t0), nil)
		wantErr(t, "ConsumeCode again", x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, max, t0), account.ErrConflict)
	})
	t.Run("NotFound", func(t *testing.T) {
		_, key := x.email()
		wantErr(t, "ConsumeCode", x.s.ConsumeCode(ctx, account.PurposeLogin, key, x.bytes(), max, t0), account.ErrConflict)
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := x.putCode(t)
		errs := race(20, func(int) error {
			return x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, max, t0)
		})
		wantOneWinner(t, "ConsumeCode", errs)
	})
}
