package api

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"github.com/watchword/watchword/internal/account"
)

// Codes of the API's own errors (those of the domain are in account).
const (
	codeTooLarge             account.Code = "too_large"
	codeUnsupportedMediaType account.Code = "unsupported_media_type"
	codeMethodNotAllowed     account.Code = "method_not_allowed"
)

// statusOf maps every error code to its HTTP status: the one place where
// the domain's errors meet HTTP.
var statusOf = map[account.Code]int{
	account.CodeInvalidRequest:     http.StatusBadRequest,
	account.CodeInvalidEmail:       http.StatusBadRequest,
	account.CodeInvalidPhone:       http.StatusBadRequest,
	account.CodeWeakPassword:       http.StatusBadRequest,
	account.CodeInvalidCode:        http.StatusBadRequest,
	account.CodeCodeExpired:        http.StatusBadRequest,
	account.CodeInvalidCredentials: http.StatusUnauthorized,
	account.CodeUnauthenticated:    http.StatusUnauthorized,
	account.CodeStepUpRequired:     http.StatusForbidden,
	account.CodeIdentifierInUse:    http.StatusConflict,
	account.CodeConflict:           http.StatusConflict,
	account.CodeTOTPRequired:       http.StatusBadRequest,
	account.CodeInvalidTOTP:        http.StatusBadRequest,
	account.CodeClockDrift:         http.StatusBadRequest,
	account.CodeRateLimited:        http.StatusTooManyRequests,
	account.CodeForbidden:          http.StatusForbidden,
	account.CodeNotFound:           http.StatusNotFound,
	account.CodeUnavailable:        http.StatusServiceUnavailable,
	codeTooLarge:                   http.StatusRequestEntityTooLarge,
	codeUnsupportedMediaType:       http.StatusUnsupportedMediaType,
	codeMethodNotAllowed:           http.StatusMethodNotAllowed,
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    account.Code `json:"code"`
	Message string       `json:"message"`
}

// writeError renders err. Client errors are shown as they are; anything
// else is logged with its details and shown as a bare internal error.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *account.Error
	switch {
	case errors.As(err, &e):
	case dependencyDown(err):
		log.WarnContext(r.Context(), "dependency unavailable", "method", r.Method, "route", r.Pattern, "err", err)
		e = account.ErrUnavailable
	default:
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "err", err)
		e = internalError
	}
	status, ok := statusOf[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + 999_999_999) / 1_000_000_000)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	writeJSON(w, status, errorBody{errorDetail{e.Code, e.Message}})
}

// dependencyDown reports whether err says that the database (or another
// service behind it) cannot be reached right now, rather than that the
// request or the code is wrong: the client gets 503 unavailable and may
// retry, and the server recovers by itself when the dependency is back.
// Driver types are matched by behaviour (net.Error, SQLState) so that this
// package needs no driver.
func dependencyDown(err error) bool {
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var coded interface{ SQLState() string }
	if errors.As(err, &coded) {
		// 08: connection exception; 57P01-57P03: shutdown or starting up;
		// 53300: too many connections.
		state := coded.SQLState()
		return strings.HasPrefix(state, "08") || strings.HasPrefix(state, "57P") || state == "53300"
	}
	return false
}

// internalError is what a client sees of any unexpected failure.
var internalError = &account.Error{Code: account.CodeInternal, Message: "Internal error."}

// RenderInternalError writes the API's 500 answer. The panic recovery of
// cmd/watchword calls it (through middleware.Recover) for API requests, so
// a panic looks like any other internal error of the API.
func RenderInternalError(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusInternalServerError, errorBody{errorDetail{internalError.Code, internalError.Message}})
}
