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
		{name: "KeyboardWalk", password: "zxcvbnm,./", want: reasonWeak},
		{name: "Date", password: "1984-05-17", want: reasonWeak},
		{name: "Repeat", password: "zzzzzzzzzzzz", want: reasonWeak},
		{name: "CyrillicRepeat", password: "жжжжжжжжжжжж", want: reasonWeak},
		{name: "CyrillicSequence", password: "абвгдежзий", want: reasonWeak},

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

// TestPolicyLongInput checks that a password at MaxLength is judged
// quickly, because zxcvbn only sees its first 100 code points.
func TestPolicyLongInput(t *testing.T) {
	pw := strings.Repeat("abcdefghij", 25) + "xyzxyz"
	if n := utf8.RuneCountInString(pw); n != 256 {
		t.Fatalf("test password has %d code points, want 256", n)
	}
	// A long sequence pattern is still refused on its first 100 code points.
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

func BenchmarkCheck(b *testing.B) {
	inputs := []string{"jane.doe", "jane.doe@example.com", "watchword"}
	b.Run("Passphrase", func(b *testing.B) {
		for b.Loop() {
			_ = password.DefaultPolicy.Check("correct horse battery staple", inputs...)
		}
	})
	b.Run("MaxLength", func(b *testing.B) {
		pw := strings.Repeat("correct horse battery staple ", 9)[:256]
		for b.Loop() {
			_ = password.DefaultPolicy.Check(pw, inputs...)
		}
	})
}
