package api

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/watchword/watchword/internal/account"
)

// Codes of the API's errors about the HTTP request itself. The first two
// are the domain's (uploads refuse with them too), so they share its
// statuses; method_not_allowed is the API's own.
const (
	codeTooLarge             = account.CodeTooLarge
	codeUnsupportedMediaType = account.CodeUnsupportedMediaType
	codeMethodNotAllowed     = account.Code("method_not_allowed")
)

// statusOf maps every error code the API answers to its HTTP status: the
// domain's table (account.HTTPStatuses), which the pages share, and the
// API's own codes.
var statusOf = func() map[account.Code]int {
	m := account.HTTPStatuses()
	m[codeMethodNotAllowed] = http.StatusMethodNotAllowed
	return m
}()

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    account.Code `json:"code"`
	Message string       `json:"message"`
}

// writeError renders err. Client errors are shown as they are; an
// unreachable dependency is 503 unavailable, logged at WARN since the
// server recovers by itself; anything else is logged with its details and
// shown as a bare internal error.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var e *account.Error
	switch {
	case errors.As(err, &e):
	case account.DependencyDown(err):
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

// internalError is what a client sees of any unexpected failure.
var internalError = &account.Error{Code: account.CodeInternal, Message: "Internal error."}

// RenderInternalError writes the API's 500 answer. The panic recovery of
// cmd/watchword calls it (through middleware.Recover) for API requests, so
// a panic looks like any other internal error of the API.
func RenderInternalError(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusInternalServerError, errorBody{errorDetail{internalError.Code, internalError.Message}})
}
