// Package identifier validates and normalizes the two kinds of login
// identifier: email addresses and phone numbers.
package identifier

import (
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Errors returned for input that is not a usable address.
var (
	ErrInvalidEmail = errors.New("not a valid email address")
	ErrInvalidPhone = errors.New("not a valid phone number in international format")
)

// Email returns the normalized form of an email address and its key, the
// form that uniqueness and look-ups use.
//
// Two spellings share a key only when they reach the same mailbox for all
// practical purposes:
//   - the local part is put in Unicode NFC (a composed "é" and "e" plus a
//     combining accent are one character) and its key folds ASCII case only
//     (A-Z to a-z). Unicode case folding is not used: it maps the Kelvin
//     sign K (U+212A) to "k" and the long s ſ (U+017F) to "s", so a
//     look-alike spelling would find another person's account, while no
//     mail system delivers those spellings to the ASCII mailbox;
//   - the domain goes through IDNA (UTS #46, the mapping browsers and mail
//     servers apply to host names), so "BÜCHER.de", "bücher.de" and
//     "xn--bcher-kva.de" are one domain, as DNS says they are.
//
// Addresses with control or invisible formatting characters (zero-width
// joiners, bidirectional overrides) are refused: they exist only to make
// two addresses look alike.
func Email(s string) (addr, key string, err error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 || !utf8.ValidString(s) || hasInvisible(s) {
		return "", "", ErrInvalidEmail
	}
	parsed, err := mail.ParseAddress(s)
	// A bare address only: no display name, no comments, no angle brackets.
	if err != nil || parsed.Name != "" || parsed.Address != s {
		return "", "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	local := norm.NFC.String(s[:at])
	domain, ok := canonicalDomain(s[at+1:])
	if local == "" || len(local) > 64 || !ok {
		return "", "", ErrInvalidEmail
	}
	addr = local + "@" + domain
	return addr, EmailKey(addr), nil
}

// EmailKey folds ASCII case of an address that Email already normalized.
// It is the one folding used everywhere an email is compared.
func EmailKey(addr string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, addr)
}

// hasInvisible reports whether s has a control character or an invisible
// formatting character (Unicode category Cc or Cf).
func hasInvisible(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}

// canonicalDomain maps a domain through IDNA's lookup profile and returns
// its Unicode form (lower case, as the mapping leaves it). It accepts a DNS
// name with at least two labels; IP literals and single-label hosts are not
// addresses users sign up with.
func canonicalDomain(d string) (string, bool) {
	ascii, err := idna.Lookup.ToASCII(d)
	if err != nil || !validDomain(ascii) {
		return "", false
	}
	uni, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return "", false
	}
	return uni, true
}

// validDomain checks the ASCII (A-label) form of a domain.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 || len(d) > 253 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// Phone returns a phone number in E.164 (+8613800138000). The input must
// carry its country code (a leading + or 00); spaces, dashes, dots and
// brackets are allowed. The number must be valid for its region.
func Phone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 40 {
		return "", ErrInvalidPhone
	}
	for _, c := range s {
		if !strings.ContainsRune("+0123456789 -().", c) {
			return "", ErrInvalidPhone
		}
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") || strings.Count(s, "+") != 1 {
		return "", ErrInvalidPhone
	}
	num, err := phonenumbers.Parse(s, "ZZ")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return "", ErrInvalidPhone
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	// The metadata accepts some national numbers (German ones among them)
	// longer than E.164's 15 digits, which no network routes and which
	// would not be E.164 as stored and shown.
	if len(e164) > 16 {
		return "", ErrInvalidPhone
	}
	return e164, nil
}

// Kind is what an identifier turned out to be.
type Kind int

// The kinds of identifier.
const (
	KindEmail Kind = iota + 1
	KindPhone
)

// Parse classifies a login identifier ("@" means email) and normalizes it.
// key is the look-up key: the case-folded email or the E.164 phone.
func Parse(s string) (kind Kind, addr, key string, err error) {
	if strings.Contains(s, "@") {
		addr, key, err = Email(s)
		return KindEmail, addr, key, err
	}
	addr, err = Phone(s)
	return KindPhone, addr, addr, err
}
