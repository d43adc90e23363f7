package account

import (
	"errors"
	"fmt"
	"time"
)

// Code is a machine-readable error code of the public contract. The HTTP
// adapter maps each code to a status in one table.
type Code string

// The error codes of the contract.
const (
	CodeInvalidRequest     Code = "invalid_request"
	CodeInvalidEmail       Code = "invalid_email"
	CodeInvalidPhone       Code = "invalid_phone"
	CodeWeakPassword       Code = "weak_password"
	CodeInvalidCode        Code = "invalid_code"
	CodeCodeExpired        Code = "code_expired"
	CodeInvalidCredentials Code = "invalid_credentials"
	CodeUnauthenticated    Code = "unauthenticated"
	CodeStepUpRequired     Code = "step_up_required"
	CodeIdentifierInUse    Code = "identifier_in_use"
	CodeTOTPRequired       Code = "totp_required"
	CodeInvalidTOTP        Code = "invalid_totp"
	CodeClockDrift         Code = "clock_drift"
	CodeRateLimited        Code = "rate_limited"
	CodeForbidden          Code = "forbidden"
	CodeNotFound           Code = "not_found"
	CodeUnavailable        Code = "unavailable"
	CodeInternal           Code = "internal"
	// Uploads and the review workflow.
	CodeTooLarge             Code = "too_large"
	CodeUnsupportedMediaType Code = "unsupported_media_type"
	CodeConflict             Code = "conflict" // the state does not allow it (a decided request, an open one)
)

// Error is an error that may be shown to the client: its Message never
// reveals more than the contract allows. Anything else is an internal error.
type Error struct {
	Code       Code
	Message    string
	RetryAfter time.Duration // set with CodeRateLimited
	// DriftSeconds is set with CodeClockDrift: how far the phone's clock
	// is off, positive when it is ahead, so that a page can say it in the
	// user's language.
	DriftSeconds int
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrInvalidCode) matches any message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns a client error with the given code and message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the client code of err, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Client errors used in several places. Compare with errors.Is.
var (
	ErrInvalidCredentials = Errorf(CodeInvalidCredentials, "The identifier or password is wrong.")
	ErrInvalidCode        = Errorf(CodeInvalidCode, "The code is wrong or no longer valid. Ask for a new one.")
	ErrCodeExpired        = Errorf(CodeCodeExpired, "The code has expired. Ask for a new one.")
	ErrUnauthenticated    = Errorf(CodeUnauthenticated, "Sign in first.")
	ErrStepUpRequired     = Errorf(CodeStepUpRequired, "Verify your identity again before this change.")
	ErrFlowNotFound       = Errorf(CodeNotFound, "This flow does not exist or has ended. Start again.")
	ErrForbidden          = Errorf(CodeForbidden, "You may not do this.")
	ErrNotFound           = Errorf(CodeNotFound, "Not found.")
	ErrUnavailable        = Errorf(CodeUnavailable, "The service is busy. Try again in a moment.")
)

// RateLimited returns the error for a request over a limit.
func RateLimited(retryAfter time.Duration) *Error {
	if retryAfter < time.Second {
		retryAfter = time.Second
	}
	return &Error{Code: CodeRateLimited, Message: "Too many attempts. Try again later.", RetryAfter: retryAfter}
}

// Storage errors. Stores return these (wrapped) so that the service can tell
// a missing row or a lost race from a broken database.
var (
	// ErrNoRows: the row does not exist.
	ErrNoRows = errors.New("store: not found")
	// ErrConflict: a uniqueness constraint or a conditional update refused the
	// write, e.g. a verified identifier already taken or a code already used.
	ErrConflict = errors.New("store: conflict")
)
