package review

import (
	"context"
	"crypto/subtle"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/token"
)

// challengeWords are easy to say and to hear on a phone's microphone, in
// any accent; two numbers of two digits complete the phrase.
var challengeWords = strings.Fields(`amber anchor apple arrow autumn basket beach bicycle blossom bridge
	candle canyon castle cedar cherry circle cloud copper coral crystal desert dolphin dragon eagle
	ember falcon feather forest garden glacier harbor hazel island jasmine lantern lemon maple meadow
	mirror morning mountain nectar ocean olive orbit orchid pebble pepper planet river rocket saddle
	silver spring summit sunset thunder tiger tulip valley velvet violet willow winter yellow`)

// newChallenge returns a phrase like "maple 47 harbor 12 velvet".
func (s *Service) newChallenge() (string, error) {
	pick := func(n int) (int, error) {
		v, err := token.Uint64(s.random)
		return int(v % uint64(n)), err
	}
	var parts []string
	for i := range 5 {
		if i%2 == 1 {
			n, err := pick(90)
			if err != nil {
				return "", err
			}
			parts = append(parts, fmt.Sprint(n+10))
			continue
		}
		n, err := pick(len(challengeWords))
		if err != nil {
			return "", err
		}
		parts = append(parts, challengeWords[n])
	}
	return strings.Join(parts, " "), nil
}

// Challenge issues the spoken challenge of a login flow that waits for the
// authenticator: the user says it in the selfie video of the unbind
// request, and staff hear it beside the video. A new challenge replaces
// the flow's earlier one.
//
// Errors: CodeNotFound (flow), CodeRateLimited.
func (s *Service) Challenge(ctx context.Context, c account.Client, flowID string) (string, error) {
	if err := s.accounts.LimitPerClient(ctx, "challenge", c, s.cfg.Limits.ChallengesPerIP); err != nil {
		return "", err
	}
	f, err := s.accounts.SecondFactorFlow(ctx, flowID)
	if err != nil {
		return "", err
	}
	phrase, err := s.newChallenge()
	if err != nil {
		return "", err
	}
	ch := &Challenge{FlowIDHash: f.IDHash, UID: f.UID, Phrase: phrase, CreatedAt: s.now(), ExpiresAt: f.ExpiresAt}
	if err := s.store.PutChallenge(ctx, ch); err != nil {
		return "", fmt.Errorf("store challenge: %w", err)
	}
	return phrase, nil
}

// UnbindForm is the text of an unbind request.
type UnbindForm struct {
	FlowID   string
	UID      string // as the user knows it; it must be the flow's account
	IDNumber string
}

// UnbindDraft is an unbind request whose photo and video are streaming in.
type UnbindDraft struct {
	draft
	client    account.Client
	uid       string
	idNumber  string
	challenge string
}

// BeginUnbind checks the text of an unbind request before its files are
// accepted: the flow proves the first factor and must have been issued a
// challenge, the UID must be the flow's account, and the account may have
// one open request at a time.
//
// Errors: CodeNotFound (flow), CodeInvalidRequest, CodeConflict (an open
// request), CodeRateLimited.
func (s *Service) BeginUnbind(ctx context.Context, c account.Client, form UnbindForm) (*UnbindDraft, error) {
	f, err := s.accounts.SecondFactorFlow(ctx, form.FlowID)
	if err != nil {
		return nil, err
	}
	ch, err := s.store.ChallengeFor(ctx, f.IDHash)
	if isNoRows(err) || (err == nil && (ch.UID != f.UID || !s.now().Before(ch.ExpiresAt))) {
		return nil, invalidf("Ask for a spoken challenge first, and say it in the video.")
	}
	if err != nil {
		return nil, fmt.Errorf("begin unbind: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(form.UID)), []byte(f.UID)) != 1 {
		return nil, invalidf("The UID is not the one of the account you signed in to.")
	}
	if normalizeDocumentNumber(form.IDNumber) == "" {
		return nil, invalidf("Enter the ID number of your identity verification: letters and digits.")
	}
	if err := s.accounts.Limit(ctx, "unbind:account:"+f.UID, s.cfg.Limits.UnbindsPerAccount); err != nil {
		return nil, err
	}
	if err := s.accounts.LimitPerClient(ctx, "unbind", c, s.cfg.Limits.UnbindsPerIP); err != nil {
		return nil, err
	}
	if _, err := s.store.OpenUnbindRequest(ctx, f.UID); err == nil {
		return nil, errUnbindOpen
	} else if !isNoRows(err) {
		return nil, fmt.Errorf("begin unbind: %w", err)
	}
	return &UnbindDraft{
		draft:  s.newDraft(RolePhoto, RoleVideo),
		client: c, uid: f.UID, idNumber: strings.TrimSpace(form.IDNumber), challenge: ch.Phrase,
	}, nil
}

var errUnbindOpen = account.Errorf(account.CodeConflict,
	"A request to remove your authenticator is already open. Follow it, or cancel it with the link we sent.")

// Filed is what the user keeps of a filed request.
type Filed struct {
	RequestID    string
	RequestToken string // X-Request-Token, to follow the request
	State        State
	DueAt        time.Time
}

// Submit files the request once its photo and video are in, and tells
// every verified channel of the account, with a link that cancels it. On
// any error the files are deleted.
//
// Errors: CodeInvalidRequest (a file is missing), CodeConflict.
func (d *UnbindDraft) Submit(ctx context.Context) (res *Filed, err error) {
	defer func() {
		if err != nil {
			d.Discard(ctx)
		}
	}()
	if err := d.complete(); err != nil {
		return nil, err
	}
	s := d.s
	id, _, err := s.newSecret("unbind-id", 12)
	if err != nil {
		return nil, err
	}
	tok, tokHash, err := s.newSecret("unbind-token", 32)
	if err != nil {
		return nil, err
	}
	cancel, cancelHash, err := s.newSecret("unbind-cancel", 32)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &UnbindRequest{
		ID: id, TokenHash: tokHash, CancelTokenHash: cancelHash, UID: d.uid, IDNumber: d.idNumber,
		Challenge: d.challenge, State: StatePending, SubmittedAt: now, DueAt: s.calendar.AddWorkingDays(now, s.cfg.DueIn),
		IP: d.client.IP, UserAgent: d.client.UserAgent,
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.CreateUnbindRequest(ctx, r); err != nil {
			if isConflict(err) {
				return errUnbindOpen
			}
			return fmt.Errorf("create unbind request: %w", err)
		}
		if err := d.record(ctx, tx, unbindSubject(id)); err != nil {
			return err
		}
		if err := s.accounts.Record(ctx, tx, d.client, d.uid, account.EventUnbindRequested, "request="+id); err != nil {
			return err
		}
		// Account recovery is an attack path: whoever knows the password
		// must not get the authenticator removed without the owner
		// hearing of it, with a way to stop it.
		return s.accounts.Notify(ctx, tx, d.uid, account.NoticeUnbindFiled,
			id, r.DueAt, s.cfg.PublicURL+"/unbind/cancel/"+cancel)
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "unbind request filed", "uid", d.uid, "request", id, "due_at", r.DueAt)
	return &Filed{RequestID: id, RequestToken: tok, State: StatePending, DueAt: r.DueAt}, nil
}

var errNoRequest = account.Errorf(account.CodeNotFound, "No such request.")

// UnbindStatus returns a request to the holder of its token.
//
// Errors: CodeNotFound (unknown id, or a token that is not its own).
func (s *Service) UnbindStatus(ctx context.Context, requestID, tok string) (*UnbindRequest, error) {
	if tok == "" || len(tok) > 128 {
		return nil, errNoRequest
	}
	r, err := findByHash(ctx, s.hasher.Hashes("unbind-token", tok), s.store.UnbindRequestByTokenHash)
	if isNoRows(err) || (err == nil && subtle.ConstantTimeCompare([]byte(r.ID), []byte(requestID)) != 1) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, fmt.Errorf("unbind status: %w", err)
	}
	return r, nil
}

// CancelUnbind cancels the request of a notice's cancel link while it is
// pending, or approved but not yet in effect. A GET of the link never
// cancels: the delivery shows a page whose button calls this.
//
// Errors: CodeNotFound, CodeConflict (decided, in effect or cancelled).
func (s *Service) CancelUnbind(ctx context.Context, c account.Client, cancelToken string) (*UnbindRequest, error) {
	if cancelToken == "" || len(cancelToken) > 128 {
		return nil, errNoRequest
	}
	r, err := findByHash(ctx, s.hasher.Hashes("unbind-cancel", cancelToken), s.store.UnbindRequestByCancelTokenHash)
	if isNoRows(err) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, fmt.Errorf("cancel unbind: %w", err)
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		err := tx.CancelUnbind(ctx, r.ID, s.now())
		if isConflict(err) {
			return errDecided
		}
		if err != nil {
			return fmt.Errorf("cancel unbind: %w", err)
		}
		if err := s.audit(ctx, tx, unbindSubject(r.ID), r.UID, "cancel", "by the owner's link"); err != nil {
			return err
		}
		if err := s.accounts.Record(ctx, tx, c, r.UID, account.EventUnbindCancelled, "request="+r.ID); err != nil {
			return err
		}
		return s.accounts.Notify(ctx, tx, r.UID, account.NoticeUnbindCancelled, r.ID)
	})
	if err != nil {
		return nil, err
	}
	r.State = StateCancelled
	s.log.InfoContext(ctx, "unbind request cancelled", "uid", r.UID, "request", r.ID)
	return r, nil
}

// UnbindSummary is one line of the staff queue.
type UnbindSummary struct {
	Request *UnbindRequest
	Overdue bool
}

// UnbindQueue returns the requests in state, the most urgent first.
func (s *Service) UnbindQueue(ctx context.Context, rv *Reviewer, state State) ([]UnbindSummary, error) {
	list, err := s.store.ListUnbindRequests(ctx, state, 500)
	if err != nil {
		return nil, fmt.Errorf("unbind queue: %w", err)
	}
	now := s.now()
	out := make([]UnbindSummary, len(list))
	for i, r := range list {
		out[i] = UnbindSummary{Request: r, Overdue: s.overdue(r, now)}
	}
	return out, nil
}

// overdue reports whether a pending request is past its due date.
func (s *Service) overdue(r *UnbindRequest, now time.Time) bool {
	return r.State == StatePending && now.After(r.DueAt)
}

// UnbindCase returns everything staff need to decide a request.
//
// Errors: CodeNotFound.
func (s *Service) UnbindCase(ctx context.Context, rv *Reviewer, id string) (*UnbindCase, error) {
	r, err := s.store.UnbindRequestByID(ctx, id)
	if isNoRows(err) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, fmt.Errorf("unbind case: %w", err)
	}
	cs := &UnbindCase{Request: r, Overdue: s.overdue(r, s.now())}
	if r.FirstApprover != "" {
		cs.Approvals = 1
	}
	if r.State == StateApproved {
		cs.Approvals = 1
		if s.cfg.FourEyes || r.FirstApprover != "" {
			cs.Approvals = 2
		}
	}
	if cs.Files, err = s.store.FilesOf(ctx, unbindSubject(id)); err != nil {
		return nil, fmt.Errorf("unbind case: %w", err)
	}
	idv, err := s.store.ApprovedIdentityVerification(ctx, r.UID)
	switch {
	case err == nil:
		match := normalizeDocumentNumber(idv.DocumentNumber) == normalizeDocumentNumber(r.IDNumber)
		cs.IDNumberMatches = &match
		idvFiles, err := s.store.FilesOf(ctx, idvSubject(idv.ID))
		if err != nil {
			return nil, fmt.Errorf("unbind case: %w", err)
		}
		for _, f := range idvFiles {
			if f.Role == RoleSelfie {
				cs.Files = append(cs.Files, f)
			}
		}
	case !isNoRows(err):
		return nil, fmt.Errorf("unbind case: %w", err)
	}
	if cs.Events, err = s.store.ListEvents(ctx, r.UID, 50); err != nil {
		return nil, fmt.Errorf("unbind case: %w", err)
	}
	if cs.Audit, err = s.store.AuditOf(ctx, unbindSubject(id)); err != nil {
		return nil, fmt.Errorf("unbind case: %w", err)
	}
	return cs, nil
}

// OpenUnbindEvidence streams the photo or the video of a request, or the
// selfie of the account's approved identity verification, and records
// the read on the case.
//
// Errors: CodeNotFound.
func (s *Service) OpenUnbindEvidence(ctx context.Context, rv *Reviewer, id string, role Role) (*File, io.ReadCloser, error) {
	r, err := s.store.UnbindRequestByID(ctx, id)
	if isNoRows(err) {
		return nil, nil, errNoRequest
	}
	if err != nil {
		return nil, nil, fmt.Errorf("unbind evidence: %w", err)
	}
	switch role {
	case RolePhoto, RoleVideo:
		return s.openEvidence(ctx, rv, unbindSubject(id), unbindSubject(id), role)
	case RoleSelfie:
		idv, err := s.store.ApprovedIdentityVerification(ctx, r.UID)
		if isNoRows(err) {
			return nil, nil, errNoEvidence
		}
		if err != nil {
			return nil, nil, fmt.Errorf("unbind evidence: %w", err)
		}
		return s.openEvidence(ctx, rv, unbindSubject(id), idvSubject(idv.ID), RoleSelfie)
	}
	return nil, nil, errNoEvidence
}

var errNoEvidence = account.Errorf(account.CodeNotFound, "No such file, or it was deleted after its retention time.")

// openEvidence records that rv read role of subject, on the case audited,
// and opens the copy staff see.
func (s *Service) openEvidence(ctx context.Context, rv *Reviewer, audited, subject string, role Role) (*File, io.ReadCloser, error) {
	files, err := s.store.FilesOf(ctx, subject)
	if err != nil {
		return nil, nil, fmt.Errorf("open evidence: %w", err)
	}
	var f *File
	for _, x := range files {
		if x.Role == role && x.DeletedAt == nil {
			f = x
		}
	}
	if f == nil {
		return nil, nil, errNoEvidence
	}
	// The read is recorded before a byte is served: a trail that misses
	// a read is worse than one that shows a read that failed.
	if err := s.store.Atomic(ctx, func(tx Tx) error {
		return s.audit(ctx, tx, audited, rv.uid, "read_"+string(role), subject)
	}); err != nil {
		return nil, nil, err
	}
	blob := f.ViewBlobID
	if blob == "" {
		blob = f.BlobID
	}
	rc, err := s.evidence.Open(ctx, blob)
	if err != nil {
		return nil, nil, fmt.Errorf("open evidence %s: %w", role, err)
	}
	return f, rc, nil
}

// ApproveUnbind approves a request. With four-eyes the first approval is
// recorded and a second reviewer completes it. The approval takes effect
// after the unbind delay (at once by default): the authenticator and its
// recovery codes are removed, every session ends, the security hold is
// set, and the user is told on every verified channel.
//
// Errors: CodeNotFound, CodeForbidden (own account, or the same reviewer
// twice), CodeConflict (no longer pending).
func (s *Service) ApproveUnbind(ctx context.Context, rv *Reviewer, c account.Client, id, note string) (*UnbindRequest, error) {
	note = strings.TrimSpace(note)
	if len(note) > 2000 {
		return nil, invalidf("The note is too long.")
	}
	// Two tries: with four-eyes, a reviewer whose first approval lost the
	// race to another's is the second approver instead.
	for range 2 {
		r, err := s.decidable(ctx, rv, id)
		if err != nil {
			return nil, err
		}
		if s.cfg.FourEyes && r.FirstApprover == "" {
			err := s.store.Atomic(ctx, func(tx Tx) error {
				if err := tx.FirstApproveUnbind(ctx, id, rv.uid, note, s.now()); err != nil {
					return err
				}
				return s.audit(ctx, tx, unbindSubject(id), rv.uid, "approve_first", note)
			})
			if isConflict(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("approve unbind: %w", err)
			}
			r.FirstApprover, r.FirstNote = rv.uid, note
			s.log.InfoContext(ctx, "unbind request approved once, waits for a second reviewer", "request", id, "by", rv.uid)
			return r, nil
		}
		if s.cfg.FourEyes && r.FirstApprover == rv.uid {
			return nil, account.Errorf(account.CodeForbidden, "Another reviewer must give the second approval.")
		}
		return s.approve(ctx, rv, c, r, note)
	}
	return nil, errDecided
}

// decidable loads a request a reviewer may decide.
func (s *Service) decidable(ctx context.Context, rv *Reviewer, id string) (*UnbindRequest, error) {
	r, err := s.store.UnbindRequestByID(ctx, id)
	if isNoRows(err) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, fmt.Errorf("decide unbind: %w", err)
	}
	if r.UID == rv.uid {
		return nil, errOwnCase
	}
	if r.State != StatePending {
		return nil, errDecided
	}
	return r, nil
}

func (s *Service) approve(ctx context.Context, rv *Reviewer, c account.Client, r *UnbindRequest, note string) (*UnbindRequest, error) {
	now := s.now()
	effective := now.Add(s.cfg.UnbindDelay)
	err := s.store.Atomic(ctx, func(tx Tx) error {
		err := tx.ApproveUnbind(ctx, r.ID, rv.uid, note, s.cfg.FourEyes, effective, now)
		if isConflict(err) {
			return errDecided
		}
		if err != nil {
			return fmt.Errorf("approve unbind: %w", err)
		}
		if err := s.audit(ctx, tx, unbindSubject(r.ID), rv.uid, "approve", note); err != nil {
			return err
		}
		if err := s.accounts.Record(ctx, tx, c, r.UID, account.EventUnbindApproved, "request="+r.ID+" by="+rv.uid); err != nil {
			return err
		}
		if s.cfg.UnbindDelay <= 0 {
			return s.apply(ctx, tx, r)
		}
		return s.accounts.Notify(ctx, tx, r.UID, account.NoticeUnbindApproved, r.ID, effective)
	})
	if err != nil {
		return nil, err
	}
	r.State, r.DecidedBy, r.Note, r.EffectiveAt = StateApproved, rv.uid, note, &effective
	if s.cfg.UnbindDelay <= 0 {
		r.AppliedAt = &now
	}
	s.log.InfoContext(ctx, "unbind request approved", "request", r.ID, "uid", r.UID, "by", rv.uid, "effective_at", effective)
	return r, nil
}

// apply puts an approved request into effect inside tx, once.
func (s *Service) apply(ctx context.Context, tx Tx, r *UnbindRequest) error {
	if err := tx.MarkUnbindApplied(ctx, r.ID, s.now()); err != nil {
		return err
	}
	if err := s.accounts.RemoveAuthenticator(ctx, tx, account.Client{}, r.UID, "request="+r.ID); err != nil {
		return err
	}
	return s.accounts.Notify(ctx, tx, r.UID, account.NoticeUnbindApplied, r.ID)
}

// applyDue puts approvals whose delay is over into effect. The guarded
// update in apply lets only one instance apply each.
func (s *Service) applyDue(ctx context.Context) error {
	due, err := s.store.DueUnbindRequests(ctx, s.now(), 100)
	if err != nil {
		return fmt.Errorf("due unbind requests: %w", err)
	}
	for _, r := range due {
		err := s.store.Atomic(ctx, func(tx Tx) error { return s.apply(ctx, tx, r) })
		switch {
		case err == nil:
			s.log.InfoContext(ctx, "unbind request in effect", "request", r.ID, "uid", r.UID)
		case isConflict(err):
			// Cancelled, or applied by another instance meanwhile.
		default:
			return fmt.Errorf("apply unbind %s: %w", r.ID, err)
		}
	}
	return nil
}

// RejectUnbind rejects a pending request; the user is told why and the
// authenticator stays.
//
// Errors: CodeInvalidRequest (no reason), CodeNotFound, CodeForbidden,
// CodeConflict.
func (s *Service) RejectUnbind(ctx context.Context, rv *Reviewer, c account.Client, id, reason string) (*UnbindRequest, error) {
	reason, err := cleanReason(reason)
	if err != nil {
		return nil, err
	}
	r, err := s.decidable(ctx, rv, id)
	if err != nil {
		return nil, err
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		err := tx.RejectUnbind(ctx, id, rv.uid, reason, s.now())
		if isConflict(err) {
			return errDecided
		}
		if err != nil {
			return fmt.Errorf("reject unbind: %w", err)
		}
		if err := s.audit(ctx, tx, unbindSubject(id), rv.uid, "reject", reason); err != nil {
			return err
		}
		if err := s.accounts.Record(ctx, tx, c, r.UID, account.EventUnbindRejected, "request="+id+" by="+rv.uid); err != nil {
			return err
		}
		return s.accounts.Notify(ctx, tx, r.UID, account.NoticeUnbindRejected, id, reason)
	})
	if err != nil {
		return nil, err
	}
	r.State, r.DecidedBy, r.Reason = StateRejected, rv.uid, reason
	s.log.InfoContext(ctx, "unbind request rejected", "request", id, "uid", r.UID, "by", rv.uid)
	return r, nil
}

// deleteExpiredEvidence deletes the files of subjects decided longer than
// the retention time ago; the decisions and their audit trail stay. A
// blob deleted twice (two instances) is no error.
func (s *Service) deleteExpiredEvidence(ctx context.Context) error {
	files, err := s.store.ExpiredFiles(ctx, s.now().Add(-s.cfg.Retention), 100)
	if err != nil {
		return fmt.Errorf("expired evidence: %w", err)
	}
	for _, f := range files {
		for _, id := range []string{f.ViewBlobID, f.BlobID} {
			if id == "" {
				continue
			}
			if err := s.evidence.Delete(ctx, id); err != nil {
				return fmt.Errorf("delete evidence %s: %w", f.BlobID, err)
			}
		}
		if err := s.store.MarkFileDeleted(ctx, f.BlobID, s.now()); err != nil {
			return fmt.Errorf("mark evidence deleted: %w", err)
		}
		s.log.InfoContext(ctx, "evidence deleted after retention", "subject", f.Subject, "role", f.Role)
	}
	return nil
}
