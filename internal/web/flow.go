package web

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// A multi-step flow (sign-up: address, code, password; login: password
// or code, then the authenticator) keeps what its next step needs in one
// cookie, sealed with AES-GCM under the server's key: the domain's flow
// id and, for sign-up, the code already checked. The browser holds it
// but cannot read or change it; it never appears in an address, a page or
// a Referer, and it lives no longer than the domain's flow. Each page
// shows the step its flow is at, so reloading or switching the language
// keeps the step.

// The kinds of flow.
const (
	flowSignup    = "signup"     // a code was sent to Address; Code is set once checked
	flowCodeLogin = "code_login" // a login code was sent (if Address is an account's)
	flowMFA       = "mfa"        // the first factor passed; the authenticator is next, on page From
)

// flowTTL bounds a flow cookie when the domain gives no expiry: the
// life of a code and of its flow.
const flowTTL = 10 * time.Minute

// flow is the content of the flow cookie.
type flow struct {
	Kind    string    `json:"k"`
	ID      string    `json:"i"`           // the domain's flow id
	Channel string    `json:"c,omitempty"` // sign-up: "email" or "phone"
	Address string    `json:"a,omitempty"` // as the user typed it: shown, and used to send a new code
	Code    string    `json:"o,omitempty"` // sign-up: the code checked on the code step
	From    string    `json:"f,omitempty"` // mfa: the page that shows the step ("/login", "/login/code")
	Expires time.Time `json:"e"`
}

// flowOf returns the browser's live flow of kind, or nil.
func (s *Server) flowOf(r *http.Request, kind string) *flow {
	var f flow
	if !s.openCookie(r, flowCookie, &f) || f.Kind != kind || !s.now().Before(f.Expires) {
		return nil
	}
	return &f
}

// setFlow seals f into the flow cookie, replacing any other flow.
func (s *Server) setFlow(w http.ResponseWriter, f *flow) error {
	if f.Expires.IsZero() {
		f.Expires = s.now().Add(flowTTL)
	}
	return s.sealCookie(w, flowCookie, f, f.Expires)
}

// sealCookie writes v, as JSON sealed with the server's key (AES-GCM, the
// cookie's name as additional data), into cookie name until expires: the
// browser carries the state of a page without being able to read or
// change it.
func (s *Server) sealCookie(w http.ResponseWriter, name string, v any, expires time.Time) error {
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	nonce := make([]byte, s.flowBox.NonceSize())
	if _, err := io.ReadFull(s.random, nonce); err != nil {
		return err
	}
	sealed := s.flowBox.Seal(nonce, nonce, plain, []byte(name))
	maxAge := int(expires.Sub(s.now()).Seconds()) + 1
	http.SetCookie(w, s.cookie(name, base64.RawURLEncoding.EncodeToString(sealed), maxAge))
	return nil
}

// openCookie reads what sealCookie wrote into v, and reports whether
// there was such a cookie that opens: another key (a rotation) or a
// forgery is no state at all.
func (s *Server) openCookie(r *http.Request, name string, v any) bool {
	c, err := r.Cookie(s.cookieName(name))
	if err != nil {
		return false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.flowBox.NonceSize()
	if err != nil || len(sealed) < n {
		return false
	}
	plain, err := s.flowBox.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return false
	}
	return json.Unmarshal(plain, v) == nil
}

// clearFlow deletes the flow cookie: the flow ended or was abandoned.
func (s *Server) clearFlow(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie(flowCookie, "", -1))
}
