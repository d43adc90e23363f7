package api

import (
	"encoding/base64"
	"net/http"

	"github.com/watchword/watchword/internal/account"
)

type totpBeginResponse struct {
	Secret        string `json:"secret"`
	SecretGrouped string `json:"secret_grouped"`
	OTPAuthURI    string `json:"otpauth_uri"`
	QRPNG         string `json:"qr_png"`
}

func (s *Server) beginTOTP(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	if err := decodeOptional(w, r); err != nil {
		return err
	}
	b, err := s.svc.BeginTOTP(ctx(r), client(r), sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpBeginResponse{
		Secret: b.Secret, SecretGrouped: b.Grouped, OTPAuthURI: b.OTPAuthURI,
		QRPNG: base64.StdEncoding.EncodeToString(b.QRPNG),
	})
	return nil
}

func (s *Server) totpQR(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	png, err := s.svc.PendingTOTPQR(ctx(r), sess)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
	return nil
}

type totpConfirmResponse struct {
	Enabled            bool     `json:"enabled"`
	RecoveryCodes      []string `json:"recovery_codes"`
	ClockOffsetSeconds int      `json:"clock_offset_seconds"`
}

func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req codeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	c, err := s.svc.ConfirmTOTP(ctx(r), client(r), sess, req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpConfirmResponse{Enabled: true, RecoveryCodes: c.RecoveryCodes, ClockOffsetSeconds: c.ClockOffsetSeconds})
	return nil
}

type totpStateResponse struct {
	Enabled bool `json:"enabled"`
}

func (s *Server) disableTOTP(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req codeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	if err := s.svc.DisableTOTP(ctx(r), client(r), sess, req.Code); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpStateResponse{Enabled: false})
	return nil
}

func (s *Server) completeTOTPLogin(w http.ResponseWriter, r *http.Request) error {
	var req codeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	tok, err := s.svc.CompleteTOTPLogin(ctx(r), client(r), r.PathValue("flow_id"), req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, loginResponse{SessionToken: tok})
	return nil
}
