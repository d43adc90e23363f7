package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/account"
)

var errRollback = errors.New("storetest: roll back")

func testAtomic(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("Commits", func(t *testing.T) {
		u := x.user()
		s := x.session(u.UID)
		err := x.s.Atomic(ctx, func(tx account.Tx) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := tx.GrantRole(ctx, u.UID, "staff"); err != nil {
				return err
			}
			return tx.CreateSession(ctx, s)
		})
		wantErr(t, "Atomic", err, nil)
		got, err := x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "roles", got.Roles, []string{"staff"})
		_, err = x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash", err, nil)
	})
	t.Run("RollsBack", func(t *testing.T) {
		existing := x.createUser(t)
		u := x.user()
		c := x.putCode(t) // consumed and failed inside, then rolled back
		var event *account.Event
		err := x.s.Atomic(ctx, func(tx account.Tx) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			if err := tx.SetPasswordHash(ctx, existing.UID, "changed"); err != nil {
				return err
			}
			if _, err := tx.FailCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash); err != nil {
				return err
			}
			if err := tx.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, 5, t0); err != nil {
				return err
			}
			if err := tx.UseTOTPStep(ctx, existing.UID, 42, t0); err != nil {
				return err
			}
			event = &account.Event{UID: existing.UID, Kind: account.EventPasswordChanged, CreatedAt: t0}
			if err := tx.RecordEvent(ctx, event); err != nil {
				return err
			}
			return fmt.Errorf("wrapped: %w", errRollback)
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("Atomic: got %v, want fn's error", err)
		}
		_, err = x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID of the rolled-back user", err, account.ErrNoRows)
		got, err := x.s.UserByUID(ctx, existing.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "untouched user", got, existing)
		code, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		wantEqual(t, "untouched code", code, c)
		wantErr(t, "UseTOTPStep after rollback", x.s.UseTOTPStep(ctx, existing.UID, 42, t0), nil)
		events, err := x.s.ListEvents(ctx, existing.UID, 10)
		wantErr(t, "ListEvents", err, nil)
		if len(events) != 0 {
			t.Errorf("rolled-back event is listed: %+v", events[0])
		}
	})
	t.Run("ReadsOwnWrites", func(t *testing.T) {
		u := x.user()
		err := x.s.Atomic(ctx, func(tx account.Tx) error {
			if err := tx.CreateUser(ctx, u); err != nil {
				return err
			}
			got, err := tx.UserByUID(ctx, u.UID)
			if err != nil {
				return err
			}
			wantEqual(t, "user inside the transaction", got, u)
			return nil
		})
		wantErr(t, "Atomic", err, nil)
	})
	t.Run("ContinuesAfterConflict", func(t *testing.T) {
		// A use case may meet ErrConflict and still commit other writes,
		// such as a security event. (PostgreSQL aborts a transaction on
		// any failed statement unless the store guards against it.)
		owner, u := x.createUser(t), x.createUser(t)
		wantErr(t, "SetVerifiedPhone", x.s.SetVerifiedPhone(ctx, owner.UID, owner.Phone), nil)
		wantErr(t, "UseTOTPStep", x.s.UseTOTPStep(ctx, u.UID, 7, t0), nil)
		c := x.putCode(t)
		wantErr(t, "ConsumeCode", x.s.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, 5, t0), nil)
		err := x.s.Atomic(ctx, func(tx account.Tx) error {
			checkErr(t, "SetVerifiedPhone taken", tx.SetVerifiedPhone(ctx, u.UID, owner.Phone), account.ErrConflict)
			checkErr(t, "UseTOTPStep replay", tx.UseTOTPStep(ctx, u.UID, 7, t0), account.ErrConflict)
			checkErr(t, "ConsumeCode used", tx.ConsumeCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash, 5, t0), account.ErrConflict)
			checkErr(t, "CreateUser taken", tx.CreateUser(ctx, owner), account.ErrConflict)
			return tx.RecordEvent(ctx, &account.Event{UID: u.UID, Kind: account.EventTOTPFailed, CreatedAt: t0})
		})
		wantErr(t, "Atomic", err, nil)
		events, err := x.s.ListEvents(ctx, u.UID, 10)
		wantErr(t, "ListEvents", err, nil)
		if len(events) != 1 {
			t.Errorf("got %d events, want the 1 recorded after the conflicts", len(events))
		}
	})
	t.Run("FailCodeOutsidePersists", func(t *testing.T) {
		// The service counts a wrong code outside the transaction that
		// then fails, so the count survives the rollback.
		c := x.putCode(t)
		n, err := x.s.FailCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash)
		wantErr(t, "FailCode", err, nil)
		err = x.s.Atomic(ctx, func(tx account.Tx) error {
			if _, err := tx.FailCode(ctx, c.Purpose, c.AddressKey, c.FlowIDHash); err != nil {
				return err
			}
			return errRollback
		})
		wantErr(t, "Atomic", err, errRollback)
		got, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
		wantErr(t, "CodeFor", err, nil)
		if got.Attempts != n {
			t.Errorf("Attempts = %d, want %d: the count outside Atomic stays, the one inside rolls back", got.Attempts, n)
		}
	})
	t.Run("ActivateTOTP", func(t *testing.T) {
		u := x.createUser(t)
		old := x.authenticator(u.UID)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, old), nil)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, u.UID, 0, t0), nil)
		fresh := x.authenticator(u.UID)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, fresh), nil)

		err := x.s.Atomic(ctx, func(tx account.Tx) error {
			if err := tx.ActivateTOTP(ctx, u.UID, 1, t0); err != nil {
				return err
			}
			return errRollback
		})
		wantErr(t, "Atomic rolled back", err, errRollback)
		got, err := x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, nil)
		if string(got.Secret) != string(old.Secret) {
			t.Errorf("rolled-back activation replaced the active authenticator")
		}
		_, err = x.s.PendingTOTP(ctx, u.UID)
		wantErr(t, "TOTP pending after rollback", err, nil)

		err = x.s.Atomic(ctx, func(tx account.Tx) error {
			if err := tx.ActivateTOTP(ctx, u.UID, 1, t0); err != nil {
				return err
			}
			a, err := tx.ActiveTOTP(ctx, u.UID)
			if err != nil {
				return err
			}
			if string(a.Secret) != string(fresh.Secret) {
				t.Errorf("inside the transaction the active authenticator is not the new one")
			}
			return tx.UseTOTPStep(ctx, u.UID, 99, t0)
		})
		wantErr(t, "Atomic", err, nil)
		got, err = x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, nil)
		if string(got.Secret) != string(fresh.Secret) || got.OffsetSteps != 1 {
			t.Errorf("committed activation did not replace the active authenticator")
		}

		// Refused inside a transaction that then commits: the active
		// authenticator is still there.
		err = x.s.Atomic(ctx, func(tx account.Tx) error {
			checkErr(t, "ActivateTOTP with nothing pending", tx.ActivateTOTP(ctx, u.UID, 0, t0), account.ErrNoRows)
			return nil
		})
		wantErr(t, "Atomic", err, nil)
		_, err = x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active after a refused activation", err, nil)
	})
}

// testAfterCommit: hooks run once the transaction commits, in order, and
// never when it rolls back; outside a transaction they run at once.
func testAfterCommit(t *testing.T, x *suite) {
	ctx := t.Context()
	var ran []string
	err := x.s.Atomic(ctx, func(tx account.Tx) error {
		tx.AfterCommit(func() { ran = append(ran, "first") })
		tx.AfterCommit(func() { ran = append(ran, "second") })
		if len(ran) != 0 {
			t.Errorf("hooks ran before commit: %v", ran)
		}
		return nil
	})
	wantErr(t, "Atomic", err, nil)
	if strings.Join(ran, ",") != "first,second" {
		t.Errorf("after commit ran %v, want [first second]", ran)
	}
	ran = nil
	boom := errors.New("boom")
	err = x.s.Atomic(ctx, func(tx account.Tx) error {
		tx.AfterCommit(func() { ran = append(ran, "rolled back") })
		return boom
	})
	wantErr(t, "Atomic rolled back", err, boom)
	if len(ran) != 0 {
		t.Errorf("a hook ran after a rollback: %v", ran)
	}
	x.s.AfterCommit(func() { ran = append(ran, "now") })
	if len(ran) != 1 {
		t.Errorf("outside a transaction the hook did not run at once")
	}
}
