package account_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/storetest"
	"github.com/watchword/watchword/internal/totp"
)

// databases are the two stores every race test runs on.
var databases = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + t.TempDir() + "/w.db" }},
	{"postgres", func(t *testing.T) string { return storetest.OpenPostgres(t) }},
}

// newRealEnv is an env at the default argon2id parameters, the cost at
// which the login-versus-password-change race was seen.
func newRealEnv(t *testing.T, dsn string) *env {
	t.Helper()
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	var logs bytes.Buffer
	svc, db := newService(t, dsn, password.DefaultParams, account.Config{}, c.Now, &lockedWriter{w: &logs})
	return &env{t: t, svc: svc, db: db, clock: c, log: &logs, seen: map[string]int{}, inbox: map[string][]*account.Message{}}
}

// TestLoginRacesPasswordChange: logins with the old password run while the
// password changes. Whatever the interleaving, no session made by those
// logins survives the change ("every session ends"), and a login that
// upgrades a hash made with older argon2 parameters never writes the old
// password back over the new one.
func TestLoginRacesPasswordChange(t *testing.T) {
	const oldPassword, newPassword = goodPassword, "a brand new passphrase for alice"
	older := password.NewHasher(password.Params{Memory: 12288, Time: 3, Threads: 1})
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			e := newRealEnv(t, db.dsn(t))
			ctx := context.Background()
			for round := range 4 {
				email := fmt.Sprintf("alice%d@example.com", round)
				uid, tok := e.signUp(email)
				// A hash from older parameters, so every login rehashes.
				oldHash, err := older.Hash(oldPassword)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.db.SetPasswordHash(ctx, uid, oldHash); err != nil {
					t.Fatal(err)
				}
				sess := e.stepUp(tok, email)

				var wg sync.WaitGroup
				tokens := make([]string, 6)
				for i := range tokens {
					wg.Go(func() {
						// Staggered across the change's own hashing time.
						time.Sleep(time.Duration(i) * 6 * time.Millisecond)
						res, err := e.svc.LoginPassword(ctx, account.Client{IP: fmt.Sprintf("192.0.2.%d", i+10)}, email, oldPassword)
						if err == nil {
							tokens[i] = res.SessionToken
						} else if !errors.Is(err, account.ErrInvalidCredentials) {
							t.Errorf("login %d: %v", i, err)
						}
					})
				}
				wg.Go(func() {
					if err := e.svc.ChangePassword(ctx, client, sess, newPassword); err != nil {
						t.Errorf("change password: %v", err)
					}
				})
				wg.Wait()

				for i, tok := range tokens {
					if tok == "" {
						continue
					}
					if _, err := e.svc.Authenticate(ctx, tok); err == nil {
						t.Errorf("round %d: the session of login %d, with the old password, survived the change", round, i)
					}
				}
				if _, err := e.svc.LoginPassword(ctx, account.Client{IP: "198.51.100.1"}, email, newPassword); err != nil {
					t.Errorf("round %d: the new password does not log in: %v", round, err)
				}
				if _, err := e.svc.LoginPassword(ctx, account.Client{IP: "198.51.100.1"}, email, oldPassword); err == nil {
					t.Errorf("round %d: the old password still logs in (written back by a rehash)", round)
				}
			}
		})
	}
}

// TestLoginRacesAuthenticatorBind: password logins run while an
// authenticator is confirmed, which ends every other session. No session
// that a racing login got may survive it: a login either finishes before
// the binding (and is ended with the others) or meets the authenticator.
func TestLoginRacesAuthenticatorBind(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			e := newEnv(t, db.dsn(t))
			ctx := context.Background()
			for round := range 4 {
				email := fmt.Sprintf("bob%d@example.com", round)
				_, tok := e.signUp(email)
				sess := e.stepUp(tok, email)
				b, err := e.svc.BeginTOTP(ctx, client, sess)
				if err != nil {
					t.Fatal(err)
				}
				secret := decodeTOTPSecret(t, b)

				var wg sync.WaitGroup
				tokens := make([]string, 8)
				for i := range tokens {
					wg.Go(func() {
						time.Sleep(time.Duration(i) * time.Millisecond)
						res, err := e.svc.LoginPassword(ctx, account.Client{IP: fmt.Sprintf("192.0.2.%d", i+10)}, email, goodPassword)
						if err != nil && !errors.Is(err, account.ErrInvalidCredentials) {
							t.Errorf("login %d: %v", i, err)
						}
						tokens[i] = res.SessionToken
					})
				}
				wg.Go(func() {
					time.Sleep(3 * time.Millisecond)
					if _, err := e.svc.ConfirmTOTP(ctx, client, sess, totp.Code(secret, totp.Step(e.clock.Now()))); err != nil {
						t.Errorf("confirm: %v", err)
					}
				})
				wg.Wait()
				for i, tok := range tokens {
					if tok == "" {
						continue
					}
					if _, err := e.svc.Authenticate(ctx, tok); err == nil {
						t.Errorf("round %d: login %d kept a session past the binding that ends all others", round, i)
					}
				}
				if _, err := e.svc.Authenticate(ctx, tok); err != nil {
					t.Errorf("round %d: the binding session itself ended: %v", round, err)
				}
				e.clock.Advance(time.Minute) // the next round's codes are of another step
			}
		})
	}
}

// TestMFAFlowDiesWithCredentialChange: a login that passed the password
// and waits for the authenticator cannot be finished after the password
// changed meanwhile.
func TestMFAFlowDiesWithCredentialChange(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.totpBind("carol@example.com", 0)
	flow := e.totpFlow(a.email)
	e.clock.Advance(time.Minute)
	if err := e.svc.ChangePassword(ctx, client, e.session(a.tok), "another good passphrase"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	_, err := e.svc.CompleteTOTPLogin(ctx, client, flow, e.totpAt(a.secret, 0))
	wantCode(t, "second factor after a password change", err, account.CodeNotFound)
}

// TestLookAlikeAddresses: codes for login go only to the address stored on
// the account, and a sign-up under a look-alike spelling never reaches the
// owner's account; spellings that are other mailboxes stay other accounts.
func TestLookAlikeAddresses(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	uid, _ := e.signUp("kate@example.com")

	// The Kelvin sign is canonically the letter K: the same mailbox. The
	// code goes to the stored address, never to the spelling typed.
	kelvin := "\u212Aate@example.com"
	flow, err := e.svc.StartCodeLogin(ctx, client, kelvin)
	mustOK(t, "code login with the Kelvin sign", err)
	for _, m := range e.messages() {
		if m.To != "kate@example.com" {
			t.Fatalf("a login code went to %q, want only the stored address", m.To)
		}
		e.inbox[m.To] = append(e.inbox[m.To], m)
	}
	res, err := e.svc.CompleteCodeLogin(ctx, client, flow, e.code("kate@example.com"))
	mustOK(t, "complete the code login", err)
	if s := e.session(res.SessionToken); s.UID != uid {
		t.Fatalf("logged into %s, want %s", s.UID, uid)
	}

	// A sign-up under that spelling is the existing account: its owner is
	// told, at the stored address, and no code goes anywhere.
	e.clock.Advance(2 * time.Minute)
	_, _, err = e.svc.StartRegistration(ctx, client, kelvin, "")
	mustOK(t, "sign-up with the Kelvin sign", err)
	msgs := e.messages()
	if len(msgs) != 1 || msgs[0].To != "kate@example.com" || sixDigits.MatchString(msgs[0].Text) {
		t.Fatalf("sign-up under the Kelvin spelling sent %+v; want one notice without a code to the stored address", msgs)
	}

	// Spellings that are other mailboxes find nothing and send nothing.
	for _, other := range []string{
		"\uFF4Bate@example.com",     // fullwidth k
		"k\u0430te@example.com",     // Cyrillic a
		"kat\u0435@example.com",     // Cyrillic e
		"\U0001D424ate@example.com", // mathematical bold k
		"\u0138ate@example.com",     // kra
	} {
		e.clock.Advance(2 * time.Minute)
		if _, err := e.svc.StartCodeLogin(ctx, account.Client{IP: "203.0.113.9"}, other); err != nil {
			t.Fatalf("code login with %q: %v", other, err)
		}
		if msgs := e.messages(); len(msgs) != 0 {
			t.Fatalf("code login with %q sent %d messages, want none", other, len(msgs))
		}
	}
}

// TestCodeLoginLimitsPerIPAndOverall: one client cannot make the server
// send login codes to every registered address.
func TestCodeLoginLimitsPerIPAndOverall(t *testing.T) {
	cfg := account.DefaultConfig()
	cfg.Limits.CodeLoginsPerIP = account.Limit{N: 3, Window: time.Hour}
	cfg.Limits.CodeLoginsGlobal = account.Limit{N: 7, Window: time.Hour}
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	svc, _ := newService(t, "sqlite:"+t.TempDir()+"/w.db", password.Params{Memory: 64, Time: 1, Threads: 1}, cfg, c.Now, io.Discard)
	ctx := context.Background()
	try := func(ip string, i int) error {
		_, err := svc.StartCodeLogin(ctx, account.Client{IP: ip}, fmt.Sprintf("user%d-%s@example.com", i, strings.ReplaceAll(ip, ":", "")))
		return err
	}
	for i := range 3 {
		mustOK(t, "code login within the per-IP limit", try("192.0.2.1", i))
	}
	wantCode(t, "fourth code login from one IPv4 address", try("192.0.2.1", 3), account.CodeRateLimited)
	// IPv6: one /64 is one client, whatever its host bits.
	for i := range 3 {
		mustOK(t, "IPv6 code login", try(fmt.Sprintf("2001:db8:1:2::%x", i+1), i))
	}
	wantCode(t, "fourth code login from the same IPv6 /64", try("2001:db8:1:2:ffff:ffff:ffff:ffff", 9), account.CodeRateLimited)
	mustOK(t, "another /64", try("2001:db8:1:3::1", 0))
	// Seven have passed in all: the global limit now refuses everyone.
	wantCode(t, "over the global limit", try("198.51.100.7", 0), account.CodeRateLimited)
}

// TestPasswordAndSignUpLimitsGroupIPv6: the per-IP password and sign-up
// limits key IPv6 clients by /64 too.
func TestPasswordAndSignUpLimitsGroupIPv6(t *testing.T) {
	cfg := account.DefaultConfig()
	cfg.Limits.SignUpsPerIP = account.Limit{N: 2, Window: time.Hour}
	cfg.Limits.PasswordPerIP = account.Limit{N: 2, Window: time.Hour}
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	svc, _ := newService(t, "sqlite:"+t.TempDir()+"/w.db", password.Params{Memory: 64, Time: 1, Threads: 1}, cfg, c.Now, io.Discard)
	ctx := context.Background()
	for i := range 2 {
		_, _, err := svc.StartRegistration(ctx, account.Client{IP: fmt.Sprintf("2001:db8::%d", i+1)}, fmt.Sprintf("s%d@example.com", i), "")
		mustOK(t, "sign-up", err)
	}
	_, _, err := svc.StartRegistration(ctx, account.Client{IP: "2001:db8::abcd"}, "s9@example.com", "")
	wantCode(t, "third sign-up from one /64", err, account.CodeRateLimited)
	for i := range 2 {
		_, err := svc.LoginPassword(ctx, account.Client{IP: fmt.Sprintf("2001:db8:9::%d", i+1)}, fmt.Sprintf("p%d@example.com", i), "wrong password")
		wantCode(t, "failed login", err, account.CodeInvalidCredentials)
	}
	_, err = svc.LoginPassword(ctx, account.Client{IP: "2001:db8:9::ff"}, "p9@example.com", "wrong password")
	wantCode(t, "third failed login from one /64", err, account.CodeRateLimited)
}

// TestKeyRotationKeepsEverything: after the secret key rotates (a new
// first key, the old one kept to decrypt and recognize), recovery codes,
// sessions and flows made under the old key keep working.
func TestKeyRotationKeepsEverything(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{9}, 32), bytes.Repeat([]byte{10}, 32)
	e := newEnv(t) // its service hashes under oldKey
	ctx := context.Background()
	a := e.totpBind("dora@example.com", 0)
	codeFlow, err := e.svc.StartCodeLogin(ctx, client, a.email)
	mustOK(t, "code login before the rotation", err)
	code := e.totpLastCode(a.email)

	rotated := e.restartWithKeys(newKey, oldKey)
	if _, err := rotated.Authenticate(ctx, a.tok); err != nil {
		t.Fatalf("a session from before the rotation: %v", err)
	}
	res, err := rotated.CompleteCodeLogin(ctx, client, codeFlow, code)
	if err != nil || res.MFAFlowID == "" {
		t.Fatalf("a code and flow from before the rotation: %+v, %v", res, err)
	}
	tok, err := rotated.CompleteTOTPLogin(ctx, client, res.MFAFlowID, a.conf.RecoveryCodes[0])
	mustOK(t, "a recovery code from before the rotation", err)
	if _, err := rotated.Authenticate(ctx, tok); err != nil {
		t.Fatalf("the new session: %v", err)
	}

	// Without the old key they are gone, as the README warns.
	if _, err := e.restartWithKeys(newKey).Authenticate(ctx, a.tok); err == nil {
		t.Fatal("a session survived dropping the key it was made under")
	}
}

// TestTOTPOffsetIsBounded: a phone clock that keeps drifting cannot walk
// the learned offset past the five minutes the contract allows.
func TestTOTPOffsetIsBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, tok := e.signUp("erin@example.com")
	sess := e.stepUp(tok, "erin@example.com")
	b, err := e.svc.BeginTOTP(ctx, client, sess)
	mustOK(t, "begin", err)
	secret := decodeTOTPSecret(t, b)
	// The phone is five minutes (ten steps) ahead: the most confirmation accepts.
	conf, err := e.svc.ConfirmTOTP(ctx, client, sess, totp.Code(secret, totp.Step(e.clock.Now())+totp.MaxDriftSteps))
	mustOK(t, "confirm ten steps ahead", err)
	if conf.ClockOffsetSeconds != 300 {
		t.Fatalf("offset %d s, want 300", conf.ClockOffsetSeconds)
	}
	// Each login the phone gains one more step.
	for ahead := totp.MaxDriftSteps + 1; ahead <= totp.MaxDriftSteps+3; ahead++ {
		e.clock.Advance(time.Minute)
		res, err := e.svc.LoginPassword(ctx, client, "erin@example.com", goodPassword)
		mustOK(t, "password", err)
		_, err = e.svc.CompleteTOTPLogin(ctx, client, res.MFAFlowID, totp.Code(secret, totp.Step(e.clock.Now())+int64(ahead)))
		if err == nil {
			t.Fatalf("a code %d steps ahead was accepted: the learned offset walked past five minutes", ahead)
		}
	}
	// A code within the bound still works.
	e.clock.Advance(time.Minute)
	res, err := e.svc.LoginPassword(ctx, client, "erin@example.com", goodPassword)
	mustOK(t, "password", err)
	_, err = e.svc.CompleteTOTPLogin(ctx, client, res.MFAFlowID, totp.Code(secret, totp.Step(e.clock.Now())+totp.MaxDriftSteps))
	mustOK(t, "a code at the bound", err)
}

// TestUndeliverableChannelIsRefused: with only email delivery, a phone
// sign-up or code login is refused clearly instead of answered 202 with
// the message dropped; password logins are unaffected.
func TestUndeliverableChannelIsRefused(t *testing.T) {
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	svc, _ := newService(t, "sqlite:"+t.TempDir()+"/w.db", password.Params{Memory: 64, Time: 1, Threads: 1},
		account.Config{Channels: []account.Channel{account.ChannelEmail}}, c.Now, io.Discard)
	ctx := context.Background()
	_, _, err := svc.StartRegistration(ctx, client, "", "+86 138 0013 8000")
	wantCode(t, "phone sign-up without SMS", err, account.CodeInvalidPhone)
	_, err = svc.StartCodeLogin(ctx, client, "+8613800138000")
	wantCode(t, "phone code login without SMS", err, account.CodeInvalidPhone)
	_, _, err = svc.StartRegistration(ctx, client, "fred@example.com", "")
	mustOK(t, "email sign-up", err)
	_, err = svc.LoginPassword(ctx, client, "+8613800138000", "whatever password")
	wantCode(t, "password login with a phone", err, account.CodeInvalidCredentials)

	svc, _ = newService(t, "sqlite:"+t.TempDir()+"/w.db", password.Params{Memory: 64, Time: 1, Threads: 1},
		account.Config{Channels: []account.Channel{account.ChannelPhone}}, c.Now, io.Discard)
	_, _, err = svc.StartRegistration(ctx, client, "fred@example.com", "")
	wantCode(t, "email sign-up without SMTP", err, account.CodeInvalidEmail)
}

// TestRefusedPasswordsEndTheFlow: one sign-up flow cannot run the password
// strength check without end.
func TestRefusedPasswordsEndTheFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	flow, _, err := e.svc.StartRegistration(ctx, client, "gina@example.com", "")
	mustOK(t, "start", err)
	code := e.code("gina@example.com")
	limit := account.DefaultConfig().Limits.PasswordsPerFlow
	for i := range limit {
		_, _, err := e.svc.CompleteRegistration(ctx, client, flow, code, "password")
		wantCode(t, fmt.Sprintf("weak password %d", i+1), err, account.CodeWeakPassword)
	}
	_, _, err = e.svc.CompleteRegistration(ctx, client, flow, code, goodPassword)
	wantCode(t, "after the refused passwords", err, account.CodeNotFound)
}

// TestHostileUserAgentIsStored: a User-Agent with invalid UTF-8, NUL bytes
// or a multi-byte character at the cut is stored valid and whole-charactered
// on both databases; the login succeeds and its event is kept.
func TestHostileUserAgentIsStored(t *testing.T) {
	agents := []string{
		"Mozilla/5.0 \xff\xfe broken",
		"nul\x00byte",
		strings.Repeat("a", 255) + "é tail", // é straddles byte 256
		strings.Repeat("中", 100),            // 300 bytes of 3-byte characters
		strings.Repeat("\xe4\xb8", 200),     // truncated sequences throughout
		"\xed\xa0\x80 surrogate half",       // UTF-8 encoded surrogate
	}
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			e := newEnv(t, db.dsn(t))
			ctx := context.Background()
			uid, _ := e.signUp("hana@example.com")
			for i, ua := range agents {
				c := account.Client{IP: fmt.Sprintf("192.0.2.%d", i+1), UserAgent: ua}
				res, err := e.svc.LoginPassword(ctx, c, "hana@example.com", goodPassword)
				if err != nil {
					t.Fatalf("login with user agent %q: %v", ua, err)
				}
				sess := e.session(res.SessionToken)
				if !utf8.ValidString(sess.UserAgent) || len(sess.UserAgent) > 256 || strings.ContainsRune(sess.UserAgent, 0) {
					t.Fatalf("stored session user agent %q", sess.UserAgent)
				}
			}
			events, err := e.db.ListEvents(ctx, uid, 100)
			mustOK(t, "events", err)
			logins := 0
			for _, ev := range events {
				if ev.Kind == account.EventLogin {
					logins++
					if !utf8.ValidString(ev.UserAgent) || len(ev.UserAgent) > 256 {
						t.Fatalf("stored event user agent %q", ev.UserAgent)
					}
				}
			}
			if logins != len(agents) {
				t.Fatalf("%d login events, want %d", logins, len(agents))
			}
		})
	}
}

// FuzzStoredHeaders feeds every value stored from a request header (the
// User-Agent, and the client IP that X-Forwarded-For can set behind a
// trusted proxy) through a login and its security event: whatever the
// bytes, the login answers as usual and what is stored is valid UTF-8
// without NUL, cut at a character boundary within its limit.
func FuzzStoredHeaders(f *testing.F) {
	for _, seed := range []struct{ ua, ip string }{
		{"Mozilla/5.0", "192.0.2.1"},
		{"\xff\xfe", "2001:db8::1"},
		{strings.Repeat("a", 255) + "é", "::ffff:192.0.2.1"},
		{"nul\x00", "not an ip \xff"},
		{strings.Repeat("\u4e2d", 100), ""},
	} {
		f.Add(seed.ua, seed.ip)
	}
	cfg := account.DefaultConfig()
	cfg.Limits.PasswordPerIdentifier = account.Limit{N: 1 << 30, Window: time.Hour}
	cfg.Limits.PasswordPerIP = account.Limit{N: 1 << 30, Window: time.Hour}
	cfg.Limits.PasswordDelay.Free = 1 << 30 // the clock stands still: no delay may start
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	svc, db := newService(f, "sqlite:"+f.TempDir()+"/w.db", password.Params{Memory: 64, Time: 1, Threads: 1}, cfg, c.Now, io.Discard)
	f.Fuzz(func(t *testing.T, ua, ip string) {
		ctx := context.Background()
		_, err := svc.LoginPassword(ctx, account.Client{IP: ip, UserAgent: ua}, "nobody@example.com", "wrong password")
		if account.ErrorCode(err) != account.CodeInvalidCredentials {
			t.Fatalf("login with user agent %q and ip %q: %v", ua, ip, err)
		}
		events, err := db.ListEvents(ctx, "", 1)
		if err != nil || len(events) != 1 {
			t.Fatalf("events: %v, %v", events, err)
		}
		for _, v := range []string{events[0].UserAgent, events[0].IP} {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || len(v) > 256 {
				t.Fatalf("stored %q", v)
			}
		}
	})
}

// TestSecurityHold: a password, email or phone change, or removing the
// authenticator, holds the account for a day (security_hold_until), so
// the application in front can hold withdrawals; binding one does not.
func TestSecurityHold(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	held := func(uid string) *time.Time {
		u, err := e.db.UserByUID(ctx, uid)
		mustOK(t, "user", err)
		return e.svc.SecurityHeld(u)
	}
	a := e.totpBind("ivy@example.com", 0)
	if h := held(a.uid); h != nil {
		t.Fatalf("binding an authenticator set a hold until %s", h)
	}
	e.clock.Advance(30 * time.Second) // the confirming code's step is spent
	mustOK(t, "remove the authenticator", e.svc.DisableTOTP(ctx, client, e.session(a.tok), e.totpAt(a.secret, 0)))
	h := held(a.uid)
	if h == nil || !h.Equal(e.clock.Now().Add(24*time.Hour)) {
		t.Fatalf("after removing the authenticator: hold %v, want a day", h)
	}
	e.clock.Advance(25 * time.Hour)
	if h := held(a.uid); h != nil {
		t.Fatalf("the hold outlived its day: %s", h)
	}
	_, tok := e.signUp("jon@example.com")
	sess := e.stepUp(tok, "jon@example.com")
	mustOK(t, "change password", e.svc.ChangePassword(ctx, client, sess, "a new and long passphrase"))
	uid := sess.UID
	if h := held(uid); h == nil {
		t.Fatal("a password change set no hold")
	}
	e.next("jon@example.com") // the notice of the change
	e.clock.Advance(25 * time.Hour)
	tok2 := e.loginPassword("jon@example.com", "a new and long passphrase")
	sess = e.stepUp(tok2, "jon@example.com")
	flow, err := e.svc.StartContactChange(ctx, client, sess, account.ChannelPhone, "+86 138 0013 8000")
	mustOK(t, "start phone change", err)
	mustOK(t, "confirm phone change", e.svc.ConfirmContactChange(ctx, client, sess, account.ChannelPhone, flow, e.code("+8613800138000")))
	if h := held(uid); h == nil {
		t.Fatal("a phone change set no hold")
	}
}

// TestRotateSession: a rotated session keeps its account and privilege
// under a new token, and the old token stops working at once.
func TestRotateSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, tok := e.signUp("kim@example.com")
	sess := e.stepUp(tok, "kim@example.com")
	next, err := e.svc.RotateSession(ctx, client, sess)
	mustOK(t, "rotate", err)
	if _, err := e.svc.Authenticate(ctx, tok); err == nil {
		t.Fatal("the old token still works")
	}
	got := e.session(next)
	if got.UID != sess.UID || got.ID == sess.ID || !e.svc.Privileged(got) {
		t.Fatalf("rotated session %+v from %+v", got, sess)
	}
	_, err = e.svc.RotateSession(ctx, client, sess)
	wantCode(t, "rotate an ended session", err, account.CodeUnauthenticated)
}

// TestConcurrentLoginsOfOneAccountRehash: two password logins of one
// account at once, each rehashing an old hash in its transaction (a write
// of the account's row after the credentials check locked it), both
// succeed: the check's lock makes them queue, never deadlock.
func TestConcurrentLoginsOfOneAccountRehash(t *testing.T) {
	older := password.NewHasher(password.Params{Memory: 12288, Time: 3, Threads: 1})
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			e := newRealEnv(t, db.dsn(t))
			ctx := context.Background()
			for round := range 6 {
				email := fmt.Sprintf("pair%d@example.com", round)
				uid, _ := e.signUp(email)
				oldHash, err := older.Hash(goodPassword)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.db.SetPasswordHash(ctx, uid, oldHash); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				for i := range 2 {
					wg.Go(func() {
						if _, err := e.svc.LoginPassword(ctx, account.Client{IP: fmt.Sprintf("192.0.2.%d", 50+i)}, email, goodPassword); err != nil {
							t.Errorf("round %d, login %d: %v", round, i, err)
						}
					})
				}
				wg.Wait()
			}
		})
	}
}
