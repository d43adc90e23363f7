package api

import (
	"net/http"
	"strings"

	"github.com/watchword/watchword/internal/account"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// route is one entry of the site map.
type route struct {
	pattern string // "METHOD /path" below Prefix
	handler http.HandlerFunc
}

// routes is the API's site map: every endpoint, in one table.
func (s *Server) routes() []route {
	return []route{
		// Registration and login.
		{"POST /registrations", s.handle(s.startRegistration)},
		{"POST /registrations/{flow_id}/complete", s.handle(s.completeRegistration)},
		{"POST /login/password", s.handle(s.loginPassword)},
		{"POST /login/code", s.handle(s.startCodeLogin)},
		{"POST /login/code/{flow_id}", s.handle(s.completeCodeLogin)},
		{"POST /login/totp/{flow_id}", s.handle(s.completeTOTPLogin)},
		{"GET /me", s.auth(s.me)},
		{"POST /logout", s.auth(s.logout)},

		// Personal center: step-up, then sensitive changes.
		{"POST /me/step-up/code", s.auth(s.startStepUp)},
		{"POST /me/step-up/{flow_id}", s.auth(s.completeStepUp)},
		{"POST /me/email", s.auth(s.startEmailChange)},
		{"POST /me/email/{flow_id}", s.auth(s.confirmEmailChange)},
		{"POST /me/phone", s.auth(s.startPhoneChange)},
		{"POST /me/phone/{flow_id}", s.auth(s.confirmPhoneChange)},
		{"PUT /me/password", s.auth(s.changePassword)},
		{"GET /me/sessions", s.auth(s.listSessions)},
		{"DELETE /me/sessions/{id}", s.auth(s.endSession)},
		{"GET /me/security-events", s.auth(s.listSecurityEvents)},

		// Authenticator app.
		{"POST /me/totp", s.auth(s.beginTOTP)},
		{"GET /me/totp/qr.png", s.auth(s.totpQR)},
		{"POST /me/totp/confirm", s.auth(s.confirmTOTP)},
		{"DELETE /me/totp", s.auth(s.disableTOTP)},

		// Identity verification, and a lost authenticator's unbind request.
		{"POST /me/identity-verification", s.auth(s.submitIdentityVerification)},
		{"GET /me/identity-verification", s.auth(s.identityStatus)},
		{"POST /unbind-requests/challenge", s.handle(s.unbindChallenge)},
		{"POST /unbind-requests", s.handle(s.fileUnbindRequest)},
		{"GET /unbind-requests/{request_id}", s.handle(s.unbindStatus)},
		{"POST /unbind-requests/cancel", s.handle(s.cancelUnbindRequest)},

		// Staff: reviewers and admins with an authenticator bound.
		{"GET /admin/unbind-requests", s.staff(s.listUnbindRequests)},
		{"GET /admin/unbind-requests/{id}", s.staff(s.unbindCase)},
		{"GET /admin/unbind-requests/{id}/evidence/{kind}", s.staff(s.unbindEvidence)},
		{"POST /admin/unbind-requests/{id}/approve", s.staff(s.approveUnbind)},
		{"POST /admin/unbind-requests/{id}/reject", s.staff(s.rejectUnbind)},
		{"GET /admin/identity-verifications", s.staff(s.listIdentityVerifications)},
		{"GET /admin/identity-verifications/{uid}", s.staff(s.identityCase)},
		{"GET /admin/identity-verifications/{uid}/evidence/{kind}", s.staff(s.identityEvidence)},
		{"POST /admin/identity-verifications/{uid}/approve", s.staff(s.approveIdentity)},
		{"POST /admin/identity-verifications/{uid}/reject", s.staff(s.rejectIdentity)},
	}
}

// Register adds every API route to mux under Prefix.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.Handle(method+" "+Prefix+path, rt.handler)
	}
	// Anything else under the prefix lands here, which also hides the
	// mux's own 405 (a method-less pattern matches every method), so a
	// known path with the wrong method is told apart here.
	mux.Handle(Prefix+"/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		allow := allowedMethods(mux, r)
		if len(allow) == 0 {
			return notFound
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return methodNotAllowed
	}))
}

var methodNotAllowed = &account.Error{Code: codeMethodNotAllowed, Message: "This endpoint does not accept this method; see the Allow header."}

// probeMethods are the methods tried to compute an Allow header.
var probeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// allowedMethods returns the methods for which mux routes r's path to a
// real endpoint rather than to the catch-all (GET brings HEAD, as in
// ServeMux).
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != Prefix+"/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// Patterns returns every route as "METHOD /api/v1/path", for documentation checks.
func (s *Server) Patterns() []string {
	var out []string
	for _, rt := range s.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		out = append(out, method+" "+Prefix+path)
	}
	return out
}
