package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash is returned, wrapped with details, by Verify when the
// encoded hash cannot be parsed or uses an unsupported algorithm or version.
var ErrMalformedHash = errors.New("password: malformed hash")

const (
	saltLen = 16 // bytes, as recommended by RFC 9106
	keyLen  = 32 // bytes

	// Accepted ranges when reading a stored hash: wide enough for hashes
	// made by other argon2id implementations, narrow enough that a
	// tampered row cannot make Verify derive a huge key.
	minSaltLen, maxSaltLen = 8, 64
	minKeyLen, maxKeyLen   = 16, 64
)

// b64 is the PHC encoding: standard alphabet, no padding. Strict rejects
// non-canonical encodings, so each hash has exactly one spelling.
var b64 = base64.RawStdEncoding.Strict()

// Hasher hashes and verifies passwords with argon2id. It is safe for
// concurrent use.
type Hasher struct {
	params Params
	// dummy is a well-formed hash with the hasher's params that no password
	// matches; VerifyDummy verifies against it.
	dummy string
}

// NewHasher returns a Hasher that hashes with p. It panics if p is outside
// the bounds ParseParams enforces: that is a programming error, and failing
// at startup beats failing every login.
func NewHasher(p Params) *Hasher {
	if err := p.validate(); err != nil {
		panic(fmt.Sprintf("password: NewHasher(%v): %v", p, err))
	}
	return &Hasher{
		params: p,
		dummy:  encode(p, make([]byte, saltLen), make([]byte, keyLen)),
	}
}

// Hash returns a PHC string for password:
// $argon2id$v=19$m=..,t=..,p=..$<salt>$<key> with a random 16-byte salt and
// a 32-byte key, both in unpadded standard base64. The password is hashed
// in its Normalize form (NFC) and otherwise exactly as given: no trimming,
// case folding or truncation.
func (h *Hasher) Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(Normalize(password)), salt, h.params.Time, h.params.Memory, h.params.Threads, keyLen)
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches encoded. It is VerifyRehash
// without the rehash signal; callers that store hashes should prefer
// VerifyRehash, so hashes made before normalization get upgraded.
func (h *Hasher) Verify(encoded, password string) (bool, error) {
	ok, _, err := h.VerifyRehash(encoded, password)
	return ok, err
}

// VerifyRehash reports whether password matches encoded and, when it does,
// whether the caller should store a fresh Hash(password) in its place: the
// hash was made with other parameters (NeedsRehash), or it was made from
// the password's raw, unnormalized form.
//
// The password is tried in its Normalize form first. Hashes made before
// Hash normalized were made from whatever code points the browser sent, so
// when that fails and the raw password is not already NFC, the raw form is
// tried too; a match there keeps the user in and asks for a rehash, after
// which the stored hash is of the NFC form and any keyboard's spelling
// matches. That fallback costs a second argon2id derivation for a wrong
// password typed with decomposed characters, and VerifyDummy pays it too, so
// timing still does not tell which accounts exist.
//
// The key is derived with the parameters stored in encoded, not the
// hasher's, so hashes made before a parameter change keep working. The
// comparison is constant-time. The error, which wraps ErrMalformedHash, is
// only for an encoded string that cannot be parsed; a wrong password is
// (false, false, nil).
func (h *Hasher) VerifyRehash(encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	match := func(pw string) bool {
		got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1
	}
	normalized := Normalize(password)
	if match(normalized) {
		return true, h.needsRehash(p, salt, key), nil
	}
	if normalized != password && match(password) {
		return true, true, nil
	}
	return false, false, nil
}

// VerifyDummy runs the same work as a failed Verify against a hash made
// with the hasher's current params. Call it when the account does not
// exist, so the response time does not reveal which accounts exist.
func (h *Hasher) VerifyDummy(password string) {
	// Same code path as a real login, including the second derivation
	// for an unnormalized password; the result is always false.
	_, _ = h.Verify(h.dummy, password)
}

// NeedsRehash reports whether encoded was made with other parameters (or
// another salt or key length) than the hasher would use now. A malformed
// hash needs a rehash too. Call it after a successful Verify and, if true,
// store a fresh Hash of the password just verified.
//
// NeedsRehash sees only the hash, so it cannot tell a hash made from an
// unnormalized password; VerifyRehash can.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	return err != nil || h.needsRehash(p, salt, key)
}

func (h *Hasher) needsRehash(p Params, salt, key []byte) bool {
	return p != h.params || len(salt) != saltLen || len(key) != keyLen
}

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decode(encoded string) (p Params, salt, key []byte, err error) {
	fields := strings.Split(encoded, "$")
	// "$argon2id$v=19$m=..,t=..,p=..$salt$key" splits into an empty string
	// and five fields.
	if len(fields) != 6 || fields[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: want $argon2id$v=19$m=..,t=..,p=..$salt$key", ErrMalformedHash)
	}
	if fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: unsupported algorithm %q", ErrMalformedHash, fields[1])
	}
	if fields[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, fields[2])
	}
	if p, err = parseParams(fields[3]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	if salt, err = b64.DecodeString(fields[4]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %w", ErrMalformedHash, err)
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: salt is %d bytes, want %d to %d", ErrMalformedHash, len(salt), minSaltLen, maxSaltLen)
	}
	if key, err = b64.DecodeString(fields[5]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: key: %w", ErrMalformedHash, err)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: key is %d bytes, want %d to %d", ErrMalformedHash, len(key), minKeyLen, maxKeyLen)
	}
	return p, salt, key, nil
}
