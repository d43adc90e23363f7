package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/watchword/watchword/internal/evidence"
)

// Stored form sizes (see doc.go): a 38-byte header, then DARE packages of
// 16 + 64 KiB + 16 bytes.
const (
	headerLen   = 38
	packageLen  = 16 + 64<<10 + 16
	payloadSize = 64 << 10
)

func TestRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		for _, n := range []int{
			1, payloadSize - 1, payloadSize, payloadSize + 1, 3*payloadSize + 5,
			// Stored forms of a PostgreSQL chunk (256 KiB) and either side.
			261977, 261978, 261979,
			1<<20 + 17,
		} {
			content := randomBytes(n, uint64(n))
			id := put(t, blobs, content)
			got, err := read(t, blobs, id)
			if err != nil {
				t.Fatalf("%d bytes: read: %v", n, err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("%d bytes: read back %d different bytes", n, len(got))
			}
			if raw := be.raw(t, id); bytes.Contains(raw, content[:min(n, 32)]) && n >= 16 {
				t.Fatalf("%d bytes: the stored form contains the plaintext", n)
			}
		}
	})
}

func TestRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be *backend) {
		content := randomBytes(100_000, 1)
		onlyA := be.open(t, evidence.Keys{Current: keyA})
		idA := put(t, onlyA, content)

		// B becomes current; A still opens what it sealed.
		rotated := be.open(t, evidence.Keys{Current: keyB, Old: []evidence.Key{keyA}})
		got, err := read(t, rotated, idA)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("blob of key A after rotation: %d bytes, %v", len(got), err)
		}
		idB := put(t, rotated, content)
		if raw := be.raw(t, idB); raw[5] != keyB.ID {
			t.Fatalf("new blob sealed by key %d, want %d", raw[5], keyB.ID)
		}

		// A retired: its blobs no longer open, cleanly.
		onlyB := be.open(t, evidence.Keys{Current: keyB})
		_, err = read(t, onlyB, idA)
		wantErr(t, "read a blob of a retired key", err, evidence.ErrDecrypt)
		if got, err := read(t, onlyB, idB); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("blob of key B: %d bytes, %v", len(got), err)
		}
		_, err = read(t, onlyA, idB)
		wantErr(t, "read a blob of a key not yet known", err, evidence.ErrDecrypt)

		// Same id, another secret: the header's key id matches, the key does not.
		impostor := be.open(t, evidence.Keys{Current: evidence.Key{ID: keyA.ID, Secret: keyB.Secret}})
		_, err = read(t, impostor, idA)
		wantErr(t, "read with a wrong secret under the right id", err, evidence.ErrDecrypt)
	})
}

func TestTamper(t *testing.T) {
	// 3 full packages and a short final one.
	content := randomBytes(3*payloadSize+1000, 2)
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Clone(b)
			b[off] ^= 0x01
			return b
		}
	}
	cut := func(n int) func([]byte) []byte { return func(b []byte) []byte { return b[:n] } }
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"MagicByte", flip(0)},
		{"FormatVersion", flip(4)},
		{"KeyID", flip(5)},
		{"Salt", flip(20)},
		{"FirstPackageHeader", flip(headerLen + 2)},
		{"FirstPackageNonce", flip(headerLen + 10)},
		{"FirstPackageCiphertext", flip(headerLen + 100)},
		{"MiddlePackageCiphertext", flip(headerLen + packageLen + 500)},
		{"MiddlePackageTag", flip(headerLen + 2*packageLen - 1)},
		{"LastByte", func(b []byte) []byte { return flip(len(b) - 1)(b) }},
		{"TruncatedAtPackage", cut(headerLen + 3*packageLen)},
		{"TruncatedToOnePackage", cut(headerLen + packageLen)},
		{"TruncatedByOneByte", func(b []byte) []byte { return b[:len(b)-1] }},
		{"TruncatedInHeader", cut(20)},
		{"HeaderOnly", cut(headerLen)},
		{"Empty", cut(0)},
		{"DataAppended", func(b []byte) []byte { return append(bytes.Clone(b), make([]byte, 100)...) }},
		{"PackageAppended", func(b []byte) []byte {
			return append(bytes.Clone(b), b[headerLen:headerLen+packageLen]...)
		}},
		{"PackagesSwapped", func(b []byte) []byte {
			out := bytes.Clone(b)
			p1 := b[headerLen : headerLen+packageLen]
			p2 := b[headerLen+packageLen : headerLen+2*packageLen]
			copy(out[headerLen:], p2)
			copy(out[headerLen+packageLen:], p1)
			return out
		}},
		{"PackageDropped", func(b []byte) []byte {
			out := bytes.Clone(b[:headerLen+packageLen])
			return append(out, b[headerLen+2*packageLen:]...)
		}},
	}
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := put(t, blobs, content)
				be.setRaw(t, id, tc.damage(be.raw(t, id)))
				got, err := read(t, blobs, id)
				wantErr(t, "read a damaged blob", err, evidence.ErrDecrypt)
				if bytes.Equal(got, content) {
					t.Fatal("read the whole content of a damaged blob")
				}
			})
		}
		t.Run("CopiedUnderAnotherID", func(t *testing.T) {
			id := put(t, blobs, content)
			other := put(t, blobs, []byte("placeholder"))
			be.setRaw(t, other, be.raw(t, id))
			_, err := read(t, blobs, other)
			wantErr(t, "read a blob copied under another id", err, evidence.ErrDecrypt)
		})
	})
}

// failAfter yields n bytes, then fails with err.
type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func TestPutFailureLeavesNothing(t *testing.T) {
	errBoom := errors.New("boom")
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		midwayCtx, cancel := context.WithCancel(t.Context())
		midway := io.MultiReader(&failAfter{400 << 10, io.EOF}, cancelReader(cancel), &failAfter{400 << 10, io.EOF})
		tests := []struct {
			name    string
			ctx     func() context.Context
			r       io.Reader
			wantErr error
		}{
			{"ReaderFailsAtOnce", t.Context, &failAfter{0, errBoom}, errBoom},
			{"ReaderFailsMidway", t.Context, &failAfter{700 << 10, errBoom}, errBoom},
			{"SizeLimit", t.Context, &failAfter{300 << 10, evidence.ErrTooLarge}, evidence.ErrTooLarge},
			{"Empty", t.Context, bytes.NewReader(nil), evidence.ErrEmpty},
			{"Cancelled", func() context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return ctx
			}, bytes.NewReader(randomBytes(500<<10, 3)), context.Canceled},
			{"CancelledMidway", func() context.Context { return midwayCtx }, midway, context.Canceled},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				id := evidence.NewID()
				_, err := blobs.Put(tc.ctx(), id, tc.r)
				wantErr(t, "Put", err, tc.wantErr)
				if n := be.count(t); n != 0 {
					t.Fatalf("%d things stored after a failed Put, want none", n)
				}
				_, err = blobs.Open(t.Context(), id)
				wantErr(t, "Open after a failed Put", err, evidence.ErrNotFound)
			})
		}
	})
}

// cancelReader calls cancel when read, and yields nothing.
type cancelReader context.CancelFunc

func (c cancelReader) Read([]byte) (int, error) {
	c()
	return 0, io.EOF
}

func TestIDsAndDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		ctx := t.Context()
		t.Run("NotFound", func(t *testing.T) {
			_, err := blobs.Open(ctx, evidence.NewID())
			wantErr(t, "Open", err, evidence.ErrNotFound)
		})
		t.Run("DeleteIsIdempotent", func(t *testing.T) {
			id := put(t, blobs, []byte("evidence"))
			for i := range 2 {
				if err := blobs.Delete(ctx, id); err != nil {
					t.Fatalf("Delete #%d: %v", i+1, err)
				}
			}
			_, err := blobs.Open(ctx, id)
			wantErr(t, "Open after Delete", err, evidence.ErrNotFound)
			if n := be.count(t); n != 0 {
				t.Fatalf("%d things stored after Delete", n)
			}
		})
		t.Run("Exists", func(t *testing.T) {
			id := put(t, blobs, []byte("first"))
			_, err := blobs.Put(ctx, id, bytes.NewReader([]byte("second")))
			wantErr(t, "Put of a taken id", err, evidence.ErrExists)
			if got, err := read(t, blobs, id); err != nil || string(got) != "first" {
				t.Fatalf("first blob after a second Put: %q, %v", got, err)
			}
			blobs.Delete(ctx, id)
		})
		t.Run("InvalidIDs", func(t *testing.T) {
			for _, id := range []string{
				"", "short", "../../../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "/etc/passwd0000000000",
				"has space 0123456789", ".tmp-0123456789abcdef", "x\x00yyyyyyyyyyyyyyyyyyyy",
				"a/b0123456789abcdef", `a\b0123456789abcdef`, string(bytes.Repeat([]byte("a"), 65)),
			} {
				_, err := blobs.Put(ctx, id, bytes.NewReader([]byte("x")))
				wantErr(t, "Put "+id, err, evidence.ErrInvalidID)
				_, err = blobs.Open(ctx, id)
				wantErr(t, "Open "+id, err, evidence.ErrInvalidID)
				wantErr(t, "Delete "+id, blobs.Delete(ctx, id), evidence.ErrInvalidID)
			}
			if n := be.count(t); n != 0 {
				t.Fatalf("%d things stored", n)
			}
		})
		t.Run("RemoveIncomplete", func(t *testing.T) {
			id := put(t, blobs, []byte("complete"))
			be.addIncomplete(t)
			if n := be.removeIncomplete(t, blobs); n != 1 {
				t.Fatalf("removed %d, want 1", n)
			}
			if got, err := read(t, blobs, id); err != nil || string(got) != "complete" {
				t.Fatalf("complete blob: %q, %v", got, err)
			}
			blobs.Delete(ctx, id)
			if n := be.count(t); n != 0 {
				t.Fatalf("%d things stored", n)
			}
		})
	})
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := evidence.NewID()
		if !evidence.ValidID(id) || seen[id] {
			t.Fatalf("NewID gave %q (valid %v, repeated %v)", id, evidence.ValidID(id), seen[id])
		}
		seen[id] = true
	}
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		keys evidence.Keys
	}{
		{"Short", evidence.Keys{Current: evidence.Key{ID: 1, Secret: []byte("short")}}},
		{"None", evidence.Keys{}},
		{"DuplicateID", evidence.Keys{Current: keyA, Old: []evidence.Key{{ID: keyA.ID, Secret: keyB.Secret}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := evidence.NewDirBlobs(t.TempDir(), tc.keys); err == nil {
				t.Fatal("NewDirBlobs: want an error")
			}
			if _, err := evidence.NewPostgresBlobs(nil, tc.keys); err == nil {
				t.Fatal("NewPostgresBlobs: want an error")
			}
		})
	}
}
