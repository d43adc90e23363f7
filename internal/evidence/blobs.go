package evidence

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

// Errors of this package; test for them with errors.Is.
var (
	// ErrNotFound: no complete blob is stored under that id.
	ErrNotFound = errors.New("evidence: not found")
	// ErrExists: Put was given the id of a blob that is already stored
	// (ids are never reused; stored evidence is never overwritten).
	ErrExists = errors.New("evidence: blob already exists")
	// ErrInvalidID: the id is not one NewID could have made.
	ErrInvalidID = errors.New("evidence: invalid blob id")
	// ErrEmpty: Put was given no content. An empty DARE stream has no
	// final package, so an empty blob could not be told from a truncated
	// one; evidence is never empty anyway.
	ErrEmpty = errors.New("evidence: empty blob")
	// ErrDecrypt: a stored blob cannot be decrypted: the key that sealed
	// it is not among the Keys, or it was tampered with or truncated.
	ErrDecrypt = errors.New("evidence: blob cannot be decrypted")
	// ErrTooLarge: an upload is over its size limit (the API answers 413
	// too_large).
	ErrTooLarge = errors.New("evidence: too large")
	// ErrUnsupportedType: an upload is not of an accepted type, or is an
	// image that does not decode or is too costly to (too many pixels, a
	// JPEG of too many scans) (the API answers
	// 415 unsupported_media_type). Serve also returns it for a content
	// type it will not serve.
	ErrUnsupportedType = errors.New("evidence: unsupported media type")
)

// Blobs stores encrypted blobs under server-chosen ids. Implementations
// are safe for concurrent use, by several instances of the server too.
type Blobs interface {
	// Put stores everything r yields under id and returns its size (the
	// plaintext's). It streams: the content is never held whole in
	// memory. On any error, the reader's included (such as ErrTooLarge
	// from a size limit), nothing is left stored and the error wraps the
	// cause. It returns ErrInvalidID for a malformed id, ErrExists when
	// id is taken and ErrEmpty when r yields nothing.
	Put(ctx context.Context, id string, r io.Reader) (size int64, err error)
	// Open returns the content stored under id, decrypted as it is read.
	// It returns an error wrapping ErrNotFound when there is no complete
	// blob under id, and ErrDecrypt when its header names no known key.
	// Reads return errors wrapping ErrDecrypt for a blob that was tampered
	// with or truncated; nothing read before such an error can be
	// trusted. The caller must Close the Blob.
	Open(ctx context.Context, id string) (Blob, error)
	// Delete removes the blob under id. A missing id is not an error, so
	// that retention jobs on several instances may race.
	Delete(ctx context.Context, id string) error
}

// Blob is an open stored blob: its plaintext, read in order, and its size.
type Blob interface {
	io.ReadCloser
	// Size is the size of the plaintext in bytes.
	Size() int64
}

// NewID returns a fresh blob id: 128 random bits as 26 base32 characters.
func NewID() string { return rand.Text() }

// ValidID reports whether id is a well-formed blob id: 16 to 64 of
// [A-Za-z0-9_-]. No such id can name a path outside a DirBlobs folder, nor
// one of its temporary files.
func ValidID(id string) bool {
	if len(id) < 16 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
