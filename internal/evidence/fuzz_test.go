package evidence_test

import (
	"bytes"
	"errors"
	"image"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/watchword/watchword/internal/evidence"
)

// FuzzIngest feeds arbitrary bytes to Ingest as an image and as a video:
// it never panics, either stores something of an accepted type or fails
// with one of the package's errors, and leaves nothing behind on failure.
// Each run stores files, so the fuzzer's minimizing of new inputs is
// slow: fuzz with -fuzzminimizetime=3s or so.
func FuzzIngest(f *testing.F) {
	jpg := makeJPEG(f, 16, 8)
	for _, seed := range [][]byte{
		jpg,
		withSegment(jpg, 0xE1, exifSegment(6, "GPS")),
		makePNG(f, 9, 5),
		pngHeader(100_000, 100_000),
		ftyp("isom", "iso2", "mp41"),
		ftyp("qt  "),
		ftyp("heic", "mif1"),
		webmHeader("webm"),
		[]byte("GIF89a"),
		[]byte("<svg/>"),
		nil,
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	dir := f.TempDir()
	blobs, err := evidence.NewDirBlobs(dir, evidence.Keys{Current: keyA})
	if err != nil {
		f.Fatal(err)
	}
	in := evidence.NewIngester(blobs)
	in.MaxImageBytes, in.MaxVideoBytes = 256<<10, 256<<10
	in.MaxPixels, in.MaxSide = 1<<20, 4096 // keeps each decode small

	f.Fuzz(func(t *testing.T, data []byte, isVideo bool) {
		kind := evidence.Image
		if isVideo {
			kind = evidence.Video
		}
		st, err := in.Ingest(t.Context(), kind, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, evidence.ErrUnsupportedType) && !errors.Is(err, evidence.ErrTooLarge) {
				t.Fatalf("Ingest failed with %v, not one of the package's errors", err)
			}
			if names := dirEntries(t, dir); len(names) != 0 {
				t.Fatalf("left %v after a failed upload", names)
			}
			return
		}
		defer func() {
			for _, id := range st.IDs() {
				blobs.Delete(t.Context(), id)
			}
		}()
		switch st.View.ContentType {
		case evidence.TypeJPEG, evidence.TypePNG:
			if kind != evidence.Image {
				t.Fatalf("a video stored as %s", st.View.ContentType)
			}
			b, err := read(t, blobs, st.View.ID)
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := image.Decode(bytes.NewReader(b))
			if err != nil || img.Bounds().Dx() != st.Width || img.Bounds().Dy() != st.Height {
				t.Fatalf("the staff copy does not decode to %d×%d: %v", st.Width, st.Height, err)
			}
		case evidence.TypeMP4, evidence.TypeQuickTime, evidence.TypeWebM:
			if kind != evidence.Video || st.View != st.Original {
				t.Fatalf("got %+v for a %v", st, kind)
			}
		default:
			t.Fatalf("stored as %q", st.View.ContentType)
		}
		if got, err := read(t, blobs, st.Original.ID); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("the original reads back as %d bytes, %v", len(got), err)
		}
	})
}

// FuzzOpen opens arbitrary stored forms: the header parsing and the
// decryption never panic, and anything but a blob this store sealed fails
// with ErrDecrypt.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	blobs, err := evidence.NewDirBlobs(dir, evidence.Keys{Current: keyA, Old: []evidence.Key{keyB}})
	if err != nil {
		f.Fatal(err)
	}
	const id = "FUZZFUZZFUZZFUZZFUZZ"
	content := randomBytes(70_000, 13) // two packages
	if _, err := blobs.Put(f.Context(), id, bytes.NewReader(content)); err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(filepath.Join(dir, id))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:headerLen])
	f.Add(valid[:headerLen+16])
	f.Add(valid[:headerLen+packageLen])
	f.Add(valid[:len(valid)-1])
	f.Add(append(bytes.Clone(valid[:headerLen]), valid[headerLen+packageLen:]...))
	f.Add([]byte("WWEV\x01\x02"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, stored []byte) {
		if err := os.WriteFile(filepath.Join(dir, id), stored, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := blobs.Open(t.Context(), id)
		if err != nil {
			wantErr(t, "Open", err, evidence.ErrDecrypt)
			return
		}
		defer b.Close()
		got, err := io.ReadAll(b)
		if err != nil {
			wantErr(t, "Read", err, evidence.ErrDecrypt)
			return
		}
		if !bytes.Equal(got, content) || b.Size() != int64(len(content)) {
			t.Fatalf("opened %d bytes (Size %d) that are not what was sealed", len(got), b.Size())
		}
	})
}
