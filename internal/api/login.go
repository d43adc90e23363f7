package api

import (
	"net/http"
	"time"

	"github.com/watchword/watchword/internal/account"
)

var notFound = account.Errorf(account.CodeNotFound, "No such endpoint.")

type registrationRequest struct {
	Email string `json:"email"`
	Phone string `json:"phone"`
}

type flowResponse struct {
	FlowID    string     `json:"flow_id"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (s *Server) startRegistration(w http.ResponseWriter, r *http.Request) error {
	var req registrationRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	id, exp, err := s.svc.StartRegistration(ctx(r), client(r), req.Email, req.Phone)
	if err != nil {
		return err
	}
	exp = exp.UTC()
	writeJSON(w, http.StatusAccepted, flowResponse{FlowID: id, ExpiresAt: &exp})
	return nil
}

type completeRegistrationRequest struct {
	Code     string `json:"code"`
	Password string `json:"password"`
}

type completeRegistrationResponse struct {
	UID          string `json:"uid"`
	SessionToken string `json:"session_token"`
}

func (s *Server) completeRegistration(w http.ResponseWriter, r *http.Request) error {
	var req completeRegistrationRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("code", req.Code, "password", req.Password); err != nil {
		return err
	}
	uid, tok, err := s.svc.CompleteRegistration(ctx(r), client(r), r.PathValue("flow_id"), req.Code, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, completeRegistrationResponse{UID: uid, SessionToken: tok})
	return nil
}

type passwordLoginRequest struct {
	Identifier string `json:"identifier"`
	Password   string `json:"password"`
}

// loginResponse is either a session or a flow waiting for the
// authenticator code.
type loginResponse struct {
	SessionToken string `json:"session_token,omitempty"`
	MFARequired  bool   `json:"mfa_required,omitempty"`
	FlowID       string `json:"flow_id,omitempty"`
}

func writeLogin(w http.ResponseWriter, res account.LoginResult) {
	if res.MFAFlowID != "" {
		writeJSON(w, http.StatusOK, loginResponse{MFARequired: true, FlowID: res.MFAFlowID})
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{SessionToken: res.SessionToken})
}

func (s *Server) loginPassword(w http.ResponseWriter, r *http.Request) error {
	var req passwordLoginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("identifier", req.Identifier, "password", req.Password); err != nil {
		return err
	}
	res, err := s.svc.LoginPassword(ctx(r), client(r), req.Identifier, req.Password)
	if err != nil {
		return err
	}
	writeLogin(w, res)
	return nil
}

type codeLoginRequest struct {
	Identifier string `json:"identifier"`
}

func (s *Server) startCodeLogin(w http.ResponseWriter, r *http.Request) error {
	var req codeLoginRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("identifier", req.Identifier); err != nil {
		return err
	}
	id, err := s.svc.StartCodeLogin(ctx(r), client(r), req.Identifier)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, flowResponse{FlowID: id})
	return nil
}

type codeRequest struct {
	Code string `json:"code"`
}

func (s *Server) completeCodeLogin(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	res, err := s.svc.CompleteCodeLogin(ctx(r), client(r), r.PathValue("flow_id"), req.Code)
	if err != nil {
		return err
	}
	writeLogin(w, res)
	return nil
}

type emailView struct {
	Address  string `json:"address"`
	Verified bool   `json:"verified"`
}

type phoneView struct {
	Number   string `json:"number"`
	Verified bool   `json:"verified"`
}

type totpView struct {
	Enabled bool `json:"enabled"`
}

type meResponse struct {
	UID             string     `json:"uid"`
	Email           *emailView `json:"email"`
	Phone           *phoneView `json:"phone"`
	TOTP            totpView   `json:"totp"`
	Roles           []string   `json:"roles"`
	PrivilegedUntil *time.Time `json:"privileged_until"`
	// SecurityHoldUntil is set for a while after a security change, so
	// the application in front can hold withdrawals; null otherwise.
	SecurityHoldUntil *time.Time `json:"security_hold_until"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	u, totp, err := s.svc.Me(ctx(r), sess)
	if err != nil {
		return err
	}
	resp := meResponse{UID: u.UID, TOTP: totpView{Enabled: totp}, Roles: u.Roles}
	if resp.Roles == nil {
		resp.Roles = []string{}
	}
	if u.Email != "" {
		resp.Email = &emailView{Address: u.Email, Verified: u.EmailVerified}
	}
	if u.Phone != "" {
		resp.Phone = &phoneView{Number: u.Phone, Verified: u.PhoneVerified}
	}
	if s.svc.Privileged(sess) {
		t := sess.PrivilegedUntil.UTC()
		resp.PrivilegedUntil = &t
	}
	resp.SecurityHoldUntil = optionalTime(s.svc.SecurityHeld(u))
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	if err := s.svc.Logout(ctx(r), client(r), sess); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
