package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/watchword/watchword/internal/identifier"
)

// LoginResult is the outcome of a first factor: a session, or, when an
// authenticator is bound, a flow that waits for its code.
type LoginResult struct {
	SessionToken string
	MFAFlowID    string
}

// lookupIdentifier parses a login identifier and returns its channel,
// normalized address and key.
func lookupIdentifier(raw string) (Channel, string, string, error) {
	kind, addr, key, err := identifier.Parse(raw)
	if err != nil {
		if kind == identifier.KindEmail {
			return "", "", "", Errorf(CodeInvalidEmail, "Enter a valid email address, such as name@example.com.")
		}
		return "", "", "", Errorf(CodeInvalidPhone, "Enter a valid email address or a phone number with its country code.")
	}
	if kind == identifier.KindEmail {
		return ChannelEmail, addr, key, nil
	}
	return ChannelPhone, addr, key, nil
}

// LoginPassword signs in with a verified email or phone and the password.
// Unknown identifiers, unverified identifiers and wrong passwords give the
// same error after the same work (a dummy hash runs for unknown users).
// A password change that commits while the hash is being checked wins:
// the login then fails.
//
// Only failures count toward the limits per identifier (whether it exists
// or not) and per client IP: an attempt is refused when they are used up,
// and counted once its password proved wrong, so a right password is never
// refused because other logins of the account are in flight. Checks of one
// identifier, and from one IP, take turns (see turns), which bounds how far
// parallel wrong guesses can pass the limits. Wrong passwords in a row for
// one identifier also earn a growing delay (Limits.PasswordDelay), which a
// right password ends.
//
// Errors: CodeInvalidCredentials, CodeRateLimited.
func (s *Service) LoginPassword(ctx context.Context, c Client, ident, password string) (res LoginResult, err error) {
	defer func() { s.metrics.Login("password", outcome(res, err)) }()
	ch, _, key, perr := lookupIdentifier(ident)
	if perr != nil {
		key = "invalid"
	}
	lim := s.cfg.Limits
	idKey, ipKey, g := "pwfail:id:"+key, "pwfail:ip:"+ipLimitKey(c.IP), passwordGuess(key)
	// Always the identifier's turn first, then the IP's: one order, so
	// no two logins can wait for each other. The turns end once the
	// password is judged and counted, not after the session is made.
	var releases []func()
	endTurns := func() {
		for _, release := range releases {
			release()
		}
		releases = nil
	}
	defer endTurns()
	for _, t := range []struct {
		key string
		n   int
	}{{idKey, lim.GuessesInFlight}, {ipKey, lim.GuessesInFlightPerIP}} {
		release, err := s.turns.wait(ctx, t.key, t.n)
		if err != nil {
			return res, err
		}
		releases = append(releases, release)
	}
	if err := s.peek(ctx, idKey, lim.PasswordPerIdentifier.N); err != nil {
		return res, err
	}
	if err := s.peek(ctx, ipKey, lim.PasswordPerIP.N); err != nil {
		return res, err
	}
	if err := s.checkDelay(ctx, g); err != nil {
		return res, err
	}
	// No stored password is longer than 256 code points (1024 bytes); a
	// longer one is simply wrong. It is never truncated, which would let
	// "password+anything" in, and it still costs one hash.
	var u *User
	if perr == nil {
		u, err = s.userByAddress(ctx, s.store, ch, key)
		if err != nil && !isNoRows(err) {
			return res, fmt.Errorf("login: %w", err)
		}
	}
	fail := func(uid, reason string) (LoginResult, error) {
		s.record(ctx, s.store, c, uid, EventLoginFailed, "method=password reason="+reason)
		s.log.InfoContext(ctx, "login failed", "method", "password", "uid", uid, "reason", reason)
		return LoginResult{}, ErrInvalidCredentials
	}
	// wrong counts a wrong password everywhere it counts, before the
	// answer goes out.
	wrong := func(uid, reason string) (LoginResult, error) {
		for _, f := range []func() error{
			func() error { return s.countFailure(ctx, idKey, lim.PasswordPerIdentifier) },
			func() error { return s.countFailure(ctx, ipKey, lim.PasswordPerIP) },
			func() error { return s.guessFailed(ctx, g, lim.PasswordDelay) },
		} {
			if err := f(); err != nil {
				return LoginResult{}, err
			}
		}
		return fail(uid, reason)
	}
	if u == nil || u.PasswordHash == "" || len(password) > 1024 {
		reason, uid := "unknown_identifier", ""
		if u != nil {
			reason, uid = "password_too_long", u.UID
		}
		if err := s.passwords.VerifyDummyContext(ctx, password); err != nil {
			return res, fmt.Errorf("login: %w", err)
		}
		return wrong(uid, reason)
	}
	ok, needsRehash, err := s.passwords.VerifyRehashContext(ctx, u.PasswordHash, password)
	if err != nil {
		return res, fmt.Errorf("login: verify password of %s: %w", u.UID, err)
	}
	if !ok {
		return wrong(u.UID, "wrong_password")
	}
	s.guessSucceeded(ctx, g)
	endTurns()
	// A hash made with older parameters (or from an unnormalized password)
	// is upgraded in the transaction that finishes the login, only while it
	// is still the hash just verified.
	var rehash func(Tx) error
	if needsRehash {
		if h, err := s.passwords.HashContext(ctx, password); err != nil {
			s.log.WarnContext(ctx, "password rehash failed", "uid", u.UID, "err", err)
		} else {
			rehash = func(tx Tx) error {
				if err := tx.RehashPassword(ctx, u.UID, u.PasswordHash, h); err != nil && !isConflict(err) {
					return fmt.Errorf("rehash password: %w", err)
				}
				return nil
			}
		}
	}
	res, err = s.finishFirstFactor(ctx, c, u, "password", rehash)
	if errors.Is(err, errCredentialsChanged) {
		return fail(u.UID, "credentials_changed")
	}
	return res, err
}

// errCredentialsChanged: the account's credentials changed between the
// check of the first factor and the end of the login.
var errCredentialsChanged = errors.New("credentials changed during login")

// finishFirstFactor ends a successful first factor: with an authenticator
// bound it opens a flow that waits for the second factor, otherwise it
// starts a session. It does so only while the account's credentials are
// still those that u was read with (errCredentialsChanged otherwise), so a
// password, identifier or authenticator change that commits meanwhile is
// never escaped. also, when set, runs in the same transaction (it uses up
// the login code, or upgrades the password hash), so a code never yields a
// session without being spent.
func (s *Service) finishFirstFactor(ctx context.Context, c Client, u *User, method string, also func(Tx) error) (res LoginResult, err error) {
	err = s.store.Atomic(ctx, func(tx Tx) error {
		// First, before anything else is read: on PostgreSQL this locks
		// the account row until commit, so a concurrent change of
		// credentials commits wholly before (and this fails) or wholly
		// after (and ends the session made here).
		if err := tx.CheckCredentials(ctx, u.UID, u.CredVersion); err != nil {
			if isConflict(err) {
				return errCredentialsChanged
			}
			return fmt.Errorf("check credentials: %w", err)
		}
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		_, err := tx.ActiveTOTP(ctx, u.UID)
		switch {
		case err == nil:
			id, f, err := s.newFlow(PurposeLoginMFA, "", "", u.UID)
			if err != nil {
				return err
			}
			f.Method = method
			f.Factors = []Factor{FactorTOTP, FactorRecoveryCode}
			f.CredVersion = u.CredVersion
			if err := tx.CreateFlow(ctx, f); err != nil {
				return fmt.Errorf("create mfa flow: %w", err)
			}
			res.MFAFlowID = id
			return nil
		case isNoRows(err):
			if err := s.recordTx(ctx, tx, c, u.UID, EventLogin, "method="+method); err != nil {
				return err
			}
			if err := s.rememberLanguage(ctx, tx, c, u.UID, u.Lang); err != nil {
				return err
			}
			res.SessionToken, err = s.startSession(ctx, tx, c, u.UID)
			return err
		default:
			return fmt.Errorf("load authenticator: %w", err)
		}
	})
	if err != nil {
		return LoginResult{}, err
	}
	s.log.InfoContext(ctx, "first factor passed", "uid", u.UID, "method", method, "mfa_required", res.MFAFlowID != "")
	return res, nil
}

// StartCodeLogin sends a login code to ident if it is a verified email or
// phone of an account. The answer is the same either way, and the sending
// limits count the request either way: per address, per client IP and in
// all. The code goes to the address stored on the account, never to the
// spelling the client typed.
//
// Errors: CodeInvalidEmail, CodeInvalidPhone, CodeRateLimited.
func (s *Service) StartCodeLogin(ctx context.Context, c Client, ident string) (flowID string, err error) {
	ch, addr, key, err := lookupIdentifier(ident)
	if err != nil {
		return "", err
	}
	if err := s.requireChannel(ch); err != nil {
		return "", err
	}
	if err := s.take(ctx, "codelogin:ip:"+ipLimitKey(c.IP), s.cfg.Limits.CodeLoginsPerIP); err != nil {
		return "", err
	}
	if err := s.take(ctx, "codelogin:all", s.cfg.Limits.CodeLoginsGlobal); err != nil {
		return "", err
	}
	if err := s.limitSend(ctx, PurposeLogin, key, true); err != nil {
		return "", err
	}
	u, err := s.userByAddress(ctx, s.store, ch, key)
	if err != nil && !isNoRows(err) {
		return "", fmt.Errorf("start code login: %w", err)
	}
	uid := ""
	if u != nil {
		uid = u.UID
		addr, _ = contactOf(u, ch)
	}
	id, f, err := s.newFlow(PurposeLogin, ch, addr, uid)
	if err != nil {
		return "", err
	}
	err = s.store.Atomic(ctx, func(tx Tx) error {
		if err := tx.CreateFlow(ctx, f); err != nil {
			return fmt.Errorf("create flow: %w", err)
		}
		if u == nil {
			return s.issueDecoyCode(ctx, tx, f)
		}
		return s.issueCode(ctx, tx, f, userLang(u))
	})
	if err != nil {
		return "", fmt.Errorf("start code login: %w", err)
	}
	return id, nil
}

// CompleteCodeLogin checks the code of a login flow.
//
// Errors: CodeNotFound (flow), CodeInvalidCode, CodeCodeExpired.
func (s *Service) CompleteCodeLogin(ctx context.Context, c Client, flowID, code string) (res LoginResult, err error) {
	defer func() { s.metrics.Login("code", outcome(res, err)) }()
	f, err := s.loadFlow(ctx, flowID, PurposeLogin)
	if err != nil {
		return res, err
	}
	if err := s.checkCode(ctx, f, code); err != nil {
		s.record(ctx, s.store, c, f.UID, EventLoginFailed, "method=code reason="+string(ErrorCode(err)))
		return res, err
	}
	// The code proves the mailbox now, so a change of credentials that
	// commits meanwhile only means reading the account again: it must
	// still hold the address, verified, and the login then finishes
	// against its new credentials.
	for range 2 {
		u, err := s.userByAddress(ctx, s.store, f.Channel, addressKey(f.Channel, f.Address))
		if isNoRows(err) || (err == nil && u.UID != f.UID) {
			return res, ErrInvalidCode
		}
		if err != nil {
			return res, fmt.Errorf("code login: %w", err)
		}
		res, err = s.finishFirstFactor(ctx, c, u, "code", func(tx Tx) error { return s.consumeCode(ctx, tx, f) })
		if !errors.Is(err, errCredentialsChanged) {
			return res, err
		}
	}
	return res, ErrInvalidCode
}

// outcome names the result of a login attempt for metrics.
func outcome(res LoginResult, err error) string {
	switch {
	case err == nil && res.MFAFlowID != "":
		return "mfa_required"
	case err == nil:
		return "success"
	case ErrorCode(err) == CodeRateLimited:
		return "rate_limited"
	case ErrorCode(err) == CodeInternal:
		return "error"
	default:
		return "failure"
	}
}
