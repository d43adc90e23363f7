package account

import (
	"context"
	"fmt"
	"slices"
)

// StartContactChange sends a code to a new (or not yet verified) email or
// phone of the session's account. It needs a recent step-up of this
// session. The change happens only when that code is confirmed.
//
// Errors: CodeStepUpRequired, CodeInvalidEmail, CodeInvalidPhone,
// CodeInvalidRequest (already the verified address), CodeIdentifierInUse,
// CodeRateLimited.
func (s *Service) StartContactChange(ctx context.Context, c Client, sess *Session, ch Channel, raw string) (string, error) {
	if err := s.requirePrivilege(sess); err != nil {
		return "", err
	}
	addr, err := parseAddress(ch, raw)
	if err != nil {
		return "", err
	}
	if err := s.requireChannel(ch); err != nil {
		return "", err
	}
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return "", fmt.Errorf("contact change: %w", err)
	}
	key := addressKey(ch, addr)
	if current, verified := contactOf(u, ch); verified && addressKey(ch, current) == key {
		return "", Errorf(CodeInvalidRequest, "This is already your verified %s.", ch)
	}
	return s.startSignedInCode(ctx, sess, purposeOfChange(ch), ch, addr, userLang(u), func() error {
		_, err := s.userByAddress(ctx, s.store, ch, key)
		if err == nil {
			return identifierInUse(ch)
		}
		if !isNoRows(err) {
			return fmt.Errorf("contact change: %w", err)
		}
		return nil
	})
}

// ConfirmContactChange checks the code sent to the new address. The
// address is then verified and replaces the old one, every session of the
// account ends (this one too), and every verified channel, the replaced
// address included, gets a notice. A wrong or expired code changes
// nothing.
//
// Errors: CodeNotFound (flow), CodeInvalidCode, CodeCodeExpired,
// CodeIdentifierInUse.
func (s *Service) ConfirmContactChange(ctx context.Context, c Client, sess *Session, ch Channel, flowID, code string) error {
	f, err := s.loadSessionFlow(ctx, sess, flowID, purposeOfChange(ch))
	if err != nil {
		return err
	}
	if err := s.checkCode(ctx, f, code); err != nil {
		return err
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		before, err := tx.UserByUID(ctx, sess.UID)
		if err != nil {
			return fmt.Errorf("load user: %w", err)
		}
		if err := s.consumeCode(ctx, tx, f); err != nil {
			return err
		}
		if ch == ChannelEmail {
			err = tx.SetVerifiedEmail(ctx, sess.UID, f.Address, addressKey(ch, f.Address))
		} else {
			err = tx.SetVerifiedPhone(ctx, sess.UID, f.Address)
		}
		if isConflict(err) {
			return identifierInUse(ch)
		}
		if err != nil {
			return fmt.Errorf("set %s: %w", ch, err)
		}
		if err := s.revokeSessions(ctx, tx, sess.UID, nil); err != nil {
			return err
		}
		if err := s.holdSecurity(ctx, tx, sess.UID); err != nil {
			return err
		}
		old, oldVerified := contactOf(before, ch)
		kind, set, changed := EventEmailChanged, NoticeEmailSet, NoticeEmailChanged
		if ch == ChannelPhone {
			kind, set, changed = EventPhoneChanged, NoticePhoneSet, NoticePhoneChanged
		}
		if err := s.recordTx(ctx, tx, c, sess.UID, kind, "replaced="+fmt.Sprint(old != "")); err != nil {
			return err
		}
		after := *before
		if ch == ChannelEmail {
			after.Email, after.EmailVerified = f.Address, true
		} else {
			after.Phone, after.PhoneVerified = f.Address, true
		}
		replaced := old != "" && oldVerified && addressKey(ch, old) != addressKey(ch, f.Address)
		key, args := set, []any{f.Address}
		if replaced {
			key, args = changed, []any{old, f.Address}
		}
		msgs := s.noticesTo(&after, key, args...)
		if replaced && slices.Contains(s.cfg.Channels, ch) {
			// The replaced address is told too, so a hijacker cannot swap it silently.
			msgs = append(msgs, s.notice(ch, old, userLang(before), key, args...))
		}
		return s.enqueue(ctx, tx, msgs...)
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "contact changed", "uid", sess.UID, "channel", ch)
	return nil
}

// ChangePassword sets a new password after a step-up; every session ends
// and every verified channel gets a notice.
//
// Errors: CodeStepUpRequired, CodeWeakPassword.
func (s *Service) ChangePassword(ctx context.Context, c Client, sess *Session, password string) error {
	if err := s.requirePrivilege(sess); err != nil {
		return err
	}
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.checkPassword(password, u.Email, u.Phone); err != nil {
		return err
	}
	hash, err := s.passwords.HashContext(ctx, password)
	if err != nil {
		return err
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.SetPasswordHash(ctx, u.UID, hash); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := s.revokeSessions(ctx, tx, u.UID, nil); err != nil {
			return err
		}
		if err := s.holdSecurity(ctx, tx, u.UID); err != nil {
			return err
		}
		if err := s.recordTx(ctx, tx, c, u.UID, EventPasswordChanged, ""); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, s.noticesTo(u, NoticePasswordChanged)...)
	})
	if err != nil {
		return err
	}
	return nil
}

func purposeOfChange(ch Channel) Purpose {
	if ch == ChannelEmail {
		return PurposeVerifyEmail
	}
	return PurposeVerifyPhone
}

// contactOf returns u's address on ch and whether it is verified.
func contactOf(u *User, ch Channel) (string, bool) {
	if ch == ChannelEmail {
		return u.Email, u.EmailVerified
	}
	return u.Phone, u.PhoneVerified
}

func identifierInUse(ch Channel) error {
	if ch == ChannelEmail {
		return Errorf(CodeIdentifierInUse, "This email address belongs to another account.")
	}
	return Errorf(CodeIdentifierInUse, "This phone number belongs to another account.")
}

// SecurityEvents returns the account's recent security events.
func (s *Service) SecurityEvents(ctx context.Context, sess *Session, limit int) ([]*Event, error) {
	if limit <= 0 || limit > 200 {
		limit = 100
	}
	events, err := s.store.ListEvents(ctx, sess.UID, limit)
	if err != nil {
		return nil, fmt.Errorf("security events: %w", err)
	}
	return events, nil
}
