package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// totpAD is the additional data that binds a sealed TOTP secret to its
// user, so a ciphertext copied onto another account does not open.
func totpAD(uid string) []byte { return []byte("totp:" + uid) }

// PutPendingTOTP stores a new unconfirmed authenticator for a.UID,
// replacing any earlier pending one; an active one is left alone. The
// secret is sealed before it is stored.
func (s *store) PutPendingTOTP(ctx context.Context, a *account.TOTPBinding) error {
	sealed, err := s.sealer.Seal(a.Secret, totpAD(a.UID))
	if err != nil {
		return fail("put pending totp", err)
	}
	_, err = s.exec(ctx, `INSERT INTO totp_authenticators
		(uid, pending, secret_sealed, offset_steps, created_at, confirmed_at)
		VALUES (?, TRUE, ?, ?, ?, NULL)
		ON CONFLICT (uid, pending) DO UPDATE SET
			secret_sealed = excluded.secret_sealed, offset_steps = excluded.offset_steps,
			created_at = excluded.created_at, confirmed_at = NULL`,
		a.UID, sealed, a.OffsetSteps, micros(a.CreatedAt))
	if err != nil {
		return fail("put pending totp", err)
	}
	return nil
}

// ActiveTOTP returns the user's confirmed binding, its secret decrypted.
func (s *store) ActiveTOTP(ctx context.Context, uid string) (*account.TOTPBinding, error) {
	return s.totpBinding(ctx, uid, false)
}

// PendingTOTP returns the user's unconfirmed binding, its secret decrypted.
func (s *store) PendingTOTP(ctx context.Context, uid string) (*account.TOTPBinding, error) {
	return s.totpBinding(ctx, uid, true)
}

func (s *store) totpBinding(ctx context.Context, uid string, pending bool) (*account.TOTPBinding, error) {
	a := account.TOTPBinding{UID: uid}
	var sealed []byte
	var created int64
	var confirmed sql.NullInt64
	err := s.queryRow(ctx, `SELECT secret_sealed, offset_steps, created_at, confirmed_at
		FROM totp_authenticators WHERE uid = ? AND pending = ?`, uid, pending).Scan(
		&sealed, &a.OffsetSteps, &created, &confirmed)
	if err != nil {
		return nil, fail("totp", err)
	}
	a.Secret, err = s.sealer.Open(sealed, totpAD(uid))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: totp: open secret: %w", err)
	}
	a.CreatedAt, a.ConfirmedAt = fromMicros(created), fromNullMicros(confirmed)
	return &a, nil
}

// ActivateTOTP turns the pending authenticator into the active one,
// replacing any earlier active one, with the learned clock offset, in one
// transaction (the caller's, inside Atomic). ErrNoRows when nothing is
// pending; the active one is then left alone.
func (s *store) ActivateTOTP(ctx context.Context, uid string, offsetSteps int, now time.Time) error {
	err := s.atomically(ctx, func(s *store) error {
		// The primary key (uid, pending) allows one active row: delete it
		// before the pending row takes its place, but only when there is a
		// pending row to take it.
		if _, err := s.exec(ctx, `DELETE FROM totp_authenticators WHERE uid = ? AND pending = FALSE
			AND EXISTS (SELECT 1 FROM totp_authenticators WHERE uid = ? AND pending = TRUE)`, uid, uid); err != nil {
			return err
		}
		n, err := s.execAffected(ctx, `UPDATE totp_authenticators SET pending = FALSE, offset_steps = ?, confirmed_at = ?
			WHERE uid = ? AND pending = TRUE`, offsetSteps, micros(now), uid)
		if err != nil {
			return err
		}
		if n == 0 {
			return account.ErrNoRows
		}
		return nil
	})
	if err != nil {
		return fail("activate totp", err)
	}
	s.userChanged(uid)
	return nil
}

// SetTOTPOffset updates the learned clock offset of the active
// authenticator. ErrNoRows when uid has none.
func (s *store) SetTOTPOffset(ctx context.Context, uid string, offsetSteps int) error {
	n, err := s.execAffected(ctx, `UPDATE totp_authenticators SET offset_steps = ? WHERE uid = ? AND pending = FALSE`,
		offsetSteps, uid)
	if err != nil {
		return fail("set totp offset", err)
	}
	if n == 0 {
		return noRows("set totp offset")
	}
	return nil
}

// DeleteTOTP removes the user's authenticators and recovery codes, in one
// transaction. Used TOTP steps are kept: they only refuse a step that was
// already accepted for this user.
func (s *store) DeleteTOTP(ctx context.Context, uid string) error {
	err := s.atomically(ctx, func(s *store) error {
		if _, err := s.exec(ctx, `DELETE FROM totp_authenticators WHERE uid = ?`, uid); err != nil {
			return err
		}
		_, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE uid = ?`, uid)
		return err
	})
	if err != nil {
		return fail("delete totp", err)
	}
	s.userChanged(uid)
	return nil
}

// UseTOTPStep records that the code of time step was accepted for uid.
// ErrConflict when it already was: the primary key (uid, step), not a
// read beforehand, is what makes a TOTP code one-time.
func (s *store) UseTOTPStep(ctx context.Context, uid string, step int64, now time.Time) error {
	// DO NOTHING rather than a failing insert, so that a replay inside a
	// PostgreSQL transaction leaves the transaction usable.
	n, err := s.execAffected(ctx, `INSERT INTO totp_used_steps (uid, step, used_at) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, uid, step, micros(now))
	if err != nil {
		return fail("use totp step", err)
	}
	if n == 0 {
		return conflict("use totp step")
	}
	return nil
}

// ReplaceRecoveryCodes stores a fresh set of recovery-code hashes for uid,
// dropping the earlier set, in one transaction.
func (s *store) ReplaceRecoveryCodes(ctx context.Context, uid string, hashes [][]byte, now time.Time) error {
	err := s.atomically(ctx, func(s *store) error {
		if _, err := s.exec(ctx, `DELETE FROM recovery_codes WHERE uid = ?`, uid); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := s.exec(ctx, `INSERT INTO recovery_codes (uid, hash, created_at) VALUES (?, ?, ?)`,
				uid, h, micros(now)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail("replace recovery codes", err)
	}
	return nil
}

// UseRecoveryCode marks the unused recovery code with that hash used.
// ErrConflict when uid has no such unused code; the used_at IS NULL
// condition lets only one of concurrent callers use it.
func (s *store) UseRecoveryCode(ctx context.Context, uid string, hash []byte, now time.Time) error {
	n, err := s.execAffected(ctx, `UPDATE recovery_codes SET used_at = ? WHERE uid = ? AND hash = ? AND used_at IS NULL`,
		micros(now), uid, hash)
	if err != nil {
		return fail("use recovery code", err)
	}
	if n == 0 {
		return conflict("use recovery code")
	}
	return nil
}

// CountRecoveryCodes returns how many unused recovery codes uid has.
func (s *store) CountRecoveryCodes(ctx context.Context, uid string) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE uid = ? AND used_at IS NULL`, uid).Scan(&n)
	if err != nil {
		return 0, fail("count recovery codes", err)
	}
	return n, nil
}
