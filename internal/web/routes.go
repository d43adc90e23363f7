package web

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed static
var staticFiles embed.FS

// route is one entry of the site map.
type route struct {
	pattern string // "METHOD /path", a net/http pattern
	handler http.HandlerFunc
}

// routes is the site map of the pages: every page, in one table. A page
// is wrapped by what it needs: handle (anyone), authed (a session; else a
// redirect to /login) or staff (a staff session; else 403). Every POST is
// checked for CSRF by those wrappers before its handler runs.
func (s *Server) routes() []route {
	return []route{
		{"GET /{$}", s.handle(s.home)},

		// Sign-up: an email (or ?with=phone a phone), then the code, then
		// the password.
		{"GET /signup", s.handle(s.signupPage)},
		{"POST /signup", s.handle(s.signup)},

		// Log in with a password or with a code, then, when one is bound,
		// the authenticator on the same page.
		{"GET /login", s.handle(s.loginPage)},
		{"POST /login", s.handle(s.login)},
		{"GET /login/code", s.handle(s.codeLoginPage)},
		{"POST /login/code", s.handle(s.codeLogin)},

		// Signed in.
		{"GET /account", s.authed(s.accountPage)},
		{"GET /logout", s.authed(s.logoutPage)},
		{"POST /logout", s.handle(s.logout)},

		// The personal center's own forms (center.go): ending a session,
		// the step-up, and the sensitive changes, which go through the
		// step-up by themselves and then log every session out.
		{"POST /account/sessions/end", s.authed(s.endSession)},
		{"GET /account/step-up", s.authed(s.stepUpPage)},
		{"POST /account/step-up", s.authed(s.stepUp)},
		{"GET /account/email", s.authed(s.emailPage)},
		{"POST /account/email", s.authed(s.email)},
		{"GET /account/phone", s.authed(s.phonePage)},
		{"POST /account/phone", s.authed(s.phone)},
		{"GET /account/password", s.authed(s.passwordPage)},
		{"POST /account/password", s.authed(s.changePassword)},

		// The authenticator app (totp.go): connect (the key as text and a
		// QR image loaded by the session, never cached), confirm, the
		// recovery codes once (download: a POST), remove with a code.
		{"GET /account/authenticator", s.authed(s.totpPage)},
		{"POST /account/authenticator", s.authed(s.totpSubmit)},
		{"GET /account/authenticator/qr", s.authed(s.totpQR)},
		{"POST /account/authenticator/recovery-codes", s.authed(s.totpCodesFile)},

		// Identity verification (identity.go): its state, and the form
		// with three images, streamed.
		{"GET /account/identity", s.authed(s.idvPage)},
		{"POST /account/identity", s.authedUpload(s.idvSubmit)},

		// The link of an unbind notice (the one page with a secret in its
		// address: the notice's cancel token).
		{"GET /unbind/cancel/{token}", s.handle(s.cancelPage)},
		{"POST /unbind/cancel/{token}", s.handle(s.cancel)},

		// Lost authenticator (from the login's authenticator step): the
		// request with its spoken challenge, then its status, whose token
		// stays in a cookie of that path.
		{"GET /unbind", s.handle(s.unbindPage)},
		{"POST /unbind", s.handleUpload(s.unbind)},
		{"GET /unbind/status/{id}", s.handle(s.unbindStatus)},

		// The staff console (403 without a staff session): the queues, an
		// unbind case and an identity verification, their evidence
		// (every read audited) and decisions.
		{"GET /staff", s.staff(s.staffHome)},
		{"GET /staff/unbind/{id}", s.staff(s.staffCase(unbindCases))},
		{"GET /staff/unbind/{id}/evidence/{role}", s.staff(s.staffEvidence(unbindCases))},
		{"POST /staff/unbind/{id}/approve", s.staff(s.staffDecide(unbindCases, true))},
		{"POST /staff/unbind/{id}/reject", s.staff(s.staffDecide(unbindCases, false))},
		{"GET /staff/identity/{uid}", s.staff(s.staffCase(identityCases))},
		{"GET /staff/identity/{uid}/evidence/{role}", s.staff(s.staffEvidence(identityCases))},
		{"POST /staff/identity/{uid}/approve", s.staff(s.staffDecide(identityCases, true))},
		{"POST /staff/identity/{uid}/reject", s.staff(s.staffDecide(identityCases, false))},
	}
}

// Register adds every page and the static files to mux. Paths no route
// claims (outside /api/v1, which the API answers) get the HTML 404 page,
// or 405 with Allow for a known path and another method.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /static/", http.FileServerFS(staticFiles))
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, rt.handler)
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.switchLanguage(w, r) {
			return
		}
		r = s.begin(w, r)
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			s.fail(w, r, errMethodNotAllowed)
			return
		}
		s.fail(w, r, errPageNotFound)
	}))
}

// Patterns returns every page's pattern, for documentation checks.
func (s *Server) Patterns() []string {
	var out []string
	for _, rt := range s.routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// probeMethods are the methods tried to compute an Allow header.
var probeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// allowedMethods returns the methods for which mux routes r's path to a
// real handler rather than to the catch-all "/".
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}
