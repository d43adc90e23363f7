package evidence_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/minio/sio"

	"github.com/watchword/watchword/internal/evidence"
	"github.com/watchword/watchword/internal/storetest"
)

var (
	keyA = evidence.Key{ID: 1, Secret: bytes.Repeat([]byte{0xA}, 32)}
	keyB = evidence.Key{ID: 2, Secret: bytes.Repeat([]byte{0xB}, 32)}
)

// backend is one kind of storage under test, with ways around the store
// to look at and damage what it keeps.
type backend struct {
	// open returns a store over the same storage each time, with keys.
	open func(t *testing.T, keys evidence.Keys) evidence.Blobs
	// count is how many things are stored: files (temporary ones too), or
	// rows of blobs and chunks (incomplete ones too).
	count func(t *testing.T) int
	// raw returns the stored form of a blob; setRaw replaces it.
	raw    func(t *testing.T, id string) []byte
	setRaw func(t *testing.T, id string, b []byte)
	// addIncomplete leaves what a crash in the middle of a Put would.
	addIncomplete func(t *testing.T)
	// removeIncomplete is RemoveIncomplete of the backend's store.
	removeIncomplete func(t *testing.T, blobs evidence.Blobs) int
}

// forEachBackend runs fn on the folder store and on the PostgreSQL store
// (skipped when PostgreSQL is down, except in CI).
func forEachBackend(t *testing.T, fn func(t *testing.T, be *backend)) {
	t.Helper()
	t.Run("dir", func(t *testing.T) { fn(t, dirBackend(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgBackend(t)) })
}

func dirBackend(t *testing.T) *backend {
	dir := filepath.Join(t.TempDir(), "evidence")
	return &backend{
		open: func(t *testing.T, keys evidence.Keys) evidence.Blobs {
			t.Helper()
			b, err := evidence.NewDirBlobs(dir, keys)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		count: func(t *testing.T) int {
			t.Helper()
			return len(dirEntries(t, dir))
		},
		raw: func(t *testing.T, id string) []byte {
			t.Helper()
			b, err := os.ReadFile(filepath.Join(dir, id))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		setRaw: func(t *testing.T, id string, b []byte) {
			t.Helper()
			if err := os.WriteFile(filepath.Join(dir, id), b, 0o600); err != nil {
				t.Fatal(err)
			}
		},
		addIncomplete: func(t *testing.T) {
			t.Helper()
			name := filepath.Join(dir, ".tmp-12345")
			if err := os.WriteFile(name, []byte("half"), 0o600); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-2 * time.Hour)
			if err := os.Chtimes(name, old, old); err != nil {
				t.Fatal(err)
			}
		},
		removeIncomplete: func(t *testing.T, blobs evidence.Blobs) int {
			t.Helper()
			n, err := blobs.(*evidence.DirBlobs).RemoveIncomplete(t.Context(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
	}
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// pgChunk is PostgresBlobs' chunk size, which setRaw keeps.
const pgChunk = 256 << 10

func pgBackend(t *testing.T) *backend {
	db, err := sql.Open("pgx", storetest.OpenPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec := func(t *testing.T, q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &backend{
		open: func(t *testing.T, keys evidence.Keys) evidence.Blobs {
			t.Helper()
			b, err := evidence.NewPostgresBlobs(db, keys)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.EnsureSchema(t.Context()); err != nil {
				t.Fatal(err)
			}
			return b
		},
		count: func(t *testing.T) int {
			t.Helper()
			var n int
			err := db.QueryRow(`SELECT (SELECT count(*) FROM evidence_blobs) + (SELECT count(*) FROM evidence_chunks)`).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
		raw: func(t *testing.T, id string) []byte {
			t.Helper()
			rows, err := db.Query(`SELECT data FROM evidence_chunks WHERE blob_id = $1 ORDER BY seq`, id)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var out []byte
			for rows.Next() {
				var b []byte
				if err := rows.Scan(&b); err != nil {
					t.Fatal(err)
				}
				out = append(out, b...)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		},
		setRaw: func(t *testing.T, id string, b []byte) {
			t.Helper()
			// Keeps the rows consistent with the new stored form, as an
			// attacker with write access to the database could, so that
			// the cryptography is what must notice.
			exec(t, `DELETE FROM evidence_chunks WHERE blob_id = $1`, id)
			seq := 0
			for off := 0; off < len(b); off += pgChunk {
				exec(t, `INSERT INTO evidence_chunks (blob_id, seq, data) VALUES ($1, $2, $3)`,
					id, seq, b[off:min(off+pgChunk, len(b))])
				seq++
			}
			size := int64(1)
			if len(b) > 38 {
				if s, err := sio.DecryptedSize(uint64(len(b) - 38)); err == nil && s > 0 {
					size = int64(s)
				}
			}
			exec(t, `UPDATE evidence_blobs SET size = $2, chunks = $3 WHERE blob_id = $1`, id, size, seq)
		},
		addIncomplete: func(t *testing.T) {
			t.Helper()
			exec(t, `INSERT INTO evidence_blobs (blob_id, created_at) VALUES ('CRASHEDCRASHEDCRASHED', now() - interval '2 hours')`)
			exec(t, `INSERT INTO evidence_chunks (blob_id, seq, data) VALUES ('CRASHEDCRASHEDCRASHED', 0, 'half')`)
		},
		removeIncomplete: func(t *testing.T, blobs evidence.Blobs) int {
			t.Helper()
			n, err := blobs.(*evidence.PostgresBlobs).RemoveIncomplete(t.Context(), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return n
		},
	}
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	r.Read(b)
	return b
}

func put(t *testing.T, blobs evidence.Blobs, content []byte) string {
	t.Helper()
	id := evidence.NewID()
	size, err := blobs.Put(t.Context(), id, bytes.NewReader(content))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if size != int64(len(content)) {
		t.Fatalf("Put: size %d, want %d", size, len(content))
	}
	return id
}

// read opens and reads a whole blob.
func read(t *testing.T, blobs evidence.Blobs, id string) ([]byte, error) {
	t.Helper()
	b, err := blobs.Open(t.Context(), id)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	got, err := io.ReadAll(b)
	if err == nil && int64(len(got)) != b.Size() {
		t.Errorf("read %d bytes, Size says %d", len(got), b.Size())
	}
	return got, err
}

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %v", what, got, want)
	}
}

// Images.

// quadrants is a w×h image whose quarters are red, green, blue and white
// (top left, top right, bottom left, bottom right).
func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c color.RGBA
			switch {
			case x < w/2 && y < h/2:
				c = color.RGBA{255, 0, 0, 255}
			case y < h/2:
				c = color.RGBA{0, 255, 0, 255}
			case x < w/2:
				c = color.RGBA{0, 0, 255, 255}
			default:
				c = color.RGBA{255, 255, 255, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func makeJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, quadrants(w, h), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, quadrants(w, h)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withSegment inserts a JPEG segment (marker, then body) after SOI.
func withSegment(jpg []byte, marker byte, body []byte) []byte {
	seg := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(body)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, body...)
	return append(out, jpg[2:]...)
}

// exifSegment is an APP1 EXIF body whose IFD0 has an Orientation tag (when
// orientation > 0) and a GPS IFD holding a position, followed by text.
func exifSegment(orientation int, text string) []byte {
	le := binary.LittleEndian
	var t []byte
	t = append(t, "II*\x00"...)
	t = le.AppendUint32(t, 8)
	entries := 1
	if orientation > 0 {
		entries++
	}
	t = le.AppendUint16(t, uint16(entries))
	if orientation > 0 {
		t = le.AppendUint16(t, 0x0112)
		t = le.AppendUint16(t, 3)
		t = le.AppendUint32(t, 1)
		t = le.AppendUint16(t, uint16(orientation))
		t = le.AppendUint16(t, 0)
	}
	gpsIFD := uint32(8 + 2 + 12*entries + 4)
	t = le.AppendUint16(t, 0x8825) // GPS IFD pointer
	t = le.AppendUint16(t, 4)
	t = le.AppendUint32(t, 1)
	t = le.AppendUint32(t, gpsIFD)
	t = le.AppendUint32(t, 0) // no next IFD
	// GPS IFD: GPSLatitudeRef "N".
	t = le.AppendUint16(t, 1)
	t = le.AppendUint16(t, 1)
	t = le.AppendUint16(t, 2)
	t = le.AppendUint32(t, 2)
	t = append(t, 'N', 0, 0, 0)
	t = le.AppendUint32(t, 0)
	t = append(t, text...)
	return append([]byte("Exif\x00\x00"), t...)
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var out []byte
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, typ...)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// pngHeader is a PNG signature and IHDR of an 8-bit RGBA image of w×h.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	return append([]byte("\x89PNG\r\n\x1A\n"), pngChunk("IHDR", ihdr)...)
}

// jpegWithSize patches the frame header of a JPEG to declare w×h.
func jpegWithSize(t *testing.T, jpg []byte, w, h uint16) []byte {
	t.Helper()
	out := bytes.Clone(jpg)
	i := bytes.Index(out, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(out[i+5:], h)
	binary.BigEndian.PutUint16(out[i+7:], w)
	return out
}

// jpegWithScans repeats the scan of a baseline JPEG n times: each decodes
// the whole image again, which is how a scan flood costs CPU.
func jpegWithScans(t *testing.T, jpg []byte, n int) []byte {
	t.Helper()
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	if sos < 0 || !bytes.HasSuffix(jpg, []byte{0xFF, 0xD9}) {
		t.Fatal("no SOS or EOI")
	}
	scan := jpg[sos : len(jpg)-2]
	out := bytes.Clone(jpg[:sos])
	for range n {
		out = append(out, scan...)
	}
	return append(out, 0xFF, 0xD9)
}

// Videos.

// ftyp is an ftyp box with a major brand and compatible brands.
func ftyp(major string, compatible ...string) []byte {
	size := 16 + 4*len(compatible)
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = append(b, "ftyp"+major...)
	b = append(b, 0, 0, 2, 0)
	for _, c := range compatible {
		b = append(b, c...)
	}
	return b
}

// webmHeader is an EBML header naming docType, then a Segment start.
func webmHeader(docType string) []byte {
	body := []byte{0x42, 0x86, 0x81, 0x01} // EBMLVersion 1
	body = append(body, 0x42, 0x82, byte(0x80|len(docType)))
	body = append(body, docType...)
	body = append(body, 0x42, 0x87, 0x81, 0x04) // DocTypeVersion 4
	out := append([]byte("\x1A\x45\xDF\xA3"), byte(0x80|len(body)))
	out = append(out, body...)
	return append(out, 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
}

func video(header []byte, n int) []byte {
	return append(bytes.Clone(header), randomBytes(n, 7)...)
}

// decodeView reads and decodes a stored image.
func decodeView(t *testing.T, blobs evidence.Blobs, f evidence.File) (image.Image, []byte) {
	t.Helper()
	b, err := read(t, blobs, f.ID)
	if err != nil {
		t.Fatalf("read view: %v", err)
	}
	img, format, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode view: %v", err)
	}
	if "image/"+format != f.ContentType {
		t.Fatalf("view is %s, typed %s", format, f.ContentType)
	}
	return img, b
}

func hasAny(b []byte, subs ...string) string {
	for _, s := range subs {
		if bytes.Contains(b, []byte(s)) {
			return s
		}
	}
	return ""
}
