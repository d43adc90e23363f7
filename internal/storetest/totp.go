package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

func (x *suite) authenticator(uid string) *account.TOTPBinding {
	return &account.TOTPBinding{UID: uid, Secret: x.bytes()[:20], OffsetSteps: 0, CreatedAt: t0}
}

func testPutPendingTOTP(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		a := x.authenticator(u.UID)
		a.OffsetSteps = -1
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, a), nil)
		got, err := x.s.PendingTOTP(ctx, u.UID)
		wantErr(t, "TOTP pending", err, nil)
		wantEqual(t, "pending authenticator", got, a)
		_, err = x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, account.ErrNoRows)
	})
	t.Run("NotFound", func(t *testing.T) {
		for name, get := range map[string]func(context.Context, string) (*account.TOTPBinding, error){
			"PendingTOTP": x.s.PendingTOTP, "ActiveTOTP": x.s.ActiveTOTP,
		} {
			a, err := get(ctx, x.uid())
			wantErr(t, name, err, account.ErrNoRows)
			if a != nil {
				t.Errorf("%s: got a binding with the error, want nil", name)
			}
		}
	})
	t.Run("ReplacesPending", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(u.UID)), nil)
		b := x.authenticator(u.UID)
		b.CreatedAt = t0.Add(time.Minute)
		wantErr(t, "PutPendingTOTP again", x.s.PutPendingTOTP(ctx, b), nil)
		got, err := x.s.PendingTOTP(ctx, u.UID)
		wantErr(t, "TOTP pending", err, nil)
		wantEqual(t, "pending authenticator", got, b)
	})
	t.Run("LeavesActive", func(t *testing.T) {
		u := x.createUser(t)
		active := x.authenticator(u.UID)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, active), nil)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, u.UID, 0, t0), nil)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(u.UID)), nil)
		got, err := x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, nil)
		if string(got.Secret) != string(active.Secret) {
			t.Errorf("active secret changed by PutPendingTOTP")
		}
	})
}

func testActivateTOTP(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		a := x.authenticator(u.UID)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, a), nil)
		now := t0.Add(time.Minute)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, u.UID, 2, now), nil)
		got, err := x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, nil)
		a.OffsetSteps, a.ConfirmedAt = 2, &now
		wantEqual(t, "active authenticator", got, a)
		_, err = x.s.PendingTOTP(ctx, u.UID)
		wantErr(t, "TOTP pending after activation", err, account.ErrNoRows)
	})
	t.Run("ReplacesActive", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(u.UID)), nil)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, u.UID, 1, t0), nil)
		b := x.authenticator(u.UID)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, b), nil)
		wantErr(t, "ActivateTOTP again", x.s.ActivateTOTP(ctx, u.UID, 0, t0.Add(time.Hour)), nil)
		got, err := x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, nil)
		if string(got.Secret) != string(b.Secret) || got.OffsetSteps != 0 {
			t.Errorf("active authenticator is not the new one: offset %d", got.OffsetSteps)
		}
	})
	t.Run("NothingPending", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "ActivateTOTP without any", x.s.ActivateTOTP(ctx, u.UID, 0, t0), account.ErrNoRows)
		a := x.authenticator(u.UID)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, a), nil)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, u.UID, 0, t0), nil)
		wantErr(t, "ActivateTOTP again", x.s.ActivateTOTP(ctx, u.UID, 3, t0), account.ErrNoRows)
		got, err := x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP active", err, nil)
		if string(got.Secret) != string(a.Secret) || got.OffsetSteps != 0 {
			t.Errorf("refused ActivateTOTP changed the active authenticator")
		}
	})
}

func testSetTOTPOffset(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(u.UID)), nil)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, u.UID, 0, t0), nil)
		wantErr(t, "SetTOTPOffset", x.s.SetTOTPOffset(ctx, u.UID, -2), nil)
		got, err := x.s.ActiveTOTP(ctx, u.UID)
		wantErr(t, "TOTP", err, nil)
		if got.OffsetSteps != -2 {
			t.Errorf("OffsetSteps = %d, want -2", got.OffsetSteps)
		}
	})
	t.Run("OnlyPending", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(u.UID)), nil)
		wantErr(t, "SetTOTPOffset", x.s.SetTOTPOffset(ctx, u.UID, 1), account.ErrNoRows)
		got, err := x.s.PendingTOTP(ctx, u.UID)
		wantErr(t, "TOTP pending", err, nil)
		if got.OffsetSteps != 0 {
			t.Errorf("pending OffsetSteps = %d, want 0", got.OffsetSteps)
		}
	})
}

func testDeleteTOTP(t *testing.T, x *suite) {
	ctx := t.Context()
	u, v := x.createUser(t), x.createUser(t)
	for _, uid := range []string{u.UID, v.UID} {
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(uid)), nil)
		wantErr(t, "ActivateTOTP", x.s.ActivateTOTP(ctx, uid, 0, t0), nil)
		wantErr(t, "PutPendingTOTP", x.s.PutPendingTOTP(ctx, x.authenticator(uid)), nil)
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, uid, [][]byte{x.bytes(), x.bytes()}, t0), nil)
	}
	wantErr(t, "DeleteTOTP", x.s.DeleteTOTP(ctx, u.UID), nil)
	for name, get := range map[string]func(context.Context, string) (*account.TOTPBinding, error){
		"PendingTOTP": x.s.PendingTOTP, "ActiveTOTP": x.s.ActiveTOTP,
	} {
		_, err := get(ctx, u.UID)
		wantErr(t, name+" after delete", err, account.ErrNoRows)
		_, err = get(ctx, v.UID)
		wantErr(t, name+" of another user", err, nil)
	}
	for uid, want := range map[string]int{u.UID: 0, v.UID: 2} {
		n, err := x.s.CountRecoveryCodes(ctx, uid)
		wantErr(t, "CountRecoveryCodes", err, nil)
		if n != want {
			t.Errorf("CountRecoveryCodes(%s) = %d, want %d", uid, n, want)
		}
	}
	wantErr(t, "DeleteTOTP without any", x.s.DeleteTOTP(ctx, u.UID), nil)
}

func testUseTOTPStep(t *testing.T, x *suite) {
	ctx := t.Context()
	const step = 63_000_000
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "UseTOTPStep", x.s.UseTOTPStep(ctx, u.UID, step, t0), nil)
		wantErr(t, "UseTOTPStep next step", x.s.UseTOTPStep(ctx, u.UID, step+1, t0), nil)
	})
	t.Run("Replay", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "UseTOTPStep", x.s.UseTOTPStep(ctx, u.UID, step, t0), nil)
		wantErr(t, "UseTOTPStep replay", x.s.UseTOTPStep(ctx, u.UID, step, t0.Add(time.Second)), account.ErrConflict)
	})
	t.Run("OtherUserSameStep", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		wantErr(t, "UseTOTPStep", x.s.UseTOTPStep(ctx, u.UID, step, t0), nil)
		wantErr(t, "UseTOTPStep other user", x.s.UseTOTPStep(ctx, v.UID, step, t0), nil)
	})
	t.Run("Concurrent", func(t *testing.T) {
		u := x.createUser(t)
		errs := race(20, func(int) error { return x.s.UseTOTPStep(ctx, u.UID, step, t0) })
		wantOneWinner(t, "UseTOTPStep", errs)
	})
}

func testRecoveryCodes(t *testing.T, x *suite) {
	ctx := t.Context()
	count := func(t *testing.T, uid string, want int) {
		t.Helper()
		n, err := x.s.CountRecoveryCodes(ctx, uid)
		wantErr(t, "CountRecoveryCodes", err, nil)
		if n != want {
			t.Errorf("CountRecoveryCodes = %d, want %d", n, want)
		}
	}
	t.Run("UseOnce", func(t *testing.T) {
		u := x.createUser(t)
		hashes := [][]byte{x.bytes(), x.bytes(), x.bytes()}
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, u.UID, hashes, t0), nil)
		count(t, u.UID, 3)
		wantErr(t, "UseRecoveryCode", x.s.UseRecoveryCode(ctx, u.UID, hashes[1], t0), nil)
		count(t, u.UID, 2)
		wantErr(t, "UseRecoveryCode again", x.s.UseRecoveryCode(ctx, u.UID, hashes[1], t0), account.ErrConflict)
		count(t, u.UID, 2)
	})
	t.Run("Unknown", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, u.UID, [][]byte{x.bytes()}, t0), nil)
		wantErr(t, "UseRecoveryCode", x.s.UseRecoveryCode(ctx, u.UID, x.bytes(), t0), account.ErrConflict)
	})
	t.Run("OtherUsersCode", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		h := x.bytes()
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, v.UID, [][]byte{h}, t0), nil)
		wantErr(t, "UseRecoveryCode", x.s.UseRecoveryCode(ctx, u.UID, h, t0), account.ErrConflict)
		count(t, v.UID, 1)
	})
	t.Run("Replace", func(t *testing.T) {
		u := x.createUser(t)
		old := [][]byte{x.bytes(), x.bytes()}
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, u.UID, old, t0), nil)
		wantErr(t, "UseRecoveryCode", x.s.UseRecoveryCode(ctx, u.UID, old[0], t0), nil)
		fresh := [][]byte{x.bytes(), x.bytes(), x.bytes(), x.bytes()}
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, u.UID, fresh, t0), nil)
		count(t, u.UID, 4)
		wantErr(t, "UseRecoveryCode of the old set", x.s.UseRecoveryCode(ctx, u.UID, old[1], t0), account.ErrConflict)
		wantErr(t, "UseRecoveryCode of the new set", x.s.UseRecoveryCode(ctx, u.UID, fresh[0], t0), nil)
	})
	t.Run("None", func(t *testing.T) {
		count(t, x.uid(), 0)
	})
	t.Run("Concurrent", func(t *testing.T) {
		u := x.createUser(t)
		h := x.bytes()
		wantErr(t, "ReplaceRecoveryCodes", x.s.ReplaceRecoveryCodes(ctx, u.UID, [][]byte{h, x.bytes()}, t0), nil)
		errs := race(20, func(int) error { return x.s.UseRecoveryCode(ctx, u.UID, h, t0) })
		wantOneWinner(t, "UseRecoveryCode", errs)
		count(t, u.UID, 1)
	})
}
