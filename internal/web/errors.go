package web

import (
	"errors"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/middleware"
)

// Codes of the pages' own errors (those of the domain are in account).
const (
	codeCSRF             account.Code = "csrf"       // a POST from elsewhere, or without its token
	codeFlowEnded        account.Code = "flow_ended" // a step whose flow expired, ended or never began
	codeBadForm          account.Code = "bad_form"   // a body that is no form
	codeMethodNotAllowed account.Code = "method_not_allowed"
)

var (
	errCSRF             = &account.Error{Code: codeCSRF, Message: "The form is not from this site or has expired."}
	errFlowEnded        = &account.Error{Code: codeFlowEnded, Message: "This step has ended; start again."}
	errBadForm          = &account.Error{Code: codeBadForm, Message: "The form could not be read."}
	errMethodNotAllowed = &account.Error{Code: codeMethodNotAllowed, Message: "This page does not accept this method."}
	errPageNotFound     = account.ErrNotFound
	errInternal         = &account.Error{Code: account.CodeInternal} // its message is the page's own
)

// statusOf maps every error code to the status of the page that shows
// it: the domain's table (account.HTTPStatuses), which the API shares, and
// the pages' own codes. CodeInternal is listed, though 500 is what any
// code without a status gets, so that its message is checked with the
// others (TestEveryErrorHasAMessage).
var statusOf = func() map[account.Code]int {
	m := account.HTTPStatuses()
	maps.Copy(m, map[account.Code]int{
		account.CodeInternal: http.StatusInternalServerError,
		codeCSRF:             http.StatusForbidden,
		codeFlowEnded:        http.StatusBadRequest,
		codeBadForm:          http.StatusBadRequest,
		codeMethodNotAllowed: http.StatusMethodNotAllowed,
	})
	return m
}()

func statusFor(code account.Code) int {
	if st, ok := statusOf[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// formLevel are the codes about a whole form rather than one of its
// fields: their message shows above the form, whichever field the
// handler named.
var formLevel = map[account.Code]bool{
	account.CodeInvalidCredentials: true,
	account.CodeRateLimited:        true,
	account.CodeUnavailable:        true,
	account.CodeForbidden:          true,
	account.CodeConflict:           true,
	account.CodeStepUpRequired:     true,
	codeFlowEnded:                  true,
}

// formError is an error to show on a form: the page is rendered again
// with the message beside the field, in the page's language.
type formError struct {
	err   error
	field string // the form field it concerns; "" for the whole form
	topic string // picks the message (web.error.CODE.TOPIC); the field when empty
	page  string // the template
	view  *view  // the page as it was sent, with the values to keep
}

func (e *formError) Error() string { return e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// invalid returns err as an error of page's form, beside field. An error
// that is not the client's (an internal one) still gives the error page.
func invalid(page string, v *view, field string, err error) error {
	return &formError{err: err, field: field, topic: field, page: page, view: v}
}

// refused returns err as an error of page's whole form, shown above it,
// with the message of its code for topic (web.error.CODE.TOPIC) when
// there is one.
func refused(page string, v *view, topic string, err error) error {
	return &formError{err: err, topic: topic, page: page, view: v}
}

// required is the error of an empty field.
var required = account.Errorf(account.CodeInvalidRequest, "This field is required.")

// fail renders err, the one way handlers' errors reach the browser: a
// form's error beside its field, anything else as the error page. The
// domain's English message is never shown; the code (and the field) pick
// a message id of the page's language. An unreachable dependency
// (account.DependencyDown) is shown as account.ErrUnavailable, "busy, try
// again" with 503, just as when the domain refuses because its limiter's
// store is down: above the form that failed, or as the error page. It is
// logged at WARN, since the server recovers by itself; any other error
// that is not the client's is logged at ERROR.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *account.Error
	switch {
	case errors.As(err, &e):
	case account.DependencyDown(err):
		s.log.WarnContext(r.Context(), "dependency unavailable", "method", r.Method, "route", r.Pattern, "err", err)
		e = account.ErrUnavailable
	default:
		s.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "route", r.Pattern, "err", err)
		e = errInternal
	}
	var fe *formError
	if e.Code != account.CodeInternal && errors.As(err, &fe) {
		at := fe.field
		if formLevel[e.Code] {
			at = ""
		}
		fe.view.errors[at] = s.message(s.info(r).lang, e, fe.topic)
		setRetryAfter(w, e)
		rerr := s.render(w, r, statusFor(e.Code), fe.page, fe.view)
		if rerr == nil {
			return
		}
		s.log.ErrorContext(r.Context(), "page failed", "method", r.Method, "route", r.Pattern, "err", rerr)
		e = errInternal
	}
	setRetryAfter(w, e)
	s.errorPage(w, r, e)
}

// RenderInternalError writes the HTML 500 page in the user's language.
// The panic recovery of cmd/watchword (middleware.Recover) calls it for
// every path outside the API, after logging the panic.
func (s *Server) RenderInternalError(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, errInternal)
}

// errorView is the Data of error.html.
type errorView struct {
	Message   string
	RequestID string // for support, on server errors
	Retry     string // the page to try again (after a refused form), or ""
}

// errorPage renders the error page of err.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	code := account.ErrorCode(err)
	status := statusFor(code)
	lang := s.info(r).lang
	d := errorView{Message: s.message(lang, err, "")}
	if status >= 500 {
		d.RequestID = middleware.RequestIDFrom(r.Context())
	}
	if r.Method == http.MethodPost {
		d.Retry = localURL(r.URL.Path, nil)
	}
	title := "web.errorpage." + string(code)
	if !s.ids[title] {
		title = "web.errorpage.generic"
	}
	// The panic path comes here without begin, and the middleware's
	// default policy would block the style sheet.
	w.Header().Set("Content-Security-Policy", csp)
	if rerr := s.render(w, r, status, "error.html", s.view(r, title, d)); rerr != nil {
		s.log.ErrorContext(r.Context(), "render the error page", "err", rerr)
		http.Error(w, http.StatusText(status), status)
	}
}

// message translates err for the page: the message id of its code and
// topic, usually the field (web.error.CODE.TOPIC), when there is one,
// else of its code (web.error.CODE), else the generic one.
func (s *Server) message(lang i18n.Lang, err error, topic string) string {
	code := string(account.ErrorCode(err))
	id := "web.error." + code
	if topic != "" && s.ids[id+"."+topic] {
		id += "." + topic
	}
	if !s.ids[id] {
		id = "web.error.internal"
	}
	data := map[string]any{"Min": s.minLen, "Product": s.product}
	var e *account.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		data["Wait"] = s.duration(lang, e.RetryAfter)
	}
	// A phone clock that is off: say by how much, and which way.
	if e != nil && e.Code == account.CodeClockDrift && e.DriftSeconds != 0 {
		id = "web.error.clock_drift.ahead"
		if e.DriftSeconds < 0 {
			id = "web.error.clock_drift.behind"
		}
		data["Drift"] = s.drift(lang, e.DriftSeconds)
	}
	return s.catalog.T(lang, id, data)
}

// drift says how far a clock is off in lang: seconds, or from two
// minutes, the nearest minute.
func (s *Server) drift(lang i18n.Lang, secs int) string {
	secs = max(secs, -secs)
	if secs < 120 {
		return s.catalog.T(lang, "web.duration.seconds", map[string]any{"Count": secs}, secs)
	}
	mins := (secs + 30) / 60
	return s.catalog.T(lang, "web.duration.minutes", map[string]any{"Count": mins}, mins)
}

// duration says d in lang, rounded up to seconds or, from two minutes,
// to minutes.
func (s *Server) duration(lang i18n.Lang, d time.Duration) string {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 120 {
		return s.catalog.T(lang, "web.duration.seconds", map[string]any{"Count": secs}, secs)
	}
	mins := (secs + 59) / 60
	return s.catalog.T(lang, "web.duration.minutes", map[string]any{"Count": mins}, mins)
}

// setRetryAfter sets Retry-After for an error over a rate limit.
func setRetryAfter(w http.ResponseWriter, err error) {
	var e *account.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
}
