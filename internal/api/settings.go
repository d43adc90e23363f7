package api

import (
	"net/http"
	"time"

	"github.com/watchword/watchword/internal/account"
)

type stepUpCodeRequest struct {
	Channel string `json:"channel"`
}

func (s *Server) startStepUp(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req stepUpCodeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("channel", req.Channel); err != nil {
		return err
	}
	ch := account.Channel(req.Channel)
	if ch != account.ChannelEmail && ch != account.ChannelPhone {
		return account.Errorf(account.CodeInvalidRequest, `Field "channel" must be "email" or "phone".`)
	}
	id, err := s.svc.StartStepUp(ctx(r), client(r), sess, ch)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, flowResponse{FlowID: id})
	return nil
}

type stepUpRequest struct {
	Code string `json:"code"`
	TOTP string `json:"totp"`
}

type privilegeResponse struct {
	PrivilegedUntil time.Time `json:"privileged_until"`
}

func (s *Server) completeStepUp(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req stepUpRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	until, err := s.svc.CompleteStepUp(ctx(r), client(r), sess, r.PathValue("flow_id"), req.Code, req.TOTP)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, privilegeResponse{PrivilegedUntil: until.UTC()})
	return nil
}

type emailChangeRequest struct {
	Address string `json:"address"`
}

type phoneChangeRequest struct {
	Number string `json:"number"`
}

func (s *Server) startEmailChange(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req emailChangeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("address", req.Address); err != nil {
		return err
	}
	return s.startContactChange(w, r, sess, account.ChannelEmail, req.Address)
}

func (s *Server) startPhoneChange(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req phoneChangeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("number", req.Number); err != nil {
		return err
	}
	return s.startContactChange(w, r, sess, account.ChannelPhone, req.Number)
}

func (s *Server) startContactChange(w http.ResponseWriter, r *http.Request, sess *account.Session, ch account.Channel, addr string) error {
	id, err := s.svc.StartContactChange(ctx(r), client(r), sess, ch, addr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, flowResponse{FlowID: id})
	return nil
}

type reloginResponse struct {
	ReloginRequired bool `json:"relogin_required"`
}

func (s *Server) confirmEmailChange(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	return s.confirmContactChange(w, r, sess, account.ChannelEmail)
}

func (s *Server) confirmPhoneChange(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	return s.confirmContactChange(w, r, sess, account.ChannelPhone)
}

func (s *Server) confirmContactChange(w http.ResponseWriter, r *http.Request, sess *account.Session, ch account.Channel) error {
	var req codeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("code", req.Code); err != nil {
		return err
	}
	if err := s.svc.ConfirmContactChange(ctx(r), client(r), sess, ch, r.PathValue("flow_id"), req.Code); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reloginResponse{ReloginRequired: true})
	return nil
}

type passwordRequest struct {
	Password string `json:"password"`
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	var req passwordRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("password", req.Password); err != nil {
		return err
	}
	if err := s.svc.ChangePassword(ctx(r), client(r), sess, req.Password); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reloginResponse{ReloginRequired: true})
	return nil
}

type sessionView struct {
	ID         string    `json:"id"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Current    bool      `json:"current"`
}

type sessionsResponse struct {
	Items []sessionView `json:"items"`
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	all, err := s.svc.Sessions(ctx(r), sess)
	if err != nil {
		return err
	}
	resp := sessionsResponse{Items: []sessionView{}}
	for _, x := range all {
		resp.Items = append(resp.Items, sessionView{
			ID: x.ID, UserAgent: x.UserAgent, IP: x.IP, CreatedAt: x.CreatedAt.UTC(),
			LastSeenAt: x.LastSeenAt.UTC(), ExpiresAt: x.ExpiresAt.UTC(), Current: x.ID == sess.ID,
		})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) endSession(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	if err := s.svc.EndSession(ctx(r), client(r), sess, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type eventView struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	At        time.Time `json:"at"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Detail    string    `json:"detail"`
}

func newEventView(e *account.Event) eventView {
	return eventView{ID: e.ID, Kind: string(e.Kind), At: e.CreatedAt.UTC(), IP: e.IP, UserAgent: e.UserAgent, Detail: e.Detail}
}

type eventsResponse struct {
	Items []eventView `json:"items"`
}

func (s *Server) listSecurityEvents(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	events, err := s.svc.SecurityEvents(ctx(r), sess, 100)
	if err != nil {
		return err
	}
	resp := eventsResponse{Items: []eventView{}}
	for _, e := range events {
		resp.Items = append(resp.Items, newEventView(e))
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
