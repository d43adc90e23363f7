// Package identifier validates and normalizes the two kinds of login
// identifier: email addresses and phone numbers.
package identifier

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Errors returned for input that is not a usable address.
var (
	ErrInvalidEmail = errors.New("not a valid email address")
	ErrInvalidPhone = errors.New("not a valid phone number in international format")
)

// Email returns the normalized form of an email address (trimmed, domain
// lower-cased) and its key: the fully case-folded form used for
// uniqueness and look-ups, since addresses compare case-insensitively.
func Email(s string) (addr, key string, err error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 254 || !utf8.ValidString(s) {
		return "", "", ErrInvalidEmail
	}
	parsed, err := mail.ParseAddress(s)
	// A bare address only: no display name, no comments, no angle brackets.
	if err != nil || parsed.Name != "" || parsed.Address != s {
		return "", "", ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], strings.ToLower(s[at+1:])
	if local == "" || len(local) > 64 || !validDomain(domain) {
		return "", "", ErrInvalidEmail
	}
	addr = local + "@" + domain
	return addr, strings.ToLower(addr), nil
}

// validDomain accepts a DNS name with at least two labels; IP literals and
// single-label hosts are not addresses users sign up with.
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
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c > 127) {
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
	return phonenumbers.Format(num, phonenumbers.E164), nil
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
