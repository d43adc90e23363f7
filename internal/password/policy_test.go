package password_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/watchword/watchword/internal/password"
)

const (
	reasonCommon  = "This password is too common or has appeared in data breaches."
	reasonContext = "Avoid using your email address or the product name in your password."
	reasonWeak    = "This password is too easy to guess. Try a longer phrase of unrelated words."
)

func TestPolicyCheck(t *testing.T) {
	// The context a sign-up form would pass.
	inputs := []string{"jane.doe", "jane.doe@example.com", "+14155550123", "watchword"}
	long256 := strings.Repeat("é", 6) + strings.Repeat("correct horse battery staple ", 9) // 6 + 9*29 = 267
	long256 = string([]rune(long256)[:256])

	tests := []struct {
		name     string
		password string
		inputs   []string
		want     string // Reason; "" means accepted
	}{
		{name: "Passphrase", password: "correct horse battery staple", inputs: inputs},
		{name: "CyrillicPassphrase", password: "пароль-очень-длинный-и-новый", inputs: inputs},
		{name: "EmojiPassphrase", password: "🐙 🌵 🚲 🎻 🍋 🧊", inputs: inputs},
		{name: "AccentedPassphrase", password: "naïve café résumé über", inputs: inputs},
		{name: "Random8", password: "x7Qp2vRt", inputs: inputs},
		{name: "Random8CodePoints16Bytes", password: "ñöçåßüéø"},
		{name: "ProductNameInLongPhrase", password: "my watchword is a purple giraffe on skates", inputs: inputs},
		{name: "Max256CodePoints", password: long256},

		{name: "Empty", password: "", want: "Use at least 8 characters."},
		{name: "Seven", password: "x7Qp2vR", want: "Use at least 8 characters."},
		{name: "SevenCodePoints14Bytes", password: "ñöçåßüé", want: "Use at least 8 characters."},
		{name: "Max257CodePoints", password: long256 + "x", want: "Use at most 256 characters."},
		{name: "InvalidUTF8", password: "abc\xffdefghij", want: "This password contains invalid characters."},

		{name: "password123", password: "password123", inputs: inputs, want: reasonCommon},
		{name: "12345678", password: "12345678", inputs: inputs, want: reasonCommon},
		{name: "qwertyuiop", password: "qwertyuiop", inputs: inputs, want: reasonCommon},
		{name: "iloveyou1", password: "iloveyou1", inputs: inputs, want: reasonCommon},
		{name: "P@ssw0rd!", password: "P@ssw0rd!", want: reasonCommon},
		{name: "KeyboardWalk", password: "xcvbnm,./", want: reasonWeak},
		// zxcvbnm is on the common list, and ",./" is a decoration cheap
		// enough to strip.
		{name: "KeyboardWalkDecorated", password: "zxcvbnm,./", want: reasonCommon},
		{name: "Date", password: "1984-05-17", want: reasonWeak},
		{name: "Repeat", password: "zzzzzzzzzzzz", want: reasonWeak},
		{name: "CyrillicRepeat", password: "жжжжжжжжжжжж", want: reasonWeak},
		{name: "CyrillicSequence", password: "абвгдежзий", want: reasonWeak},

		// The multilingual common-password list, after lower-casing and
		// with a cheap trailing decoration stripped.
		{name: "CyrillicDecorated", password: "пароль123", inputs: inputs, want: reasonCommon},
		{name: "CyrillicCapitalized", password: "Пароль2024", want: reasonCommon},
		{name: "PinyinLoveCode", password: "woaini1314", inputs: inputs, want: reasonCommon},
		{name: "PinyinLoveCodeDecorated", password: "WoAiNi1314!", want: reasonCommon},
		{name: "PinyinLongLoveCode", password: "woaini5201314", want: reasonCommon},
		{name: "PinyinMyPassword", password: "wodemima", want: reasonCommon},
		{name: "PinyinName", password: "zhang123456", want: reasonCommon},
		{name: "PinyinFullName", password: "zhangwei888", want: reasonCommon},
		{name: "qwertyuiop", password: "qwertyuiop", want: reasonCommon},
		{name: "1qaz2wsx", password: "1qaz2wsx", want: reasonCommon},
		{name: "a123456789", password: "a123456789", want: reasonCommon},
		{name: "iloveyou1314", password: "iloveyou1314", want: reasonCommon},
		{name: "LoveCodeDigitsAsDecoration", password: "sunshine5201314", want: reasonCommon},
		{name: "RussianKeyboardRow", password: "йцукенгшщз", want: reasonCommon},
		{name: "RussianKeyboardRowNFD", password: "\u0438\u0306цукенгшщз", want: reasonCommon},
		{name: "PasswordTypedOnRussianLayout", password: "зфыыцщкв", want: reasonCommon},
		{name: "ПарольTypedOnQWERTY", password: "gfhjkm123", want: reasonCommon},
		{name: "GermanPassword", password: "Passwort!", want: reasonCommon},
		{name: "SpanishPasswordNFD", password: "contrasen\u0303a1", want: reasonCommon},

		{name: "ChinesePassphrase", password: "我的猫叫小白今年三岁了", inputs: inputs},
		{name: "Troubadour", password: "Tr0ub4dor&3-extended-Long", inputs: inputs},
		{name: "CommonWordWithLongRandomTail", password: "sunshine-83719264-Kq"},

		{name: "ProductName", password: "watchword1", inputs: inputs, want: reasonContext},
		{name: "ProductNameWithoutInputs", password: "watchword1", want: reasonContext},
		{name: "ProductNameDecorated", password: "Watchword2024!", want: reasonContext},
		{name: "EmailLocalPart", password: "jane.doe", inputs: inputs, want: reasonContext},
		{name: "EmailLocalPartCase", password: "Jane.Doe2024", inputs: inputs, want: reasonContext},
		{name: "LocalPartDerivedFromEmail", password: "jane.doe!!", inputs: []string{"jane.doe@example.com"}, want: reasonContext},
		{name: "Email", password: "jane.doe@example.com", inputs: inputs, want: reasonContext},
		{name: "Phone", password: "+14155550123", inputs: inputs, want: reasonContext},
		{name: "RandomLocalPart", password: "qx7zk2mw", inputs: []string{"qx7zk2mw@example.com"}, want: reasonContext},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := password.DefaultPolicy.Check(tc.password, tc.inputs...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tc.password, err)
				}
				return
			}
			var w *password.Weakness
			if !errors.As(err, &w) {
				t.Fatalf("Check(%q) = %v, want *Weakness %q", tc.password, err, tc.want)
			}
			if w.Reason != tc.want || err.Error() != tc.want {
				t.Fatalf("Check(%q) reason = %q, want %q", tc.password, w.Reason, tc.want)
			}
		})
	}
}

// TestPolicyCommonShort checks the list with a minimum length lowered to
// 6: the list keeps entries that short for that case.
func TestPolicyCommonShort(t *testing.T) {
	short := password.Policy{MinLength: 6}
	for _, pw := range []string{"5201314", "1314520", "йцукен", "woaini", "qwerty", "gfhjkm", "пароль", "123456"} {
		t.Run(pw, func(t *testing.T) {
			if got := errString(short.Check(pw)); got != reasonCommon {
				t.Fatalf("Check(%q) = %q, want %q", pw, got, reasonCommon)
			}
			// The default minimum refuses them before any list.
			if got := errString(password.DefaultPolicy.Check(pw)); got != "Use at least 8 characters." {
				t.Fatalf("default Check(%q) = %q, want the length reason", pw, got)
			}
		})
	}
}

// TestPolicyNormalizes checks that the policy judges the NFC form, the one
// Hash stores: length in code points of that form, and the same verdict
// for every spelling.
func TestPolicyNormalizes(t *testing.T) {
	tests := []struct {
		name string
		nfc  string
		nfd  string
		want string
	}{
		// 8 code points in NFC, 10 in NFD: long enough either way.
		{"EightInNFC", "\u00e9t\u00e9s ici", "e\u0301te\u0301s ici", ""},
		// 7 code points in NFC, 9 in NFD: too short either way.
		{"SevenInNFC", "\u00e9t\u00e9 ici", "e\u0301te\u0301 ici", "Use at least 8 characters."},
		{"Hangul", hangulNFC, hangulJamo, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := password.Policy{MinLength: 8, MinScore: 1}
			for _, pw := range []string{tc.nfc, tc.nfd} {
				if got := errString(p.Check(pw)); got != tc.want {
					t.Errorf("Check(%+q) = %q, want %q", pw, got, tc.want)
				}
			}
		})
	}
}

func TestPolicyZeroValueUsesDefaults(t *testing.T) {
	var zero password.Policy
	for _, pw := range []string{"correct horse battery staple", "x7Qp2vR", "password123"} {
		got, want := zero.Check(pw), password.DefaultPolicy.Check(pw)
		if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
			t.Errorf("Check(%q): zero policy got %v, default policy %v", pw, got, want)
		}
	}
}

func TestPolicyCustomLengths(t *testing.T) {
	p := password.Policy{MinLength: 12, MaxLength: 20}
	tests := []struct {
		password string
		want     string
	}{
		{"x7Qp2vRtk9$L", ""},
		{"x7Qp2vRtk9$", "Use at least 12 characters."},
		{"x7Qp2vRtk9$Lm2qxJt8#k", "Use at most 20 characters."},
	}
	for _, tc := range tests {
		err := p.Check(tc.password)
		if got := errString(err); got != tc.want {
			t.Errorf("Check(%q) = %q, want %q", tc.password, got, tc.want)
		}
	}
}

// TestPolicyLongInput checks that a password at MaxLength is still judged
// although zxcvbn only sees its first 64 code points.
func TestPolicyLongInput(t *testing.T) {
	pw := strings.Repeat("abcdefghij", 25) + "xyzxyz"
	if n := utf8.RuneCountInString(pw); n != 256 {
		t.Fatalf("test password has %d code points, want 256", n)
	}
	// A long sequence pattern is still refused on its first 64 code points.
	if err := password.DefaultPolicy.Check(pw); errString(err) != reasonWeak {
		t.Fatalf("Check(long sequence) = %v, want %q", err, reasonWeak)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// BenchmarkCheck measures Check on ordinary passwords and, at the 256
// code points MaxLength allows, on the inputs that cost zxcvbn the most:
// l33t stand-ins (one more dictionary pass per substitution table),
// long digit runs (dates), repeats and random password-manager output.
// Each is bounded by the prefix zxcvbnInput keeps, so none should cost
// much more than a few milliseconds; before that cap the l33t one took
// over a second.
func BenchmarkCheck(b *testing.B) {
	inputs := []string{"jane.doe", "jane.doe@example.com", "watchword"}
	cut := func(s string) string { return string([]rune(s)[:256]) }
	cases := []struct {
		name     string
		password string
	}{
		{"Passphrase", "correct horse battery staple"},
		{"Common", "woaini1314!"},
		{"256/Passphrase", cut(strings.Repeat("correct horse battery staple ", 9))},
		{"256/Leet", cut(strings.Repeat("4@8({[<369!|17$5+%2", 14))},
		{"256/PasswordManager", cut(strings.Repeat("x7Qp2vRtk9$Lm2qxJt8#k%Wz!0eYb&5uN^c3Hg6(Ta1*Lo4@Sd7_Fj8+Mi9=Vr2[Ec5]Pw0{Qa3}", 4))},
		{"256/Digits", cut(strings.Repeat("1984051719", 26))},
		{"256/Repeat", strings.Repeat("a", 256)},
		{"256/CJK", cut(strings.Repeat("我的猫叫小白今年三岁了", 24))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				_ = password.DefaultPolicy.Check(tc.password, inputs...)
			}
		})
	}
}
