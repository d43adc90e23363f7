package account

import (
	"time"

	"github.com/watchword/watchword/internal/i18n"
)

// Channel is where a code or notice is delivered.
type Channel string

// The two delivery channels.
const (
	ChannelEmail Channel = "email"
	ChannelPhone Channel = "phone"
)

// User is an account. Email and Phone are empty when absent. EmailKey is
// the case-folded email that uniqueness and look-ups use.
type User struct {
	UID           string
	Email         string
	EmailKey      string
	EmailVerified bool
	Phone         string // E.164
	PhoneVerified bool
	PasswordHash  string // PHC string; empty when no password is set
	// CredVersion grows with every change of password, verified email or
	// phone, or authenticator. A login finishes only against the version it
	// verified (Users.CheckCredentials), so a login in flight during such a
	// change gets no session.
	CredVersion int64
	// SecurityHoldUntil is set after a security change (password, email,
	// phone, authenticator removed); until then the application in front
	// may hold withdrawals and similar actions. Nil when never set.
	SecurityHoldUntil *time.Time
	// Lang is the language of the account's mails and SMS: the request's
	// at sign-up, then that of the last login that ended in a session.
	Lang      i18n.Lang
	CreatedAt time.Time
	Roles     []string
}

// Purpose says what a one-time code or a flow is for. Codes are bound to a
// purpose, an address and a flow, and are never accepted for another.
type Purpose string

// The purposes of codes and flows.
const (
	PurposeRegister    Purpose = "register"
	PurposeLogin       Purpose = "login"        // code login
	PurposeLoginMFA    Purpose = "login_mfa"    // first factor done, waits for TOTP
	PurposeStepUp      Purpose = "step_up"      // re-verify identity while signed in
	PurposeVerifyEmail Purpose = "verify_email" // new email address
	PurposeVerifyPhone Purpose = "verify_phone" // new phone number
)

// Flow is a short-lived server-side record of a multi-step action. The client
// holds the flow ID; the store keeps only its hash.
type Flow struct {
	IDHash    []byte
	Purpose   Purpose
	UID       string  // empty when the flow is not (yet) tied to an account
	Channel   Channel // the channel of Address
	Address   string  // the normalized address a code went to (or would have)
	SessionID string  // for flows started while signed in: the session that owns it
	Method    string  // PurposeLoginMFA: how the first factor was proved ("password", "code")
	// PurposeLoginMFA: the second factors that may finish the login, and
	// the credentials version the first factor was checked against.
	Factors     []Factor
	CredVersion int64
	CreatedAt   time.Time
	ExpiresAt   time.Time
	DoneAt      *time.Time
}

// OneTimeCode is a live code. Only a keyed hash of the code is stored. A
// new code for the same purpose and address replaces the previous one.
type OneTimeCode struct {
	Purpose    Purpose
	AddressKey string // case-folded address
	FlowIDHash []byte
	Hash       []byte
	Attempts   int // wrong tries so far
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ConsumedAt *time.Time
}

// Session is a signed-in device. Only a hash of the bearer token is stored.
type Session struct {
	ID              string // public, random; used to list and end sessions
	TokenHash       []byte
	UID             string
	CreatedAt       time.Time
	LastSeenAt      time.Time
	ExpiresAt       time.Time // absolute end
	PrivilegedUntil *time.Time
	IP              string
	UserAgent       string
}

// Message is a notice or code waiting in the durable outbox.
type Message struct {
	ID            int64
	Channel       Channel
	To            string // email address or E.164 phone
	Subject       string // email only
	Text          string
	HTML          string // email only; may be empty
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	// Decoy marks a message to nobody, made so that a request about an
	// address without an account does the work of one with an account:
	// the store seals it like any other and then keeps only a row already
	// given up, without recipient or body. It is never delivered.
	Decoy bool
}

// Event is one entry of the append-only security log.
type Event struct {
	ID        int64
	UID       string // empty for events that cannot be tied to an account
	Kind      EventKind
	IP        string
	UserAgent string
	Detail    string // short, non-secret detail such as "method=password"
	CreatedAt time.Time
}

// EventKind names a security event.
type EventKind string

// The security events.
const (
	EventSignUp          EventKind = "signup"
	EventLogin           EventKind = "login"
	EventLoginFailed     EventKind = "login_failed"
	EventLogout          EventKind = "logout"
	EventStepUp          EventKind = "step_up"
	EventStepUpFailed    EventKind = "step_up_failed"
	EventEmailChanged    EventKind = "email_changed"
	EventPhoneChanged    EventKind = "phone_changed"
	EventPasswordChanged EventKind = "password_changed"
	EventSessionRevoked  EventKind = "session_revoked"
	EventTOTPEnabled     EventKind = "totp_enabled"
	EventTOTPDisabled    EventKind = "totp_disabled"
	EventTOTPFailed      EventKind = "totp_failed"
	EventRecoveryUsed    EventKind = "recovery_code_used"
	EventRoleGranted     EventKind = "role_granted"
	EventRoleRevoked     EventKind = "role_revoked"
	// The lost-authenticator review (package review).
	EventIdentitySubmitted EventKind = "identity_verification_submitted"
	EventIdentityApproved  EventKind = "identity_verification_approved"
	EventIdentityRejected  EventKind = "identity_verification_rejected"
	EventUnbindRequested   EventKind = "unbind_requested"
	EventUnbindCancelled   EventKind = "unbind_cancelled"
	EventUnbindApproved    EventKind = "unbind_approved"
	EventUnbindRejected    EventKind = "unbind_rejected"
	EventUnbindApplied     EventKind = "unbind_applied"
)

// Factor is a second factor that can finish a login.
type Factor string

// The second factors. Passkeys will be one more.
const (
	FactorTOTP         Factor = "totp"
	FactorRecoveryCode Factor = "recovery_code"
)

// TOTPBinding is an authenticator app bound to an account: pending until
// the user confirms it with a code, then active. The secret is plaintext
// here; stores keep it encrypted at rest.
type TOTPBinding struct {
	UID         string
	Secret      []byte
	OffsetSteps int // learned clock offset of the user's phone, in 30 s steps
	CreatedAt   time.Time
	ConfirmedAt *time.Time // nil while pending
}

// Staff roles.
const (
	RoleReviewer = "reviewer"
	RoleAdmin    = "admin"
)
