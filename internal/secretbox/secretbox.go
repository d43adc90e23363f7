// Package secretbox encrypts small secrets at rest with AES-256-GCM. Each
// ciphertext starts with the id of the key that sealed it, so keys can be
// rotated: a new key seals, old keys still open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// KeySize is the size of a key in bytes.
const KeySize = 32

// ErrOpen is returned when a ciphertext cannot be opened: unknown key id,
// truncated data, or tampering.
var ErrOpen = errors.New("secretbox: cannot open ciphertext")

// Box seals with its current key and opens with any key it knows.
type Box struct {
	current byte
	aeads   map[byte]cipher.AEAD
}

// Key is an encryption key with the id stored in front of what it seals.
type Key struct {
	ID     byte
	Secret []byte // KeySize bytes
}

// New returns a Box that seals with current and opens with current and any
// of older (keys being rotated out). Key ids must be distinct.
func New(current Key, older ...Key) (*Box, error) {
	b := &Box{current: current.ID, aeads: map[byte]cipher.AEAD{}}
	for _, k := range append([]Key{current}, older...) {
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d is %d bytes, want %d", k.ID, len(k.Secret), KeySize)
		}
		if _, dup := b.aeads[k.ID]; dup {
			return nil, fmt.Errorf("secretbox: key id %d given twice", k.ID)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		b.aeads[k.ID] = aead
	}
	return b, nil
}

// Seal encrypts plaintext. additional is authenticated but not stored: the
// same value must be given to Open (bind a ciphertext to its row, e.g. a
// user id, so it cannot be moved to another).
func (b *Box) Seal(plaintext, additional []byte) ([]byte, error) {
	aead := b.aeads[b.current]
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = b.current
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return aead.Seal(out, out[1:1+aead.NonceSize()], plaintext, additional), nil
}

// Open decrypts a ciphertext made by Seal with the same additional data.
func (b *Box) Open(ciphertext, additional []byte) ([]byte, error) {
	if len(ciphertext) < 1 {
		return nil, ErrOpen
	}
	aead, ok := b.aeads[ciphertext[0]]
	if !ok || len(ciphertext) < 1+aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], additional)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// DeriveKey derives an independent 32-byte subkey for purpose from the
// master key, so one configured secret serves several uses without reuse.
func DeriveKey(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("watchword/" + purpose))
	return m.Sum(nil)
}
