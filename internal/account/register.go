package account

import (
	"context"
	"fmt"
	"time"

	"github.com/watchword/watchword/internal/identifier"
	"github.com/watchword/watchword/internal/token"
)

// parseAddress validates an email or a phone given for ch.
func parseAddress(ch Channel, raw string) (addr string, err error) {
	if ch == ChannelEmail {
		addr, _, err = identifier.Email(raw)
		if err != nil {
			return "", Errorf(CodeInvalidEmail, "Enter a valid email address, such as name@example.com.")
		}
		return addr, nil
	}
	addr, err = identifier.Phone(raw)
	if err != nil {
		return "", Errorf(CodeInvalidPhone, "Enter a valid phone number with its country code, such as +86 138 0013 8000.")
	}
	return addr, nil
}

// StartRegistration begins a sign-up with exactly one of email or phone and
// sends a code there. If the address already belongs to an account, the
// answer is the same and the address gets a notice instead of a code.
//
// Errors: CodeInvalidRequest, CodeInvalidEmail, CodeInvalidPhone,
// CodeRateLimited.
func (s *Service) StartRegistration(ctx context.Context, c Client, email, phone string) (flowID string, expiresAt time.Time, err error) {
	var ch Channel
	var raw string
	switch {
	case email != "" && phone == "":
		ch, raw = ChannelEmail, email
	case phone != "" && email == "":
		ch, raw = ChannelPhone, phone
	default:
		return "", time.Time{}, Errorf(CodeInvalidRequest, "Give either an email or a phone number.")
	}
	addr, err := parseAddress(ch, raw)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.requireChannel(ch); err != nil {
		return "", time.Time{}, err
	}
	key := addressKey(ch, addr)
	if err := s.take(ctx, "signup:ip:"+ipLimitKey(c.IP), s.cfg.Limits.SignUpsPerIP); err != nil {
		return "", time.Time{}, err
	}
	if err := s.limitSend(ctx, PurposeRegister, key, true); err != nil {
		return "", time.Time{}, err
	}
	id, f, err := s.newFlow(PurposeRegister, ch, addr, "")
	if err != nil {
		return "", time.Time{}, err
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.CreateFlow(ctx, f); err != nil {
			return fmt.Errorf("create flow: %w", err)
		}
		owner, err := s.userByAddress(ctx, tx, ch, key)
		switch {
		case err == nil:
			// To the address on the account, not to the spelling typed
			// here, and in the owner's language, not the requester's.
			stored, _ := contactOf(owner, ch)
			return s.enqueue(ctx, tx, s.alreadyRegisteredNotice(owner, ch, stored))
		case isNoRows(err):
			// No account yet: the code speaks the language of the request.
			return s.issueCode(ctx, tx, f, c.requestLang())
		default:
			return err
		}
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("start registration: %w", err)
	}
	return id, f.ExpiresAt, nil
}

// CompleteRegistration checks the code of a sign-up flow and creates the
// account with password; the registered channel is verified. It returns
// the new account's uid and a session token.
//
// Errors: CodeNotFound (flow), CodeWeakPassword, CodeInvalidCode,
// CodeCodeExpired, CodeIdentifierInUse.
func (s *Service) CompleteRegistration(ctx context.Context, c Client, flowID, code, password string) (uid, sessionToken string, err error) {
	f, err := s.loadFlow(ctx, flowID, PurposeRegister)
	if err != nil {
		return "", "", err
	}
	// The password is checked before the code so that a weak password
	// does not burn a good code. Each refusal counts against the flow
	// instead, so that one flow cannot run the strength check without end.
	if err := s.checkPassword(password, f.Address); err != nil {
		n, ferr := s.store.FailFlow(ctx, f.IDHash)
		if ferr != nil {
			return "", "", fmt.Errorf("count refused password: %w", ferr)
		}
		if n >= s.cfg.Limits.PasswordsPerFlow {
			if ferr := s.store.FinishFlow(ctx, f.IDHash, s.now()); ferr != nil && !isConflict(ferr) {
				return "", "", fmt.Errorf("end flow: %w", ferr)
			}
			s.log.InfoContext(ctx, "sign-up flow ended after refused passwords")
		}
		return "", "", err
	}
	if err := s.checkCode(ctx, f, code); err != nil {
		return "", "", err
	}
	hash, err := s.passwords.HashContext(ctx, password)
	if err != nil {
		return "", "", err
	}
	uid, err = s.newUID()
	if err != nil {
		return "", "", err
	}
	u := &User{UID: uid, PasswordHash: hash, Lang: c.requestLang(), CreatedAt: s.now()}
	if f.Channel == ChannelEmail {
		u.Email, u.EmailKey, u.EmailVerified = f.Address, addressKey(ChannelEmail, f.Address), true
	} else {
		u.Phone, u.PhoneVerified = f.Address, true
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := s.consumeCode(ctx, tx, f); err != nil {
			return err
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			if isConflict(err) {
				return Errorf(CodeIdentifierInUse, "This address already belongs to an account. Sign in instead.")
			}
			return fmt.Errorf("create user: %w", err)
		}
		if err := s.recordTx(ctx, tx, c, uid, EventSignUp, "channel="+string(f.Channel)); err != nil {
			return err
		}
		sessionToken, err = s.startSession(ctx, tx, c, uid)
		return err
	})
	if err != nil {
		return "", "", err
	}
	s.log.InfoContext(ctx, "account created", "uid", uid, "channel", f.Channel)
	return uid, sessionToken, nil
}

// checkPassword applies the password policy, with the account's own
// address as a context word.
func (s *Service) checkPassword(pw string, inputs ...string) error {
	if err := s.policy.Check(pw, append(inputs, s.cfg.Issuer)...); err != nil {
		return Errorf(CodeWeakPassword, "%s", err.Error())
	}
	return nil
}

// newUID returns a random 10-digit account number: short enough to read
// out to support, not sequential, so it reveals nothing about sign-ups.
func (s *Service) newUID() (string, error) {
	n, err := token.Uint64(s.random)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d", 1_000_000_000+n%9_000_000_000), nil
}

// userByAddress finds the account whose verified identifier is key.
func (s *Service) userByAddress(ctx context.Context, tx Tx, ch Channel, key string) (*User, error) {
	if ch == ChannelEmail {
		return tx.UserByVerifiedEmail(ctx, key)
	}
	return tx.UserByVerifiedPhone(ctx, key)
}
