package totp

import (
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// Period is the length of one time step. Authenticator apps assume 30 s.
const Period = 30 * time.Second

// Digits is the number of digits in a code.
const Digits = 6

// SecretSize is the size of a secret in bytes (160 bits, the HMAC-SHA-1
// block-size recommendation of RFC 4226 section 4).
const SecretSize = 20

// MaxDriftSteps is how far, in steps on each side, a code is searched when
// detecting a phone clock that is off: 10 steps is 5 minutes. It is also the
// largest window Verify accepts, which bounds the work (and the guessing
// odds) of one verification.
const MaxDriftSteps = 10

// periodSeconds is Period in whole seconds, for the step arithmetic.
const periodSeconds = int64(Period / time.Second)

// encoding is base32 without padding: what authenticator apps accept and
// what otpauth:// URIs carry.
var encoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// opts are the HOTP parameters Google Authenticator uses.
var opts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewSecret returns SecretSize random bytes read from r. Pass
// crypto/rand.Reader in production; tests may pass a deterministic reader.
func NewSecret(r io.Reader) ([]byte, error) {
	secret := make([]byte, SecretSize)
	if _, err := io.ReadFull(r, secret); err != nil {
		return nil, fmt.Errorf("totp: new secret: %w", err)
	}
	return secret, nil
}

// EncodeSecret returns secret in base32 without padding, the form apps
// accept when the secret is typed in and the form used in the URI.
func EncodeSecret(secret []byte) string {
	return encoding.EncodeToString(secret)
}

// GroupSecret returns EncodeSecret(secret) in groups of 4 characters
// separated by spaces, which is easier to copy onto paper and type back.
// Authenticator apps ignore the spaces.
func GroupSecret(secret []byte) string {
	s := EncodeSecret(secret)
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// Step returns the RFC 6238 time step of t: floor(unix seconds / 30). It is
// computed in 64 bits, so it keeps working past 2038.
func Step(t time.Time) int64 {
	u := t.Unix()
	s := u / periodSeconds
	if u%periodSeconds < 0 { // floor, not truncation, before 1970
		s--
	}
	return s
}

// Code returns the 6-digit code of secret at step. Steps before 1970
// (negative) have no code as far as Verify is concerned.
func Code(secret []byte, step int64) string {
	return encodedCode(EncodeSecret(secret), step)
}

// encodedCode is Code with the secret already base32-encoded (the form
// pquerna/otp takes), so Verify encodes it once for all candidate steps.
func encodedCode(encoded string, step int64) string {
	c, err := hotp.GenerateCodeCustom(encoded, uint64(step), opts)
	if err != nil {
		// Unreachable: encoded comes from our own base32 encoder. An empty
		// code never equals 6 digits, so Verify still fails closed.
		return ""
	}
	return c
}

// Match is the result of a successful Verify.
type Match struct {
	// Step is the time step the code belongs to. Record it so the same
	// step cannot be accepted twice for a user.
	Step int64
	// Offset is Step minus the server's step at the time of the check:
	// positive when the phone's clock is ahead. Store it as the learned
	// center for the next Verify.
	Offset int
}

// Verify reports whether code is the code of secret for one of the steps
// Step(now)+center-window .. Step(now)+center+window, where center is the
// learned offset of the user's phone clock in steps (0 when unknown). It
// returns the matched step and its offset from Step(now).
//
// code must be exactly Digits ASCII digits; anything else, an empty secret,
// a window outside 0..MaxDriftSteps, or candidate steps that are negative or
// overflow simply do not match (no error, no panic). Every candidate step is
// computed and compared in constant time, with no early return, so the
// timing does not tell which step matched. If two steps happen to share a
// code, the one closest to center wins.
func Verify(secret []byte, code string, now time.Time, center, window int) (Match, bool) {
	if len(secret) == 0 || window < 0 || window > MaxDriftSteps || !wellFormed(code) {
		return Match{}, false
	}
	nowStep := Step(now)
	encoded := EncodeSecret(secret)
	given := []byte(code)

	var found int     // 1 once a candidate matched
	var matched int64 // step of the first (closest to center) match
	var offset int64  // matched - nowStep
	for i := 0; i <= 2*window; i++ {
		// Visit center, center-1, center+1, center-2, ... so the first
		// match is the one closest to center.
		d := int64((i + 1) / 2)
		if i%2 == 1 {
			d = -d
		}
		off, ok1 := add(int64(center), d)
		step, ok2 := add(nowStep, off)
		if !ok1 || !ok2 || step < 0 {
			continue // no such step; skipping leaks nothing about the secret
		}
		eq := subtle.ConstantTimeCompare([]byte(encodedCode(encoded, step)), given)
		take := eq &^ found // 1 only for the first match
		mask := -int64(take)
		matched = matched&^mask | step&mask
		offset = offset&^mask | off&mask
		found |= eq
	}
	if found == 0 || offset < math.MinInt || offset > math.MaxInt {
		return Match{}, false
	}
	return Match{Step: matched, Offset: int(offset)}, true
}

// wellFormed reports whether s is exactly Digits ASCII digits. The code is
// user input, not a secret, so an early return here leaks nothing.
func wellFormed(s string) bool {
	if len(s) != Digits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// add returns a+b and whether it did not overflow.
func add(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}
