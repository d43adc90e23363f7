package web

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/review"
)

// The staff console: the review queues (/staff), an unbind request's case
// (/staff/unbind/{id}) and an identity verification (/staff/identity/{uid}),
// each with approve and reject forms. Every route is wrapped by staff (403
// without a staff session). The evidence is served by staff-only GET
// routes of these pages, through the domain, which records every read on
// the case's audit trail, with the API's evidence headers.

// reviewer returns the staff member of sess.
func (s *Server) reviewer(r *http.Request, sess *account.Session) (*review.Reviewer, error) {
	if s.reviews == nil {
		return nil, account.ErrNotFound
	}
	return s.reviews.Reviewer(r.Context(), sess)
}

// staffData is the Data of staff.html.
type staffData struct {
	Unbinds    []review.UnbindSummary
	Identities []*review.IdentityVerification
}

func (s *Server) staffHome(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	rv, err := s.reviewer(r, sess)
	if err != nil {
		return err
	}
	ub, err := s.reviews.UnbindQueue(r.Context(), rv, review.StatePending)
	if err != nil {
		return err
	}
	idv, err := s.reviews.IdentityQueue(r.Context(), rv, review.StatePending)
	if err != nil {
		return err
	}
	return s.page(w, r, "staff.html", s.view(r, "web.staff.title", &staffData{Unbinds: ub, Identities: idv}))
}

// caseData is the Data of staff_unbind.html.
type caseData struct {
	Case   *review.UnbindCase
	Has    map[string]bool // the files that can be shown
	Done   string          // a message id after a decision
	Needed int             // approvals needed
}

// Open reports whether the request still takes a decision.
func (d *caseData) Open() bool { return d.Case.Request.State == review.StatePending }

// Match says whether the ID number matches the approved identity
// verification's: "yes", "no", or "none" when the account has none.
func (d *caseData) Match() string {
	switch m := d.Case.IDNumberMatches; {
	case m == nil:
		return "none"
	case *m:
		return "yes"
	}
	return "no"
}

// mediaCSP is the pages' policy plus this site's own media: the case page
// plays the video from its evidence route.
const mediaCSP = csp + "; media-src 'self'"

func (s *Server) unbindCaseView(w http.ResponseWriter, r *http.Request, rv *review.Reviewer, id, done string) (*view, error) {
	w.Header().Set("Content-Security-Policy", mediaCSP)
	cs, err := s.reviews.UnbindCase(r.Context(), rv, id)
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, f := range cs.Files {
		if f.DeletedAt == nil {
			has[string(f.Role)] = true
		}
	}
	return s.view(r, "web.staff.unbind.title", &caseData{Case: cs, Has: has, Done: done, Needed: s.reviews.ApprovalsNeeded()}), nil
}

func (s *Server) staffUnbind(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	rv, err := s.reviewer(r, sess)
	if err != nil {
		return err
	}
	v, err := s.unbindCaseView(w, r, rv, r.PathValue("id"), "")
	if err != nil {
		return err
	}
	return s.page(w, r, "staff_unbind.html", v)
}

// staffUnbindDecide approves (field note) or rejects (field reason) a
// request, then shows the case again.
func (s *Server) staffUnbindDecide(approve bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		rv, err := s.reviewer(r, sess)
		if err != nil {
			return err
		}
		id := r.PathValue("id")
		var derr error
		field, done := "note", "web.staff.done.approved"
		if approve {
			_, derr = s.reviews.ApproveUnbind(r.Context(), rv, s.client(r), id, textField(r, "note"))
		} else {
			field, done = "reason", "web.staff.done.rejected"
			_, derr = s.reviews.RejectUnbind(r.Context(), rv, s.client(r), id, textField(r, "reason"))
		}
		if derr != nil {
			v, err := s.unbindCaseView(w, r, rv, id, "")
			if err != nil {
				return err
			}
			v.keep(field, textField(r, field))
			return invalid("staff_unbind.html", v, field, derr)
		}
		v, err := s.unbindCaseView(w, r, rv, id, done)
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, "staff_unbind.html", v)
	}
}

// staffUnbindEvidence streams the photo, the video or the selfie of a case.
func (s *Server) staffUnbindEvidence(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	rv, err := s.reviewer(r, sess)
	if err != nil {
		return err
	}
	role := review.Role(r.PathValue("role"))
	if role != review.RolePhoto && role != review.RoleVideo && role != review.RoleSelfie {
		return account.ErrNotFound
	}
	f, rc, err := s.reviews.OpenUnbindEvidence(r.Context(), rv, r.PathValue("id"), role)
	if err != nil {
		return err
	}
	return s.serveEvidence(r.Context(), w, r, f, rc)
}

// identityData is the Data of staff_identity.html.
type identityData struct {
	Case *review.IdentityCase
	Has  map[string]bool
	Done string
}

// Open reports whether the verification still takes a decision.
func (d *identityData) Open() bool { return d.Case.Verification.State == review.StatePending }

// Roles are the files of a verification, in the order shown.
func (d *identityData) Roles() []string {
	return []string{string(review.RoleDocumentFront), string(review.RoleDocumentBack), string(review.RoleSelfie)}
}

func (s *Server) identityCaseView(r *http.Request, rv *review.Reviewer, uid, done string) (*view, error) {
	cs, err := s.reviews.IdentityCase(r.Context(), rv, uid)
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, f := range cs.Files {
		if f.DeletedAt == nil {
			has[string(f.Role)] = true
		}
	}
	return s.view(r, "web.staff.identity.title", &identityData{Case: cs, Has: has, Done: done}), nil
}

func (s *Server) staffIdentity(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	rv, err := s.reviewer(r, sess)
	if err != nil {
		return err
	}
	v, err := s.identityCaseView(r, rv, r.PathValue("uid"), "")
	if err != nil {
		return err
	}
	return s.page(w, r, "staff_identity.html", v)
}

func (s *Server) staffIdentityDecide(approve bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		rv, err := s.reviewer(r, sess)
		if err != nil {
			return err
		}
		uid := r.PathValue("uid")
		var derr error
		field, done := "note", "web.staff.done.approved"
		if approve {
			_, derr = s.reviews.ApproveIdentity(r.Context(), rv, s.client(r), uid)
		} else {
			field, done = "reason", "web.staff.done.rejected"
			_, derr = s.reviews.RejectIdentity(r.Context(), rv, s.client(r), uid, textField(r, "reason"))
		}
		if derr != nil {
			v, err := s.identityCaseView(r, rv, uid, "")
			if err != nil {
				return err
			}
			v.keep(field, textField(r, field))
			return invalid("staff_identity.html", v, field, derr)
		}
		v, err := s.identityCaseView(r, rv, uid, done)
		if err != nil {
			return err
		}
		return s.render(w, r, http.StatusOK, "staff_identity.html", v)
	}
}

func (s *Server) staffIdentityEvidence(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	rv, err := s.reviewer(r, sess)
	if err != nil {
		return err
	}
	role := review.Role(r.PathValue("role"))
	if role != review.RoleDocumentFront && role != review.RoleDocumentBack && role != review.RoleSelfie {
		return account.ErrNotFound
	}
	f, rc, err := s.reviews.OpenIdentityEvidence(r.Context(), rv, r.PathValue("uid"), role)
	if err != nil {
		return err
	}
	return s.serveEvidence(r.Context(), w, r, f, rc)
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
