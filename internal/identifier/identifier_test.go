package identifier_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/watchword/watchword/internal/identifier"
)

func TestEmail(t *testing.T) {
	for _, tc := range []struct {
		in, addr, key string
		ok            bool
	}{
		{"alice@example.com", "alice@example.com", "alice@example.com", true},
		{"  Alice@Example.COM ", "Alice@example.com", "alice@example.com", true},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org", "a.b+tag@sub.example.org", true},
		{"", "", "", false},
		{"alice", "", "", false},
		{"alice@", "", "", false},
		{"@example.com", "", "", false},
		{"alice@localhost", "", "", false},
		{"Alice <alice@example.com>", "", "", false},
		{"alice@exa mple.com", "", "", false},
		{"alice@-example.com", "", "", false},
		{"alice@example..com", "", "", false},
		{"alice@[127.0.0.1]", "", "", false},
		{"a@b@example.com", "", "", false},
		{"alice@example.com\n", "alice@example.com", "alice@example.com", true},
		{"alice@example.com\r\nBcc: x@y.z", "", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			addr, key, err := identifier.Email(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if addr != tc.addr || key != tc.key {
				t.Fatalf("got %q %q, want %q %q", addr, key, tc.addr, tc.key)
			}
		})
	}
}

func TestPhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"+8613800138000", "+8613800138000", true},
		{"+86 138 0013 8000", "+8613800138000", true},
		{"+86-138-0013-8000", "+8613800138000", true},
		{"0086 138 0013 8000", "+8613800138000", true},
		{"+1 (415) 555-0100", "+14155550100", true},
		{"+1 (201) 555-0123", "+12015550123", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"13800138000", "", false}, // no country code
		{"+86 138", "", false},
		{"+999 1234567", "", false},
		{"+86 138 0013 800a", "", false},
		{"", "", false},
		{"++8613800138000", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := identifier.Phone(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("got %q, err = %v, want ok=%v", got, err, tc.ok)
			}
			if tc.ok && got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	kind, _, key, err := identifier.Parse("Bob@Example.com")
	if err != nil || kind != identifier.KindEmail || key != "bob@example.com" {
		t.Fatalf("got %v %q %v", kind, key, err)
	}
	kind, _, key, err = identifier.Parse("+86 138 0013 8000")
	if err != nil || kind != identifier.KindPhone || key != "+8613800138000" {
		t.Fatalf("got %v %q %v", kind, key, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a@b.co", "+8613800138000", "0086 138", "x@[::1]", "\x00@\xff",
		"\u212Aate@example.com", "jose\u0301@B\u00dcCHER.de", "a@xn--bcher-kva.de", "ka\u200dte@example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, addr, key, err := identifier.Parse(s)
		if err != nil {
			return
		}
		// A normalized identifier normalizes to itself.
		k2, a2, key2, err := identifier.Parse(addr)
		if err != nil || k2 != kind || a2 != addr || key2 != key {
			t.Fatalf("%q -> %q, then %q %v", s, addr, a2, err)
		}
		if kind == identifier.KindEmail && key != identifier.EmailKey(addr) {
			t.Fatalf("%q: key %q is not the ASCII folding of %q", s, key, addr)
		}
		// Surrounding spaces never change the result.
		if k2, a2, key2, err := identifier.Parse(" " + s + "\t"); err != nil || k2 != kind || a2 != addr || key2 != key {
			t.Fatalf("%q with spaces around: %q %v", s, a2, err)
		}
		switch kind {
		case identifier.KindPhone:
			if !e164.MatchString(addr) || key != addr {
				t.Fatalf("%q: phone %q (key %q) is not E.164", s, addr, key)
			}
		case identifier.KindEmail:
			if !strings.Contains(key, "@") || !utf8.ValidString(key) || strings.ContainsAny(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				t.Fatalf("%q: key %q", s, key)
			}
			// ASCII case never makes another account of an ASCII address.
			if isASCII(s) {
				if _, _, up, err := identifier.Parse(strings.ToUpper(s)); err != nil || up != key {
					t.Fatalf("%q upper-cased: key %q, %v; want %q", s, up, err, key)
				}
			}
		}
	})
}

// e164 is the shape of a stored phone number: a plus, no leading zero, at
// most 15 digits (ITU-T E.164).
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// TestEmailLookAlikes checks the folding rule: spellings share a key only
// when they reach the same mailbox. Unicode characters whose case folding
// lands on ASCII letters must not find the ASCII address's account.
func TestEmailLookAlikes(t *testing.T) {
	_, ascii, err := identifier.Email("kate.smith@example.com")
	if err != nil {
		t.Fatal(err)
	}
	distinct := []struct{ name, in string }{
		{"long s U+017F", "kate.\u017Fmith@example.com"},
		{"fullwidth k U+FF4B", "\uFF4Bate.smith@example.com"},
		{"Cyrillic a U+0430", "k\u0430te.smith@example.com"},
		{"Greek omicron U+03BF in a name", "kate.smith\u03BF@example.com"},
		{"dotted capital I U+0130", "kate.sm\u0130th@example.com"},
		{"Angstrom sign U+212B", "\u212Bkate.smith@example.com"},
		{"Kelvin sign U+212A after a letter", "\u00e5\u212Aate.smith@example.com"},
		{"mathematical bold k U+1D424", "\U0001D424ate.smith@example.com"},
	}
	for _, tc := range distinct {
		t.Run(tc.name, func(t *testing.T) {
			_, key, err := identifier.Email(tc.in)
			if err == nil && key == ascii {
				t.Fatalf("%q has the key %q of the ASCII address", tc.in, key)
			}
		})
	}
	// Canonically equivalent spellings are one string (Unicode NFC, as RFC
	// 6530 asks of internationalized addresses): the Kelvin sign is the
	// letter K. The address then holds the ASCII letter, so nothing is ever
	// sent to the look-alike spelling.
	same := []struct{ name, in string }{
		{"ASCII upper case", "KATE.Smith@EXAMPLE.com"},
		{"Kelvin sign U+212A (canonically K)", "\u212Aate.smith@example.com"},
		{"fullwidth domain (IDNA maps it)", "kate.smith@\uFF45xample.com"},
	}
	for _, tc := range same {
		t.Run(tc.name, func(t *testing.T) {
			addr, key, err := identifier.Email(tc.in)
			if err != nil || key != ascii {
				t.Fatalf("Email(%q) key = %q, %v; want %q", tc.in, key, err, ascii)
			}
			for _, r := range addr {
				if r > 127 {
					t.Fatalf("Email(%q) = %q keeps a non-ASCII character", tc.in, addr)
				}
			}
		})
	}
	// In a domain the Kelvin sign is the letter k: IDNA maps it, and DNS
	// resolves both spellings to the same host.
	_, a, _ := identifier.Email("kate@kite.com")
	if _, b, err := identifier.Email("kate@\u212Aite.com"); err != nil || a != b {
		t.Fatalf("Kelvin sign in the domain: key %q, %v; want %q", b, err, a)
	}
}

func TestEmailNormalization(t *testing.T) {
	for _, tc := range []struct {
		name, in, addr, key string
		ok                  bool
	}{
		{"NFD local part is composed", "jose\u0301@example.com", "jos\u00e9@example.com", "jos\u00e9@example.com", true},
		{"non-ASCII case is kept apart", "J\u00d6RG@example.com", "J\u00d6RG@example.com", "j\u00d6rg@example.com", true},
		{"IDN domain in Unicode", "a@B\u00dcCHER.de", "a@b\u00fccher.de", "a@b\u00fccher.de", true},
		{"IDN domain as A-label", "a@xn--bcher-kva.de", "a@b\u00fccher.de", "a@b\u00fccher.de", true},
		{"zero-width joiner", "ka\u200dte@example.com", "", "", false},
		{"right-to-left override", "kate\u202e@example.com", "", "", false},
		{"zero-width space in domain", "kate@exam\u200bple.com", "", "", false},
		{"soft hyphen", "ka\u00adte@example.com", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, key, err := identifier.Email(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if addr != tc.addr || key != tc.key {
				t.Fatalf("got %q %q, want %q %q", addr, key, tc.addr, tc.key)
			}
		})
	}
}
