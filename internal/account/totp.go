package account

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/token"
	"github.com/watchword/watchword/internal/totp"
)

// recoveryCodeCount is how many recovery codes a binding gets.
const recoveryCodeCount = 10

// totpWindow is how many steps either side of the learned offset a code
// may be at login and step-up: one, the network delay RFC 6238 §5.2
// recommends. ASVS 6.5.5 wants 30 s; we accept the one-step deviation.
const totpWindow = 1

// Binding is what a user sees when connecting an authenticator app.
type Binding struct {
	Secret     string // base32, no padding
	Grouped    string // the same in groups of four, for paper
	OTPAuthURI string
	QRPNG      []byte
}

// BeginTOTP creates a pending authenticator with a new 160-bit secret,
// replacing any earlier pending one. It needs a recent step-up. The
// pending binding guards nothing until confirmed.
//
// Errors: CodeStepUpRequired.
func (s *Service) BeginTOTP(ctx context.Context, c Client, sess *Session) (*Binding, error) {
	if err := s.requirePrivilege(sess); err != nil {
		return nil, err
	}
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return nil, fmt.Errorf("begin totp: %w", err)
	}
	secret, err := totp.NewSecret(s.random)
	if err != nil {
		return nil, err
	}
	a := &TOTPBinding{UID: u.UID, Secret: secret, CreatedAt: s.now()}
	if err := s.store.PutPendingTOTP(ctx, a); err != nil {
		return nil, fmt.Errorf("begin totp: %w", err)
	}
	return s.binding(u, secret)
}

// binding renders the secret as text, URI and QR code.
func (s *Service) binding(u *User, secret []byte) (*Binding, error) {
	label := u.Email
	if label == "" {
		label = u.Phone
	}
	uri := totp.URI(s.cfg.Issuer, label, secret)
	png, err := totp.QRPNG(uri)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return &Binding{Secret: totp.EncodeSecret(secret), Grouped: totp.GroupSecret(secret), OTPAuthURI: uri, QRPNG: png}, nil
}

// PendingTOTPQR returns the QR code of the pending binding.
//
// Errors: CodeStepUpRequired, CodeNotFound.
func (s *Service) PendingTOTPQR(ctx context.Context, sess *Session) ([]byte, error) {
	if err := s.requirePrivilege(sess); err != nil {
		return nil, err
	}
	p, err := s.pendingTOTP(ctx, sess.UID)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return nil, fmt.Errorf("totp qr: %w", err)
	}
	b, err := s.binding(u, p.Secret)
	if err != nil {
		return nil, err
	}
	return b.QRPNG, nil
}

var errNoPendingTOTP = Errorf(CodeNotFound, "No authenticator is waiting for confirmation. Press connect to get a new key.")

// pendingTOTP returns the live pending binding; it lives as long as a code.
func (s *Service) pendingTOTP(ctx context.Context, uid string) (*TOTPBinding, error) {
	p, err := s.store.PendingTOTP(ctx, uid)
	if isNoRows(err) || (err == nil && !s.now().Before(p.CreatedAt.Add(s.cfg.CodeTTL))) {
		return nil, errNoPendingTOTP
	}
	if err != nil {
		return nil, fmt.Errorf("load pending totp: %w", err)
	}
	return p, nil
}

// Confirmation is the result of ConfirmTOTP.
type Confirmation struct {
	RecoveryCodes      []string // shown once; only hashes are kept
	ClockOffsetSeconds int
}

// ConfirmTOTP activates the pending binding with a code from the app. A
// code up to five minutes off is accepted here; the offset is remembered
// (later codes are checked around it) and reported so the user can fix
// the phone's clock. Confirming replaces any earlier binding, ends the
// account's other sessions, and notifies every verified channel.
//
// Errors: CodeStepUpRequired, CodeNotFound (nothing pending),
// CodeInvalidTOTP, CodeRateLimited.
func (s *Service) ConfirmTOTP(ctx context.Context, c Client, sess *Session, code string) (*Confirmation, error) {
	if err := s.requirePrivilege(sess); err != nil {
		return nil, err
	}
	p, err := s.pendingTOTP(ctx, sess.UID)
	if err != nil {
		return nil, err
	}
	limitKey := "totp:account:" + sess.UID
	if err := s.take(ctx, limitKey, s.cfg.Limits.TOTPPerAccount); err != nil {
		return nil, err
	}
	m, ok := totp.Verify(p.Secret, code, s.now(), 0, totp.MaxDriftSteps)
	if !ok {
		s.record(ctx, s.store, c, sess.UID, EventTOTPFailed, "at=confirm")
		return nil, errInvalidTOTP
	}
	codes, hashes, err := s.newRecoveryCodes(sess.UID)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return nil, fmt.Errorf("confirm totp: %w", err)
	}
	now := s.now()
	err = s.store.Atomic(ctx, func(tx Tx) error {
		// The confirming code is spent: it cannot log in afterwards.
		if err := s.useTOTPStep(ctx, tx, sess.UID, m.Step); err != nil {
			return err
		}
		if err := tx.ActivateTOTP(ctx, sess.UID, m.Offset, now); err != nil {
			if isNoRows(err) {
				return errNoPendingTOTP
			}
			return fmt.Errorf("activate totp: %w", err)
		}
		if err := tx.ReplaceRecoveryCodes(ctx, sess.UID, hashes, now); err != nil {
			return fmt.Errorf("store recovery codes: %w", err)
		}
		if err := s.revokeSessions(ctx, tx, sess.UID, sess); err != nil {
			return err
		}
		if err := s.recordTx(ctx, tx, c, sess.UID, EventTOTPEnabled, fmt.Sprintf("offset_steps=%d", m.Offset)); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, s.noticesTo(u, NoticeTOTPEnabled)...)
	})
	if err != nil {
		return nil, err
	}
	s.undo(ctx, limitKey, s.cfg.Limits.TOTPPerAccount)
	return &Confirmation{RecoveryCodes: codes, ClockOffsetSeconds: m.Offset * int(totp.Period/time.Second)}, nil
}

// DisableTOTP removes the authenticator with a current code or a recovery
// code, after a step-up. The account's other sessions end and every
// verified channel is told.
//
// Errors: CodeStepUpRequired, CodeNotFound (no authenticator),
// CodeInvalidTOTP, CodeClockDrift, CodeRateLimited.
func (s *Service) DisableTOTP(ctx context.Context, c Client, sess *Session, code string) error {
	if err := s.requirePrivilege(sess); err != nil {
		return err
	}
	auth, err := s.store.ActiveTOTP(ctx, sess.UID)
	if isNoRows(err) {
		return Errorf(CodeNotFound, "No authenticator is connected.")
	}
	if err != nil {
		return fmt.Errorf("disable totp: %w", err)
	}
	u, err := s.store.UserByUID(ctx, sess.UID)
	if err != nil {
		return fmt.Errorf("disable totp: %w", err)
	}
	err = s.withSecondFactor(ctx, c, auth, allFactors, code, func(tx Tx) error {
		if err := tx.DeleteTOTP(ctx, sess.UID); err != nil {
			return fmt.Errorf("delete totp: %w", err)
		}
		if err := s.revokeSessions(ctx, tx, sess.UID, sess); err != nil {
			return err
		}
		if err := s.holdSecurity(ctx, tx, sess.UID); err != nil {
			return err
		}
		if err := s.recordTx(ctx, tx, c, sess.UID, EventTOTPDisabled, "by=user"); err != nil {
			return err
		}
		return s.enqueue(ctx, tx, s.noticesTo(u, NoticeTOTPDisabled)...)
	})
	if err != nil {
		return err
	}
	return nil
}

// CompleteTOTPLogin finishes a login that waits for the authenticator,
// with a TOTP code or a recovery code. Wrong codes are limited per flow
// (then the flow is discarded and the login starts again from the
// password) and per account.
//
// Errors: CodeNotFound (flow), CodeInvalidTOTP, CodeClockDrift,
// CodeRateLimited.
func (s *Service) CompleteTOTPLogin(ctx context.Context, c Client, flowID, code string) (tok string, err error) {
	defer func() { s.metrics.Login("totp", outcome(LoginResult{SessionToken: tok}, err)) }()
	f, err := s.loadFlow(ctx, flowID, PurposeLoginMFA)
	if err != nil {
		return "", err
	}
	auth, err := s.store.ActiveTOTP(ctx, f.UID)
	if isNoRows(err) {
		return "", ErrFlowNotFound // unbound meanwhile: start again
	}
	if err != nil {
		return "", fmt.Errorf("totp login: %w", err)
	}
	factors := f.Factors
	if len(factors) == 0 {
		factors = allFactors // a flow stored before flows named their factors
	}
	err = s.withSecondFactor(ctx, c, auth, factors, code, func(tx Tx) error {
		// The credentials the first factor was checked against must still
		// be current: a password or authenticator change since then sends
		// the user back to the start.
		if err := tx.CheckCredentials(ctx, f.UID, f.CredVersion); err != nil {
			if isConflict(err) {
				return ErrFlowNotFound
			}
			return fmt.Errorf("check credentials: %w", err)
		}
		if err := tx.FinishFlow(ctx, f.IDHash, s.now()); err != nil {
			if isConflict(err) {
				return ErrFlowNotFound
			}
			return fmt.Errorf("finish flow: %w", err)
		}
		if err := s.recordTx(ctx, tx, c, f.UID, EventLogin, "method="+f.Method+"+totp"); err != nil {
			return err
		}
		if err := s.rememberLanguage(ctx, tx, c, f.UID, ""); err != nil {
			return err
		}
		tok, err = s.startSession(ctx, tx, c, f.UID)
		return err
	})
	if err != nil && (ErrorCode(err) == CodeInvalidTOTP || ErrorCode(err) == CodeClockDrift) {
		n, ferr := s.store.FailFlow(ctx, f.IDHash)
		if ferr != nil {
			return "", fmt.Errorf("count totp failure: %w", ferr)
		}
		if n >= s.cfg.Limits.TOTPPerFlow {
			_ = s.store.FinishFlow(ctx, f.IDHash, s.now())
			s.log.InfoContext(ctx, "mfa flow discarded after wrong codes", "uid", f.UID)
		}
	}
	return tok, err
}

var errInvalidTOTP = Errorf(CodeInvalidTOTP, "The authenticator code is wrong or was already used.")

// allFactors are the second factors of an authenticator binding.
var allFactors = []Factor{FactorTOTP, FactorRecoveryCode}

// withSecondFactor verifies code (a TOTP code, or else a recovery code),
// if its factor is among allowed, for auth and runs fn in the transaction
// that spends it, so a code is never accepted twice even by concurrent
// requests.
func (s *Service) withSecondFactor(ctx context.Context, c Client, auth *TOTPBinding, allowed []Factor, code string, fn func(Tx) error) error {
	limitKey := "totp:account:" + auth.UID
	if err := s.take(ctx, limitKey, s.cfg.Limits.TOTPPerAccount); err != nil {
		return err
	}
	code = strings.TrimSpace(code)
	var spend func(Tx) error
	var usedRecovery bool
	factor := FactorRecoveryCode
	if len(code) == totp.Digits {
		factor = FactorTOTP
	}
	if !slices.Contains(allowed, factor) {
		s.record(ctx, s.store, c, auth.UID, EventTOTPFailed, "reason=factor_not_allowed factor="+string(factor))
		return errInvalidTOTP
	}
	if factor == FactorTOTP {
		m, err := s.checkTOTP(ctx, c, auth, code)
		if err != nil {
			return err
		}
		spend = func(tx Tx) error {
			if err := s.useTOTPStep(ctx, tx, auth.UID, m.Step); err != nil {
				return err
			}
			if m.Offset != auth.OffsetSteps {
				// Follow a phone clock that drifts slowly (RFC 6238 §6);
				// checkTOTP never matches past the bound, so neither does
				// the learned offset.
				return tx.SetTOTPOffset(ctx, auth.UID, m.Offset)
			}
			return nil
		}
	} else {
		norm := normalizeRecoveryCode(code)
		if norm == "" {
			s.record(ctx, s.store, c, auth.UID, EventTOTPFailed, "reason=malformed")
			return errInvalidTOTP
		}
		usedRecovery = true
		spend = func(tx Tx) error {
			// Codes hashed under a key from before a rotation still work.
			for _, hash := range s.hasher.Hashes("recovery", auth.UID, norm) {
				err := tx.UseRecoveryCode(ctx, auth.UID, hash, s.now())
				if err == nil || !(isConflict(err) || isNoRows(err)) {
					return err
				}
			}
			return errInvalidTOTP
		}
	}
	var u *User // the recipient of the notice that a recovery code was used
	if usedRecovery {
		var err error
		if u, err = s.store.UserByUID(ctx, auth.UID); err != nil {
			return fmt.Errorf("second factor: %w", err)
		}
	}
	err := s.store.Atomic(ctx, func(tx Tx) error {
		if err := spend(tx); err != nil {
			return err
		}
		if usedRecovery {
			if err := s.recordTx(ctx, tx, c, auth.UID, EventRecoveryUsed, ""); err != nil {
				return err
			}
			if err := s.enqueue(ctx, tx, s.noticesTo(u, NoticeRecoveryUsed)...); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	if err != nil {
		if ErrorCode(err) == CodeInvalidTOTP {
			s.record(ctx, s.store, c, auth.UID, EventTOTPFailed, "reason=wrong_or_replayed")
		}
		return err
	}
	s.undo(ctx, limitKey, s.cfg.Limits.TOTPPerAccount)
	return nil
}

// checkTOTP verifies a code around the learned offset. A code that only
// matches further off (up to five minutes) is refused with CodeClockDrift
// and a message that names the offset, so the user can fix the clock.
func (s *Service) checkTOTP(ctx context.Context, c Client, auth *TOTPBinding, code string) (totp.Match, error) {
	now := s.now()
	// The window around the learned offset never reaches past the five
	// minutes the contract allows: a phone clock that keeps drifting
	// would otherwise walk the offset one step per login without bound.
	if m, ok := totp.Verify(auth.Secret, code, now, auth.OffsetSteps, totpWindow); ok && abs(m.Offset) <= totp.MaxDriftSteps {
		return m, nil
	}
	// A phone whose clock was fixed, as clock_drift tells the user to do,
	// shows codes on the server's time: accept them (the learned offset
	// then follows) rather than refuse them as "0 seconds ahead" forever.
	if auth.OffsetSteps != 0 {
		if m, ok := totp.Verify(auth.Secret, code, now, 0, totpWindow); ok {
			return m, nil
		}
	}
	if m, ok := totp.Verify(auth.Secret, code, now, 0, totp.MaxDriftSteps); ok {
		s.record(ctx, s.store, c, auth.UID, EventTOTPFailed, fmt.Sprintf("reason=clock_drift offset_steps=%d", m.Offset))
		return totp.Match{}, clockDrift(m.Offset * int(totp.Period/time.Second))
	}
	s.record(ctx, s.store, c, auth.UID, EventTOTPFailed, "reason=wrong_code")
	return totp.Match{}, errInvalidTOTP
}

// clockDrift explains a phone clock that is off by offset seconds.
func clockDrift(offset int) error {
	dir, abs := "ahead", offset
	if offset < 0 {
		dir, abs = "behind", -offset
	}
	e := Errorf(CodeClockDrift,
		"Your phone's clock is about %d seconds %s. Turn on automatic date and time on your phone, "+
			"or in Google Authenticator open Settings > Time correction for codes > Sync now, then try a new code.", abs, dir)
	e.DriftSeconds = offset
	return e
}

// useTOTPStep spends a time step; a second use is the generic invalid
// code error, so a replay looks like any wrong code (the log tells).
func (s *Service) useTOTPStep(ctx context.Context, tx Tx, uid string, step int64) error {
	err := tx.UseTOTPStep(ctx, uid, step, s.now())
	if isConflict(err) {
		s.log.WarnContext(ctx, "totp code replayed", "uid", uid)
		return errInvalidTOTP
	}
	if err != nil {
		return fmt.Errorf("use totp step: %w", err)
	}
	return nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// recoveryAlphabet has no look-alike characters (0/o, 1/l/i) and letters,
// so a recovery code never reads as a six-digit code.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// newRecoveryCodes returns codes like "k7m2p-9qx4t" and their hashes.
func (s *Service) newRecoveryCodes(uid string) ([]string, [][]byte, error) {
	codes := make([]string, recoveryCodeCount)
	hashes := make([][]byte, recoveryCodeCount)
	buf := make([]byte, 10)
	for i := range codes {
		for j := range buf {
			n, err := token.Uint64(s.random)
			if err != nil {
				return nil, nil, err
			}
			buf[j] = recoveryAlphabet[n%uint64(len(recoveryAlphabet))]
		}
		codes[i] = string(buf[:5]) + "-" + string(buf[5:])
		hashes[i] = s.hasher.Hash("recovery", uid, string(buf))
	}
	return codes, hashes, nil
}

// normalizeRecoveryCode folds case and drops separators; it returns ""
// for input that cannot be a recovery code.
func normalizeRecoveryCode(code string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(code) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(recoveryAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != 10 {
		return ""
	}
	return b.String()
}
