package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
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
//
// A Hasher runs at most a fixed number of derivations at once; the others
// wait their turn. Each derivation holds Params.Memory of RAM (19 MiB by
// default) until it ends, so without a bound a login storm grows the
// process with the number of clients (16 logins at once took the server
// past 450 MB) without finishing a single login sooner: the work is
// CPU-bound, and more derivations than cores only share the same cores.
type Hasher struct {
	params Params
	// dummy is a well-formed hash with the hasher's params that no password
	// matches; VerifyDummy verifies against it.
	dummy string
	// slots holds one token per derivation in flight.
	slots chan struct{}
	// idKey is argon2.IDKey; tests wrap it to watch the derivations.
	idKey func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
}

// DefaultMaxInFlight is the number of derivations a Hasher with params p
// runs at once when not told otherwise: one per core the Go scheduler
// uses (GOMAXPROCS), divided by the threads each derivation uses, and at
// least one. That keeps every core busy, so logins per second stay at the
// machine's hash limit, while memory stays at about cores × Params.Memory.
func DefaultMaxInFlight(p Params) int {
	return max(1, runtime.GOMAXPROCS(0)/max(1, int(p.Threads)))
}

// NewHasher returns a Hasher that hashes with p and runs at most
// DefaultMaxInFlight(p) derivations at once. It panics if p is outside
// the bounds ParseParams enforces: that is a programming error, and
// failing at startup beats failing every login.
func NewHasher(p Params) *Hasher {
	return NewHasherLimit(p, 0)
}

// NewHasherLimit is NewHasher with at most maxInFlight derivations at
// once; zero or less means DefaultMaxInFlight(p).
func NewHasherLimit(p Params, maxInFlight int) *Hasher {
	if err := p.validate(); err != nil {
		panic(fmt.Sprintf("password: NewHasher(%v): %v", p, err))
	}
	if maxInFlight <= 0 {
		maxInFlight = DefaultMaxInFlight(p)
	}
	return &Hasher{
		params: p,
		dummy:  encode(p, make([]byte, saltLen), make([]byte, keyLen)),
		slots:  make(chan struct{}, maxInFlight),
		idKey:  argon2.IDKey,
	}
}

// MaxInFlight reports how many derivations h runs at once.
func (h *Hasher) MaxInFlight() int { return cap(h.slots) }

// derive runs one argon2id derivation once a slot is free. It waits rather
// than refuses: a login that waits a little beats one that fails. A caller
// whose ctx ends while waiting (the client gave up) leaves the queue with
// ctx's error and never holds the memory.
func (h *Hasher) derive(ctx context.Context, password, salt []byte, p Params, keyLen uint32) ([]byte, error) {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("password: waiting for a hash slot: %w", context.Cause(ctx))
	}
	defer func() { <-h.slots }()
	return h.idKey(password, salt, p.Time, p.Memory, p.Threads, keyLen), nil
}

// Hash returns a PHC string for password:
// $argon2id$v=19$m=..,t=..,p=..$<salt>$<key> with a random 16-byte salt and
// a 32-byte key, both in unpadded standard base64. The password is hashed
// in its Normalize form (NFC) and otherwise exactly as given: no trimming,
// case folding or truncation.
func (h *Hasher) Hash(password string) (string, error) {
	return h.HashContext(context.Background(), password)
}

// HashContext is Hash that gives up, with ctx's error, if ctx ends while
// it waits for a free slot.
func (h *Hasher) HashContext(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: read salt: %w", err)
	}
	key, err := h.derive(ctx, []byte(Normalize(password)), salt, h.params, keyLen)
	if err != nil {
		return "", err
	}
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
	return h.VerifyRehashContext(context.Background(), encoded, password)
}

// VerifyRehashContext is VerifyRehash that gives up, with ctx's error, if
// ctx ends while it waits for a free slot.
func (h *Hasher) VerifyRehashContext(ctx context.Context, encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	match := func(pw string) (bool, error) {
		got, err := h.derive(ctx, []byte(pw), salt, p, uint32(len(key)))
		return err == nil && subtle.ConstantTimeCompare(got, key) == 1, err
	}
	normalized := Normalize(password)
	if ok, err := match(normalized); ok || err != nil {
		return ok, ok && h.needsRehash(p, salt, key), err
	}
	if normalized != password {
		if ok, err := match(password); ok || err != nil {
			return ok, ok, err
		}
	}
	return false, false, nil
}

// VerifyDummy runs the same work as a failed Verify against a hash made
// with the hasher's current params. Call it when the account does not
// exist, so the response time does not reveal which accounts exist.
func (h *Hasher) VerifyDummy(password string) {
	_ = h.VerifyDummyContext(context.Background(), password)
}

// VerifyDummyContext is VerifyDummy that gives up, with ctx's error, if
// ctx ends while it waits for a free slot.
func (h *Hasher) VerifyDummyContext(ctx context.Context, password string) error {
	// Same code path as a real login, including the second derivation
	// for an unnormalized password; the result is always false.
	_, _, err := h.VerifyRehashContext(ctx, h.dummy, password)
	return err
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
