package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/token"
)

// Service implements every use case of watchword: sign-up, login,
// sessions, step-up, identifier changes and the authenticator. HTTP
// adapters call it; it calls the store, the limiter and the outbox.
type Service struct {
	store     Store
	limiter   Limiter
	passwords *password.Hasher
	policy    password.Policy
	hasher    *token.Hasher
	random    io.Reader
	now       func() time.Time
	log       *slog.Logger
	waker     Waker
	metrics   Metrics
	sessions  SessionObserver
	cache     SessionCache  // never nil (session.go)
	touches   touches       // last-seen times not yet written (session.go)
	smsGuard  SMSGuard      // nil: no SMS pumping defence
	catalog   *i18n.Catalog // the texts of mails and SMS
	cfg       Config
	turns     turns // password and code checks waiting their turn (guessing.go)
}

// Config holds the tunable rules. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	Issuer          string        // product name in messages and authenticator apps
	CodeTTL         time.Duration // life of a one-time code and of its flow
	CodeMaxAttempts int           // wrong tries that burn a code
	SessionIdle     time.Duration // a session unused this long ends
	SessionLifetime time.Duration // a session ends this long after login, used or not
	StepUpLifetime  time.Duration // privilege after a step-up
	SecurityHold    time.Duration // how long security_hold_until lasts after a security change
	Limits          Limits
	// Channels are the channels messages can be delivered on; nil means
	// both. Addresses on another channel are refused where a message
	// would go to them, rather than accepted and the message dropped.
	Channels []Channel
}

// Limit is at most N events per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// Limits are the rate limits of the contract.
type Limits struct {
	PasswordPerIdentifier Limit // failed password logins per identifier, known or not
	PasswordPerIP         Limit // failed password logins per client IP
	SignUpsPerIP          Limit // sign-ups started per client IP
	CodeLoginsPerIP       Limit // code logins started per client IP
	CodeLoginsGlobal      Limit // code logins started in all: bounds what a botnet can make the server send
	CodeResend            Limit // codes of one purpose to one address (registration, login)
	CodesPerAddress       Limit // codes to one address over all purposes
	SignedInCodes         Limit // codes asked for while signed in, per account
	TOTPPerAccount        Limit // wrong authenticator codes per account
	TOTPPerFlow           int   // wrong authenticator codes per login flow
	PasswordsPerFlow      int   // refused passwords per sign-up flow (each costs a strength check)
	// PasswordDelay grows with wrong passwords in a row per identifier;
	// CodeDelay with wrong one-time codes in a row per address, over all
	// flows and purposes. Zero values take the defaults.
	PasswordDelay Backoff
	CodeDelay     Backoff
	// GuessesInFlight is how many checks of one identifier's password (or
	// one address's codes) run at once on one instance, and
	// GuessesInFlightPerIP how many password checks from one client IP;
	// more wait their turn. Parallel wrong guesses can pass a limit by at
	// most this minus one per instance. Zero takes the default.
	GuessesInFlight      int
	GuessesInFlightPerIP int
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{
		Issuer:          "watchword",
		CodeTTL:         10 * time.Minute,
		CodeMaxAttempts: 5,
		SessionIdle:     30 * time.Minute,
		SessionLifetime: 12 * time.Hour,
		StepUpLifetime:  10 * time.Minute,
		SecurityHold:    24 * time.Hour,
		Limits: Limits{
			PasswordPerIdentifier: Limit{10, 15 * time.Minute},
			PasswordPerIP:         Limit{100, 15 * time.Minute},
			SignUpsPerIP:          Limit{20, time.Hour},
			CodeLoginsPerIP:       Limit{30, time.Hour},
			CodeLoginsGlobal:      Limit{20_000, time.Hour},
			CodeResend:            Limit{1, 60 * time.Second},
			CodesPerAddress:       Limit{5, time.Hour},
			SignedInCodes:         Limit{5, 10 * time.Minute},
			TOTPPerAccount:        Limit{10, 15 * time.Minute},
			TOTPPerFlow:           5,
			PasswordsPerFlow:      10,
			PasswordDelay:         Backoff{Free: 10, First: 30 * time.Second, Max: time.Hour, Forget: 24 * time.Hour},
			CodeDelay:             Backoff{Free: 5, First: 30 * time.Second, Max: time.Hour, Forget: 24 * time.Hour},
			GuessesInFlight:       2,
			GuessesInFlightPerIP:  8,
		},
	}
}

// Limiter counts events per key in fixed windows (see package ratelimit).
type Limiter interface {
	// Take counts one event; allowed is false (and the event not counted)
	// when key already had limit events in the current window.
	Take(ctx context.Context, key string, limit int, window time.Duration) (allowed bool, retryAfter time.Duration, err error)
	// Undo gives back one event of key.
	Undo(ctx context.Context, key string, window time.Duration) error
	// Peek answers as Take would, without counting anything.
	Peek(ctx context.Context, key string, limit int) (allowed bool, retryAfter time.Duration, err error)
	// Strike counts one more failure in key's streak and returns its
	// length; the streak is forgotten once idle passes without a Strike.
	Strike(ctx context.Context, key string, idle time.Duration) (int, error)
	// Reset forgets key.
	Reset(ctx context.Context, key string) error
}

// Waker is told when a message was queued, so delivery starts at once.
type Waker interface{ Wake() }

// Metrics receives counts for monitoring.
type Metrics interface {
	Login(method, outcome string)
	MessageQueued(channel Channel)
}

// Deps are the collaborators of a Service.
type Deps struct {
	Store     Store
	Limiter   Limiter
	Passwords *password.Hasher
	Policy    password.Policy
	// TokenKeys key the hashes of tokens, flow ids and codes: the first
	// hashes, all of them are recognized (secret-key rotation).
	TokenKeys [][]byte
	Random    io.Reader
	Now       func() time.Time
	Log       *slog.Logger
	Waker     Waker           // may be nil
	Metrics   Metrics         // may be nil
	Sessions  SessionObserver // may be nil
	Cache     SessionCache    // may be nil: every session check reads the database
	SMSGuard  SMSGuard        // may be nil: no SMS pumping defence (the server always sets one)
}

// New returns a Service.
func New(d Deps, cfg Config) *Service {
	def := DefaultConfig()
	if cfg.Issuer == "" {
		cfg.Issuer = def.Issuer
	}
	setDefault(&cfg.CodeTTL, def.CodeTTL)
	setDefault(&cfg.SessionIdle, def.SessionIdle)
	setDefault(&cfg.SessionLifetime, def.SessionLifetime)
	setDefault(&cfg.StepUpLifetime, def.StepUpLifetime)
	setDefault(&cfg.SecurityHold, def.SecurityHold)
	if cfg.CodeMaxAttempts == 0 {
		cfg.CodeMaxAttempts = def.CodeMaxAttempts
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = def.Limits
	}
	if cfg.Limits.PasswordDelay == (Backoff{}) {
		cfg.Limits.PasswordDelay = def.Limits.PasswordDelay
	}
	if cfg.Limits.CodeDelay == (Backoff{}) {
		cfg.Limits.CodeDelay = def.Limits.CodeDelay
	}
	if cfg.Limits.GuessesInFlight == 0 {
		cfg.Limits.GuessesInFlight = def.Limits.GuessesInFlight
	}
	if cfg.Limits.GuessesInFlightPerIP == 0 {
		cfg.Limits.GuessesInFlightPerIP = def.Limits.GuessesInFlightPerIP
	}
	if len(cfg.Channels) == 0 {
		cfg.Channels = []Channel{ChannelEmail, ChannelPhone}
	}
	s := &Service{
		store: d.Store, limiter: d.Limiter, passwords: d.Passwords, policy: d.Policy,
		hasher: token.NewHasher(d.TokenKeys[0], d.TokenKeys[1:]...), random: d.Random, now: d.Now, log: d.Log,
		waker: d.Waker, metrics: d.Metrics, sessions: d.Sessions, smsGuard: d.SMSGuard, catalog: i18n.Default(), cfg: cfg,
	}
	if s.waker == nil {
		s.waker = nopWaker{}
	}
	if s.metrics == nil {
		s.metrics = nopMetrics{}
	}
	if s.sessions == nil {
		s.sessions = nopSessionObserver{}
	}
	s.cache = d.Cache
	if s.cache == nil {
		s.cache = nopCache{}
	}
	return s
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d == 0 {
		*d = v
	}
}

type nopWaker struct{}

func (nopWaker) Wake() {}

type nopMetrics struct{}

func (nopMetrics) Login(string, string)  {}
func (nopMetrics) MessageQueued(Channel) {}

// Client describes who is calling: recorded with security events and
// sessions, and used for per-IP limits. UserAgent is whatever the client
// sent; it is made valid UTF-8 and cut to a bounded size before it is
// stored (see storedText). Lang is the language of the request (the web
// pages' choice, or Accept-Language): a sign-up code goes out in it, a new
// account keeps it, and each login that ends in a session stores it on the
// account for later messages. Empty means unknown: a login then leaves the
// account's language alone, and a sign-up falls back to English.
type Client struct {
	IP        string
	UserAgent string
	Lang      i18n.Lang
}

// maxUserAgent is the most of a User-Agent that is stored, in bytes.
const maxUserAgent = 256

// storedText makes s fit to store: invalid UTF-8 is replaced with U+FFFD
// and NUL bytes are dropped (PostgreSQL refuses both in TEXT, which would
// turn a login into an error and lose its security event), then it is cut
// to at most max bytes at a character boundary, never inside a character.
func storedText(s string, max int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// ipLimitKey is the key of per-IP limits: the address for IPv4, and the
// /64 network for IPv6, since one subscriber usually holds a whole /64 and
// could otherwise step around a limit by changing the host bits.
func ipLimitKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// take applies one rate limit. A limiter failure refuses the request with
// CodeUnavailable: limits are never skipped because their store is down.
func (s *Service) take(ctx context.Context, key string, l Limit) error {
	ok, retry, err := s.limiter.Take(ctx, key, l.N, l.Window)
	if err != nil {
		// Fail closed: without the limiter's answer nothing is attempted.
		s.log.ErrorContext(ctx, "rate limiter unavailable", "err", err)
		return ErrUnavailable
	}
	if !ok {
		return RateLimited(retry)
	}
	return nil
}

// undo gives back one event of a limit after a success. Failing to do so
// only makes the limit stricter, so the error is logged, not returned.
func (s *Service) undo(ctx context.Context, key string, l Limit) {
	if err := s.limiter.Undo(ctx, key, l.Window); err != nil {
		s.log.WarnContext(ctx, "rate limit undo failed", "key", key, "err", err)
	}
}

// record appends a security event. Failures are logged: an event that
// cannot be written must not hide the outcome from the user, and the
// events that matter most are written inside the transaction they describe.
func (s *Service) record(ctx context.Context, tx Tx, c Client, uid string, kind EventKind, detail string) {
	if err := s.recordTx(ctx, tx, c, uid, kind, detail); err != nil {
		s.log.ErrorContext(ctx, "record security event", "kind", kind, "uid", uid, "err", err)
	}
}

// recordTx appends a security event inside a transaction; its error aborts it.
func (s *Service) recordTx(ctx context.Context, tx Tx, c Client, uid string, kind EventKind, detail string) error {
	e := &Event{UID: uid, Kind: kind, IP: storedText(c.IP, 64), UserAgent: storedText(c.UserAgent, maxUserAgent),
		Detail: detail, CreatedAt: s.now()}
	if err := tx.RecordEvent(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", kind, err)
	}
	return nil
}

// newID returns a random id of n bytes and its keyed hash under label.
func (s *Service) newID(label string, n int) (id string, hash []byte, err error) {
	id, err = token.New(s.random, n)
	if err != nil {
		return "", nil, err
	}
	return id, s.hasher.Hash(label, id), nil
}

// enqueue stores messages in the outbox within tx; once tx commits, the
// worker is woken and the messages are counted.
func (s *Service) enqueue(ctx context.Context, tx Tx, msgs ...*Message) error {
	for _, m := range msgs {
		m.CreatedAt = s.now()
		m.NextAttemptAt = m.CreatedAt
		if err := tx.EnqueueMessage(ctx, m); err != nil {
			return fmt.Errorf("enqueue message: %w", err)
		}
		if !m.Decoy {
			tx.AfterCommit(func() { s.metrics.MessageQueued(m.Channel) })
		}
	}
	if len(msgs) > 0 {
		tx.AfterCommit(s.waker.Wake)
	}
	return nil
}

// isNoRows reports whether err means that nothing matched.
func isNoRows(err error) bool { return errors.Is(err, ErrNoRows) }

// Now returns the service's current time.
func (s *Service) Now() time.Time { return s.now() }
