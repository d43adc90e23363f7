package password

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// commonPasswordsText is the list of common passwords, one a line, each
// NFC-normalized, lower-cased and at least 6 code points long, sorted.
//
// It is built by gen/main.go, which says exactly how, from two sources:
// the passwords.json of the npm package @zxcvbn-ts/language-common 4.1.3
// (MIT licence; the passwords seen more than ten times in Mark Burnett's
// ten-million-password corpus, ASCII only), and gen/supplement.txt,
// written for watchword, which adds what that English-centred list misses:
// pinyin phrases and names, Chinese numeric love codes, Russian words and
// keyboard walks, and "password" in other languages, with number suffixes
// and keyboard-layout transpositions (пароль typed on QWERTY is gfhjkm).
//
//go:embed commonpasswords.txt
var commonPasswordsText string

// commonPasswords is the list as a set, built on first use: about 54,000
// entries, a few MB that a process which never checks a new password does
// not pay for.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(commonPasswordsText, "\n"))
	for line := range strings.Lines(commonPasswordsText) {
		if line = strings.TrimSuffix(line, "\n"); line != "" {
			set[line] = struct{}{}
		}
	}
	return set
})

// Limits on the decoration isCommon strips from the end of a password.
const (
	maxDecorationDigits  = 4 // more digits only count when the digits are common themselves
	maxDecorationSymbols = 3
)

// isCommon reports whether lower, a normalized, lower-cased password, is on
// the common-password list, or is an entry of the list followed by a cheap
// decoration.
//
// The decoration is the trailing run of digits, punctuation, symbols and
// spaces ("1314!" in "woaini1314!"). Appending one to a common word is the
// first rule every cracking tool applies, so such a password is refused
// when the part before the run is on the list and the run is short: at
// most maxDecorationSymbols non-digits, and its digits at most
// maxDecorationDigits long or themselves on the list (123456, 5201314).
// Since entries are at least 6 code points long, a short base such as
// "abc" never counts. Decorations in front or in the middle are left to
// zxcvbn.
func isCommon(lower string) bool {
	set := commonPasswords()
	if _, ok := set[lower]; ok {
		return true
	}
	base := strings.TrimRightFunc(lower, isDecoration)
	if base == "" || base == lower {
		return false
	}
	if _, ok := set[base]; !ok {
		return false
	}
	var digits strings.Builder
	symbols := 0
	for _, r := range lower[len(base):] {
		if unicode.IsDigit(r) {
			digits.WriteRune(r)
		} else {
			symbols++
		}
	}
	if symbols > maxDecorationSymbols {
		return false
	}
	if utf8.RuneCountInString(digits.String()) <= maxDecorationDigits {
		return true
	}
	_, ok := set[digits.String()]
	return ok
}

func isDecoration(r rune) bool {
	return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
}
