package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/review"
)

// Upload limits of whole bodies; each file's own limit (images 10 MB,
// videos 100 MB) is the evidence store's, enforced while it streams.
const (
	maxIdentityBody = 3*10<<20 + 64<<10
	maxUnbindBody   = 10<<20 + 100<<20 + 64<<10
)

// --- identity verification (the user) ---

type identityStatusResponse struct {
	State  review.State `json:"state"`
	Reason *string      `json:"reason"`
}

func (s *Server) submitIdentityVerification(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	sink, _, err := multipartForm(w, r, maxIdentityBody,
		[]string{"full_name", "document_type", "document_number"},
		[]string{string(review.RoleDocumentFront), string(review.RoleDocumentBack), string(review.RoleSelfie)},
		func(form map[string]string) (uploadSink, error) {
			return s.reviews.BeginIdentityVerification(ctx(r), client(r), sess, review.IdentityForm{
				FullName: form["full_name"], DocumentType: form["document_type"], DocumentNumber: form["document_number"],
			})
		})
	if err != nil {
		return err
	}
	if err := sink.(*review.IdentityDraft).Submit(ctx(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, identityStatusResponse{State: review.StatePending})
	return nil
}

func (s *Server) identityStatus(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	state, reason, err := s.reviews.IdentityStatus(ctx(r), sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, identityStatusResponse{State: state, Reason: optional(reason)})
	return nil
}

// optional is nil for "", so JSON says null rather than "".
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optionalTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// --- unbind requests (the user, signed in with the first factor only) ---

type challengeRequest struct {
	FlowID string `json:"flow_id"`
}

type challengeResponse struct {
	Challenge string `json:"challenge"`
}

func (s *Server) unbindChallenge(w http.ResponseWriter, r *http.Request) error {
	var req challengeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("flow_id", req.FlowID); err != nil {
		return err
	}
	phrase, err := s.reviews.Challenge(ctx(r), client(r), req.FlowID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, challengeResponse{Challenge: phrase})
	return nil
}

type filedResponse struct {
	RequestID    string       `json:"request_id"`
	RequestToken string       `json:"request_token"`
	State        review.State `json:"state"`
	DueAt        time.Time    `json:"due_at"`
}

func (s *Server) fileUnbindRequest(w http.ResponseWriter, r *http.Request) error {
	sink, _, err := multipartForm(w, r, maxUnbindBody,
		[]string{"flow_id", "uid", "id_number"},
		[]string{string(review.RolePhoto), string(review.RoleVideo)},
		func(form map[string]string) (uploadSink, error) {
			if err := required("flow_id", form["flow_id"], "uid", form["uid"], "id_number", form["id_number"]); err != nil {
				return nil, err
			}
			return s.reviews.BeginUnbind(ctx(r), client(r), review.UnbindForm{
				FlowID: form["flow_id"], UID: form["uid"], IDNumber: form["id_number"],
			})
		})
	if err != nil {
		return err
	}
	filed, err := sink.(*review.UnbindDraft).Submit(ctx(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, filedResponse{
		RequestID: filed.RequestID, RequestToken: filed.RequestToken, State: filed.State, DueAt: filed.DueAt.UTC(),
	})
	return nil
}

type unbindStatusResponse struct {
	State       review.State `json:"state"`
	DueAt       time.Time    `json:"due_at"`
	Reason      *string      `json:"reason"`
	EffectiveAt *time.Time   `json:"effective_at"`
}

func (s *Server) unbindStatus(w http.ResponseWriter, r *http.Request) error {
	req, err := s.reviews.UnbindStatus(ctx(r), r.PathValue("request_id"), r.Header.Get("X-Request-Token"))
	if err != nil {
		return err
	}
	resp := unbindStatusResponse{State: req.State, DueAt: req.DueAt.UTC(), Reason: optional(req.Reason)}
	if req.State == review.StateApproved {
		// Only an approval has an effect; a cancelled one never takes it.
		resp.EffectiveAt = optionalTime(req.EffectiveAt)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

type cancelRequest struct {
	CancelToken string `json:"cancel_token"`
}

type stateResponse struct {
	State review.State `json:"state"`
}

func (s *Server) cancelUnbindRequest(w http.ResponseWriter, r *http.Request) error {
	var req cancelRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := required("cancel_token", req.CancelToken); err != nil {
		return err
	}
	got, err := s.reviews.CancelUnbind(ctx(r), client(r), req.CancelToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stateResponse{State: got.State})
	return nil
}

// --- staff ---

// staffHandler is a handler for staff only.
type staffHandler func(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error

// staff checks that the session is a reviewer's or an admin's with an
// authenticator bound before calling h.
func (s *Server) staff(h staffHandler) http.HandlerFunc {
	return s.auth(func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		rv, err := s.reviews.Reviewer(ctx(r), sess)
		if err != nil {
			return err
		}
		return h(w, r, rv)
	})
}

// queueState reads ?state=, pending by default.
func queueState(r *http.Request, allowed ...review.State) (review.State, error) {
	st := review.State(r.URL.Query().Get("state"))
	if st == "" {
		return review.StatePending, nil
	}
	for _, a := range allowed {
		if st == a {
			return st, nil
		}
	}
	return "", account.Errorf(account.CodeInvalidRequest, "Unknown state %q.", st)
}

type unbindItem struct {
	RequestID   string       `json:"request_id"`
	UID         string       `json:"uid"`
	SubmittedAt time.Time    `json:"submitted_at"`
	DueAt       time.Time    `json:"due_at"`
	Overdue     bool         `json:"overdue"`
	State       review.State `json:"state"`
}

type unbindListResponse struct {
	Items []unbindItem `json:"items"`
}

func (s *Server) listUnbindRequests(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	st, err := queueState(r, review.StatePending, review.StateApproved, review.StateRejected, review.StateCancelled)
	if err != nil {
		return err
	}
	list, err := s.reviews.UnbindQueue(ctx(r), rv, st)
	if err != nil {
		return err
	}
	out := unbindListResponse{Items: []unbindItem{}}
	for _, x := range list {
		out.Items = append(out.Items, unbindItem{
			RequestID: x.Request.ID, UID: x.Request.UID, SubmittedAt: x.Request.SubmittedAt.UTC(),
			DueAt: x.Request.DueAt.UTC(), Overdue: x.Overdue, State: x.Request.State,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type evidenceLinks struct {
	Photo  *string `json:"photo"`
	Video  *string `json:"video"`
	Selfie *string `json:"selfie"`
}

type auditView struct {
	Actor     string    `json:"actor_uid"`
	Action    string    `json:"action"`
	Detail    string    `json:"detail"`
	CreatedAt time.Time `json:"created_at"`
}

type unbindCaseResponse struct {
	RequestID       string        `json:"request_id"`
	UID             string        `json:"uid"`
	State           review.State  `json:"state"`
	SubmittedAt     time.Time     `json:"submitted_at"`
	DueAt           time.Time     `json:"due_at"`
	Overdue         bool          `json:"overdue"`
	IDNumberMatches *bool         `json:"id_number_matches"`
	Challenge       string        `json:"challenge"`
	Approvals       int           `json:"approvals"`
	ApprovalsNeeded int           `json:"approvals_needed"`
	Note            *string       `json:"note"`
	Reason          *string       `json:"reason"`
	EffectiveAt     *time.Time    `json:"effective_at"`
	AppliedAt       *time.Time    `json:"applied_at"`
	Evidence        evidenceLinks `json:"evidence"`
	SecurityEvents  []eventView   `json:"security_events"`
	Audit           []auditView   `json:"audit"`
}

func (s *Server) unbindCase(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	cs, err := s.reviews.UnbindCase(ctx(r), rv, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.unbindCaseView(cs))
	return nil
}

func (s *Server) unbindCaseView(cs *review.UnbindCase) unbindCaseResponse {
	q := cs.Request
	out := unbindCaseResponse{
		RequestID: q.ID, UID: q.UID, State: q.State, SubmittedAt: q.SubmittedAt.UTC(), DueAt: q.DueAt.UTC(),
		Overdue: cs.Overdue, IDNumberMatches: cs.IDNumberMatches, Challenge: q.Challenge,
		Approvals: cs.Approvals, ApprovalsNeeded: s.reviews.ApprovalsNeeded(),
		Note: optional(q.Note), Reason: optional(q.Reason),
		EffectiveAt: optionalTime(q.EffectiveAt), AppliedAt: optionalTime(q.AppliedAt),
		SecurityEvents: []eventView{}, Audit: auditViews(cs.Audit),
	}
	base := Prefix + "/admin/unbind-requests/" + q.ID + "/evidence/"
	for _, f := range cs.Files {
		if f.DeletedAt != nil {
			continue
		}
		link := base + string(f.Role)
		switch f.Role {
		case review.RolePhoto:
			out.Evidence.Photo = &link
		case review.RoleVideo:
			out.Evidence.Video = &link
		case review.RoleSelfie:
			out.Evidence.Selfie = &link
		}
	}
	for _, e := range cs.Events {
		out.SecurityEvents = append(out.SecurityEvents, newEventView(e))
	}
	return out
}

func auditViews(list []*review.AuditEntry) []auditView {
	out := []auditView{}
	for _, a := range list {
		out = append(out, auditView{Actor: a.ActorUID, Action: a.Action, Detail: a.Detail, CreatedAt: a.CreatedAt.UTC()})
	}
	return out
}

func (s *Server) unbindEvidence(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	role := review.Role(r.PathValue("kind"))
	if role != review.RolePhoto && role != review.RoleVideo && role != review.RoleSelfie {
		return notFound
	}
	f, rc, err := s.reviews.OpenUnbindEvidence(ctx(r), rv, r.PathValue("id"), role)
	if err != nil {
		return err
	}
	return s.serveEvidence(ctx(r), w, r, f, rc)
}

// serveEvidence streams a file to staff (middleware.ServeMedia: inline,
// never sniffed, cached or run).
func (s *Server) serveEvidence(ctx context.Context, w http.ResponseWriter, r *http.Request, f *review.File, rc io.ReadCloser) error {
	err := middleware.ServeMedia(w, r, s.log, f.ContentType, string(f.Role), rc)
	if errors.Is(err, middleware.ErrUnservableType) {
		return account.Errorf(account.CodeUnsupportedMediaType, "This file cannot be shown.")
	}
	return err
}

type noteRequest struct {
	Note string `json:"note"`
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) approveUnbind(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	var req noteRequest
	if err := decodeOptionalInto(w, r, &req); err != nil {
		return err
	}
	if _, err := s.reviews.ApproveUnbind(ctx(r), rv, client(r), r.PathValue("id"), req.Note); err != nil {
		return err
	}
	return s.unbindCase(w, r, rv)
}

func (s *Server) rejectUnbind(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	var req reasonRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if _, err := s.reviews.RejectUnbind(ctx(r), rv, client(r), r.PathValue("id"), req.Reason); err != nil {
		return err
	}
	return s.unbindCase(w, r, rv)
}

type identityItem struct {
	UID          string       `json:"uid"`
	State        review.State `json:"state"`
	DocumentType string       `json:"document_type"`
	SubmittedAt  time.Time    `json:"submitted_at"`
}

type identityListResponse struct {
	Items []identityItem `json:"items"`
}

func (s *Server) listIdentityVerifications(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	st, err := queueState(r, review.StatePending, review.StateApproved, review.StateRejected)
	if err != nil {
		return err
	}
	list, err := s.reviews.IdentityQueue(ctx(r), rv, st)
	if err != nil {
		return err
	}
	out := identityListResponse{Items: []identityItem{}}
	for _, v := range list {
		out.Items = append(out.Items, identityItem{UID: v.UID, State: v.State, DocumentType: string(v.DocumentType), SubmittedAt: v.SubmittedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type identityCaseResponse struct {
	UID            string            `json:"uid"`
	State          review.State      `json:"state"`
	FullName       string            `json:"full_name"`
	DocumentType   string            `json:"document_type"`
	DocumentNumber string            `json:"document_number"`
	SubmittedAt    time.Time         `json:"submitted_at"`
	Reason         *string           `json:"reason"`
	Evidence       map[string]string `json:"evidence"`
	Audit          []auditView       `json:"audit"`
}

func (s *Server) identityCase(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	cs, err := s.reviews.IdentityCase(ctx(r), rv, r.PathValue("uid"))
	if err != nil {
		return err
	}
	v := cs.Verification
	out := identityCaseResponse{
		UID: v.UID, State: v.State, FullName: v.FullName, DocumentType: string(v.DocumentType),
		DocumentNumber: v.DocumentNumber, SubmittedAt: v.SubmittedAt.UTC(), Reason: optional(v.Reason),
		Evidence: map[string]string{}, Audit: auditViews(cs.Audit),
	}
	for _, f := range cs.Files {
		if f.DeletedAt == nil {
			out.Evidence[string(f.Role)] = Prefix + "/admin/identity-verifications/" + v.UID + "/evidence/" + string(f.Role)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) identityEvidence(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	role := review.Role(r.PathValue("kind"))
	if role != review.RoleDocumentFront && role != review.RoleDocumentBack && role != review.RoleSelfie {
		return notFound
	}
	f, rc, err := s.reviews.OpenIdentityEvidence(ctx(r), rv, r.PathValue("uid"), role)
	if err != nil {
		return err
	}
	return s.serveEvidence(ctx(r), w, r, f, rc)
}

func (s *Server) approveIdentity(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	if err := decodeOptional(w, r); err != nil {
		return err
	}
	if _, err := s.reviews.ApproveIdentity(ctx(r), rv, client(r), r.PathValue("uid")); err != nil {
		return err
	}
	return s.identityCase(w, r, rv)
}

func (s *Server) rejectIdentity(w http.ResponseWriter, r *http.Request, rv *review.Reviewer) error {
	var req reasonRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if _, err := s.reviews.RejectIdentity(ctx(r), rv, client(r), r.PathValue("uid"), req.Reason); err != nil {
		return err
	}
	return s.identityCase(w, r, rv)
}

// decodeOptionalInto decodes a strict JSON body into v when there is one:
// an approval may come without a note.
func decodeOptionalInto(w http.ResponseWriter, r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	return decode(w, r, v)
}
