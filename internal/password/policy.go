package password

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// Policy is the rule set for new passwords, after NIST SP 800-63B: a length
// range counted in Unicode code points, no composition rules (no "one digit,
// one symbol"), and a refusal of passwords that are common (an embedded
// multilingual list, see isCommon), breached or easy to guess, as
// estimated by zxcvbn. A zero field takes its value from DefaultPolicy.
type Policy struct {
	MinLength int // minimum length in code points
	MaxLength int // maximum length in code points
	MinScore  int // minimum zxcvbn score, 0 (too guessable) to 4 (very unguessable)
}

// DefaultPolicy accepts 8 to 256 code points with a zxcvbn score of at
// least 2.
//
// MinScore is 2 rather than 3 because zxcvbn never rates an 8-character
// password above 10^8 guesses (it models unknown characters as 10 guesses
// each), and score 3 starts above 10^8: with 3, no 8-character password
// could ever pass and MinLength would be a lie. Score 2 still refuses
// everything within about 10^6 guesses, which covers breached and common
// passwords with the usual decorations ("password123", "iloveyou1",
// "qwertyuiop"). Online guessing is throttled and offline guessing pays
// argon2id for every try, so that margin is adequate.
var DefaultPolicy = Policy{MinLength: 8, MaxLength: 256, MinScore: 2}

// Weakness is the error Check returns for a refused password. Reason is a
// short sentence that can be shown to the user as is.
type Weakness struct {
	Reason string
}

// Error returns w.Reason.
func (w *Weakness) Error() string { return w.Reason }

// Reasons given by Check for what is not a length problem.
const (
	reasonInvalid = "This password contains invalid characters."
	reasonCommon  = "This password is too common or has appeared in data breaches."
	reasonContext = "Avoid using your email address or the product name in your password."
	reasonWeak    = "This password is too easy to guess. Try a longer phrase of unrelated words."
)

// productName is always treated as a user input: a password built on the
// name of the site is among the first an attacker tries.
const productName = "watchword"

// Check returns nil if password is acceptable and a *Weakness otherwise.
// The password is judged in its Normalize form (NFC), the form Hash
// stores, never trimmed, and its length is counted in code points of that
// form.
//
// The checks, in order: length; context words; the common-password list;
// zxcvbn.
//
// userInputs are words from the user's context: email address, email local
// part, phone number. The product name is always added. They are given to
// zxcvbn, and also checked directly: a password in which one of them (4
// code points or longer, case-insensitive) makes up at least half of the
// code points is refused.
//
// The common-password list (see isCommon) is checked on the whole
// password, lower-cased. zxcvbn only sees a prefix: at most 64 code
// points, and as few as 20 for a password dense in digits and symbols
// (see zxcvbnInput), because its running time grows much faster than the
// length. The length and the other checks still apply to the whole
// password.
func (p Policy) Check(password string, userInputs ...string) error {
	p = p.withDefaults()
	if !utf8.ValidString(password) {
		return &Weakness{Reason: reasonInvalid}
	}
	password = Normalize(password)
	n := utf8.RuneCountInString(password)
	if n < p.MinLength {
		return &Weakness{Reason: fmt.Sprintf("Use at least %d characters.", p.MinLength)}
	}
	if n > p.MaxLength {
		return &Weakness{Reason: fmt.Sprintf("Use at most %d characters.", p.MaxLength)}
	}

	inputs := contextWords(userInputs)
	lower := strings.ToLower(password)
	for _, in := range inputs {
		if utf8.RuneCountInString(in) < 4 || !strings.Contains(lower, in) {
			continue
		}
		rest := utf8.RuneCountInString(strings.ReplaceAll(lower, in, ""))
		if 2*rest <= utf8.RuneCountInString(lower) {
			return &Weakness{Reason: reasonContext}
		}
	}

	if isCommon(lower) {
		return &Weakness{Reason: reasonCommon}
	}

	zInputs := make([]string, len(inputs))
	for i, in := range inputs {
		zInputs[i] = zxcvbnSafe(in)
	}
	res := zxcvbn.PasswordStrength(zxcvbnInput(password), zInputs)
	if res.Score >= p.MinScore {
		return nil
	}
	reason := reasonWeak
	for _, m := range res.Sequence {
		if m.Pattern != "dictionary" {
			continue
		}
		if m.DictionaryName == "user_inputs" {
			reason = reasonContext
			break
		}
		reason = reasonCommon
	}
	return &Weakness{Reason: reason}
}

func (p Policy) withDefaults() Policy {
	if p.MinLength == 0 {
		p.MinLength = DefaultPolicy.MinLength
	}
	if p.MaxLength == 0 {
		p.MaxLength = DefaultPolicy.MaxLength
	}
	if p.MinScore == 0 {
		p.MinScore = DefaultPolicy.MinScore
	}
	return p
}

// contextWords returns the normalized, lower-cased, trimmed user inputs
// plus the product name, and adds the local part of anything that looks
// like an email address.
func contextWords(userInputs []string) []string {
	words := []string{productName}
	for _, in := range userInputs {
		in = strings.ToLower(strings.TrimSpace(Normalize(in)))
		if in == "" {
			continue
		}
		words = append(words, in)
		if local, _, ok := strings.Cut(in, "@"); ok && local != "" {
			words = append(words, local)
		}
	}
	return words
}

// controlRunes are the ASCII control characters other than whitespace,
// which no zxcvbn dictionary, keyboard graph or date pattern contains.
var controlRunes = []byte("\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")

// zxcvbnSafe returns the first zxcvbnMaxRunes code points of s with every
// non-ASCII code point replaced by one ASCII control character, so the
// result has one byte per code point.
//
// github.com/trustelem/zxcvbn v1.0.1 mixes byte and rune indexes when it
// scores multi-byte text and can report 0 guesses for a long passphrase
// ("пароль-очень-длинный-и-новый" scores 0). Its dictionaries and keyboard
// graphs are ASCII-only, so non-ASCII characters can only ever be scored
// as brute force, repeats or sequences. One byte per code point keeps all
// three: case is folded and equal letters map to equal bytes (repeats
// survive), and neighbouring code points stay neighbours except where the
// 26-byte table wraps (sequences survive). Collisions can only make a
// password look weaker, never stronger.
func zxcvbnSafe(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == zxcvbnMaxRunes {
			break
		}
		n++
		if r < utf8.RuneSelf {
			b.WriteRune(r)
			continue
		}
		b.WriteByte(controlRunes[int(unicode.ToLower(r))%len(controlRunes)])
	}
	return b.String()
}
