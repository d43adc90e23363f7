package account

import (
	"context"
	"strings"
	"time"
)

// SMSGuard defends against SMS pumping (package smsguard): it refuses
// numbers that may never receive SMS and limits how many go to one number
// prefix, one country and in all.
type SMSGuard interface {
	// Refuses reports whether phone (E.164) may never receive SMS: an
	// invalid, premium-rate or shared-cost number, or one of a country
	// that is not allowed. It counts nothing.
	Refuses(ctx context.Context, phone string) bool
	// Admit decides whether one SMS may go to phone now and, if so,
	// counts it; code says it carries a one-time code. allowed is false
	// with retryAfter 0 for a refused number, and with the time to wait
	// when a limit holds SMS back.
	Admit(ctx context.Context, phone string, code bool) (allowed bool, retryAfter time.Duration, err error)
	// Entered records that a code sent by SMS to phone was entered.
	Entered(ctx context.Context, phone string) error
}

// errPhoneRefused answers a number that may never receive SMS. It says no
// more than that: which rule refused it is for the log.
var errPhoneRefused = Errorf(CodeInvalidPhone, "Text messages cannot be sent to this number. Use another mobile number or an email address.")

// isPhoneKey reports whether an address key is a phone number: E.164 keys
// start with "+" and never hold an "@", which every email key does.
func isPhoneKey(key string) bool { return strings.HasPrefix(key, "+") && !strings.Contains(key, "@") }

// screenSMS refuses, with invalid_phone, a number that may never receive
// SMS. It counts nothing, so it runs before any sending limit.
func (s *Service) screenSMS(ctx context.Context, phone string) error {
	if s.smsGuard != nil && s.smsGuard.Refuses(ctx, phone) {
		return errPhoneRefused
	}
	return nil
}

// admitSMS counts one code SMS to phone against the pumping limits. It
// runs for every request that would send one, whether or not the number
// belongs to an account, so that the limits reveal nothing. A guard that
// cannot answer refuses (fail closed), as the other limits do.
func (s *Service) admitSMS(ctx context.Context, phone string) error {
	if s.smsGuard == nil {
		return nil
	}
	ok, retry, err := s.smsGuard.Admit(ctx, phone, true)
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "SMS guard unavailable", "err", err)
		return ErrUnavailable
	case ok:
		return nil
	case retry > 0:
		return RateLimited(retry)
	default:
		return errPhoneRefused
	}
}

// smsNoticeTimeout bounds the guard's answer for a notice.
const smsNoticeTimeout = 2 * time.Second

// allowNoticeSMS reports whether a notice may go by SMS to phone, counting
// it against the limits. A notice held back is simply not sent by SMS
// (its email twin still goes), so no error reaches the user. Notices are
// built inside the callers' transactions without a context, hence one of
// its own, short.
func (s *Service) allowNoticeSMS(phone string) bool {
	if s.smsGuard == nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), smsNoticeTimeout)
	defer cancel()
	ok, _, err := s.smsGuard.Admit(ctx, phone, false)
	if err != nil {
		s.log.ErrorContext(ctx, "SMS guard unavailable: notice not sent by SMS", "err", err)
		return false
	}
	return ok
}

// smsCodeEntered tells the guard, once tx has committed, that the code of
// f was entered, if it went by SMS: the conversion guard watches how many
// SMS codes are entered.
func (s *Service) smsCodeEntered(ctx context.Context, tx Tx, f *Flow) {
	if s.smsGuard == nil || f.Channel != ChannelPhone {
		return
	}
	ctx = context.WithoutCancel(ctx)
	tx.AfterCommit(func() {
		if err := s.smsGuard.Entered(ctx, f.Address); err != nil {
			s.log.WarnContext(ctx, "SMS guard: entered code not recorded", "err", err)
		}
	})
}
