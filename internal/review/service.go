package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/token"
)

// Evidence stores uploaded files: it checks each file's type from its
// bytes and its size while streaming, and keeps it encrypted (package
// evidence implements it).
type Evidence interface {
	// Ingest streams one upload of kind into the blob store. Errors:
	// ErrTooLarge, ErrUnsupportedType (nothing is stored then).
	Ingest(ctx context.Context, kind Kind, r io.Reader) (*Stored, error)
	// Open streams a stored blob back.
	Open(ctx context.Context, blobID string) (io.ReadCloser, error)
	// Delete removes a blob; deleting a missing one is not an error.
	Delete(ctx context.Context, blobID string) error
}

// Stored is one ingested upload.
type Stored struct {
	BlobID      string
	ViewBlobID  string // the copy staff see; empty when it is the upload itself
	ContentType string
	Size        int64
}

// Upload errors, as the contract names them.
var (
	ErrTooLarge        = account.Errorf(account.CodeTooLarge, "The file is too large.")
	ErrUnsupportedType = account.Errorf(account.CodeUnsupportedMediaType,
		"This kind of file is not accepted: send a JPEG or PNG photo, or an MP4, QuickTime or WebM video.")
)

// Config holds the review's rules.
type Config struct {
	PublicURL   string        // for the cancel link in notices
	UnbindDelay time.Duration // between an approval and its effect; the owner can still cancel
	FourEyes    bool          // an approval needs a second reviewer
	Retention   time.Duration // evidence is deleted this long after the decision
	DueIn       int           // working days to review a request (3)
	Limits      Limits
}

// Limits are the review's rate limits.
type Limits struct {
	ChallengesPerIP      account.Limit
	UnbindsPerAccount    account.Limit
	UnbindsPerIP         account.Limit
	VerificationsPerAcct account.Limit
	VerificationsPerIP   account.Limit
}

// DefaultConfig returns the defaults of the contract.
func DefaultConfig() Config {
	return Config{
		PublicURL: "http://127.0.0.1:8080",
		Retention: 90 * 24 * time.Hour,
		DueIn:     3,
		Limits: Limits{
			ChallengesPerIP:      account.Limit{N: 20, Window: time.Hour},
			UnbindsPerAccount:    account.Limit{N: 5, Window: 24 * time.Hour},
			UnbindsPerIP:         account.Limit{N: 10, Window: 24 * time.Hour},
			VerificationsPerAcct: account.Limit{N: 5, Window: 24 * time.Hour},
			VerificationsPerIP:   account.Limit{N: 20, Window: 24 * time.Hour},
		},
	}
}

// Service implements the review's use cases.
type Service struct {
	store    Store
	accounts *account.Service
	evidence Evidence
	calendar *Calendar
	hasher   *token.Hasher
	random   io.Reader
	now      func() time.Time
	log      *slog.Logger
	cfg      Config
}

// Deps are the collaborators of a Service.
type Deps struct {
	Store     Store
	Accounts  *account.Service
	Evidence  Evidence
	Calendar  *Calendar
	TokenKeys [][]byte // as account.Deps: the first hashes, all are recognized
	Random    io.Reader
	Now       func() time.Time
	Log       *slog.Logger
}

// New returns a Service. Zero fields of cfg take the defaults.
func New(d Deps, cfg Config) *Service {
	def := DefaultConfig()
	if cfg.PublicURL == "" {
		cfg.PublicURL = def.PublicURL
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Retention == 0 {
		cfg.Retention = def.Retention
	}
	if cfg.DueIn == 0 {
		cfg.DueIn = def.DueIn
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = def.Limits
	}
	if d.Calendar == nil {
		d.Calendar, _ = NewCalendar(time.UTC)
	}
	return &Service{
		store: d.Store, accounts: d.Accounts, evidence: d.Evidence, calendar: d.Calendar,
		hasher: token.NewHasher(d.TokenKeys[0], d.TokenKeys[1:]...), random: d.Random, now: d.Now, log: d.Log, cfg: cfg,
	}
}

// Reviewer is a staff member checked by Service.Reviewer: a reviewer or
// admin with an authenticator bound. Only this package makes one, so a
// staff use case cannot be reached without the check.
type Reviewer struct{ uid string }

// UID returns the reviewer's account.
func (r *Reviewer) UID() string { return r.uid }

// Reviewer checks that sess belongs to staff.
//
// Errors: CodeForbidden.
func (s *Service) Reviewer(ctx context.Context, sess *account.Session) (*Reviewer, error) {
	u, err := s.accounts.Staff(ctx, sess)
	if err != nil {
		return nil, err
	}
	return &Reviewer{uid: u.UID}, nil
}

// errOwnCase refuses a reviewer's decision about their own account.
var errOwnCase = account.Errorf(account.CodeForbidden, "You may not decide a case about your own account.")

// errDecided: the request's state no longer allows this.
var errDecided = account.Errorf(account.CodeConflict, "This request was already decided or cancelled.")

// audit appends an entry of the review trail inside tx.
func (s *Service) audit(ctx context.Context, tx Tx, subject, actor, action, detail string) error {
	e := &AuditEntry{Subject: subject, ActorUID: actor, Action: action, Detail: detail, CreatedAt: s.now()}
	if err := tx.RecordAudit(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// digitRun finds six digits in a row: messages that carry no code must
// not seem to (see account/messages.go), so public ids avoid them.
var digitRun = regexp.MustCompile(`[0-9]{6}`)

// newSecret returns a random id of n bytes, base64url, without a run of
// six digits, and its keyed hash under label.
func (s *Service) newSecret(label string, n int) (string, []byte, error) {
	for {
		id, err := token.New(s.random, n)
		if err != nil {
			return "", nil, err
		}
		if !digitRun.MatchString(id) {
			return id, s.hasher.Hash(label, id), nil
		}
	}
}

// findByHash looks a row up by the keyed hash of a secret under each key,
// the current first (key rotation).
func findByHash[T any](ctx context.Context, hashes [][]byte, find func(context.Context, []byte) (T, error)) (T, error) {
	var zero T
	for _, hash := range hashes {
		row, err := find(ctx, hash)
		if err == nil || !errors.Is(err, account.ErrNoRows) {
			return row, err
		}
	}
	return zero, account.ErrNoRows
}

func isNoRows(err error) bool   { return errors.Is(err, account.ErrNoRows) }
func isConflict(err error) bool { return errors.Is(err, account.ErrConflict) }

// normalizeDocumentNumber is how document numbers compare: upper case,
// without spaces and dashes. It returns "" for a number that is empty or
// holds anything but letters and digits after that.
func normalizeDocumentNumber(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(strings.TrimSpace(s)) {
		switch {
		case r == ' ' || r == '-':
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() == 0 || b.Len() > 32 {
		return ""
	}
	return b.String()
}

// Tick runs the review's background work: approvals whose delay is over
// take effect, and evidence past its retention is deleted. Several
// instances may run it at once: each step is a guarded update.
func (s *Service) Tick(ctx context.Context) error {
	return errors.Join(s.applyDue(ctx), s.deleteExpiredEvidence(ctx))
}

// QueueStats counts the pending unbind requests, for monitoring.
func (s *Service) QueueStats(ctx context.Context) (QueueStats, error) {
	return s.store.UnbindQueueStats(ctx, s.now())
}

// ApprovalsNeeded is how many reviewers must approve an unbind request.
func (s *Service) ApprovalsNeeded() int {
	if s.cfg.FourEyes {
		return 2
	}
	return 1
}
