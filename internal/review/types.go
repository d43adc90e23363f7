package review

import (
	"time"

	"github.com/watchword/watchword/internal/account"
)

// State is the state of an identity verification or an unbind request.
type State string

// The states. An identity verification is pending, approved or rejected;
// an unbind request may also be cancelled by its owner.
const (
	StateNone      State = "none" // no identity verification submitted
	StatePending   State = "pending"
	StateApproved  State = "approved"
	StateRejected  State = "rejected"
	StateCancelled State = "cancelled"
)

// DocumentType is the kind of identity document.
type DocumentType string

// The accepted documents.
const (
	DocumentPassport DocumentType = "passport"
	DocumentIDCard   DocumentType = "id_card"
)

// Role names one file of a submission.
type Role string

// The files of an identity verification and of an unbind request.
const (
	RoleDocumentFront Role = "document_front"
	RoleDocumentBack  Role = "document_back"
	RoleSelfie        Role = "selfie" // the "third upload": the user holding the document
	RolePhoto         Role = "photo"
	RoleVideo         Role = "video"
)

// Kind is what a file must be.
type Kind int

// The kinds of evidence.
const (
	KindImage Kind = iota + 1
	KindVideo
)

// kindOf is the kind each role must be.
var kindOf = map[Role]Kind{
	RoleDocumentFront: KindImage, RoleDocumentBack: KindImage, RoleSelfie: KindImage,
	RolePhoto: KindImage, RoleVideo: KindVideo,
}

// IdentityVerification is a document check submitted by a user. FullName
// and DocumentNumber are plaintext here; stores keep them sealed.
type IdentityVerification struct {
	ID             string
	UID            string
	State          State
	FullName       string
	DocumentType   DocumentType
	DocumentNumber string
	Reason         string // why it was rejected
	SubmittedAt    time.Time
	DecidedAt      *time.Time
	DecidedBy      string
}

// UnbindRequest is a request to remove a lost authenticator. The tokens
// are kept only as keyed hashes.
type UnbindRequest struct {
	ID              string
	TokenHash       []byte // X-Request-Token, to follow the request
	CancelTokenHash []byte // the notice's cancel link
	UID             string
	IDNumber        string // as the user typed it; stores keep it sealed
	Challenge       string
	State           State
	SubmittedAt     time.Time
	DueAt           time.Time
	FirstApprover   string // four-eyes: the first reviewer who approved
	FirstNote       string
	DecidedBy       string
	DecidedAt       *time.Time
	Note            string // the approver's note
	Reason          string // why it was rejected
	EffectiveAt     *time.Time
	AppliedAt       *time.Time // when the authenticator was removed
	IP              string
	UserAgent       string
}

// Open reports whether the request may still change: pending, or approved
// but not yet in effect.
func (r *UnbindRequest) Open() bool {
	return r.State == StatePending || (r.State == StateApproved && r.AppliedAt == nil)
}

// File is one stored file of a submission.
type File struct {
	Subject     string // "idv:ID" or "unbind:ID"
	Role        Role
	BlobID      string // as uploaded
	ViewBlobID  string // the copy staff see (images without metadata); empty: BlobID
	ContentType string
	Size        int64
	CreatedAt   time.Time
	DeletedAt   *time.Time // retention removed the bytes
}

// AuditEntry is one staff read or decision.
type AuditEntry struct {
	ID        int64
	Subject   string
	ActorUID  string
	Action    string
	Detail    string
	CreatedAt time.Time
}

// Challenge is the spoken phrase of a login flow.
type Challenge struct {
	FlowIDHash []byte
	UID        string
	Phrase     string
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// UnbindCase is what staff see of a request.
type UnbindCase struct {
	Request *UnbindRequest
	Overdue bool
	// IDNumberMatches compares the request's ID number with the approved
	// identity verification's; nil when the account has none.
	IDNumberMatches *bool
	Files           []*File // photo, video, and the identity verification's selfie
	Events          []*account.Event
	Audit           []*AuditEntry
	Approvals       int // approvals so far (four-eyes needs two)
}

// IdentityCase is what staff see of an identity verification.
type IdentityCase struct {
	Verification *IdentityVerification
	Files        []*File
	Audit        []*AuditEntry
}

// QueueStats summarizes the pending unbind requests for monitoring.
type QueueStats struct {
	Pending int
	Overdue int
	Oldest  time.Duration // age of the oldest pending request
}

func idvSubject(id string) string    { return "idv:" + id }
func unbindSubject(id string) string { return "unbind:" + id }
