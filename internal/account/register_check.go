package account

import "context"

// CheckRegistrationCode reports whether code is the live code of sign-up
// flow flowID, without using it up. A delivery that asks for the code and
// the password on separate steps (the web pages) checks the code first, so
// that a mistyped code is shown at once rather than after a password was
// chosen; CompleteRegistration checks it again and spends it. A wrong code
// counts one of the code's tries, as it does in CompleteRegistration.
//
// Errors: CodeNotFound (flow), CodeInvalidCode, CodeCodeExpired.
func (s *Service) CheckRegistrationCode(ctx context.Context, flowID, code string) error {
	f, err := s.loadFlow(ctx, flowID, PurposeRegister)
	if err != nil {
		return err
	}
	return s.checkCode(ctx, f, code)
}
