package account

import (
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/watchword/watchword/internal/i18n"
)

// sixDigitRun is the contract's code: a standalone run of exactly 6 digits.
var sixDigitRun = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// sampleValues are realistic values for every name of noticeArgs: none
// holds a run of six digits, so any run found came from a text.
var sampleValues = map[string]any{
	"Address":    "+8613800138000",
	"OldAddress": "old.mailbox@example.com",
	"Request":    "Kq3xZ9vLmP2wTy",
	"Due":        time.Date(2026, 12, 1, 15, 4, 0, 0, time.UTC),
	"Effective":  time.Date(2026, 12, 2, 9, 30, 0, 0, time.UTC),
	"CancelURL":  "https://id.example.com/unbind/cancel/AbCdEfGhIjKlMnOp",
	"Reason":     "the selfie is blurred",
}

func testService() *Service {
	return &Service{cfg: DefaultConfig(), catalog: i18n.Default()}
}

// catalogID is a message id shown in place of its text (the catalog's
// answer for an id it lacks).
var catalogID = regexp.MustCompile(`\bmail\.[a-z_]+\.`)

// wantRendered fails when a text still shows template syntax or a
// catalog id instead of words.
func wantRendered(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"{{", "}}", "<no value>", "%!"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s has %q left over: %q", what, bad, s)
		}
	}
	if id := catalogID.FindString(s); id != "" {
		t.Errorf("%s shows a catalog id %q: %q", what, id, s)
	}
	if strings.TrimSpace(s) == "" {
		t.Errorf("%s is empty", what)
	}
}

// hasHan reports whether s has a Chinese character.
func hasHan(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
}

// TestNoticesRenderInEveryLanguage renders every notice in every language
// on both channels: every value it is given shows, nothing of the template
// is left, no 6-digit run appears (it would pass for a code), and the
// Chinese one is Chinese.
func TestNoticesRenderInEveryLanguage(t *testing.T) {
	s := testService()
	for key, names := range noticeArgs {
		var args []any
		for _, n := range names {
			v, ok := sampleValues[n]
			if !ok {
				t.Fatalf("no sample value for %s of %s", n, key)
			}
			args = append(args, v)
		}
		for _, lang := range i18n.Langs {
			for _, ch := range []Channel{ChannelEmail, ChannelPhone} {
				t.Run(string(key)+"/"+string(lang)+"/"+string(ch), func(t *testing.T) {
					m := s.notice(ch, "to@example.com", lang, key, args...)
					if m.Channel != ch || m.To != "to@example.com" {
						t.Fatalf("got channel %s to %s", m.Channel, m.To)
					}
					wantRendered(t, "text", m.Text)
					if runs := sixDigitRun.FindAllString(m.Subject+"\n"+m.Text+"\n"+m.HTML, -1); len(runs) != 0 {
						t.Errorf("notice carries 6-digit runs %q: %q", runs, m.Text)
					}
					for i, n := range names {
						want, isTime := args[i].(string)
						if !isTime {
							want = "2026" // a date: its year shows in every language's layout
						}
						if !strings.Contains(m.Text, want) {
							t.Errorf("value %s (%q) missing from %q", n, want, m.Text)
						}
					}
					if got := hasHan(m.Text); got != (lang == i18n.Chinese) {
						t.Errorf("Chinese characters: %v in %s text %q", got, lang, m.Text)
					}
					if !strings.Contains(m.Text, s.cfg.Issuer) && ch == ChannelPhone {
						t.Errorf("SMS does not name the issuer: %q", m.Text)
					}
					footer := s.catalog.T(lang, idNoticeFooter, nil)
					switch ch {
					case ChannelEmail:
						wantRendered(t, "subject", m.Subject)
						if !strings.Contains(m.Subject, s.cfg.Issuer) {
							t.Errorf("subject %q does not name the issuer", m.Subject)
						}
						if m.HTML == "" || !strings.HasSuffix(m.Text, "\n") {
							t.Errorf("email without HTML part or final newline: %q", m.Text)
						}
						if got := strings.Contains(m.Text, footer); got == plainNotices[key] {
							t.Errorf("footer present: %v, want %v", got, !plainNotices[key])
						}
					case ChannelPhone:
						if m.Subject != "" || m.HTML != "" {
							t.Errorf("SMS with subject %q or HTML", m.Subject)
						}
					}
				})
			}
		}
	}
}

// TestCodeMessagesRenderInEveryLanguage renders the code message of every
// purpose in every language on both channels: the code is the one and
// only standalone run of six digits, and the purpose is said.
func TestCodeMessagesRenderInEveryLanguage(t *testing.T) {
	s := testService()
	const code = "047193"
	for _, p := range append(codePurposes, PurposeLoginMFA) { // login_mfa sends none: "other"
		for _, lang := range i18n.Langs {
			for _, ch := range []Channel{ChannelEmail, ChannelPhone} {
				t.Run(string(p)+"/"+string(lang)+"/"+string(ch), func(t *testing.T) {
					m := s.codeMessage(&Flow{Purpose: p, Channel: ch, Address: "to@example.com"}, code, lang)
					wantRendered(t, "text", m.Text)
					runs := sixDigitRun.FindAllStringSubmatch(m.Text, -1)
					if len(runs) != 1 || runs[0][1] != code {
						t.Errorf("want %s as the only 6-digit run, got %q in %q", code, runs, m.Text)
					}
					if sixDigitRun.MatchString(m.Subject) {
						t.Errorf("subject %q carries a 6-digit run", m.Subject)
					}
					purpose := "other"
					if p != PurposeLoginMFA {
						purpose = string(p)
					}
					if what := s.catalog.T(lang, idCodePurpose+purpose, nil); !strings.Contains(m.Text, what) {
						t.Errorf("purpose %q not said in %q", what, m.Text)
					}
					if got := hasHan(m.Text); got != (lang == i18n.Chinese) {
						t.Errorf("Chinese characters: %v in %s text %q", got, lang, m.Text)
					}
					if ch == ChannelEmail {
						wantRendered(t, "subject", m.Subject)
						if m.HTML == "" || !strings.Contains(m.HTML, code) {
							t.Errorf("HTML part %q lacks the code", m.HTML)
						}
					} else if m.Subject != "" || m.HTML != "" {
						t.Errorf("SMS with subject %q or HTML", m.Subject)
					}
				})
			}
		}
	}
}

// TestEveryNoticeInCatalog ties the notices of this package to the
// catalog both ways: each has a subject and a body in every language, and
// the catalog has no notice this package does not know (a renamed key
// would leave its texts behind unused).
func TestEveryNoticeInCatalog(t *testing.T) {
	c := i18n.Default()
	for key := range noticeArgs {
		for _, lang := range i18n.Langs {
			for _, part := range []string{"subject", "body"} {
				id := noticeID(key, part)
				if got := c.T(lang, id, sampleValues); got == id {
					t.Errorf("%s lacks %s", lang, id)
				}
			}
		}
	}
	forms := map[string]bool{idNoticeSubject: true, idNoticeSMS: true, idNoticeFooter: true}
	for _, id := range c.IDs(i18n.English) {
		if !strings.HasPrefix(id, "mail.notice.") || forms[id] {
			continue
		}
		rest := strings.TrimPrefix(id, "mail.")
		key := MessageKey(rest[:strings.LastIndex(rest, ".")])
		if _, ok := noticeArgs[key]; !ok {
			t.Errorf("catalog id %s names no notice of noticeArgs", id)
		}
	}
}

// TestNoticeDates: a time given to a notice is written in UTC, the
// reader's way, and without a run of six digits.
func TestNoticeDates(t *testing.T) {
	s := testService()
	due := time.Date(2026, 12, 1, 23, 4, 0, 0, time.FixedZone("CST", 8*3600)) // 15:04 UTC
	for _, tc := range []struct {
		lang i18n.Lang
		want string
	}{
		{i18n.English, "by Tue 1 Dec 2026 15:04 UTC."},
		{i18n.Chinese, "将在 2026年12月1日 15:04 UTC 前"},
	} {
		t.Run(string(tc.lang), func(t *testing.T) {
			m := s.notice(ChannelPhone, "+8613800138000", tc.lang, NoticeUnbindFiled, "Kq3xZ9vLmP2wTy", due, "https://x.example/c")
			if !strings.Contains(m.Text, tc.want) {
				t.Errorf("want %q in %q", tc.want, m.Text)
			}
		})
	}
}
