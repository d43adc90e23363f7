package web

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/review"
)

// The identity verification page, /account/identity: its state, and the
// form (three texts, then three images) while none is pending or
// approved. The form is multipart with the CSRF token as its first part;
// the files stream to the evidence store as they arrive.

const idvPath = "/account/identity"

// maxIdvForm bounds the body: three images of at most 10 MB and the
// texts.
const maxIdvForm = 3*10<<20 + 64<<10

// idvFiles are the form's file fields, in the order of the form.
var idvFiles = []review.Role{review.RoleDocumentFront, review.RoleDocumentBack, review.RoleSelfie}

// idvPageData is the Data of identity.html.
type idvPageData struct {
	State  string // none, pending, approved, rejected
	Reason string // why it was rejected
	Form   bool   // the form is offered
	Types  []string
}

func (s *Server) idvView(r *http.Request, state review.State, reason string) *view {
	d := &idvPageData{State: string(state), Reason: reason, Types: []string{string(review.DocumentIDCard), string(review.DocumentPassport)}}
	d.Form = state == review.StateNone || state == review.StateRejected || state == ""
	if d.State == "" {
		d.State = string(review.StateNone)
	}
	return s.view(r, "web.identity.title", d)
}

func (s *Server) idvPage(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	if s.reviews == nil {
		return errPageNotFound
	}
	state, reason, err := s.reviews.IdentityStatus(r.Context(), sess)
	if err != nil {
		return err
	}
	return s.page(w, r, "account_identity.html", s.idvView(r, state, reason))
}

// idvSubmit takes the form: the texts first, then the files, each read
// as it arrives.
func (s *Server) idvSubmit(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	if s.reviews == nil {
		return errPageNotFound
	}
	ctx := r.Context()
	state, reason, err := s.reviews.IdentityStatus(ctx, sess)
	if err != nil {
		return err
	}
	v := s.idvView(r, state, reason)
	if !v.Data.(*idvPageData).Form {
		return redirect(w, r, idvPath)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxIdvForm)
	mr, err := s.multipartReader(r)
	if err != nil {
		return err
	}
	form := map[string]string{}
	var draft *review.IdentityDraft
	defer func() {
		if draft != nil {
			draft.Discard(ctx)
		}
	}()
	var added []review.Role
	// begin checks the texts once, before the first file.
	begin := func() error {
		v.keep("full_name", form["full_name"], "document_type", form["document_type"], "document_number", form["document_number"])
		for _, f := range []string{"full_name", "document_type", "document_number"} {
			if form[f] == "" {
				return s.idvProblem(w, r, v, f, "web.identity.error."+f)
			}
		}
		if !slices.Contains(v.Data.(*idvPageData).Types, form["document_type"]) {
			return s.idvProblem(w, r, v, "document_type", "web.identity.error.document_type")
		}
		d, err := s.reviews.BeginIdentityVerification(ctx, s.client(r), sess, review.IdentityForm{
			FullName: form["full_name"], DocumentType: form["document_type"], DocumentNumber: form["document_number"],
		})
		switch {
		case account.ErrorCode(err) == account.CodeInvalidRequest:
			return s.idvProblem(w, r, v, "", "web.identity.error.text")
		case account.ErrorCode(err) == account.CodeConflict:
			return redirect(w, r, idvPath) // one is pending already
		case err != nil:
			return refused("account_identity.html", v, "", err)
		}
		draft = d
		return nil
	}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return idvBodyProblem(v, err)
		}
		name := p.FormName()
		switch role := review.Role(name); {
		case name == "full_name" || name == "document_type" || name == "document_number":
			if draft != nil {
				return errBadForm
			}
			b, err := io.ReadAll(io.LimitReader(p, 1<<10+1))
			if err != nil {
				return idvBodyProblem(v, err)
			}
			if len(b) > 1<<10 {
				return s.idvProblem(w, r, v.keep(name, ""), name, "web.identity.error."+name)
			}
			form[name] = idvText(b)
		case slices.Contains(idvFiles, role):
			if p.FileName() == "" {
				// No file chosen: the browser sends an empty part.
				_, _ = io.Copy(io.Discard, p)
				continue
			}
			if draft == nil {
				if err := begin(); err != nil || draft == nil {
					return err
				}
			}
			if slices.Contains(added, role) {
				return errBadForm
			}
			if err := draft.Add(ctx, role, p); err != nil {
				return idvUploadProblem(v, name, err)
			}
			added = append(added, role)
		default:
			return errBadForm
		}
		p.Close()
	}
	if draft == nil {
		if err := begin(); err != nil || draft == nil {
			return err
		}
	}
	for _, role := range idvFiles {
		if !slices.Contains(added, role) {
			return s.idvProblem(w, r, v, string(role), "web.identity.error.missing")
		}
	}
	d := draft
	draft = nil // Submit discards it itself on failure
	if err := d.Submit(ctx); err != nil {
		if account.ErrorCode(err) == account.CodeConflict {
			return redirect(w, r, idvPath)
		}
		return refused("account_identity.html", v, "", err)
	}
	s.flash(w, "web.flash.identity_sent")
	return redirect(w, r, idvPath)
}

// idvText is a form text as typed, without surrounding spaces.
func idvText(b []byte) string {
	return strings.TrimSpace(string(b))
}

// idvProblem shows message id beside field (above the form for "").
func (s *Server) idvProblem(w http.ResponseWriter, r *http.Request, v *view, field, id string) error {
	v.errors[field] = v.T(id)
	if err := s.render(w, r, http.StatusBadRequest, "account_identity.html", v); err != nil {
		return err
	}
	return nil
}

// idvBodyProblem is the error of a body that could not be read: too large,
// or cut off.
func idvBodyProblem(v *view, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return invalid("account_identity.html", v, "", review.ErrTooLarge)
	}
	return errBadForm
}

// idvUploadProblem is the error of a file that could not be taken: too
// large (also when the whole body is), of a type not accepted, or cut off.
func idvUploadProblem(v *view, field string, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = review.ErrTooLarge
	}
	switch account.ErrorCode(err) {
	case account.CodeTooLarge, account.CodeUnsupportedMediaType:
		return invalid("account_identity.html", v, field, err)
	case account.CodeInternal:
		return err
	}
	return refused("account_identity.html", v, "", err)
}

// IdentityFiles are the names of the identity form's file fields.
func (v *view) IdentityFiles() []string {
	out := make([]string, len(idvFiles))
	for i, r := range idvFiles {
		out[i] = string(r)
	}
	return out
}
