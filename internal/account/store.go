package account

import (
	"context"
	"time"
)

// Store is the persistence the service needs. Every method of Tx is also
// available outside a transaction (each call then commits by itself).
//
// Errors: look-ups, and writes to a row that does not exist, return an
// error wrapping ErrNoRows; writes refused by a uniqueness constraint
// (duplicate ids included) or by a conditional update return an error
// wrapping ErrConflict. An ErrConflict inside Atomic leaves the
// transaction usable: the caller may still write and commit.
type Store interface {
	Tx
	// Atomic runs fn in one transaction: everything fn writes commits
	// together or not at all. An error from fn rolls back and is returned.
	Atomic(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is the set of reads and writes a use case composes atomically.
type Tx interface {
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
	// GrantRole gives uid the role (idempotent); RevokeRoles removes all roles.
	GrantRole(ctx context.Context, uid, role string) error
	RevokeRoles(ctx context.Context, uid string) error

	// CreateFlow inserts f.
	CreateFlow(ctx context.Context, f *Flow) error
	// FlowByIDHash returns the flow, finished or not, expired or not.
	FlowByIDHash(ctx context.Context, idHash []byte) (*Flow, error)
	// FinishFlow marks the flow done. ErrConflict when it already was.
	FinishFlow(ctx context.Context, idHash []byte, now time.Time) error

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

	// FailFlow counts one wrong second-factor try against the flow and
	// returns the new count.
	FailFlow(ctx context.Context, idHash []byte) (int, error)

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
	// DeleteUserSessions ends every session of uid and returns how many.
	DeleteUserSessions(ctx context.Context, uid string) (int, error)
	// DeleteExpired removes sessions, flows and codes that ended before now,
	// and used TOTP steps too old to match again.
	DeleteExpired(ctx context.Context, now time.Time) error

	// PutPendingTOTP stores a new unconfirmed authenticator for a.UID,
	// replacing any earlier pending one; an active one is left alone.
	PutPendingTOTP(ctx context.Context, a *Authenticator) error
	// TOTP returns the user's active (pending false) or pending authenticator.
	TOTP(ctx context.Context, uid string, pending bool) (*Authenticator, error)
	// ActivateTOTP turns the pending authenticator into the active one,
	// replacing any earlier active one, with the learned clock offset.
	// ErrNoRows when nothing is pending.
	ActivateTOTP(ctx context.Context, uid string, offsetSteps int, now time.Time) error
	// SetTOTPOffset updates the learned clock offset of the active authenticator.
	SetTOTPOffset(ctx context.Context, uid string, offsetSteps int) error
	// DeleteTOTP removes the user's authenticators and recovery codes.
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

	// EnqueueMessage stores m in the durable outbox and sets m.ID.
	EnqueueMessage(ctx context.Context, m *Message) error

	// RecordEvent appends e to the security log and sets e.ID.
	RecordEvent(ctx context.Context, e *Event) error
	// ListEvents returns the user's newest events, at most limit.
	ListEvents(ctx context.Context, uid string, limit int) ([]*Event, error)
}
