package account_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
)

// svcStores are the databases the important service tests run on.
var svcStores = []struct {
	name string
	open func(*testing.T) *env
}{
	{"sqlite", func(t *testing.T) *env { return newEnv(t) }},
	{"postgres", newPostgresEnv},
}

// onEveryStore runs test once per database, each on a fresh env.
func onEveryStore(t *testing.T, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, st := range svcStores {
		t.Run(st.name, func(t *testing.T) { test(t, st.open(t)) })
	}
}

// wantCode fails the test unless err carries the client code want.
func wantCode(t *testing.T, what string, err error, want account.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got no error, want %v", what, want)
	}
	if got := account.ErrorCode(err); got != want {
		t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

// wantSensitiveRefused checks that sess may neither change its email nor
// its password: both need a step-up.
func wantSensitiveRefused(t *testing.T, e *env, sess *account.Session, when string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, "new@example.com")
	wantCode(t, "contact change "+when, err, account.CodeStepUpRequired)
	wantCode(t, "password change "+when, e.svc.ChangePassword(ctx, client, sess, "another long passphrase"), account.CodeStepUpRequired)
}

// mustOK fails the test on any error.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantRateLimited fails the test unless err is rate_limited with a
// positive Retry-After of at most max.
func wantRateLimited(t *testing.T, what string, err error, max time.Duration) {
	t.Helper()
	wantCode(t, what, err, account.CodeRateLimited)
	var ae *account.Error
	if !errors.As(err, &ae) {
		t.Fatalf("%s: got %T, want *account.Error", what, err)
	}
	if ae.RetryAfter <= 0 || ae.RetryAfter > max {
		t.Fatalf("%s: got RetryAfter %v, want in (0, %v]", what, ae.RetryAfter, max)
	}
}

// wrongCode returns a well-formed code that differs from code.
func wrongCode(code string) string {
	last := (code[len(code)-1]-'0'+1)%10 + '0'
	return code[:len(code)-1] + string(rune(last))
}

// hasCode reports whether text shows a standalone six-digit code.
func hasCode(text string) bool { return len(sixDigits.FindAllString(text, -1)) > 0 }

// loginCode signs in with a code sent to addr and returns the session token.
func (e *env) loginCode(addr string) string {
	e.t.Helper()
	ctx := context.Background()
	flow, err := e.svc.StartCodeLogin(ctx, client, addr)
	mustOK(e.t, "start code login", err)
	res, err := e.svc.CompleteCodeLogin(ctx, client, flow, e.code(addr))
	mustOK(e.t, "complete code login", err)
	if res.SessionToken == "" {
		e.t.Fatalf("code login of %s: got no session token", addr)
	}
	return res.SessionToken
}

// loginPassword signs in with a password and returns the session token.
func (e *env) loginPassword(ident, pw string) string {
	e.t.Helper()
	res, err := e.svc.LoginPassword(context.Background(), client, ident, pw)
	mustOK(e.t, "password login of "+ident, err)
	if res.SessionToken == "" {
		e.t.Fatalf("password login of %s: got no session token", ident)
	}
	return res.SessionToken
}

// restart returns a new Service over the same database, as after a
// restart of the process: same token key, fresh in-memory limiter.
func (e *env) restart() *account.Service {
	return e.restartWithKeys(bytes.Repeat([]byte{9}, 32))
}

// restartWithKeys is restart with another key file: the token keys, the
// current first (a secret-key rotation).
func (e *env) restartWithKeys(keys ...[]byte) *account.Service {
	return account.New(account.Deps{
		Store:     e.db,
		Limiter:   limiter{ratelimit.NewMemory(e.clock.Now)},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy,
		TokenKeys: keys,
		Random:    rand.Reader,
		Now:       e.clock.Now,
		Log:       slog.New(slog.DiscardHandler),
	}, account.Config{})
}

// codeFlow is one kind of code-carrying flow, for table-driven tests.
type codeFlow struct {
	name string
	// setup prepares addr (for login: an account that owns it).
	setup func(e *env, addr string)
	// start begins the flow; complete submits a code to it.
	start    func(e *env, addr string) (string, error)
	complete func(e *env, flow, code string) error
}

var codeFlows = []codeFlow{
	{
		name:  "registration",
		setup: func(*env, string) {},
		start: func(e *env, addr string) (string, error) {
			flow, _, err := e.svc.StartRegistration(context.Background(), client, addr, "")
			return flow, err
		},
		complete: func(e *env, flow, code string) error {
			_, _, err := e.svc.CompleteRegistration(context.Background(), client, flow, code, goodPassword)
			return err
		},
	},
	{
		name:  "login",
		setup: func(e *env, addr string) { e.signUp(addr) },
		start: func(e *env, addr string) (string, error) {
			return e.svc.StartCodeLogin(context.Background(), client, addr)
		},
		complete: func(e *env, flow, code string) error {
			_, err := e.svc.CompleteCodeLogin(context.Background(), client, flow, code)
			return err
		},
	},
}

// C-02: a code is valid for ten minutes.
func TestCodeExpiry(t *testing.T) {
	for _, fl := range codeFlows {
		t.Run(fl.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, e *env) {
				early, late := "early@example.com", "late@example.com"
				fl.setup(e, early)
				fl.setup(e, late)
				earlyFlow, err := fl.start(e, early)
				mustOK(t, "start "+early, err)
				lateFlow, err := fl.start(e, late)
				mustOK(t, "start "+late, err)
				earlyCode, lateCode := e.code(early), e.code(late)

				e.clock.Advance(9*time.Minute + 59*time.Second)
				mustOK(t, "code at 9:59", fl.complete(e, earlyFlow, earlyCode))
				e.clock.Advance(2 * time.Second)
				wantCode(t, "code at 10:01", fl.complete(e, lateFlow, lateCode), account.CodeCodeExpired)
			})
		})
	}
}

// C-03, C-04: a code works once, for its own flow only.
func TestCodeSingleUseAndCrossUse(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.signUp("alice@example.com")
		e.signUp("bob@example.com")

		aliceFlow, err := e.svc.StartCodeLogin(ctx, client, "alice@example.com")
		mustOK(t, "start alice login", err)
		aliceCode := e.code("alice@example.com")
		bobFlow, err := e.svc.StartCodeLogin(ctx, client, "bob@example.com")
		mustOK(t, "start bob login", err)
		bobCode := e.code("bob@example.com")
		regFlow, _, err := e.svc.StartRegistration(ctx, client, "carol@example.com", "")
		mustOK(t, "start carol registration", err)
		regCode := e.code("carol@example.com")

		// Alice's login code neither completes a registration nor Bob's login.
		_, _, err = e.svc.CompleteRegistration(ctx, client, regFlow, aliceCode, goodPassword)
		wantCode(t, "login code on a registration flow", err, account.CodeInvalidCode)
		_, err = e.svc.CompleteCodeLogin(ctx, client, bobFlow, aliceCode)
		wantCode(t, "alice's code on bob's login flow", err, account.CodeInvalidCode)
		// Nor does a registration code sign anyone in.
		_, err = e.svc.CompleteCodeLogin(ctx, client, aliceFlow, regCode)
		wantCode(t, "registration code on a login flow", err, account.CodeInvalidCode)

		// Each code still works for its own flow, once.
		res, err := e.svc.CompleteCodeLogin(ctx, client, aliceFlow, aliceCode)
		mustOK(t, "alice's own code", err)
		if res.SessionToken == "" {
			t.Fatal("alice's own code: got no session token")
		}
		_, err = e.svc.CompleteCodeLogin(ctx, client, aliceFlow, aliceCode)
		if c := account.ErrorCode(err); c != account.CodeInvalidCode && c != account.CodeNotFound {
			t.Fatalf("alice's code again: got %v (%v), want invalid_code or not_found", c, err)
		}
		_, err = e.svc.CompleteCodeLogin(ctx, client, bobFlow, bobCode)
		mustOK(t, "bob's own code", err)
		_, _, err = e.svc.CompleteRegistration(ctx, client, regFlow, regCode, goodPassword)
		mustOK(t, "carol's own code", err)
	})
}

// C-05: a new code for the same purpose and address replaces the old one.
func TestResentCodeReplacesOld(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.signUp("alice@example.com")
		first, err := e.svc.StartCodeLogin(ctx, client, "alice@example.com")
		mustOK(t, "first login code", err)
		firstCode := e.code("alice@example.com")
		e.clock.Advance(61 * time.Second)
		second, err := e.svc.StartCodeLogin(ctx, client, "alice@example.com")
		mustOK(t, "second login code", err)
		secondCode := e.code("alice@example.com")
		if firstCode == secondCode {
			// One in a million: the codes happen to be equal, and the test
			// below could not tell them apart.
			t.Skip("the two random codes are equal")
		}

		_, err = e.svc.CompleteCodeLogin(ctx, client, first, firstCode)
		wantCode(t, "first code on first flow", err, account.CodeInvalidCode)
		_, err = e.svc.CompleteCodeLogin(ctx, client, second, firstCode)
		wantCode(t, "first code on second flow", err, account.CodeInvalidCode)
		_, err = e.svc.CompleteCodeLogin(ctx, client, second, secondCode)
		mustOK(t, "second code", err)
	})
}

// C-06, K-03: five wrong tries burn the code, and the count is kept in
// the database, so a restart does not reset it.
func TestWrongTriesBurnCode(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.signUp("alice@example.com")
		flow, err := e.svc.StartCodeLogin(ctx, client, "alice@example.com")
		mustOK(t, "start code login", err)
		code := e.code("alice@example.com")
		wrong := []string{wrongCode(code), "abc", wrongCode(wrongCode(code))}
		for i, w := range wrong {
			_, err := e.svc.CompleteCodeLogin(ctx, client, flow, w)
			wantCode(t, fmt.Sprintf("wrong try %d (%q)", i+1, w), err, account.CodeInvalidCode)
		}

		svc := e.restart()
		for i := len(wrong); i < 5; i++ {
			_, err := svc.CompleteCodeLogin(ctx, client, flow, wrongCode(code))
			wantCode(t, fmt.Sprintf("wrong try %d after restart", i+1), err, account.CodeInvalidCode)
		}
		_, err = svc.CompleteCodeLogin(ctx, client, flow, code)
		wantCode(t, "right code after five wrong tries", err, account.CodeInvalidCode)
	})
}

func TestWrongTriesLeaveCodeAlive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.signUp("alice@example.com")
	flow, err := e.svc.StartCodeLogin(ctx, client, "alice@example.com")
	mustOK(t, "start code login", err)
	code := e.code("alice@example.com")
	for i := range 4 {
		_, err := e.svc.CompleteCodeLogin(ctx, client, flow, wrongCode(code))
		wantCode(t, fmt.Sprintf("wrong try %d", i+1), err, account.CodeInvalidCode)
	}
	_, err = e.svc.CompleteCodeLogin(ctx, client, flow, code)
	mustOK(t, "right code after four wrong tries", err)
}

func TestStartRegistrationRejectsBadInput(t *testing.T) {
	tests := []struct {
		name         string
		email, phone string
		want         account.Code
	}{
		{name: "neither", want: account.CodeInvalidRequest},
		{name: "both", email: "a@example.com", phone: "+8613800138000", want: account.CodeInvalidRequest},
		{name: "bad email", email: "not-an-email", want: account.CodeInvalidEmail},
		{name: "email with display name", email: "Alice <a@example.com>", want: account.CodeInvalidEmail},
		{name: "phone without country code", phone: "13800138000", want: account.CodeInvalidPhone},
		{name: "phone with letters", phone: "+86 138 0013 800x", want: account.CodeInvalidPhone},
	}
	e := newEnv(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.StartRegistration(context.Background(), client, tc.email, tc.phone)
			wantCode(t, "start registration", err, tc.want)
		})
	}
}

// An address that already has an account gets a notice instead of a
// code, and the caller gets the same answer as for a new address.
func TestRegistrationOfExistingAddress(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.signUp("alice@example.com")
		e.clock.Advance(61 * time.Second)

		newFlow, newExpiry, err := e.svc.StartRegistration(ctx, client, "newcomer@example.com", "")
		mustOK(t, "start registration of a new address", err)
		oldFlow, oldExpiry, err := e.svc.StartRegistration(ctx, client, "alice@example.com", "")
		mustOK(t, "start registration of an existing address", err)
		if len(oldFlow) != len(newFlow) || !oldExpiry.Equal(newExpiry) {
			t.Fatalf("got (%q, %v) for an existing address, want the shape of (%q, %v)", oldFlow, oldExpiry, newFlow, newExpiry)
		}
		if want := e.clock.Now().Add(10 * time.Minute); !newExpiry.Equal(want) {
			t.Fatalf("got expiry %v, want %v", newExpiry, want)
		}

		notice := e.next("alice@example.com")
		if hasCode(notice.Text) {
			t.Fatalf("notice to an existing address carries a code: %q", notice.Text)
		}
		if !strings.Contains(notice.Text, "sign up") {
			t.Fatalf("notice %q does not mention the sign-up attempt", notice.Text)
		}
		_, _, err = e.svc.CompleteRegistration(ctx, client, oldFlow, "123456", goodPassword)
		wantCode(t, "complete registration of an existing address", err, account.CodeInvalidCode)
		// The owner's password still works.
		e.loginPassword("alice@example.com", goodPassword)
	})
}

func TestRegistrationChannel(t *testing.T) {
	tests := []struct {
		name         string
		email, phone string
		to           string // where the code goes
		wantEmail    string
		wantPhone    string
		login        string // another spelling of the identifier
	}{
		{
			name: "email", email: "Alice@Example.COM", to: "Alice@example.com",
			wantEmail: "Alice@example.com", login: "alice@EXAMPLE.com",
		},
		{
			name: "phone", phone: "+86 (138) 0013-8000", to: "+8613800138000",
			wantPhone: "+8613800138000", login: "0086 138 0013 8000",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				flow, _, err := e.svc.StartRegistration(ctx, client, tc.email, tc.phone)
				mustOK(t, "start registration", err)
				uid, tok, err := e.svc.CompleteRegistration(ctx, client, flow, e.code(tc.to), goodPassword)
				mustOK(t, "complete registration", err)
				u, _, err := e.svc.Me(ctx, e.session(tok))
				mustOK(t, "me", err)
				if u.UID != uid {
					t.Errorf("got uid %q, want %q", u.UID, uid)
				}
				if u.Email != tc.wantEmail || u.EmailVerified != (tc.wantEmail != "") {
					t.Errorf("got email (%q, %v), want (%q, %v)", u.Email, u.EmailVerified, tc.wantEmail, tc.wantEmail != "")
				}
				if u.Phone != tc.wantPhone || u.PhoneVerified != (tc.wantPhone != "") {
					t.Errorf("got phone (%q, %v), want (%q, %v)", u.Phone, u.PhoneVerified, tc.wantPhone, tc.wantPhone != "")
				}
				e.loginPassword(tc.login, goodPassword)
			})
		})
	}
}

// I-06: starting a registration creates no account, so nobody can claim
// an address before its owner.
func TestRegistrationStartCreatesNoAccount(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		_, _, err := e.svc.StartRegistration(ctx, client, "victim@example.com", "")
		mustOK(t, "attacker starts registration", err)
		e.code("victim@example.com") // the code goes to the victim only

		_, err = e.svc.LoginPassword(ctx, client, "victim@example.com", goodPassword)
		wantCode(t, "password login before the code", err, account.CodeInvalidCredentials)
		_, err = e.svc.StartCodeLogin(ctx, client, "victim@example.com")
		mustOK(t, "start code login", err)
		if got := e.messages(); len(got) != 0 {
			t.Fatalf("got %d messages for a code login of an unregistered address, want 0", len(got))
		}

		// The owner can still sign up.
		e.clock.Advance(61 * time.Second)
		e.signUp("victim@example.com")
	})
}

// R-01, E-01: failed password logins are limited per identifier, whether
// it exists or not, with the same answer.
func TestPasswordLoginLimit(t *testing.T) {
	tests := []struct {
		name   string
		ident  string
		exists bool
	}{
		{name: "known identifier", ident: "alice@example.com", exists: true},
		{name: "unknown identifier", ident: "ghost@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.signUp("alice@example.com")
			e.signUp("bob@example.com")
			for i := range 10 {
				_, err := e.svc.LoginPassword(ctx, client, tc.ident, "wrong password")
				wantCode(t, fmt.Sprintf("wrong password %d", i+1), err, account.CodeInvalidCredentials)
			}
			_, err := e.svc.LoginPassword(ctx, client, tc.ident, goodPassword)
			wantRateLimited(t, "11th attempt", err, 15*time.Minute)
			// Case does not open a second counter.
			_, err = e.svc.LoginPassword(ctx, client, strings.ToUpper(tc.ident), goodPassword)
			wantRateLimited(t, "11th attempt, upper case", err, 15*time.Minute)

			// Another identifier from the same client is not limited.
			e.loginPassword("bob@example.com", goodPassword)

			e.clock.Advance(15 * time.Minute)
			_, err = e.svc.LoginPassword(ctx, client, tc.ident, goodPassword)
			if tc.exists {
				mustOK(t, "after fifteen minutes", err)
			} else {
				wantCode(t, "after fifteen minutes", err, account.CodeInvalidCredentials)
			}
		})
	}
}

// A successful login gives its own attempt back: it does not count as a
// failure. It does not wipe the failures before it, which the contract
// counts (10 failed logins per 15 minutes).
func TestPasswordLoginSuccessIsNotCounted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.signUp("alice@example.com")
	for i := range 9 {
		_, err := e.svc.LoginPassword(ctx, client, "alice@example.com", "wrong password")
		wantCode(t, fmt.Sprintf("wrong password %d", i+1), err, account.CodeInvalidCredentials)
	}
	for range 3 {
		e.loginPassword("alice@example.com", goodPassword)
	}
	_, err := e.svc.LoginPassword(ctx, client, "alice@example.com", "wrong password")
	wantCode(t, "10th wrong password after three good ones", err, account.CodeInvalidCredentials)
	_, err = e.svc.LoginPassword(ctx, client, "alice@example.com", goodPassword)
	wantRateLimited(t, "after ten failures", err, 15*time.Minute)
}

// Sending limits: one registration or login code per address and purpose
// per 60 s, the same whether or not the address has an account.
func TestCodeResendLimit(t *testing.T) {
	tests := []struct {
		name string
		addr string
	}{
		{name: "known address", addr: "alice@example.com"},
		{name: "unknown address", addr: "ghost@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			e.signUp("alice@example.com")
			_, err := e.svc.StartCodeLogin(ctx, client, tc.addr)
			mustOK(t, "first login code", err)
			e.clock.Advance(59 * time.Second)
			_, err = e.svc.StartCodeLogin(ctx, client, tc.addr)
			wantRateLimited(t, "second login code within 60 s", err, 60*time.Second)
			e.clock.Advance(2 * time.Second)
			_, err = e.svc.StartCodeLogin(ctx, client, tc.addr)
			mustOK(t, "login code after 61 s", err)
		})
	}
}

func TestRegistrationResendLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, _, err := e.svc.StartRegistration(ctx, client, "new@example.com", "")
	mustOK(t, "first registration", err)
	_, _, err = e.svc.StartRegistration(ctx, client, "NEW@example.com", "")
	wantRateLimited(t, "second registration code within 60 s", err, 60*time.Second)
	// Another purpose is not held back by the resend interval.
	_, err = e.svc.StartCodeLogin(ctx, client, "new@example.com")
	mustOK(t, "login code", err)
}

// No address receives more than 5 codes per hour over all purposes.
func TestCodesPerAddressLimit(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		signUp bool // the registration code counts as the first
	}{
		{name: "known address", addr: "alice@example.com", signUp: true},
		{name: "unknown address", addr: "ghost@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			sent := 0
			if tc.signUp {
				e.signUp(tc.addr)
				sent++
			}
			for ; sent < 5; sent++ {
				e.clock.Advance(61 * time.Second)
				_, err := e.svc.StartCodeLogin(ctx, client, tc.addr)
				mustOK(t, fmt.Sprintf("code %d", sent+1), err)
			}
			e.clock.Advance(61 * time.Second)
			_, err := e.svc.StartCodeLogin(ctx, client, tc.addr)
			wantRateLimited(t, "6th code in an hour", err, time.Hour)
			_, _, err = e.svc.StartRegistration(ctx, client, tc.addr, "")
			wantRateLimited(t, "6th code in an hour, other purpose", err, time.Hour)

			e.clock.Advance(time.Hour)
			_, err = e.svc.StartCodeLogin(ctx, client, tc.addr)
			mustOK(t, "an hour later", err)
		})
	}
}

// Codes asked for while signed in: at most 5 per account per 10 minutes,
// whatever the address.
func TestSignedInCodesLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, tok := e.signUp("alice@example.com")
	sess := e.stepUp(tok, "alice@example.com") // signed-in code 1
	for i := 2; i <= 5; i++ {
		_, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, fmt.Sprintf("new%d@example.com", i))
		mustOK(t, fmt.Sprintf("signed-in code %d", i), err)
	}
	_, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, "new6@example.com")
	wantRateLimited(t, "6th signed-in code", err, 10*time.Minute)
	_, err = e.svc.StartStepUp(ctx, client, sess, "email")
	wantRateLimited(t, "6th signed-in code, step-up", err, 10*time.Minute)

	e.clock.Advance(10 * time.Minute)
	_, err = e.svc.StartStepUp(ctx, client, e.session(tok), "email")
	mustOK(t, "step-up ten minutes later", err)
}

// S-03: sessions end when idle, at their absolute lifetime, and at logout.
func TestSessionLifetime(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		onEveryStore(t, func(t *testing.T, e *env) {
			_, tok := e.signUp("alice@example.com")
			for range 3 {
				e.clock.Advance(29 * time.Minute)
				e.session(tok)
			}
			e.clock.Advance(31 * time.Minute)
			_, err := e.svc.Authenticate(context.Background(), tok)
			wantCode(t, "after 31 idle minutes", err, account.CodeUnauthenticated)
			// The session is gone, not merely refused once.
			e.clock.Advance(-31 * time.Minute)
			_, err = e.svc.Authenticate(context.Background(), tok)
			wantCode(t, "expired session again", err, account.CodeUnauthenticated)
		})
	})
	t.Run("absolute", func(t *testing.T) {
		onEveryStore(t, func(t *testing.T, e *env) {
			_, tok := e.signUp("alice@example.com")
			for elapsed := 20 * time.Minute; elapsed < 12*time.Hour; elapsed += 20 * time.Minute {
				e.clock.Advance(20 * time.Minute)
				if _, err := e.svc.Authenticate(context.Background(), tok); err != nil {
					t.Fatalf("after %v in use: %v", elapsed, err)
				}
			}
			e.clock.Advance(20 * time.Minute)
			_, err := e.svc.Authenticate(context.Background(), tok)
			wantCode(t, "after 12 h in use", err, account.CodeUnauthenticated)
		})
	})
	t.Run("logout", func(t *testing.T) {
		onEveryStore(t, func(t *testing.T, e *env) {
			ctx := context.Background()
			_, tok := e.signUp("alice@example.com")
			other := e.loginPassword("alice@example.com", goodPassword)
			mustOK(t, "logout", e.svc.Logout(ctx, client, e.session(tok)))
			_, err := e.svc.Authenticate(ctx, tok)
			wantCode(t, "after logout", err, account.CodeUnauthenticated)
			e.session(other) // the other session lives on
		})
	})
	t.Run("bad tokens", func(t *testing.T) {
		e := newEnv(t)
		for _, tok := range []string{"", "nope", strings.Repeat("x", 200)} {
			_, err := e.svc.Authenticate(context.Background(), tok)
			wantCode(t, fmt.Sprintf("token %.10q", tok), err, account.CodeUnauthenticated)
		}
	})
}

// S-04: a step-up lasts ten minutes and belongs to the session that made it.
func TestStepUp(t *testing.T) {
	t.Run("expires", func(t *testing.T) {
		onEveryStore(t, func(t *testing.T, e *env) {
			_, tok := e.signUp("alice@example.com")
			sess := e.stepUp(tok, "alice@example.com")
			if !e.svc.Privileged(sess) {
				t.Fatal("got not privileged right after the step-up, want privileged")
			}
			e.clock.Advance(9*time.Minute + 59*time.Second)
			if !e.svc.Privileged(e.session(tok)) {
				t.Fatal("got not privileged after 9:59, want privileged")
			}
			e.clock.Advance(2 * time.Second)
			sess = e.session(tok)
			if e.svc.Privileged(sess) {
				t.Fatal("got privileged after 10:01, want not")
			}
			wantSensitiveRefused(t, e, sess, "after 10:01")
		})
	})
	t.Run("one session", func(t *testing.T) {
		onEveryStore(t, func(t *testing.T, e *env) {
			_, tok := e.signUp("alice@example.com")
			other := e.loginPassword("alice@example.com", goodPassword)
			e.stepUp(tok, "alice@example.com")
			sess := e.session(other)
			if e.svc.Privileged(sess) {
				t.Fatal("got the other session privileged, want not")
			}
			wantSensitiveRefused(t, e, sess, "from the other session")
		})
	})
	t.Run("flow of another session", func(t *testing.T) {
		onEveryStore(t, func(t *testing.T, e *env) {
			ctx := context.Background()
			_, tok := e.signUp("alice@example.com")
			other := e.loginPassword("alice@example.com", goodPassword)
			_, strangerTok := e.signUp("mallory@example.com")
			flow, err := e.svc.StartStepUp(ctx, client, e.session(tok), "email")
			mustOK(t, "start step-up", err)
			code := e.code("alice@example.com")

			_, err = e.svc.CompleteStepUp(ctx, client, e.session(other), flow, code, "")
			wantCode(t, "complete from another session", err, account.CodeNotFound)
			_, err = e.svc.CompleteStepUp(ctx, client, e.session(strangerTok), flow, code, "")
			wantCode(t, "complete from another account", err, account.CodeNotFound)
			if e.svc.Privileged(e.session(other)) {
				t.Fatal("got the other session privileged, want not")
			}
			_, err = e.svc.CompleteStepUp(ctx, client, e.session(tok), flow, code, "")
			mustOK(t, "complete from the session that started it", err)
			if !e.svc.Privileged(e.session(tok)) {
				t.Fatal("got not privileged, want privileged")
			}
		})
	})
	t.Run("unverified channel", func(t *testing.T) {
		e := newEnv(t)
		_, tok := e.signUp("alice@example.com")
		for _, ch := range []account.Channel{"phone", "pigeon"} {
			_, err := e.svc.StartStepUp(context.Background(), client, e.session(tok), ch)
			wantCode(t, "step-up through "+string(ch), err, account.CodeInvalidRequest)
		}
	})
}

func TestContactChange(t *testing.T) {
	tests := []struct {
		name     string
		ch       account.Channel
		addr     string   // the new address as typed
		to       string   // the new address as normalized
		noticeTo []string // who is told of the change
		oldGone  bool     // the old email no longer logs in
	}{
		{
			name: "replace email", ch: account.ChannelEmail, addr: "bob@example.com", to: "bob@example.com",
			noticeTo: []string{"alice@example.com", "bob@example.com"}, oldGone: true,
		},
		{
			name: "add phone", ch: account.ChannelPhone, addr: "+86 138 0013 8000", to: "+8613800138000",
			noticeTo: []string{"alice@example.com", "+8613800138000"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, e *env) {
				ctx := context.Background()
				_, tok := e.signUp("alice@example.com")
				other := e.loginPassword("alice@example.com", goodPassword)
				sess := e.stepUp(tok, "alice@example.com")
				flow, err := e.svc.StartContactChange(ctx, client, sess, tc.ch, tc.addr)
				mustOK(t, "start change", err)
				code := e.code(tc.to)

				// A wrong code changes nothing.
				err = e.svc.ConfirmContactChange(ctx, client, sess, tc.ch, flow, wrongCode(code))
				wantCode(t, "wrong code", err, account.CodeInvalidCode)
				u, _, err := e.svc.Me(ctx, e.session(tok))
				mustOK(t, "me", err)
				if u.Email != "alice@example.com" || u.Phone != "" {
					t.Fatalf("after a wrong code got (%q, %q), want (alice@example.com, \"\")", u.Email, u.Phone)
				}
				e.session(other)
				_, err = e.svc.LoginPassword(ctx, client, tc.to, goodPassword)
				wantCode(t, "login with the new address before confirming", err, account.CodeInvalidCredentials)

				// The right code changes it and ends every session.
				mustOK(t, "confirm", e.svc.ConfirmContactChange(ctx, client, sess, tc.ch, flow, code))
				for _, tk := range []string{tok, other} {
					_, err := e.svc.Authenticate(ctx, tk)
					wantCode(t, "session after the change", err, account.CodeUnauthenticated)
				}
				for _, to := range tc.noticeTo {
					m := e.next(to)
					if hasCode(m.Text) || !strings.Contains(m.Text, "changed") && !strings.Contains(m.Text, "set to") {
						t.Errorf("notice to %s: got %q, want a change notice without a code", to, m.Text)
					}
				}
				fresh := e.loginPassword(tc.to, goodPassword)
				u, _, err = e.svc.Me(ctx, e.session(fresh))
				mustOK(t, "me", err)
				got, verified := u.Email, u.EmailVerified
				if tc.ch == account.ChannelPhone {
					got, verified = u.Phone, u.PhoneVerified
				}
				if got != tc.to || !verified {
					t.Fatalf("got %s (%q, %v), want (%q, true)", tc.ch, got, verified, tc.to)
				}
				_, err = e.svc.LoginPassword(ctx, client, "alice@example.com", goodPassword)
				if tc.oldGone {
					wantCode(t, "login with the replaced email", err, account.CodeInvalidCredentials)
				} else {
					mustOK(t, "login with the kept email", err)
				}
			})
		})
	}
}

func TestContactChangeToTakenAddress(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.signUp("bob@example.com")
		_, tok := e.signUp("alice@example.com")
		sess := e.stepUp(tok, "alice@example.com")
		_, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, "BOB@example.com")
		wantCode(t, "change to another account's email", err, account.CodeIdentifierInUse)
		_, err = e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, "alice@example.com")
		wantCode(t, "change to the same email", err, account.CodeInvalidRequest)
	})
}

// A verified phone belongs to one account even when two requests race for
// it: two accounts confirming the same number, or one account confirming
// it while a sign-up with it completes. One wins, the other is told
// identifier_in_use.
func TestVerifiedPhoneRace(t *testing.T) {
	// claim prepares one contender for phone and returns its final step.
	type claim func(t *testing.T, e *env, phone string, n int) func() error
	change := func(t *testing.T, e *env, phone string, n int) func() error {
		ctx := context.Background()
		email := fmt.Sprintf("user%d@example.com", n)
		_, tok := e.signUp(email)
		sess := e.stepUp(tok, email)
		flow, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelPhone, phone)
		mustOK(t, "start change", err)
		code := e.code(phone)
		return func() error { return e.svc.ConfirmContactChange(ctx, client, sess, account.ChannelPhone, flow, code) }
	}
	register := func(t *testing.T, e *env, phone string, n int) func() error {
		ctx := context.Background()
		flow, _, err := e.svc.StartRegistration(ctx, client, "", phone)
		mustOK(t, "start registration", err)
		code := e.code(phone)
		return func() error {
			_, _, err := e.svc.CompleteRegistration(ctx, client, flow, code, goodPassword)
			return err
		}
	}
	tests := []struct {
		name  string
		a, b  claim
		phone string
	}{
		{name: "two contact changes", a: change, b: change, phone: "+861380013801"},
		{name: "contact change and sign-up", a: change, b: register, phone: "+861380013802"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			onEveryStore(t, func(t *testing.T, e *env) {
				for round := range 3 {
					phone := tc.phone + fmt.Sprint(round)
					steps := []func() error{tc.a(t, e, phone, 2*round), tc.b(t, e, phone, 2*round+1)}
					errs := make([]error, len(steps))
					var wg sync.WaitGroup
					start := make(chan struct{})
					for i, step := range steps {
						wg.Go(func() {
							<-start
							errs[i] = step()
						})
					}
					close(start)
					wg.Wait()

					ok, inUse := 0, 0
					for _, err := range errs {
						switch {
						case err == nil:
							ok++
						case account.ErrorCode(err) == account.CodeIdentifierInUse:
							inUse++
						}
					}
					if ok != 1 || inUse != 1 {
						t.Fatalf("round %d: got %v, want one success and one identifier_in_use", round, errs)
					}
					e.loginPassword(phone, goodPassword)
				}
			})
		})
	}
}

func TestSecurityEvents(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		const newPassword = "another long passphrase for alice"
		e.signUp("alice@example.com")
		_, err := e.svc.LoginPassword(ctx, client, "alice@example.com", "wrong password")
		wantCode(t, "wrong password", err, account.CodeInvalidCredentials)
		tok := e.loginPassword("alice@example.com", goodPassword)
		sess := e.stepUp(tok, "alice@example.com")
		flow, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelEmail, "bob@example.com")
		mustOK(t, "start change", err)
		mustOK(t, "confirm change", e.svc.ConfirmContactChange(ctx, client, sess, account.ChannelEmail, flow, e.code("bob@example.com")))
		e.next("bob@example.com") // the change notice
		tok = e.loginCode("bob@example.com")
		sess = e.stepUp(tok, "bob@example.com")
		mustOK(t, "change password", e.svc.ChangePassword(ctx, client, sess, newPassword))
		_, err = e.svc.LoginPassword(ctx, client, "bob@example.com", goodPassword)
		wantCode(t, "old password", err, account.CodeInvalidCredentials)
		tok = e.loginPassword("bob@example.com", newPassword)

		events, err := e.svc.SecurityEvents(ctx, e.session(tok), 100)
		mustOK(t, "security events", err)
		count := map[account.EventKind]int{}
		for _, ev := range events {
			count[ev.Kind]++
			if ev.IP != client.IP {
				t.Errorf("event %s: got IP %q, want %q", ev.Kind, ev.IP, client.IP)
			}
		}
		want := map[account.EventKind]int{
			account.EventSignUp:          1,
			account.EventLoginFailed:     2,
			account.EventLogin:           3,
			account.EventStepUp:          2,
			account.EventEmailChanged:    1,
			account.EventPasswordChanged: 1,
		}
		for kind, n := range want {
			if count[kind] != n {
				t.Errorf("got %d %s events, want %d (all: %v)", count[kind], kind, n, count)
			}
		}
		if len(events) > 0 && events[0].Kind != account.EventLogin {
			t.Errorf("got newest event %s, want login", events[0].Kind)
		}
	})
}

// TestPasswordNeverTruncated: the stored password followed by anything
// does not log in, however long the input (P-02).
func TestPasswordNeverTruncated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// 256 varied code points, the longest allowed (repeats would be weak).
	var b strings.Builder
	for i := 0; b.Len() < 256; i++ {
		fmt.Fprintf(&b, "%x", sha256.Sum256([]byte{byte(i)}))
	}
	long := b.String()[:256]
	flow, _, err := e.svc.StartRegistration(ctx, client, "long@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	code := e.code("long@example.com")
	if _, _, err := e.svc.CompleteRegistration(ctx, client, flow, code, long+" is long"); account.ErrorCode(err) != account.CodeWeakPassword {
		t.Fatalf("257+ code points: got %v, want weak_password", err)
	}
	if _, _, err := e.svc.CompleteRegistration(ctx, client, flow, code, long); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, password string
		ok             bool
	}{
		{"Exact", long, true},
		{"Plus2KiB", long + strings.Repeat("x", 2048), false},
		{"PlusOne", long + "x", false},
		{"MinusOne", long[:255], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.svc.LoginPassword(ctx, client, "long@example.com", tc.password)
			if (err == nil) != tc.ok {
				t.Fatalf("got %+v, %v; want ok=%v", res, err, tc.ok)
			}
		})
	}
}

// TestLimiterDownFailsClosed: when the rate-limit store cannot answer,
// logins and code requests are refused with unavailable, never let through
// unlimited (K-06).
func TestLimiterDownFailsClosed(t *testing.T) {
	e := newEnv(t)
	e.signUp("closed@example.com")
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer dead.Close()
	svc := account.New(account.Deps{
		Store:     e.db,
		Limiter:   limiter{ratelimit.NewRedis(dead, "closed:")},
		Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy:    password.DefaultPolicy,
		TokenKeys: [][]byte{bytes.Repeat([]byte{9}, 32)},
		Random:    rand.Reader,
		Now:       e.clock.Now,
		Log:       slog.New(slog.DiscardHandler),
	}, account.Config{})
	ctx := context.Background()
	if _, err := svc.LoginPassword(ctx, client, "closed@example.com", goodPassword); account.ErrorCode(err) != account.CodeUnavailable {
		t.Fatalf("password login: got %v, want unavailable", err)
	}
	if _, err := svc.StartCodeLogin(ctx, client, "closed@example.com"); account.ErrorCode(err) != account.CodeUnavailable {
		t.Fatalf("code login: got %v, want unavailable", err)
	}
	if _, _, err := svc.StartRegistration(ctx, client, "new@example.com", ""); account.ErrorCode(err) != account.CodeUnavailable {
		t.Fatalf("registration: got %v, want unavailable", err)
	}
	if n := len(e.messages()); n != 0 {
		t.Fatalf("%d messages queued while the limiter was down", n)
	}
}
