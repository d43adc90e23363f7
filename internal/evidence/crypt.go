package evidence

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/minio/sio"
)

// KeySize is the size of a Key's secret in bytes.
const KeySize = 32

// Key is a secret that seals blobs, with the id stored in the header of
// every blob it sealed.
type Key struct {
	ID     byte
	Secret []byte // KeySize bytes
}

// Keys are the keys of a store, rotated like the rest of the server's
// secrets at rest: Current seals new blobs; Current and Old open them.
// Key ids must be distinct.
type Keys struct {
	Current Key
	Old     []Key
}

// Header layout; doc.go describes it.
const (
	headerLen = 38
	formatV1  = 1
	magic     = "WWEV"
)

// keyring holds the parsed Keys of a store.
type keyring struct {
	current Key
	secrets map[byte][]byte
}

func newKeyring(keys Keys) (*keyring, error) {
	k := &keyring{current: keys.Current, secrets: map[byte][]byte{}}
	for _, key := range append([]Key{keys.Current}, keys.Old...) {
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("evidence: key %d is %d bytes, want %d", key.ID, len(key.Secret), KeySize)
		}
		if _, dup := k.secrets[key.ID]; dup {
			return nil, fmt.Errorf("evidence: key id %d given twice", key.ID)
		}
		k.secrets[key.ID] = bytes.Clone(key.Secret)
	}
	k.current.Secret = k.secrets[keys.Current.ID]
	return k, nil
}

// dareConfig is the only DARE configuration written or read: version 2.0
// and AES-256-GCM, so a stored blob cannot ask for anything else.
func dareConfig(key []byte) sio.Config {
	return sio.Config{
		MinVersion:   sio.Version20,
		MaxVersion:   sio.Version20,
		CipherSuites: []byte{sio.AES_256_GCM},
		Key:          key,
	}
}

// blobKey derives the DARE key of one blob from a Key's secret, the
// blob's header (whose salt makes it unique) and its id (so that a blob
// copied under another id does not open).
func blobKey(secret []byte, header []byte, id string) []byte {
	info := "watchword/evidence/v1\x00" + string(header[:6]) + id
	key, err := hkdf.Key(sha256.New, secret, header[6:headerLen], info, 32)
	if err != nil {
		panic("evidence: hkdf: " + err.Error()) // only for an impossible key length
	}
	return key
}

// seal returns a reader of the stored form (header, then DARE stream) of
// what src yields, under the current key.
func (k *keyring) seal(id string, src io.Reader) (io.Reader, error) {
	var h [headerLen]byte
	copy(h[:], magic)
	h[4] = formatV1
	h[5] = k.current.ID
	rand.Read(h[6:]) // never fails (crypto/rand, Go 1.24+)
	enc, err := sio.EncryptReader(src, dareConfig(blobKey(k.current.Secret, h[:], id)))
	if err != nil {
		return nil, fmt.Errorf("evidence: encrypt: %w", err)
	}
	return io.MultiReader(bytes.NewReader(h[:]), enc), nil
}

// open reads the header of a stored blob from src and returns a reader of
// its plaintext. Errors of the header wrap ErrDecrypt, except the
// source's own read errors.
func (k *keyring) open(id string, src io.Reader) (io.Reader, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(src, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: truncated header", ErrDecrypt)
		}
		return nil, fmt.Errorf("evidence: read header: %w", err)
	}
	if string(h[:4]) != magic {
		return nil, fmt.Errorf("%w: not an evidence blob", ErrDecrypt)
	}
	if h[4] != formatV1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrDecrypt, h[4])
	}
	secret, ok := k.secrets[h[5]]
	if !ok {
		return nil, fmt.Errorf("%w: sealed by key %d, which is not configured", ErrDecrypt, h[5])
	}
	dec, err := sio.DecryptReader(src, dareConfig(blobKey(secret, h[:], id)))
	if err != nil {
		return nil, fmt.Errorf("evidence: decrypt: %w", err)
	}
	return dec, nil
}

// storedSize is the size of the stored form of a plaintext of size n.
func storedSize(n int64) int64 {
	s, _ := sio.EncryptedSize(uint64(n)) // n is far below DARE's 2^48
	return headerLen + int64(s)
}

// plainSize is the plaintext size of a stored form of size n, or an error
// wrapping ErrDecrypt when no plaintext has that stored size.
func plainSize(n int64) (int64, error) {
	if n <= headerLen {
		return 0, fmt.Errorf("%w: truncated", ErrDecrypt)
	}
	s, err := sio.DecryptedSize(uint64(n - headerLen))
	if err != nil || s == 0 {
		return 0, fmt.Errorf("%w: stored size %d is impossible", ErrDecrypt, n)
	}
	return int64(s), nil
}

// blobReader is a Blob: it reads the plaintext, turns DARE's errors into
// ErrDecrypt, checks the plaintext's size at the end, and keeps the first
// error (DARE's reader does not always).
type blobReader struct {
	dec    io.Reader
	closer io.Closer
	size   int64
	read   int64
	err    error
}

func (b *blobReader) Size() int64 { return b.size }

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.dec.Read(p)
	b.read += int64(n)
	var dare sio.Error
	switch {
	case b.read > b.size || (err == io.EOF && b.read != b.size):
		err = fmt.Errorf("%w: %d bytes or more, want %d", ErrDecrypt, b.read, b.size)
	case errors.As(err, &dare):
		err = fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *blobReader) Close() error {
	if b.err == nil {
		b.err = errors.New("evidence: read after close")
	}
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}
