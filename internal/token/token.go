// Package token draws session tokens, flow ids and numeric codes from a
// random source, and hashes them with a server key so that a copy of the
// database alone cannot be used to sign in or to guess a code offline.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
)

// New returns nbytes random bytes from r, base64url-encoded without padding.
func New(r io.Reader, nbytes int) (string, error) {
	b := make([]byte, nbytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", fmt.Errorf("token: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Digits returns a uniformly random string of n decimal digits from r.
// Rejection sampling keeps every digit equally likely.
func Digits(r io.Reader, n int) (string, error) {
	out := make([]byte, n)
	var buf [8]byte
	for i := range out {
		for {
			if _, err := io.ReadFull(r, buf[:1]); err != nil {
				return "", fmt.Errorf("token: random: %w", err)
			}
			if buf[0] < 250 { // 250 = 25*10: no modulo bias
				out[i] = '0' + buf[0]%10
				break
			}
		}
	}
	return string(out), nil
}

// Uint64 returns a random uint64 from r.
func Uint64(r io.Reader) (uint64, error) {
	var buf [8]byte
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return 0, fmt.Errorf("token: random: %w", err)
	}
	return binary.BigEndian.Uint64(buf[:]), nil
}

// Hasher computes keyed hashes (HMAC-SHA-256) under a current key and
// recognizes those made under earlier keys, so that rotating the server's
// secret key keeps sessions, flows, codes and recovery codes working.
type Hasher struct{ keys [][]byte }

// NewHasher returns a Hasher whose first key is current; the others only
// serve to recognize hashes made before a rotation. It panics without a key.
func NewHasher(current []byte, previous ...[]byte) *Hasher {
	if len(current) == 0 {
		panic("token: NewHasher without a key")
	}
	return &Hasher{keys: append([][]byte{current}, previous...)}
}

// Hash returns the HMAC of parts under the current key. Parts are
// length-prefixed so that ("ab","c") and ("a","bc") hash differently.
func (h *Hasher) Hash(parts ...string) []byte {
	return hashWith(h.keys[0], parts)
}

// Hashes returns the HMAC of parts under every key, the current one first:
// a look-up tries them in order, so a value hashed before a rotation is
// still found.
func (h *Hasher) Hashes(parts ...string) [][]byte {
	out := make([][]byte, len(h.keys))
	for i, k := range h.keys {
		out[i] = hashWith(k, parts)
	}
	return out
}

// Match reports whether sum is the HMAC of parts under any key, comparing
// in constant time.
func (h *Hasher) Match(sum []byte, parts ...string) bool {
	ok := false
	for _, k := range h.keys {
		// No early exit: the time does not tell which key matched.
		ok = Equal(sum, hashWith(k, parts)) || ok
	}
	return ok
}

func hashWith(key []byte, parts []string) []byte {
	m := hmac.New(sha256.New, key)
	var n [4]byte
	for _, p := range parts {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		m.Write(n[:])
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// Equal reports whether a and b are equal, in time that does not depend
// on where they differ.
func Equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
