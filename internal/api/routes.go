package api

import "net/http"

// Prefix is where the API is mounted.
const Prefix = "/api/v1"

// Register adds every API route to mux. This table is the API's site map.
func (s *Server) Register(mux *http.ServeMux) {
	route := func(pattern string, h http.HandlerFunc) {
		method, path, _ := cut(pattern)
		mux.Handle(method+" "+Prefix+path, h)
	}
	// Registration and login.
	route("POST /registrations", s.handle(s.startRegistration))
	route("POST /registrations/{flow_id}/complete", s.handle(s.completeRegistration))
	route("POST /login/password", s.handle(s.loginPassword))
	route("POST /login/code", s.handle(s.startCodeLogin))
	route("POST /login/code/{flow_id}", s.handle(s.completeCodeLogin))
	route("GET /me", s.auth(s.me))
	route("POST /logout", s.auth(s.logout))
	route("POST /login/totp/{flow_id}", s.handle(s.completeTOTPLogin))

	// Personal center: step-up, then sensitive changes.
	route("POST /me/step-up/code", s.auth(s.startStepUp))
	route("POST /me/step-up/{flow_id}", s.auth(s.completeStepUp))
	route("POST /me/email", s.auth(s.startEmailChange))
	route("POST /me/email/{flow_id}", s.auth(s.confirmEmailChange))
	route("POST /me/phone", s.auth(s.startPhoneChange))
	route("POST /me/phone/{flow_id}", s.auth(s.confirmPhoneChange))
	route("PUT /me/password", s.auth(s.changePassword))
	route("GET /me/sessions", s.auth(s.listSessions))
	route("DELETE /me/sessions/{id}", s.auth(s.endSession))
	route("GET /me/security-events", s.auth(s.listSecurityEvents))

	// Authenticator app.
	route("POST /me/totp", s.auth(s.beginTOTP))
	route("GET /me/totp/qr.png", s.auth(s.totpQR))
	route("POST /me/totp/confirm", s.auth(s.confirmTOTP))
	route("DELETE /me/totp", s.auth(s.disableTOTP))

	// Anything else under the prefix is a JSON 404, not the default text page.
	mux.Handle(Prefix+"/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return notFound
	}))
}

func cut(pattern string) (method, path string, ok bool) {
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == ' ' {
			return pattern[:i], pattern[i+1:], true
		}
	}
	return "", pattern, false
}
