package account

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"
)

// Code is a machine-readable error code of the public contract. Each has
// its HTTP status in HTTPStatuses.
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

// ErrorCode returns the client code of err, or CodeInternal. An error of
// an unreachable dependency is CodeInternal here, so that the domain's own
// accounts of failures (metrics, security-log reasons) keep it apart from
// refusals; the deliveries answer it as ErrUnavailable (see DependencyDown).
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

// HTTPStatuses returns the HTTP status of each client code, in a new map
// that a delivery extends with the codes of its own (a page's CSRF error).
// The contract gives every code its status (401 invalid_credentials, 429
// rate_limited), so the table lives with the codes and the API and the
// pages share it instead of keeping copies that drift apart. CodeInternal
// is left out: it is what any code without a status means, 500. The
// numbers are literal because this package does not import net/http.
func HTTPStatuses() map[Code]int {
	return map[Code]int{
		CodeInvalidRequest:       400,
		CodeInvalidEmail:         400,
		CodeInvalidPhone:         400,
		CodeWeakPassword:         400,
		CodeInvalidCode:          400,
		CodeCodeExpired:          400,
		CodeTOTPRequired:         400,
		CodeInvalidTOTP:          400,
		CodeClockDrift:           400,
		CodeInvalidCredentials:   401,
		CodeUnauthenticated:      401,
		CodeStepUpRequired:       403,
		CodeForbidden:            403,
		CodeNotFound:             404,
		CodeIdentifierInUse:      409,
		CodeConflict:             409,
		CodeTooLarge:             413,
		CodeUnsupportedMediaType: 415,
		CodeRateLimited:          429,
		CodeUnavailable:          503,
	}
}

// DependencyDown reports whether err says that the database, or another
// service behind a store, cannot be reached right now, rather than that
// the request or the code is wrong. The deliveries answer such an error as
// ErrUnavailable (503: the client may retry, and the server recovers by
// itself when the dependency is back) and log it at WARN, not as a bug.
// It is decided here, once, so that the API and the pages cannot disagree
// about an outage. Drivers are matched by behaviour (net.Error, a
// SQLState method as pgconn.PgError has) so that this package imports no
// driver; database/sql/driver is only the standard library's contract.
// The error chain must be wrapped with %w all the way for this to see it.
func DependencyDown(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) {
		// 08: connection exception; 57P: the server ended or refused the
		// session (shutting down, starting up); 53300: too many connections.
		state := coded.SQLState()
		return strings.HasPrefix(state, "08") || strings.HasPrefix(state, "57P") || state == "53300"
	}
	return false
}

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
