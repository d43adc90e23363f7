package account_test

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/totp"
)

// The authenticator app (issue #4), at the service level with a fake
// clock. The RFC 6238 vectors live in internal/totp; here a "phone" is
// totp.Code at a chosen instant, so a phone whose clock is off is simply
// a code for now plus the offset.

// totpAt is the code a phone whose clock is off by skew shows at the
// service's now.
func (e *env) totpAt(secret []byte, skew time.Duration) string {
	return totp.Code(secret, totp.Step(e.clock.Now().Add(skew)))
}

// totpWrong returns a well-formed code that is no code of secret within
// eleven steps of now, so it is wrong rather than drifted.
func (e *env) totpWrong(secret []byte) string {
	now := totp.Step(e.clock.Now())
	near := map[string]bool{}
	for d := int64(-11); d <= 11; d++ {
		near[totp.Code(secret, now+d)] = true
	}
	for i := 0; ; i++ {
		c := fmt.Sprintf("%06d", i*7919%1000000)
		if !near[c] {
			return c
		}
	}
}

// totpNoMore fails if addr has messages the test has not read.
func (e *env) totpNoMore(addr string) {
	e.t.Helper()
	for _, m := range e.messages() {
		e.inbox[m.To] = append(e.inbox[m.To], m)
	}
	if n := len(e.inbox[addr]) - e.seen[addr]; n != 0 {
		e.t.Fatalf("%d unexpected messages to %s, first %q", n, addr, e.inbox[addr][e.seen[addr]].Subject)
	}
}

// decodeTOTPSecret turns the base32 secret of a binding back into bytes.
func decodeTOTPSecret(t *testing.T, b *account.Binding) []byte {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b.Secret)
	if err != nil {
		t.Fatalf("secret %q: %v", b.Secret, err)
	}
	if len(secret) != totp.SecretSize {
		t.Fatalf("secret has %d bytes, want %d", len(secret), totp.SecretSize)
	}
	return secret
}

// totpAccount is an account with a confirmed authenticator.
type totpAccount struct {
	email  string
	uid    string
	tok    string // the session that bound it (still privileged)
	secret []byte
	conf   *account.Confirmation
}

// totpBind signs email up, steps up and binds an authenticator confirmed
// with a phone whose clock is off by skew. It reads the step-up code but
// leaves the "authenticator connected" notice unread.
func (e *env) totpBind(email string, skew time.Duration) *totpAccount {
	e.t.Helper()
	uid, tok := e.signUp(email)
	sess := e.stepUp(tok, email)
	b, err := e.svc.BeginTOTP(context.Background(), client, sess)
	if err != nil {
		e.t.Fatalf("begin: %v", err)
	}
	secret := decodeTOTPSecret(e.t, b)
	conf, err := e.svc.ConfirmTOTP(context.Background(), client, sess, e.totpAt(secret, skew))
	if err != nil {
		e.t.Fatalf("confirm: %v", err)
	}
	return &totpAccount{email: email, uid: uid, tok: tok, secret: secret, conf: conf}
}

// totpFlow logs in with the password and expects to be asked for the
// authenticator.
func (e *env) totpFlow(email string) string {
	e.t.Helper()
	res, err := e.svc.LoginPassword(context.Background(), client, email, goodPassword)
	if err != nil {
		e.t.Fatalf("login: %v", err)
	}
	if res.MFAFlowID == "" || res.SessionToken != "" {
		e.t.Fatalf("login gave %+v, want an MFA flow and no session", res)
	}
	return res.MFAFlowID
}

// totpLogin runs a whole password + authenticator login.
func (e *env) totpLogin(email, code string) (string, error) {
	e.t.Helper()
	return e.svc.CompleteTOTPLogin(context.Background(), client, e.totpFlow(email), code)
}

// totpWantSession fails unless tok is a live session.
func (e *env) totpWantSession(tok string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("want a session, got %v", err)
	}
	e.session(tok)
}

// totpWantNotice reads the next message to addr and checks that it is a
// notice about what (in subject or text) without any code.
func (e *env) totpWantNotice(addr, what string) {
	e.t.Helper()
	m := e.next(addr)
	if !strings.Contains(strings.ToLower(m.Subject+"\n"+m.Text), what) {
		e.t.Fatalf("want a notice about %q, got subject %q text %q", what, m.Subject, m.Text)
	}
	if sixDigits.MatchString(m.Text) || sixDigits.MatchString(m.HTML) || sixDigits.MatchString(m.Subject) {
		e.t.Fatalf("notice %q carries a 6-digit code: %q", m.Subject, m.Text)
	}
}

func TestTOTPBindAndLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, tok := e.signUp("bind@example.com")
	other, err := e.svc.LoginPassword(ctx, client, "bind@example.com", goodPassword)
	if err != nil || other.SessionToken == "" {
		t.Fatalf("second session: %+v %v", other, err)
	}
	sess := e.stepUp(tok, "bind@example.com")

	b, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	secret := decodeTOTPSecret(t, b)
	if strings.ReplaceAll(b.Grouped, " ", "") != b.Secret {
		t.Fatalf("grouped %q is not secret %q", b.Grouped, b.Secret)
	}
	wantURI := "otpauth://totp/watchword:bind@example.com?secret=" + b.Secret + "&issuer=watchword&algorithm=SHA1&digits=6&period=30"
	if b.OTPAuthURI != wantURI {
		t.Fatalf("uri %q, want %q", b.OTPAuthURI, wantURI)
	}
	if len(b.QRPNG) < 8 || string(b.QRPNG[1:4]) != "PNG" {
		t.Fatalf("qr is not a PNG")
	}
	qr, err := e.svc.PendingTOTPQR(ctx, sess)
	if err != nil || string(qr) != string(b.QRPNG) {
		t.Fatalf("pending qr: %v (same: %v)", err, string(qr) == string(b.QRPNG))
	}

	// A wrong code does not confirm.
	_, err = e.svc.ConfirmTOTP(ctx, client, sess, e.totpWrong(secret))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)

	conf, err := e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(secret, 0))
	if err != nil {
		t.Fatal(err)
	}
	if conf.ClockOffsetSeconds != 0 {
		t.Fatalf("offset %d, want 0", conf.ClockOffsetSeconds)
	}
	if len(conf.RecoveryCodes) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(conf.RecoveryCodes))
	}
	seen := map[string]bool{}
	for _, c := range conf.RecoveryCodes {
		if seen[c] || sixDigits.MatchString(c) || len(c) < 10 {
			t.Fatalf("recovery codes %q: duplicate, too short or a 6-digit run", conf.RecoveryCodes)
		}
		seen[c] = true
	}
	// Nothing is pending any more.
	_, err = e.svc.PendingTOTPQR(ctx, sess)
	wantCode(t, "authenticator", err, account.CodeNotFound)
	if _, on, err := e.svc.Me(ctx, e.session(tok)); err != nil || !on {
		t.Fatalf("me: totp enabled %v, %v", on, err)
	}
	// Binding ended the other session, not this one.
	if _, err := e.svc.Authenticate(ctx, other.SessionToken); account.ErrorCode(err) != account.CodeUnauthenticated {
		t.Fatalf("other session after binding: %v, want it ended", err)
	}

	e.clock.Advance(30 * time.Second)
	tok2, err := e.totpLogin("bind@example.com", e.totpAt(secret, 0))
	e.totpWantSession(tok2, err)
	// A code login asks for the authenticator too.
	flow, err := e.svc.StartCodeLogin(ctx, client, "bind@example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.next("bind@example.com") // the "authenticator connected" notice
	res, err := e.svc.CompleteCodeLogin(ctx, client, flow, e.code("bind@example.com"))
	if err != nil || res.MFAFlowID == "" || res.SessionToken != "" {
		t.Fatalf("code login: %+v %v, want an MFA flow", res, err)
	}
}

func TestTOTPNeedsStepUp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, tok := e.signUp("nostep@example.com")
	sess := e.session(tok)
	_, err := e.svc.BeginTOTP(ctx, client, sess)
	wantCode(t, "authenticator", err, account.CodeStepUpRequired)
	_, err = e.svc.ConfirmTOTP(ctx, client, sess, "123456")
	wantCode(t, "authenticator", err, account.CodeStepUpRequired)
	_, err = e.svc.PendingTOTPQR(ctx, sess)
	wantCode(t, "authenticator", err, account.CodeStepUpRequired)
	wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, "123456"), account.CodeStepUpRequired)

	// Privilege runs out: begun while privileged, confirmed too late.
	sess = e.stepUp(tok, "nostep@example.com")
	b, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10*time.Minute + time.Second)
	_, err = e.svc.ConfirmTOTP(ctx, client, e.session(tok), e.totpAt(decodeTOTPSecret(t, b), 0))
	wantCode(t, "authenticator", err, account.CodeStepUpRequired)
}

func TestTOTPDriftLearning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "drift@example.com"
	a := e.totpBind(email, 3*time.Minute) // the phone runs 3 minutes ahead
	if a.conf.ClockOffsetSeconds != 180 {
		t.Fatalf("clock_offset_seconds %d, want 180", a.conf.ClockOffsetSeconds)
	}

	// The window is one step around the learned offset: two steps further
	// is clock drift, not a wrong code, and the message names the offset.
	flow := e.totpFlow(email)
	_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, e.totpAt(a.secret, 240*time.Second))
	wantCode(t, "authenticator", err, account.CodeClockDrift)
	if !strings.Contains(err.Error(), "240 seconds ahead") {
		t.Fatalf("message %q does not name the offset", err)
	}
	// Five minutes off the learned offset (the phone now 2 minutes
	// behind): refused with clock_drift naming the phone's offset.
	_, err = e.svc.CompleteTOTPLogin(ctx, client, flow, e.totpAt(a.secret, 180*time.Second-5*time.Minute))
	wantCode(t, "authenticator", err, account.CodeClockDrift)
	if !strings.Contains(err.Error(), "120 seconds behind") {
		t.Fatalf("message %q does not name the offset", err)
	}
	// Beyond five minutes of the server's clock a code is just wrong.
	_, err = e.svc.CompleteTOTPLogin(ctx, client, flow, e.totpAt(a.secret, 180*time.Second+5*time.Minute+30*time.Second))
	if c := account.ErrorCode(err); c != account.CodeInvalidTOTP && c != account.CodeClockDrift {
		t.Fatalf("code 8.5 minutes ahead: got %v, want a refusal", err)
	}
	// Refusals neither spent the step nor moved the learned offset: the
	// same flow still takes a code at +180 s.
	e.clock.Advance(30 * time.Second)
	tok, err := e.svc.CompleteTOTPLogin(ctx, client, flow, e.totpAt(a.secret, 180*time.Second))
	e.totpWantSession(tok, err)

	// Later codes at +180 s ±30 s are accepted. The learned offset follows
	// a slowly drifting phone, so the order keeps each within one step of
	// the one before: 150 (offset now 150), 180, 210.
	for _, skew := range []time.Duration{180, 150, 180, 210} {
		e.clock.Advance(90 * time.Second) // a fresh step every time
		tok, err := e.totpLogin(email, e.totpAt(a.secret, skew*time.Second))
		if err != nil {
			t.Fatalf("code at +%d s: %v", skew, err)
		}
		e.session(tok)
	}
	// The offset followed the phone to +210 s: +150 s is now two steps off.
	e.clock.Advance(90 * time.Second)
	_, err = e.totpLogin(email, e.totpAt(a.secret, 150*time.Second))
	wantCode(t, "authenticator", err, account.CodeClockDrift)
	if !strings.Contains(err.Error(), "150 seconds ahead") {
		t.Fatalf("message %q does not name the offset", err)
	}
	// The user fixes the phone's clock, as clock_drift tells them to: a
	// code on the server's time is then accepted (not refused as "0
	// seconds ahead"), and the learned offset follows the phone back.
	e.clock.Advance(30 * time.Second) // past the step +180 s used above
	tok, err = e.totpLogin(email, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)
	e.clock.Advance(90 * time.Second)
	_, err = e.totpLogin(email, e.totpAt(a.secret, 180*time.Second))
	wantCode(t, "authenticator", err, account.CodeClockDrift)
	if !strings.Contains(err.Error(), "180 seconds ahead") {
		t.Fatalf("message %q does not name the offset", err)
	}
	e.clock.Advance(30 * time.Second)
	tok, err = e.totpLogin(email, e.totpAt(a.secret, 30*time.Second))
	e.totpWantSession(tok, err)
}

func TestTOTPConfirmAcceptsUpToFiveMinutes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, tok := e.signUp("behind@example.com")
	sess := e.stepUp(tok, "behind@example.com")
	b, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	secret := decodeTOTPSecret(t, b)
	// Five and a half minutes off is not accepted even at confirmation.
	for _, skew := range []time.Duration{-330 * time.Second, 330 * time.Second} {
		_, err = e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(secret, skew))
		wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	}
	conf, err := e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(secret, -5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if conf.ClockOffsetSeconds != -300 {
		t.Fatalf("clock_offset_seconds %d, want -300", conf.ClockOffsetSeconds)
	}
	e.clock.Advance(30 * time.Second)
	tok2, err := e.totpLogin("behind@example.com", e.totpAt(secret, -5*time.Minute))
	e.totpWantSession(tok2, err)
}

func TestTOTPReplaySequential(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "replay@example.com"
	a := e.totpBind(email, 0)

	// T-06: the code that confirmed the binding cannot log in afterwards,
	// though it is still inside the window.
	confirmCode := e.totpAt(a.secret, 0)
	_, err := e.totpLogin(email, confirmCode)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	e.clock.Advance(20 * time.Second) // same step still
	_, err = e.totpLogin(email, confirmCode)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)

	// A new step's code works once; the same code again, in another
	// flow, is invalid_totp even within its step.
	e.clock.Advance(10 * time.Second)
	code := e.totpAt(a.secret, 0)
	tok, err := e.totpLogin(email, code)
	e.totpWantSession(tok, err)
	_, err = e.totpLogin(email, code)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	// Nor does the next step accept it (it is the previous step's code
	// there, inside the window, but spent).
	e.clock.Advance(30 * time.Second)
	_, err = e.totpLogin(email, code)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	// A code used at login cannot step up either.
	sess := e.session(tok)
	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		t.Fatal(err)
	}
	e.next(email) // the "authenticator connected" notice
	_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, e.code(email), code)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
}

func TestTOTPReplayConcurrent(t *testing.T) {
	for name, open := range map[string]func(*testing.T) *env{
		"sqlite":   func(t *testing.T) *env { return newEnv(t) },
		"postgres": newPostgresEnv,
	} {
		t.Run(name, func(t *testing.T) {
			e := open(t)
			const email = "race@example.com"
			a := e.totpBind(email, 0)
			e.clock.Advance(30 * time.Second)
			code := e.totpAt(a.secret, 0)

			const n = 10
			flows := make([]string, n)
			for i := range flows {
				flows[i] = e.totpFlow(email)
			}
			toks := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					toks[i], errs[i] = e.svc.CompleteTOTPLogin(context.Background(), client, flows[i], code)
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for i := range n {
				switch {
				case errs[i] == nil:
					ok++
					e.session(toks[i])
				case account.ErrorCode(errs[i]) != account.CodeInvalidTOTP:
					t.Errorf("flow %d: %v, want invalid_totp", i, errs[i])
				}
			}
			if ok != 1 {
				t.Fatalf("%d sessions from one code, want exactly 1 (errors %v)", ok, errs)
			}
		})
	}
}

func TestTOTPRecoveryCodes(t *testing.T) {
	e := newEnv(t)
	const email = "recover@example.com"
	a := e.totpBind(email, 0)
	e.totpWantNotice(email, "authenticator")

	rc := a.conf.RecoveryCodes[3]
	tok, err := e.totpLogin(email, rc)
	e.totpWantSession(tok, err)
	e.totpWantNotice(email, "recovery code used")
	// Single use.
	_, err = e.totpLogin(email, rc)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	// Another code of the set still works, typed loosely (upper case,
	// without the dash).
	loose := strings.ToUpper(strings.ReplaceAll(a.conf.RecoveryCodes[7], "-", ""))
	tok, err = e.totpLogin(email, loose)
	e.totpWantSession(tok, err)
	e.totpWantNotice(email, "recovery code used")
	// Something that is no recovery code of this account.
	for _, bad := range []string{"abcde-fghjk", "not a code", strings.Repeat("x", 200)} {
		_, err = e.totpLogin(email, bad)
		wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	}
	// Wrong codes send nothing.
	e.totpNoMore(email)
}

func TestTOTPDisableAndRebind(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "offon@example.com"
	a := e.totpBind(email, 0)
	e.totpWantNotice(email, "authenticator")
	sess := e.session(a.tok) // still privileged from the bind

	// Disabling needs a right code; a wrong one changes nothing.
	wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, e.totpWrong(a.secret)), account.CodeInvalidTOTP)
	wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, "bogus-codes"), account.CodeInvalidTOTP)
	e.clock.Advance(30 * time.Second)
	if err := e.svc.DisableTOTP(ctx, client, sess, e.totpAt(a.secret, 0)); err != nil {
		t.Fatal(err)
	}
	e.totpWantNotice(email, "removed")
	if _, on, err := e.svc.Me(ctx, sess); err != nil || on {
		t.Fatalf("me after disable: enabled %v, %v", on, err)
	}
	wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, e.totpAt(a.secret, 0)), account.CodeNotFound)
	// Login no longer asks for the authenticator.
	res, err := e.svc.LoginPassword(ctx, client, email, goodPassword)
	if err != nil || res.SessionToken == "" || res.MFAFlowID != "" {
		t.Fatalf("login after disable: %+v %v, want a session", res, err)
	}
	// Step-up no longer asks for it either.
	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CompleteStepUp(ctx, client, sess, flow, e.code(email), ""); err != nil {
		t.Fatalf("step-up after disable: %v", err)
	}

	// Turning it on again gives a new secret; the old one is dead.
	sess = e.session(a.tok)
	b, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	secret2 := decodeTOTPSecret(t, b)
	if string(secret2) == string(a.secret) {
		t.Fatal("rebinding reused the old secret")
	}
	e.clock.Advance(30 * time.Second)
	_, err = e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(a.secret, 0))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	conf2, err := e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(secret2, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.totpWantNotice(email, "authenticator")
	// The old recovery codes died with the old binding.
	_, err = e.totpLogin(email, a.conf.RecoveryCodes[0])
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)

	// Disabling with a recovery code works too.
	sess = e.session(a.tok)
	if err := e.svc.DisableTOTP(ctx, client, sess, conf2.RecoveryCodes[0]); err != nil {
		t.Fatalf("disable with a recovery code: %v", err)
	}
	got := []string{}
	for range 2 {
		m := e.next(email)
		if sixDigits.MatchString(m.Text) {
			t.Fatalf("notice with a code: %q", m.Text)
		}
		got = append(got, strings.ToLower(m.Subject+" "+m.Text))
	}
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "recovery code used") || !strings.Contains(joined, "removed") {
		t.Fatalf("want notices of the recovery code and the removal, got %q", got)
	}
	res, err = e.svc.LoginPassword(ctx, client, email, goodPassword)
	if err != nil || res.SessionToken == "" {
		t.Fatalf("login after disable: %+v %v", res, err)
	}
}

func TestTOTPNotices(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "notice@example.com"
	a := e.totpBind(email, 0)
	e.totpWantNotice(email, "authenticator connected")
	_, err := e.totpLogin(email, e.totpWrong(a.secret))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	_, err = e.totpLogin(email, "abcde-fghjk")
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	e.clock.Advance(30 * time.Second)
	tok, err := e.totpLogin(email, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)
	e.totpNoMore(email)
	tok, err = e.totpLogin(email, a.conf.RecoveryCodes[0])
	e.totpWantSession(tok, err)
	e.totpWantNotice(email, "recovery code used")
	e.clock.Advance(30 * time.Second)
	if err := e.svc.DisableTOTP(ctx, client, e.session(a.tok), e.totpAt(a.secret, 0)); err != nil {
		t.Fatal(err)
	}
	e.totpWantNotice(email, "authenticator removed")
	// Nothing else was sent: failed attempts and logins send no notice.
	e.totpNoMore(email)
}

func TestTOTPPendingGuardsNothing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "pending@example.com"
	_, tok := e.signUp(email)
	sess := e.stepUp(tok, email)
	b1, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	// A new call replaces the pending secret.
	b2, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	if b1.Secret == b2.Secret {
		t.Fatal("a second begin kept the pending secret")
	}
	if _, on, err := e.svc.Me(ctx, sess); err != nil || on {
		t.Fatalf("me with a pending binding: enabled %v, %v", on, err)
	}
	res, err := e.svc.LoginPassword(ctx, client, email, goodPassword)
	if err != nil || res.SessionToken == "" || res.MFAFlowID != "" {
		t.Fatalf("login with a pending binding: %+v %v, want a session", res, err)
	}
	// Step-up does not ask for it either.
	s2 := e.session(res.SessionToken)
	flow, err := e.svc.StartStepUp(ctx, client, s2, "email")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CompleteStepUp(ctx, client, s2, flow, e.code(email), ""); err != nil {
		t.Fatalf("step-up with a pending binding: %v", err)
	}
	// Nor can it disable anything.
	wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, e.totpAt(decodeTOTPSecret(t, b2), 0)), account.CodeNotFound)
	// The replaced secret cannot confirm; the current one can.
	_, err = e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(decodeTOTPSecret(t, b1), 0))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	// A pending binding expires like a code.
	e.clock.Advance(10*time.Minute + time.Second)
	sess = e.stepUp(tok, email)
	_, err = e.svc.ConfirmTOTP(ctx, client, sess, e.totpAt(decodeTOTPSecret(t, b2), 0))
	wantCode(t, "authenticator", err, account.CodeNotFound)
	_, err = e.svc.PendingTOTPQR(ctx, sess)
	wantCode(t, "authenticator", err, account.CodeNotFound)
}

func TestTOTPConfirmReplacesEarlierBinding(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "replace@example.com"
	a := e.totpBind(email, 0)
	e.totpWantNotice(email, "authenticator")
	sess := e.session(a.tok)

	b, err := e.svc.BeginTOTP(ctx, client, sess)
	if err != nil {
		t.Fatal(err)
	}
	secret2 := decodeTOTPSecret(t, b)
	// Until confirmed, the new secret guards nothing and the old one still does.
	e.clock.Advance(30 * time.Second)
	_, err = e.totpLogin(email, e.totpAt(secret2, 0))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	tok, err := e.totpLogin(email, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)

	e.clock.Advance(30 * time.Second)
	conf2, err := e.svc.ConfirmTOTP(ctx, client, e.session(a.tok), e.totpAt(secret2, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.totpWantNotice(email, "authenticator")
	// The session that logged in with the old authenticator ended.
	if _, err := e.svc.Authenticate(ctx, tok); account.ErrorCode(err) != account.CodeUnauthenticated {
		t.Fatalf("old session after rebinding: %v", err)
	}
	e.clock.Advance(30 * time.Second)
	_, err = e.totpLogin(email, e.totpAt(a.secret, 0))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	_, err = e.totpLogin(email, a.conf.RecoveryCodes[1])
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	tok, err = e.totpLogin(email, e.totpAt(secret2, 0))
	e.totpWantSession(tok, err)
	tok, err = e.totpLogin(email, conf2.RecoveryCodes[1])
	e.totpWantSession(tok, err)
}

func TestTOTPPerFlowLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "perflow@example.com"
	a := e.totpBind(email, 0)
	e.clock.Advance(30 * time.Second)
	good := e.totpAt(a.secret, 0)
	wrong := e.totpWrong(a.secret)
	flow := e.totpFlow(email)
	for i := range 5 {
		_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, wrong)
		if account.ErrorCode(err) != account.CodeInvalidTOTP {
			t.Fatalf("wrong code %d: %v", i+1, err)
		}
	}
	// The flow is gone: even the right code does not finish it.
	_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, good)
	wantCode(t, "authenticator", err, account.CodeNotFound)
	// Recovery codes neither.
	_, err = e.svc.CompleteTOTPLogin(ctx, client, flow, a.conf.RecoveryCodes[0])
	wantCode(t, "authenticator", err, account.CodeNotFound)
	// The password is needed again; then the code works.
	tok, err := e.totpLogin(email, good)
	e.totpWantSession(tok, err)
}

func TestTOTPPerAccountLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "peraccount@example.com"
	a := e.totpBind(email, 0)
	e.clock.Advance(30 * time.Second)
	wrong := e.totpWrong(a.secret)
	// Ten wrong codes over two flows (each flow dies after five).
	for f := range 2 {
		flow := e.totpFlow(email)
		for i := range 5 {
			_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, wrong)
			if account.ErrorCode(err) != account.CodeInvalidTOTP {
				t.Fatalf("flow %d, wrong code %d: %v", f, i+1, err)
			}
		}
	}
	// A third flow is refused outright, even with the right code or a
	// recovery code.
	flow := e.totpFlow(email)
	for _, code := range []string{e.totpAt(a.secret, 0), a.conf.RecoveryCodes[0]} {
		_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, code)
		wantCode(t, "authenticator", err, account.CodeRateLimited)
		var ae *account.Error
		if !errors.As(err, &ae) || ae.RetryAfter <= 0 || ae.RetryAfter > 15*time.Minute {
			t.Fatalf("rate limited without a sensible Retry-After: %#v", err)
		}
	}
	// After the fifteen-minute window the account may try again (the flow
	// has expired meanwhile: flows live ten minutes).
	e.clock.Advance(15 * time.Minute)
	tok, err := e.totpLogin(email, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)
	// Disabling is limited by the same count: it is one account.
	e.clock.Advance(30 * time.Second)
	sess := e.totpStepUp(tok, email, e.totpAt(a.secret, 0))
	wrong = e.totpWrong(a.secret)
	for range 10 {
		wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, wrong), account.CodeInvalidTOTP)
	}
	wantCode(t, "authenticator", e.svc.DisableTOTP(ctx, client, sess, a.conf.RecoveryCodes[0]), account.CodeRateLimited)
}

// totpStepUp steps a session up through its email and the authenticator.
func (e *env) totpStepUp(tok, email, code string) *account.Session {
	e.t.Helper()
	ctx := context.Background()
	sess := e.session(tok)
	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.CompleteStepUp(ctx, client, sess, flow, e.totpLastCode(email), code); err != nil {
		e.t.Fatalf("step-up: %v", err)
	}
	return e.session(tok)
}

// totpLastCode skips notices and returns the code of the newest message to addr.
func (e *env) totpLastCode(addr string) string {
	e.t.Helper()
	for {
		m := e.next(addr)
		if found := sixDigits.FindAllStringSubmatch(m.Text, -1); len(found) == 1 {
			return found[0][1]
		}
	}
}

func TestTOTPStepUpNeedsCode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "stepup@example.com"
	a := e.totpBind(email, 0)
	e.totpWantNotice(email, "authenticator")
	e.clock.Advance(30 * time.Second)
	tok, err := e.totpLogin(email, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)
	sess := e.session(tok)
	if e.svc.Privileged(sess) {
		t.Fatal("a fresh login is privileged")
	}

	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		t.Fatal(err)
	}
	code := e.code(email)
	// Without the authenticator: totp_required, before the code is looked
	// at (a wrong email code gives the same answer and costs nothing).
	_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, code, "")
	wantCode(t, "authenticator", err, account.CodeTOTPRequired)
	for range 6 {
		_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, "000000", "")
		wantCode(t, "authenticator", err, account.CodeTOTPRequired)
	}
	// A wrong authenticator code with the right email code.
	e.clock.Advance(30 * time.Second)
	good := e.totpAt(a.secret, 0)
	_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, code, e.totpWrong(a.secret))
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
	// A drifting phone is told so here too.
	_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, code, e.totpAt(a.secret, 4*time.Minute))
	wantCode(t, "authenticator", err, account.CodeClockDrift)
	// The same flow with both: privileged.
	if _, err := e.svc.CompleteStepUp(ctx, client, sess, flow, code, good); err != nil {
		t.Fatalf("step-up with both codes: %v", err)
	}
	if !e.svc.Privileged(e.session(tok)) {
		t.Fatal("not privileged after step-up")
	}
	// The authenticator code was spent by the step-up.
	_, err = e.totpLogin(email, good)
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)
}

func TestTOTPStepUpWrongCodesAreLimited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "stepguess@example.com"
	a := e.totpBind(email, 0)
	e.clock.Advance(30 * time.Second)
	tok, err := e.totpLogin(email, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)
	sess := e.session(tok)
	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		t.Fatal(err)
	}
	code := e.totpLastCode(email)
	e.clock.Advance(30 * time.Second)
	// Guessing the authenticator code at step-up is limited per account
	// like at login: the email code alone must not allow unlimited tries.
	wrong := e.totpWrong(a.secret)
	for i := range 10 {
		_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, code, wrong)
		if account.ErrorCode(err) != account.CodeInvalidTOTP {
			t.Fatalf("wrong code %d: %v, want invalid_totp", i+1, err)
		}
	}
	_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, code, e.totpAt(a.secret, 0))
	wantCode(t, "authenticator", err, account.CodeRateLimited)
	// And the count is the account's: login is limited as well.
	_, err = e.totpLogin(email, e.totpAt(a.secret, 0))
	wantCode(t, "authenticator", err, account.CodeRateLimited)
}

// TestTOTPLostPhone: with only recovery codes left, a user logs in, steps
// up and removes the authenticator, each with its own recovery code.
func TestTOTPLostPhone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const email = "lostphone@example.com"
	a := e.totpBind(email, 0)
	e.totpWantNotice(email, "authenticator")
	rc := a.conf.RecoveryCodes

	tok, err := e.totpLogin(email, rc[0])
	e.totpWantSession(tok, err)
	e.totpWantNotice(email, "recovery code")
	sess := e.totpStepUp(tok, email, strings.ToUpper(rc[1]))
	if !e.svc.Privileged(sess) {
		t.Fatal("not privileged after a step-up with a recovery code")
	}
	e.totpWantNotice(email, "recovery code")
	// A used recovery code does not step up again.
	flow, err := e.svc.StartStepUp(ctx, client, sess, "email")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.CompleteStepUp(ctx, client, sess, flow, e.totpLastCode(email), rc[1])
	wantCode(t, "authenticator", err, account.CodeInvalidTOTP)

	if err := e.svc.DisableTOTP(ctx, client, sess, rc[2]); err != nil {
		t.Fatalf("disable with a recovery code: %v", err)
	}
	res, err := e.svc.LoginPassword(ctx, client, email, goodPassword)
	if err != nil || res.SessionToken == "" {
		t.Fatalf("login after removal: %+v %v", res, err)
	}
}
