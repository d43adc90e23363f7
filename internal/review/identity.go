package review

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/watchword/watchword/internal/account"
)

// IdentityForm is the text of an identity verification.
type IdentityForm struct {
	FullName       string
	DocumentType   string
	DocumentNumber string
}

// IdentityDraft is an identity verification whose files are streaming in.
type IdentityDraft struct {
	draft
	client account.Client
	uid    string
	form   IdentityForm
}

// BeginIdentityVerification checks the text of a submission and returns
// the draft that takes its three images (document front and back, and the
// selfie holding the document). One submission may be pending at a time;
// a rejected one may be submitted again.
//
// Errors: CodeInvalidRequest, CodeConflict (one is pending),
// CodeRateLimited.
func (s *Service) BeginIdentityVerification(ctx context.Context, c account.Client, sess *account.Session, form IdentityForm) (*IdentityDraft, error) {
	form.FullName = strings.Join(strings.Fields(form.FullName), " ")
	if form.FullName == "" || utf8.RuneCountInString(form.FullName) > 200 || !utf8.ValidString(form.FullName) {
		return nil, invalidf("Enter your full name as it is written on the document (at most 200 characters).")
	}
	if t := DocumentType(form.DocumentType); t != DocumentPassport && t != DocumentIDCard {
		return nil, invalidf(`The document type must be "passport" or "id_card".`)
	}
	if normalizeDocumentNumber(form.DocumentNumber) == "" {
		return nil, invalidf("Enter the document number: letters and digits, at most 32.")
	}
	if err := s.accounts.Limit(ctx, "idv:account:"+sess.UID, s.cfg.Limits.VerificationsPerAcct); err != nil {
		return nil, err
	}
	if err := s.accounts.LimitPerClient(ctx, "idv", c, s.cfg.Limits.VerificationsPerIP); err != nil {
		return nil, err
	}
	latest, err := s.store.LatestIdentityVerification(ctx, sess.UID)
	if err != nil && !isNoRows(err) {
		return nil, fmt.Errorf("identity verification: %w", err)
	}
	if latest != nil && latest.State == StatePending {
		return nil, errVerificationPending
	}
	return &IdentityDraft{
		draft:  s.newDraft(RoleDocumentFront, RoleDocumentBack, RoleSelfie),
		client: c, uid: sess.UID, form: form,
	}, nil
}

var errVerificationPending = account.Errorf(account.CodeConflict,
	"Your identity verification is being reviewed. You can submit again if it is rejected.")

// Submit stores the verification once its three files are in. On any
// error the files are deleted.
//
// Errors: CodeInvalidRequest (a file is missing), CodeConflict.
func (d *IdentityDraft) Submit(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			d.Discard(ctx)
		}
	}()
	if err := d.complete(); err != nil {
		return err
	}
	s := d.s
	id, _, err := s.newSecret("idv", 12)
	if err != nil {
		return err
	}
	v := &IdentityVerification{
		ID: id, UID: d.uid, State: StatePending, FullName: d.form.FullName,
		DocumentType: DocumentType(d.form.DocumentType), DocumentNumber: strings.TrimSpace(d.form.DocumentNumber),
		SubmittedAt: s.now(),
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.CreateIdentityVerification(ctx, v); err != nil {
			if isConflict(err) {
				return errVerificationPending
			}
			return fmt.Errorf("create identity verification: %w", err)
		}
		if err := d.record(ctx, tx, idvSubject(id)); err != nil {
			return err
		}
		return s.accounts.Record(ctx, tx, d.client, d.uid, account.EventIdentitySubmitted, "document="+string(v.DocumentType))
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "identity verification submitted", "uid", d.uid, "verification", id)
	return nil
}

// IdentityStatus returns the state of the account's latest identity
// verification (StateNone when there is none) and the reason of a
// rejection.
func (s *Service) IdentityStatus(ctx context.Context, sess *account.Session) (State, string, error) {
	v, err := s.store.LatestIdentityVerification(ctx, sess.UID)
	if isNoRows(err) {
		return StateNone, "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("identity status: %w", err)
	}
	return v.State, v.Reason, nil
}

// IdentityQueue returns the identity verifications in state, oldest first.
func (s *Service) IdentityQueue(ctx context.Context, rv *Reviewer, state State) ([]*IdentityVerification, error) {
	list, err := s.store.ListIdentityVerifications(ctx, state, 500)
	if err != nil {
		return nil, fmt.Errorf("identity queue: %w", err)
	}
	return list, nil
}

// IdentityCase returns the account's latest identity verification with its
// files and audit trail.
//
// Errors: CodeNotFound.
func (s *Service) IdentityCase(ctx context.Context, rv *Reviewer, uid string) (*IdentityCase, error) {
	v, err := s.store.LatestIdentityVerification(ctx, uid)
	if isNoRows(err) {
		return nil, errNoVerification
	}
	if err != nil {
		return nil, fmt.Errorf("identity case: %w", err)
	}
	files, err := s.store.FilesOf(ctx, idvSubject(v.ID))
	if err != nil {
		return nil, fmt.Errorf("identity case: %w", err)
	}
	trail, err := s.store.AuditOf(ctx, idvSubject(v.ID))
	if err != nil {
		return nil, fmt.Errorf("identity case: %w", err)
	}
	return &IdentityCase{Verification: v, Files: files, Audit: trail}, nil
}

var errNoVerification = account.Errorf(account.CodeNotFound, "This account has no identity verification.")

// OpenIdentityEvidence streams one file of the account's latest identity
// verification (the copy staff see) and records the read.
//
// Errors: CodeNotFound.
func (s *Service) OpenIdentityEvidence(ctx context.Context, rv *Reviewer, uid string, role Role) (*File, io.ReadCloser, error) {
	v, err := s.store.LatestIdentityVerification(ctx, uid)
	if isNoRows(err) {
		return nil, nil, errNoVerification
	}
	if err != nil {
		return nil, nil, fmt.Errorf("identity evidence: %w", err)
	}
	return s.openEvidence(ctx, rv, idvSubject(v.ID), idvSubject(v.ID), role)
}

// ApproveIdentity approves the account's pending identity verification.
//
// Errors: CodeNotFound, CodeForbidden (the reviewer's own account),
// CodeConflict (not pending).
func (s *Service) ApproveIdentity(ctx context.Context, rv *Reviewer, c account.Client, uid string) (*IdentityVerification, error) {
	return s.ApproveIdentityWithNote(ctx, rv, c, uid, "")
}

// ApproveIdentityWithNote is ApproveIdentity with the reviewer's note (what
// was checked), kept on the case's audit trail for other staff; the user
// is not shown it.
//
// Errors: CodeInvalidRequest (a note too long), and those of
// ApproveIdentity.
func (s *Service) ApproveIdentityWithNote(ctx context.Context, rv *Reviewer, c account.Client, uid, note string) (*IdentityVerification, error) {
	note = strings.TrimSpace(note)
	if utf8.RuneCountInString(note) > 2000 || !utf8.ValidString(note) {
		return nil, invalidf("The note is too long.")
	}
	return s.decideIdentity(ctx, rv, c, uid, StateApproved, "", note)
}

// RejectIdentity rejects the account's pending identity verification; the
// user is told why and may submit again.
//
// Errors: CodeInvalidRequest (no reason), CodeNotFound, CodeForbidden,
// CodeConflict.
func (s *Service) RejectIdentity(ctx context.Context, rv *Reviewer, c account.Client, uid, reason string) (*IdentityVerification, error) {
	reason, err := cleanReason(reason)
	if err != nil {
		return nil, err
	}
	return s.decideIdentity(ctx, rv, c, uid, StateRejected, reason, reason)
}

// decideIdentity records the decision; reason is the user's (a
// rejection's), detail goes on the audit trail.
func (s *Service) decideIdentity(ctx context.Context, rv *Reviewer, c account.Client, uid string, to State, reason, detail string) (*IdentityVerification, error) {
	if uid == rv.uid {
		return nil, errOwnCase
	}
	v, err := s.store.LatestIdentityVerification(ctx, uid)
	if isNoRows(err) {
		return nil, errNoVerification
	}
	if err != nil {
		return nil, fmt.Errorf("decide identity: %w", err)
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		err := tx.DecideIdentityVerification(ctx, v.ID, to, rv.uid, reason, s.now())
		if isConflict(err) {
			return errDecided
		}
		if err != nil {
			return fmt.Errorf("decide identity: %w", err)
		}
		action, kind, notice := "approve", account.EventIdentityApproved, account.NoticeIdentityApproved
		if to == StateRejected {
			action, kind, notice = "reject", account.EventIdentityRejected, account.NoticeIdentityRejected
		}
		if err := s.audit(ctx, tx, idvSubject(v.ID), rv.uid, action, detail); err != nil {
			return err
		}
		if err := s.accounts.Record(ctx, tx, c, uid, kind, "by="+rv.uid); err != nil {
			return err
		}
		if to == StateRejected {
			return s.accounts.Notify(ctx, tx, uid, notice, reason)
		}
		return s.accounts.Notify(ctx, tx, uid, notice)
	})
	if err != nil {
		return nil, err
	}
	v.State, v.Reason, v.DecidedBy = to, reason, rv.uid
	s.log.InfoContext(ctx, "identity verification decided", "uid", uid, "state", to, "by", rv.uid)
	return v, nil
}

// cleanReason checks a rejection reason: the user reads it.
func cleanReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", invalidf("Give the user a reason.")
	}
	if utf8.RuneCountInString(reason) > 500 || !utf8.ValidString(reason) {
		return "", invalidf("The reason is too long (at most 500 characters).")
	}
	return reason, nil
}

func invalidf(format string, args ...any) error {
	return account.Errorf(account.CodeInvalidRequest, format, args...)
}
