package account

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// What the lost-authenticator review (package review) needs from accounts:
// it declares its own store and shares this package's transaction, but the
// rules about sessions, credentials, notices and limits stay here.

// holdSecurity sets the account's security hold for the configured time.
func (s *Service) holdSecurity(ctx context.Context, tx Tx, uid string) error {
	if err := tx.SetSecurityHold(ctx, uid, s.now().Add(s.cfg.SecurityHold)); err != nil {
		return fmt.Errorf("set security hold: %w", err)
	}
	return nil
}

// SecondFactorFlow returns the live login flow with that public id that
// waits for the authenticator: proof that its account's first factor
// (password or code) was just passed.
//
// Errors: CodeNotFound.
func (s *Service) SecondFactorFlow(ctx context.Context, flowID string) (*Flow, error) {
	return s.loadFlow(ctx, flowID, PurposeLoginMFA)
}

// Limit counts one event of key against l.
//
// Errors: CodeRateLimited, CodeUnavailable (the limiter's store is down).
func (s *Service) Limit(ctx context.Context, key string, l Limit) error {
	return s.take(ctx, key, l)
}

// LimitPerClient counts one event against l for the client's network
// (the address, or the /64 of an IPv6 address).
func (s *Service) LimitPerClient(ctx context.Context, name string, c Client, l Limit) error {
	return s.take(ctx, name+":ip:"+ipLimitKey(c.IP), l)
}

// Record appends a security event inside tx.
func (s *Service) Record(ctx context.Context, tx Tx, c Client, uid string, kind EventKind, detail string) error {
	return s.recordTx(ctx, tx, c, uid, kind, detail)
}

// Notify queues the notice key to every verified channel of uid inside
// tx, in the account's language. args fill the notice's values in order
// (see noticeArgs); pass a time as a time.Time, so that each language
// writes it its own way.
func (s *Service) Notify(ctx context.Context, tx Tx, uid string, key MessageKey, args ...any) error {
	u, err := tx.UserByUID(ctx, uid)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return s.enqueue(ctx, tx, s.noticesTo(u, key, args...)...)
}

// RemoveAuthenticator is the effect of an approved unbind request, inside
// tx: the authenticator and its recovery codes are removed, every session
// of the account ends, the security hold is set, and the change is
// recorded. The caller tells the user.
func (s *Service) RemoveAuthenticator(ctx context.Context, tx Tx, c Client, uid, detail string) error {
	if err := tx.DeleteTOTP(ctx, uid); err != nil {
		return fmt.Errorf("delete totp: %w", err)
	}
	if err := s.revokeSessions(ctx, tx, uid, nil); err != nil {
		return err
	}
	if err := s.holdSecurity(ctx, tx, uid); err != nil {
		return err
	}
	return s.recordTx(ctx, tx, c, uid, EventUnbindApplied, detail)
}

// Staff returns the account of a staff session: a reviewer or admin with
// an authenticator bound. Anyone else is refused.
//
// Errors: CodeForbidden.
func (s *Service) Staff(ctx context.Context, sess *Session) (*User, error) {
	u, hasTOTP, err := s.Me(ctx, sess)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(u.Roles, RoleReviewer) && !slices.Contains(u.Roles, RoleAdmin) {
		return nil, ErrForbidden
	}
	if !hasTOTP {
		return nil, Errorf(CodeForbidden, "Staff accounts need an authenticator app. Connect one in your personal center first.")
	}
	return u, nil
}

// SecurityHeld reports until when u is on security hold, or nil when it
// is not (never set, or over).
func (s *Service) SecurityHeld(u *User) *time.Time {
	if u.SecurityHoldUntil == nil || !s.now().Before(*u.SecurityHoldUntil) {
		return nil
	}
	return u.SecurityHoldUntil
}
