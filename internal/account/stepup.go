package account

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/watchword/watchword/internal/i18n"
)

// StartStepUp sends a step-up code to a verified channel of the session's
// account. Codes asked for while signed in are limited per account.
//
// Errors: CodeInvalidRequest (channel not verified or not deliverable),
// CodeRateLimited.
func (s *Service) StartStepUp(ctx context.Context, c Client, sess *Session, ch Channel) (flowID string, err error) {
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return "", fmt.Errorf("step-up: %w", err)
	}
	addr, verified := contactOf(u, ch)
	if addr == "" || !verified {
		return "", Errorf(CodeInvalidRequest, "Your %s is not verified; verify your identity through a verified channel.", ch)
	}
	if !slices.Contains(s.cfg.Channels, ch) {
		return "", Errorf(CodeInvalidRequest, "This service cannot send a code to your %s; choose another channel.", ch)
	}
	return s.startSignedInCode(ctx, sess, PurposeStepUp, ch, addr, userLang(u), nil)
}

// startSignedInCode opens a flow owned by sess and sends a code to addr,
// in lang (the account's language). check, when set, runs once the account's limit is taken, so that a
// check that reveals something (such as an address in use) costs as much
// as sending a code.
func (s *Service) startSignedInCode(ctx context.Context, sess *Session, p Purpose, ch Channel, addr string, lang i18n.Lang, check func() error) (string, error) {
	if err := s.take(ctx, "send:account:"+sess.UID, s.cfg.Limits.SignedInCodes); err != nil {
		return "", err
	}
	if check != nil {
		if err := check(); err != nil {
			return "", err
		}
	}
	if err := s.limitSend(ctx, p, addressKey(ch, addr), false); err != nil {
		return "", err
	}
	id, f, err := s.newFlow(p, ch, addr, sess.UID)
	if err != nil {
		return "", err
	}
	f.SessionID = sess.ID
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.CreateFlow(ctx, f); err != nil {
			return fmt.Errorf("create flow: %w", err)
		}
		return s.issueCode(ctx, tx, f, lang)
	})
	if err != nil {
		return "", fmt.Errorf("send %s code: %w", p, err)
	}
	return id, nil
}

// loadSessionFlow loads a live flow that belongs to sess: a flow started
// in one session is not usable from another.
func (s *Service) loadSessionFlow(ctx context.Context, sess *Session, id string, p Purpose) (*Flow, error) {
	f, err := s.loadFlow(ctx, id, p)
	if err != nil {
		return nil, err
	}
	if f.SessionID != sess.ID || f.UID != sess.UID {
		return nil, ErrFlowNotFound
	}
	return f, nil
}

// CompleteStepUp checks the step-up code (and, when an authenticator is
// bound, its code or a recovery code) and grants the session privilege for StepUpLifetime.
// Without a TOTP code on an account that has one, the answer is
// CodeTOTPRequired before the channel code is looked at, so the same flow
// can be sent again with both.
//
// Errors: CodeNotFound (flow), CodeTOTPRequired, CodeInvalidCode,
// CodeCodeExpired, CodeInvalidTOTP, CodeClockDrift, CodeRateLimited.
func (s *Service) CompleteStepUp(ctx context.Context, c Client, sess *Session, flowID, code, totpCode string) (time.Time, error) {
	f, err := s.loadSessionFlow(ctx, sess, flowID, PurposeStepUp)
	if err != nil {
		return time.Time{}, err
	}
	auth, err := s.store.ActiveTOTP(ctx, sess.UID)
	if err != nil && !isNoRows(err) {
		return time.Time{}, fmt.Errorf("step-up: %w", err)
	}
	hasTOTP := err == nil
	if hasTOTP && totpCode == "" {
		return time.Time{}, Errorf(CodeTOTPRequired, "Enter the code from your authenticator app as well.")
	}
	if err := s.checkCode(ctx, f, code); err != nil {
		s.record(ctx, s.store, c, sess.UID, EventStepUpFailed, "reason="+string(ErrorCode(err)))
		return time.Time{}, err
	}
	until := s.now().Add(s.cfg.StepUpLifetime)
	grant := func(tx Tx) error {
		if err := s.consumeCode(ctx, tx, f); err != nil {
			return err
		}
		if err := s.grantPrivilege(ctx, tx, sess, until); err != nil {
			return err
		}
		detail := "channel=" + string(f.Channel)
		if hasTOTP {
			detail += " totp=yes"
		}
		return s.recordTx(ctx, tx, c, sess.UID, EventStepUp, detail)
	}
	if hasTOTP {
		// The second factor is checked, limited and spent exactly as at
		// login; a recovery code works too, so a user who lost the phone
		// can still step up and remove the authenticator.
		err = s.withSecondFactor(ctx, c, auth, allFactors, totpCode, grant)
	} else {
		err = s.store.Atomic(ctx, grant)
	}
	if err != nil {
		if code := ErrorCode(err); code == CodeInvalidTOTP || code == CodeClockDrift {
			s.record(ctx, s.store, c, sess.UID, EventStepUpFailed, "reason="+string(code))
		}
		return time.Time{}, err
	}
	return until, nil
}

// requirePrivilege refuses sensitive changes without a recent step-up of
// this very session.
func (s *Service) requirePrivilege(sess *Session) error {
	if !s.Privileged(sess) {
		return ErrStepUpRequired
	}
	return nil
}
