package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"

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
//
// Both kinds of case have the same shape — a page, its evidence, approve
// with an optional note, reject with a reason — so one set of handlers
// serves both, told apart by a caseKind.

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

// caseKind is what differs between the console's two kinds of case.
type caseKind struct {
	path  string // "/staff/unbind/": the case's address is path + its key
	key   string // the path value that names a case
	page  string // the template
	title string
	roles []review.Role // the evidence served, in the order shown
	load  func(ctx context.Context, rs *review.Service, rv *review.Reviewer, key string) (*caseData, error)
	// decide approves (text is the note) or rejects (text is the reason);
	// pending says the case still waits (four-eyes: a first approval).
	decide func(ctx context.Context, rs *review.Service, rv *review.Reviewer, c account.Client, key string, approve bool, text string) (pending bool, err error)
	open   func(ctx context.Context, rs *review.Service, rv *review.Reviewer, key string, role review.Role) (*review.File, io.ReadCloser, error)
}

// caseData is the Data of staff_unbind.html and staff_identity.html.
type caseData struct {
	Unbind   *review.UnbindCase   // an unbind case
	Identity *review.IdentityCase // an identity verification
	Action   string               // the case's address; the forms post to Action/approve and Action/reject
	Open     bool                 // the case still takes a decision
	Has      map[string]bool      // the files that can be shown, by role
	Needed   int                  // approvals needed (unbind)
}

// Match says whether the unbind request's ID number matches the approved
// identity verification's: "yes", "no", or "none" when the account has none.
func (d *caseData) Match() string {
	switch m := d.Unbind.IDNumberMatches; {
	case m == nil:
		return "none"
	case *m:
		return "yes"
	}
	return "no"
}

// Roles are the files of an identity verification, in the order shown.
func (d *caseData) Roles() []string {
	return []string{string(review.RoleDocumentFront), string(review.RoleDocumentBack), string(review.RoleSelfie)}
}

// kept returns the roles of the files not yet deleted.
func kept(files []*review.File) map[string]bool {
	has := map[string]bool{}
	for _, f := range files {
		if f.DeletedAt == nil {
			has[string(f.Role)] = true
		}
	}
	return has
}

var unbindCases = &caseKind{
	path: "/staff/unbind/", key: "id", page: "staff_unbind.html", title: "web.staff.unbind.title",
	roles: []review.Role{review.RolePhoto, review.RoleVideo, review.RoleSelfie},
	load: func(ctx context.Context, rs *review.Service, rv *review.Reviewer, id string) (*caseData, error) {
		cs, err := rs.UnbindCase(ctx, rv, id)
		if err != nil {
			return nil, err
		}
		return &caseData{Unbind: cs, Open: cs.Request.State == review.StatePending, Has: kept(cs.Files), Needed: rs.ApprovalsNeeded()}, nil
	},
	decide: func(ctx context.Context, rs *review.Service, rv *review.Reviewer, c account.Client, id string, approve bool, text string) (bool, error) {
		if !approve {
			_, err := rs.RejectUnbind(ctx, rv, c, id, text)
			return false, err
		}
		req, err := rs.ApproveUnbind(ctx, rv, c, id, text)
		return err == nil && req.State == review.StatePending, err
	},
	open: func(ctx context.Context, rs *review.Service, rv *review.Reviewer, id string, role review.Role) (*review.File, io.ReadCloser, error) {
		return rs.OpenUnbindEvidence(ctx, rv, id, role)
	},
}

var identityCases = &caseKind{
	path: "/staff/identity/", key: "uid", page: "staff_identity.html", title: "web.staff.identity.title",
	roles: []review.Role{review.RoleDocumentFront, review.RoleDocumentBack, review.RoleSelfie},
	load: func(ctx context.Context, rs *review.Service, rv *review.Reviewer, uid string) (*caseData, error) {
		cs, err := rs.IdentityCase(ctx, rv, uid)
		if err != nil {
			return nil, err
		}
		return &caseData{Identity: cs, Open: cs.Verification.State == review.StatePending, Has: kept(cs.Files)}, nil
	},
	decide: func(ctx context.Context, rs *review.Service, rv *review.Reviewer, c account.Client, uid string, approve bool, text string) (bool, error) {
		var err error
		if approve {
			_, err = rs.ApproveIdentityWithNote(ctx, rv, c, uid, text)
		} else {
			_, err = rs.RejectIdentity(ctx, rv, c, uid, text)
		}
		return false, err
	},
	open: func(ctx context.Context, rs *review.Service, rv *review.Reviewer, uid string, role review.Role) (*review.File, io.ReadCloser, error) {
		return rs.OpenIdentityEvidence(ctx, rv, uid, role)
	},
}

// mediaCSP is the pages' policy plus this site's own media: the case page
// plays the video from its evidence route.
const mediaCSP = csp + "; media-src 'self'"

// caseView returns the page of kind's case key.
func (s *Server) caseView(w http.ResponseWriter, r *http.Request, kind *caseKind, rv *review.Reviewer, key string) (*view, error) {
	d, err := kind.load(r.Context(), s.reviews, rv, key)
	if err != nil {
		return nil, err
	}
	d.Action = kind.path + key
	w.Header().Set("Content-Security-Policy", mediaCSP)
	return s.view(r, kind.title, d), nil
}

// staffCase shows a case.
func (s *Server) staffCase(kind *caseKind) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		rv, err := s.reviewer(r, sess)
		if err != nil {
			return err
		}
		v, err := s.caseView(w, r, kind, rv, r.PathValue(kind.key))
		if err != nil {
			return err
		}
		return s.page(w, r, kind.page, v)
	}
}

// staffDecide approves (field note, optional) or rejects (field reason)
// a case, then sends the browser back to the case with a flash message;
// a refused decision shows its error beside its field.
func (s *Server) staffDecide(kind *caseKind, approve bool) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		rv, err := s.reviewer(r, sess)
		if err != nil {
			return err
		}
		key := r.PathValue(kind.key)
		field := "note"
		if !approve {
			field = "reason"
		}
		text := textField(r, field)
		pending, err := kind.decide(r.Context(), s.reviews, rv, s.client(r), key, approve, text)
		if err != nil {
			v, verr := s.caseView(w, r, kind, rv, key)
			if verr != nil {
				return verr
			}
			return invalid(kind.page, v.keep(field, text), field, err)
		}
		switch {
		case pending:
			s.flash(w, "web.flash.staff.approved_first")
		case approve:
			s.flash(w, "web.flash.staff.approved")
		default:
			s.flash(w, "web.flash.staff.rejected")
		}
		return redirect(w, r, kind.path+key)
	}
}

// staffEvidence streams a file of a case: the photo, the video or the
// selfie of an unbind case, the documents and selfie of an identity
// verification.
func (s *Server) staffEvidence(kind *caseKind) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
		rv, err := s.reviewer(r, sess)
		if err != nil {
			return err
		}
		role := review.Role(r.PathValue("role"))
		if !slices.Contains(kind.roles, role) {
			return account.ErrNotFound
		}
		f, rc, err := kind.open(r.Context(), s.reviews, rv, r.PathValue(kind.key), role)
		if err != nil {
			return err
		}
		return s.serveEvidence(w, r, f, rc)
	}
}

// serveEvidence streams a file to staff (middleware.ServeMedia: inline,
// never sniffed, cached or run).
func (s *Server) serveEvidence(w http.ResponseWriter, r *http.Request, f *review.File, rc io.ReadCloser) error {
	err := middleware.ServeMedia(w, r, s.log, f.ContentType, string(f.Role), rc)
	if errors.Is(err, middleware.ErrUnservableType) {
		return account.Errorf(account.CodeUnsupportedMediaType, "This file cannot be shown.")
	}
	return err
}

// evidenceItem is the data of the "evidence-item" template.
type evidenceItem struct {
	V                           *view
	Role, Src, Caption, Missing string
	Has                         bool
}

// Evidence returns the file role of the page's case for "evidence-item".
func (v *view) Evidence(role string) evidenceItem {
	d := v.Data.(*caseData)
	it := evidenceItem{V: v, Role: role, Src: d.Action + "/evidence/" + role, Has: d.Has[role],
		Caption: "web.staff.evidence." + role, Missing: "web.staff.evidence.gone." + role}
	if role == string(review.RoleSelfie) && d.Unbind != nil && d.Unbind.IDNumberMatches == nil {
		it.Missing = "web.staff.evidence.no_selfie"
	}
	return it
}

// caseState is the data of the "case-state" template.
type caseState struct {
	V     *view
	State review.State
}

// CaseState returns a case's state for "case-state".
func (v *view) CaseState(st review.State) caseState { return caseState{V: v, State: st} }

// auditTable is the data of the "audit" template.
type auditTable struct {
	V     *view
	Audit []*review.AuditEntry
}

// AuditTable returns a case's audit trail for "audit".
func (v *view) AuditTable(a []*review.AuditEntry) auditTable { return auditTable{V: v, Audit: a} }
