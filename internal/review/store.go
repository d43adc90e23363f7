package review

import (
	"context"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// The store interfaces of the review. Errors follow package account's
// rules: ErrNoRows for a missing row, ErrConflict for a write refused by a
// constraint or a guarded update.

// Verifications keeps identity verifications.
type Verifications interface {
	// CreateIdentityVerification inserts v. ErrConflict when the account
	// already has one pending.
	CreateIdentityVerification(ctx context.Context, v *IdentityVerification) error
	// LatestIdentityVerification returns the account's newest submission.
	LatestIdentityVerification(ctx context.Context, uid string) (*IdentityVerification, error)
	// ApprovedIdentityVerification returns the account's newest approved one.
	ApprovedIdentityVerification(ctx context.Context, uid string) (*IdentityVerification, error)
	// ListIdentityVerifications returns submissions in state, oldest first.
	ListIdentityVerifications(ctx context.Context, state State, limit int) ([]*IdentityVerification, error)
	// DecideIdentityVerification moves the pending submission id to state
	// (approved or rejected). ErrConflict when it is no longer pending.
	DecideIdentityVerification(ctx context.Context, id string, state State, by, reason string, now time.Time) error
}

// Unbinds keeps unbind requests and their challenges.
type Unbinds interface {
	// PutChallenge stores the challenge of a flow, replacing an earlier one.
	PutChallenge(ctx context.Context, c *Challenge) error
	// ChallengeFor returns the challenge of a flow.
	ChallengeFor(ctx context.Context, flowIDHash []byte) (*Challenge, error)
	// CreateUnbindRequest inserts r. ErrConflict when the account has an
	// open request.
	CreateUnbindRequest(ctx context.Context, r *UnbindRequest) error
	// OpenUnbindRequest returns the account's open request, if any.
	OpenUnbindRequest(ctx context.Context, uid string) (*UnbindRequest, error)
	// UnbindRequestByID, …ByTokenHash and …ByCancelTokenHash return a request.
	UnbindRequestByID(ctx context.Context, id string) (*UnbindRequest, error)
	UnbindRequestByTokenHash(ctx context.Context, hash []byte) (*UnbindRequest, error)
	UnbindRequestByCancelTokenHash(ctx context.Context, hash []byte) (*UnbindRequest, error)
	// ListUnbindRequests returns requests in state, by due date.
	ListUnbindRequests(ctx context.Context, state State, limit int) ([]*UnbindRequest, error)
	// FirstApproveUnbind records the first of two approvals (four-eyes).
	// ErrConflict unless the request is pending without a first approval.
	FirstApproveUnbind(ctx context.Context, id, by, note string, now time.Time) error
	// ApproveUnbind approves a pending request, to take effect at
	// effective. With needFirst, only a request whose first approval is by
	// someone other than by. ErrConflict otherwise.
	ApproveUnbind(ctx context.Context, id, by, note string, needFirst bool, effective, now time.Time) error
	// RejectUnbind rejects a pending request. ErrConflict otherwise.
	RejectUnbind(ctx context.Context, id, by, reason string, now time.Time) error
	// CancelUnbind cancels an open request (pending, or approved and not
	// yet in effect). ErrConflict otherwise.
	CancelUnbind(ctx context.Context, id string, now time.Time) error
	// MarkUnbindApplied records that an approved request took effect.
	// ErrConflict when it was not approved, already applied, or not yet due.
	MarkUnbindApplied(ctx context.Context, id string, now time.Time) error
	// DueUnbindRequests returns approved requests whose effect is due.
	DueUnbindRequests(ctx context.Context, now time.Time, limit int) ([]*UnbindRequest, error)
	// UnbindQueueStats counts pending requests at now.
	UnbindQueueStats(ctx context.Context, now time.Time) (QueueStats, error)
}

// Files keeps the index of evidence files; the bytes are in a blob store.
type Files interface {
	// AddFile records f. ErrConflict when its subject already has the role.
	AddFile(ctx context.Context, f *File) error
	// FilesOf returns the files of a subject.
	FilesOf(ctx context.Context, subject string) ([]*File, error)
	// ExpiredFiles returns files whose subject was decided before cutoff
	// and that retention has not removed yet.
	ExpiredFiles(ctx context.Context, cutoff time.Time, limit int) ([]*File, error)
	// MarkFileDeleted records that retention removed the file's bytes.
	MarkFileDeleted(ctx context.Context, blobID string, now time.Time) error
}

// Audit is the append-only trail of staff reads and decisions.
type Audit interface {
	// RecordAudit appends e and sets its ID.
	RecordAudit(ctx context.Context, e *AuditEntry) error
	// AuditOf returns the trail of a subject, oldest first.
	AuditOf(ctx context.Context, subject string) ([]*AuditEntry, error)
}

// Tx is what a use case of the review composes atomically, with the
// account's store in the same transaction.
type Tx interface {
	account.Tx
	Verifications
	Unbinds
	Files
	Audit
}

// Store is the persistence of the review. Every method of Tx is also
// available outside a transaction.
type Store interface {
	Tx
	// Atomic runs fn in one transaction.
	Atomic(ctx context.Context, fn func(tx Tx) error) error
}
