package account_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
)

// Clients of the same device that state a language.
var (
	clientZH = account.Client{IP: "192.0.2.1", UserAgent: "test", Lang: i18n.Chinese}
	clientEN = account.Client{IP: "192.0.2.1", UserAgent: "test", Lang: i18n.English}
)

// hasHan reports whether s has a Chinese character.
func hasHan(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
}

// wantLang fails unless m is written in lang (judged by its Chinese
// characters) and its subject and text contain every of words.
func wantLang(t *testing.T, m *account.Message, lang i18n.Lang, words ...string) {
	t.Helper()
	all := m.Subject + "\n" + m.Text
	if hasHan(all) != (lang == i18n.Chinese) {
		t.Fatalf("want a message in %s, got subject %q text %q", lang, m.Subject, m.Text)
	}
	for _, w := range words {
		if !strings.Contains(all, w) {
			t.Fatalf("want %q in subject %q text %q", w, m.Subject, m.Text)
		}
	}
}

// wantOneCode returns the only 6-digit run of m's text.
func wantOneCode(t *testing.T, m *account.Message) string {
	t.Helper()
	found := sixDigits.FindAllStringSubmatch(m.Text, -1)
	if len(found) != 1 {
		t.Fatalf("want exactly one code in %q, found %d", m.Text, len(found))
	}
	return found[0][1]
}

// userLang returns the stored language of uid.
func (e *env) userLang(uid string) i18n.Lang {
	e.t.Helper()
	u, err := e.db.UserByUID(context.Background(), uid)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Lang
}

// TestChineseSignUp: a sign-up asked for in Chinese gets its code in
// Chinese by email (subject and body) and by SMS, the account keeps the
// language, and a later code speaks the account's language whatever the
// language of the request that asked for it.
func TestChineseSignUp(t *testing.T) {
	onEveryStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		for _, tc := range []struct {
			name, email, phone, to string
			words                  []string // in the code message
		}{
			{"Email", "li.lei@example.com", "", "li.lei@example.com", []string{"验证码", "注册账户", "十分钟", "请勿泄露", "如非本人操作"}},
			{"Phone", "", "+86 138 0013 8000", "+8613800138000", []string{"【watchword】验证码", "注册账户", "十分钟", "请勿泄露"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				flow, _, err := e.svc.StartRegistration(ctx, clientZH, tc.email, tc.phone)
				mustOK(t, "start registration", err)
				m := e.next(tc.to)
				wantLang(t, m, i18n.Chinese, tc.words...)
				if m.Channel == account.ChannelEmail && !hasHan(m.Subject) {
					t.Fatalf("subject %q is not Chinese", m.Subject)
				}
				uid, _, err := e.svc.CompleteRegistration(ctx, clientZH, flow, wantOneCode(t, m), goodPassword)
				mustOK(t, "complete registration", err)
				if got := e.userLang(uid); got != i18n.Chinese {
					t.Fatalf("account language %q, want %q", got, i18n.Chinese)
				}

				// Asked for in English, a login code still goes out in the
				// account's language.
				_, err = e.svc.StartCodeLogin(ctx, clientEN, tc.to)
				mustOK(t, "start code login", err)
				m = e.next(tc.to)
				wantLang(t, m, i18n.Chinese, "登录")
				wantOneCode(t, m)
			})
		}
	})
}

// TestLanguageFollowsLastLogin: notices use the account's language, which
// is that of the last login that ended in a session; a login that states
// no language changes nothing, and the owner's language, not the
// requester's, is used for the "already registered" notice.
func TestLanguageFollowsLastLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const addr = "han.meimei@example.com"
	flow, _, err := e.svc.StartRegistration(ctx, clientZH, addr, "")
	mustOK(t, "start registration", err)
	uid, _, err := e.svc.CompleteRegistration(ctx, clientZH, flow, e.code(addr), goodPassword)
	mustOK(t, "complete registration", err)

	// signUpAgain asks, in the requester's language, to sign up with the
	// owner's address; the owner gets a notice without a code.
	signUpAgain := func(c account.Client) *account.Message {
		t.Helper()
		e.clock.Advance(61 * time.Second) // past the resend interval
		_, _, err := e.svc.StartRegistration(ctx, c, addr, "")
		mustOK(t, "sign up again", err)
		m := e.next(addr)
		if hasCode(m.Text) {
			t.Fatalf("notice carries a code: %q", m.Text)
		}
		return m
	}
	wantLang(t, signUpAgain(clientEN), i18n.Chinese, "注册")

	for _, step := range []struct {
		name   string
		client account.Client
		want   i18n.Lang
	}{
		{"NoLanguageStated", client, i18n.Chinese},
		{"English", clientEN, i18n.English},
		{"EnglishAgain", clientEN, i18n.English},
		{"LooseSpelling", account.Client{IP: "192.0.2.1", Lang: "zh"}, i18n.Chinese},
		{"Unsupported", account.Client{IP: "192.0.2.1", Lang: "fr"}, i18n.Chinese},
	} {
		res, err := e.svc.LoginPassword(ctx, step.client, addr, goodPassword)
		if err != nil || res.SessionToken == "" {
			t.Fatalf("%s: login gave %+v, %v", step.name, res, err)
		}
		if got := e.userLang(uid); got != step.want {
			t.Fatalf("%s: account language %q, want %q", step.name, got, step.want)
		}
	}

	// Back in English through a code login, whose code still went out in
	// Chinese (the account's language when it was asked for).
	flow, err = e.svc.StartCodeLogin(ctx, clientEN, addr)
	mustOK(t, "start code login", err)
	m := e.next(addr)
	wantLang(t, m, i18n.Chinese, "登录")
	_, err = e.svc.CompleteCodeLogin(ctx, clientEN, flow, wantOneCode(t, m))
	mustOK(t, "complete code login", err)
	if got := e.userLang(uid); got != i18n.English {
		t.Fatalf("after an English code login: account language %q", got)
	}
	wantLang(t, signUpAgain(clientZH), i18n.English, "already belongs")
}

// TestLanguageAfterSecondFactor: a password alone, still waiting for the
// authenticator, does not change the account's language (whoever knows
// only the password must not choose the language of the warnings); the
// finished login does, and later codes and notices follow.
func TestLanguageAfterSecondFactor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.totpBind("lin.tao@example.com", 0)
	e.totpWantNotice(a.email, "authenticator connected")
	if got := e.userLang(a.uid); got != i18n.English {
		t.Fatalf("account language %q, want English", got)
	}
	res, err := e.svc.LoginPassword(ctx, clientZH, a.email, goodPassword)
	if err != nil || res.MFAFlowID == "" {
		t.Fatalf("login gave %+v, %v; want an MFA flow", res, err)
	}
	if got := e.userLang(a.uid); got != i18n.English {
		t.Fatalf("after the password alone: account language %q, want English", got)
	}
	e.clock.Advance(30 * time.Second) // the confirming code was spent
	tok, err := e.svc.CompleteTOTPLogin(ctx, clientZH, res.MFAFlowID, e.totpAt(a.secret, 0))
	e.totpWantSession(tok, err)
	if got := e.userLang(a.uid); got != i18n.Chinese {
		t.Fatalf("after the authenticator: account language %q, want Chinese", got)
	}

	// A step-up code and a password-change notice, asked for in English,
	// speak the account's language.
	sess := e.session(tok)
	flow, err := e.svc.StartStepUp(ctx, clientEN, sess, account.ChannelEmail)
	mustOK(t, "start step-up", err)
	m := e.next(a.email)
	wantLang(t, m, i18n.Chinese, "身份验证")
	e.clock.Advance(30 * time.Second)
	_, err = e.svc.CompleteStepUp(ctx, clientEN, sess, flow, wantOneCode(t, m), e.totpAt(a.secret, 0))
	mustOK(t, "complete step-up", err)
	mustOK(t, "change password", e.svc.ChangePassword(ctx, clientEN, e.session(tok), "another long passphrase"))
	m = e.next(a.email)
	wantLang(t, m, i18n.Chinese, "密码已修改", "如非本人操作")
	if hasCode(m.Text) {
		t.Fatalf("notice carries a code: %q", m.Text)
	}
}
