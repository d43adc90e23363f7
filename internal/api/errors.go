package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

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
	if !errors.As(err, &e) {
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

// internalError is what a client sees of any unexpected failure.
var internalError = &account.Error{Code: account.CodeInternal, Message: "Internal error."}

// RenderInternalError writes the API's 500 answer. The panic recovery of
// cmd/watchword calls it (through middleware.Recover) for API requests, so
// a panic looks like any other internal error of the API.
func RenderInternalError(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusInternalServerError, errorBody{errorDetail{internalError.Code, internalError.Message}})
}
