package account

import (
	"context"
	"time"

	"github.com/watchword/watchword/internal/i18n"
)

// The store interfaces below are what this package needs from
// persistence, each small and named for what it keeps. A transaction (Tx)
// composes them; another package with data of its own (review cases,
// evidence) declares its own interfaces and a transaction type that embeds
// Tx, so its use cases still commit once with the account's writes.
//
// Errors, for every method: look-ups, and writes to a row that does not
// exist, return an error wrapping ErrNoRows; writes refused by a uniqueness
// constraint (duplicate ids included) or by a conditional update return an
// error wrapping ErrConflict. An ErrConflict inside Atomic leaves the
// transaction usable: the caller may still write and commit.

// Users keeps accounts and their credentials.
type Users interface {
	// CreateUser inserts u. ErrConflict when u.UID exists or a verified
	// email or phone of u is verified on another account.
	CreateUser(ctx context.Context, u *User) error
	// UserByUID returns the user with that UID, roles included.
	UserByUID(ctx context.Context, uid string) (*User, error)
	// UserByVerifiedEmail returns the user whose verified email has that key.
	UserByVerifiedEmail(ctx context.Context, emailKey string) (*User, error)
	// UserByVerifiedPhone returns the user whose verified phone is phone.
	UserByVerifiedPhone(ctx context.Context, phone string) (*User, error)
	// SetVerifiedEmail replaces the user's email with a verified one.
	// ErrConflict when another account has it verified.
	SetVerifiedEmail(ctx context.Context, uid, email, emailKey string) error
	// SetVerifiedPhone replaces the user's phone with a verified one.
	// ErrConflict when another account has it verified.
	SetVerifiedPhone(ctx context.Context, uid, phone string) error
	// SetPasswordHash replaces the user's password hash.
	SetPasswordHash(ctx context.Context, uid, hash string) error
	// RehashPassword replaces the hash only while it is still oldHash, so
	// an upgrade of the hash parameters never writes an old password over
	// a new one. ErrConflict when the hash changed meanwhile.
	RehashPassword(ctx context.Context, uid, oldHash, newHash string) error
	// BumpCredentials increments the user's credentials version; see
	// User.CredVersion.
	BumpCredentials(ctx context.Context, uid string) error
	// CheckCredentials succeeds only while the user's credentials version
	// is still version. Inside a transaction it also locks the row until
	// commit, so a concurrent BumpCredentials is ordered before or after
	// the caller's writes, never between them. ErrConflict otherwise.
	CheckCredentials(ctx context.Context, uid string, version int64) error
	// SetLanguage sets the language of the user's messages. It writes only
	// when the language differs, so that the usual login, in the language
	// of the one before, costs no write; a uid that does not exist is no
	// error (there is nothing to remember a language for).
	SetLanguage(ctx context.Context, uid string, lang i18n.Lang) error
	// SetSecurityHold sets the user's security hold until that time.
	SetSecurityHold(ctx context.Context, uid string, until time.Time) error
	// GrantRole gives uid the role (idempotent); RevokeRoles removes all roles.
	GrantRole(ctx context.Context, uid, role string) error
	RevokeRoles(ctx context.Context, uid string) error
}

// Flows keeps the short-lived records of multi-step actions.
type Flows interface {
	// CreateFlow inserts f.
	CreateFlow(ctx context.Context, f *Flow) error
	// FlowByIDHash returns the flow, finished or not, expired or not.
	FlowByIDHash(ctx context.Context, idHash []byte) (*Flow, error)
	// FinishFlow marks the flow done. ErrConflict when it already was.
	FinishFlow(ctx context.Context, idHash []byte, now time.Time) error
	// FailFlow counts one failure (a wrong second factor, a refused
	// password) against the flow and returns the new count.
	FailFlow(ctx context.Context, idHash []byte) (int, error)
}

// Codes keeps one-time codes.
type Codes interface {
	// PutCode stores c, replacing any code of the same purpose and address.
	PutCode(ctx context.Context, c *OneTimeCode) error
	// CodeFor returns the code of that purpose and address.
	CodeFor(ctx context.Context, purpose Purpose, addressKey string) (*OneTimeCode, error)
	// FailCode counts one wrong try against the code that flowIDHash holds.
	// It returns the new count; ErrNoRows when that flow no longer holds it.
	FailCode(ctx context.Context, purpose Purpose, addressKey string, flowIDHash []byte) (int, error)
	// ConsumeCode marks the code used, only if it belongs to flowIDHash, is
	// unused, has fewer than maxAttempts wrong tries and has not expired at
	// now. ErrConflict otherwise: this is what makes a code single use.
	ConsumeCode(ctx context.Context, purpose Purpose, addressKey string, flowIDHash []byte, maxAttempts int, now time.Time) error
}

// Sessions keeps signed-in devices. The Service changes them only through
// the functions of session.go, the one place a session cache invalidates.
type Sessions interface {
	// CreateSession inserts s.
	CreateSession(ctx context.Context, s *Session) error
	// SessionByTokenHash returns the session with that token hash.
	SessionByTokenHash(ctx context.Context, tokenHash []byte) (*Session, error)
	// TouchSession records activity.
	TouchSession(ctx context.Context, id string, now time.Time) error
	// SetSessionPrivilege sets the step-up privilege of one session.
	SetSessionPrivilege(ctx context.Context, id string, until time.Time) error
	// ListSessions returns the user's sessions, newest first.
	ListSessions(ctx context.Context, uid string) ([]*Session, error)
	// DeleteSession ends one session of uid. ErrNoRows when uid has no such session.
	DeleteSession(ctx context.Context, uid, id string) error
	// DeleteUserSessions ends every session of uid but keep (none when
	// keep is empty) and returns the ids it ended.
	DeleteUserSessions(ctx context.Context, uid, keep string) ([]string, error)
}

// TOTPBindings keeps authenticator apps and their recovery codes.
type TOTPBindings interface {
	// PutPendingTOTP stores a new unconfirmed binding for b.UID, replacing
	// any earlier pending one; an active one is left alone.
	PutPendingTOTP(ctx context.Context, b *TOTPBinding) error
	// ActiveTOTP returns the user's confirmed binding.
	ActiveTOTP(ctx context.Context, uid string) (*TOTPBinding, error)
	// PendingTOTP returns the user's unconfirmed binding.
	PendingTOTP(ctx context.Context, uid string) (*TOTPBinding, error)
	// ActivateTOTP turns the pending binding into the active one,
	// replacing any earlier active one, with the learned clock offset.
	// ErrNoRows when nothing is pending.
	ActivateTOTP(ctx context.Context, uid string, offsetSteps int, now time.Time) error
	// SetTOTPOffset updates the learned clock offset of the active binding.
	SetTOTPOffset(ctx context.Context, uid string, offsetSteps int) error
	// DeleteTOTP removes the user's bindings and recovery codes.
	DeleteTOTP(ctx context.Context, uid string) error
	// UseTOTPStep records that the code of time step was accepted for uid.
	// ErrConflict when it already was: this is what makes a TOTP code one-time.
	UseTOTPStep(ctx context.Context, uid string, step int64, now time.Time) error
	// ReplaceRecoveryCodes stores a fresh set of recovery-code hashes for uid.
	ReplaceRecoveryCodes(ctx context.Context, uid string, hashes [][]byte, now time.Time) error
	// UseRecoveryCode marks the unused recovery code with that hash used.
	// ErrConflict when uid has no such unused code.
	UseRecoveryCode(ctx context.Context, uid string, hash []byte, now time.Time) error
	// CountRecoveryCodes returns how many unused recovery codes uid has.
	CountRecoveryCodes(ctx context.Context, uid string) (int, error)
}

// Outbox is the durable queue of messages; a worker delivers them.
type Outbox interface {
	// EnqueueMessage stores m in the durable outbox and sets m.ID.
	EnqueueMessage(ctx context.Context, m *Message) error
}

// SecurityLog is the append-only log of security events.
type SecurityLog interface {
	// RecordEvent appends e to the security log and sets e.ID.
	RecordEvent(ctx context.Context, e *Event) error
	// ListEvents returns the user's newest events, at most limit.
	ListEvents(ctx context.Context, uid string, limit int) ([]*Event, error)
}

// Tx is what a use case of this package composes atomically.
type Tx interface {
	Users
	Flows
	Codes
	Sessions
	TOTPBindings
	Outbox
	SecurityLog
	// AfterCommit runs fn once the transaction has committed, and never
	// if it rolls back: waking the delivery worker, metrics and cache
	// invalidation are registered here by the use case, not remembered by
	// its caller. Outside a transaction fn runs at once.
	AfterCommit(fn func())
}

// Store is the persistence of the Service. Every method of Tx is also
// available outside a transaction (each call then commits by itself).
type Store interface {
	Tx
	// Atomic runs fn in one transaction: everything fn writes commits
	// together or not at all. An error from fn rolls back and is returned.
	Atomic(ctx context.Context, fn func(tx Tx) error) error
	// DeleteExpired removes sessions, flows and codes that ended before
	// now, and used TOTP steps too old to match again.
	DeleteExpired(ctx context.Context, now time.Time) error
}
