package evidence_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"image"
	"image/color"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/evidence"
)

func TestIngestAccepts(t *testing.T) {
	jpg := makeJPEG(t, 64, 32)
	tests := []struct {
		name     string
		kind     evidence.Kind
		data     []byte
		wantType string
	}{
		{"JPEG", evidence.Image, jpg, evidence.TypeJPEG},
		{"PNG", evidence.Image, makePNG(t, 33, 17), evidence.TypePNG},
		{"JPEGOfThreeScans", evidence.Image, jpegWithScans(t, jpg, 3), evidence.TypeJPEG},
		{"JPEGWithTrailingBytes", evidence.Image, append(bytes.Clone(jpg), "<html><script>alert(1)</script>"...), evidence.TypeJPEG},
		{"MP4", evidence.Video, video(ftyp("isom", "isom", "iso2", "avc1", "mp41"), 10_000), evidence.TypeMP4},
		{"MP4CompatibleBrandOnly", evidence.Video, video(ftyp("XXXX", "abcd", "mp42"), 1000), evidence.TypeMP4},
		{"QuickTime", evidence.Video, video(ftyp("qt  ", "qt  "), 70_000), evidence.TypeQuickTime},
		{"WebM", evidence.Video, video(webmHeader("webm"), 5000), evidence.TypeWebM},
		{"Matroska", evidence.Video, video(webmHeader("matroska"), 5000), evidence.TypeWebM},
	}
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		in := evidence.NewIngester(blobs)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, err := in.Ingest(t.Context(), tc.kind, bytes.NewReader(tc.data))
				if err != nil {
					t.Fatalf("Ingest: %v", err)
				}
				if st.Kind != tc.kind || st.Original.ContentType != tc.wantType || st.View.ContentType != tc.wantType {
					t.Fatalf("got %+v, want kind %v of type %s", st, tc.kind, tc.wantType)
				}
				orig, err := read(t, blobs, st.Original.ID)
				if err != nil || !bytes.Equal(orig, tc.data) || st.Original.Size != int64(len(tc.data)) {
					t.Fatalf("original: %d bytes (Size %d), %v; want the %d bytes uploaded", len(orig), st.Original.Size, err, len(tc.data))
				}
				if tc.kind == evidence.Video {
					if st.View != st.Original || len(st.IDs()) != 1 {
						t.Fatalf("video: view %+v, original %+v", st.View, st.Original)
					}
				} else {
					img, view := decodeView(t, blobs, st.View)
					cfg, _, _ := image.DecodeConfig(bytes.NewReader(tc.data))
					if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height || st.Width != cfg.Width || st.Height != cfg.Height {
						t.Fatalf("view is %v (Stored says %d×%d), want %d×%d", b, st.Width, st.Height, cfg.Width, cfg.Height)
					}
					if st.View.Size != int64(len(view)) || len(st.IDs()) != 2 {
						t.Fatalf("view: Size %d, %d bytes; IDs %v", st.View.Size, len(view), st.IDs())
					}
					if s := hasAny(view, "<html", "script"); s != "" {
						t.Fatalf("view carries the trailing %q", s)
					}
				}
				for _, id := range st.IDs() {
					if err := blobs.Delete(t.Context(), id); err != nil {
						t.Fatal(err)
					}
				}
				if n := be.count(t); n != 0 {
					t.Fatalf("%d things stored after deleting the upload's blobs", n)
				}
			})
		}
	})
}

func TestIngestRefuses(t *testing.T) {
	jpg := makeJPEG(t, 64, 32)
	png := makePNG(t, 40, 40)
	flood := append(pngHeader(100_000, 100_000), pngChunk("IDAT", []byte("\x78\x9c\x00\x00\x00\xff\xff"))...)
	flood = append(flood, pngChunk("IEND", nil)...)
	tests := []struct {
		name string
		kind evidence.Kind
		data []byte
	}{
		{"Empty", evidence.Image, nil},
		{"Text", evidence.Image, []byte("just some text, not an image at all")},
		{"HTML", evidence.Image, []byte("<!DOCTYPE html><html><body><script>alert(1)</script></body></html>")},
		{"SVG", evidence.Image, []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)},
		{"GIF", evidence.Image, []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")},
		{"WebP", evidence.Image, []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00")},
		{"PNGHeaderThenGarbage", evidence.Image, append(pngHeader(10, 10), randomBytes(2000, 4)...)},
		{"PNGTruncated", evidence.Image, png[:len(png)/2]},
		{"JPEGTruncated", evidence.Image, jpg[:len(jpg)/2]},
		{"JPEGMagicThenGarbage", evidence.Image, append([]byte("\xFF\xD8\xFF\xE0"), randomBytes(3000, 5)...)},
		{"PixelFloodPNG", evidence.Image, flood},
		{"PixelFloodJPEG", evidence.Image, jpegWithSize(t, jpg, 65_000, 65_000)},
		{"JPEGTooWide", evidence.Image, jpegWithSize(t, jpg, 20_000, 10)},
		{"JPEGScanFlood", evidence.Image, jpegWithScans(t, jpg, 101)},
		{"PNGZeroWidth", evidence.Image, append(pngHeader(0, 10), pngChunk("IEND", nil)...)},
		{"VideoAsImage", evidence.Image, video(ftyp("isom", "mp41"), 1000)},
		{"ImageAsVideo", evidence.Video, jpg},
		{"TextAsVideo", evidence.Video, []byte("not a video, although it is long enough")},
		{"TooShortForVideo", evidence.Video, []byte("\x00\x00\x00\x18ftyp")},
		{"MP4BoxNotFtyp", evidence.Video, video([]byte("\x00\x00\x00\x18moovisom\x00\x00\x02\x00isomiso2"), 1000)},
		{"MP4FtypAtWrongOffset", evidence.Video, video(append([]byte("\x00\x00"), ftyp("isom")...), 1000)},
		{"MP4ImageBrands", evidence.Video, video(ftyp("heic", "mif1", "heic"), 1000)},
		{"MP4AVIF", evidence.Video, video(ftyp("avif", "avif", "mif1", "miaf"), 1000)},
		{"MP4BoxTooSmall", evidence.Video, video([]byte("\x00\x00\x00\x08ftypisom\x00\x00\x02\x00"), 1000)},
		{"WebMOtherDocType", evidence.Video, video(webmHeader("other"), 1000)},
		{"EBMLMagicOnly", evidence.Video, []byte("\x1A\x45\xDF\xA3")},
	}
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		in := evidence.NewIngester(blobs)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, err := in.Ingest(t.Context(), tc.kind, bytes.NewReader(tc.data))
				if !errors.Is(err, evidence.ErrUnsupportedType) {
					t.Fatalf("got %+v, %v; want ErrUnsupportedType", st, err)
				}
				t.Log(err)
				if n := be.count(t); n != 0 {
					t.Fatalf("%d things stored after a refused upload", n)
				}
			})
		}
	})
}

func TestIngestTooLarge(t *testing.T) {
	const limit = 200 << 10
	// A valid PNG, padded past the limit (a decoder ignores what follows IEND).
	img := append(makePNG(t, 300, 300), randomBytes(limit, 6)...)
	tests := []struct {
		name string
		kind evidence.Kind
		data []byte
		ok   bool
	}{
		{"ImageOverLimit", evidence.Image, img, false},
		{"VideoAtLimit", evidence.Video, video(ftyp("isom"), limit-16), true},
		{"VideoOneByteOver", evidence.Video, video(ftyp("isom"), limit-15), false},
		{"VideoFarOver", evidence.Video, video(ftyp("mp42"), 3*limit), false},
	}
	forEachBackend(t, func(t *testing.T, be *backend) {
		blobs := be.open(t, evidence.Keys{Current: keyA})
		in := evidence.NewIngester(blobs)
		in.MaxImageBytes, in.MaxVideoBytes = limit, limit
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st, err := in.Ingest(t.Context(), tc.kind, bytes.NewReader(tc.data))
				if tc.ok {
					if err != nil {
						t.Fatalf("Ingest: %v", err)
					}
					for _, id := range st.IDs() {
						blobs.Delete(t.Context(), id)
					}
					return
				}
				if !errors.Is(err, evidence.ErrTooLarge) {
					t.Fatalf("got %+v, %v; want ErrTooLarge", st, err)
				}
				if n := be.count(t); n != 0 {
					t.Fatalf("%d things stored after a refused upload", n)
				}
			})
		}
	})
	t.Run("PixelLimitsAreFields", func(t *testing.T) {
		in := evidence.NewIngester(dirBackend(t).open(t, evidence.Keys{Current: keyA}))
		in.MaxPixels = 64*32 - 1
		_, err := in.Ingest(t.Context(), evidence.Image, bytes.NewReader(makeJPEG(t, 64, 32)))
		wantErr(t, "one pixel over MaxPixels", err, evidence.ErrUnsupportedType)
		in.MaxPixels, in.MaxSide = evidence.DefaultMaxPixels, 63
		_, err = in.Ingest(t.Context(), evidence.Image, bytes.NewReader(makeJPEG(t, 64, 32)))
		wantErr(t, "one pixel over MaxSide", err, evidence.ErrUnsupportedType)
	})
}

func TestIngestUnknownKind(t *testing.T) {
	be := dirBackend(t)
	in := evidence.NewIngester(be.open(t, evidence.Keys{Current: keyA}))
	_, err := in.Ingest(t.Context(), evidence.Kind(0), bytes.NewReader(makeJPEG(t, 8, 8)))
	if err == nil || errors.Is(err, evidence.ErrUnsupportedType) || be.count(t) != 0 {
		t.Fatalf("got %v with %d things stored, want a programming error and nothing stored", err, be.count(t))
	}
}

// The upload's own read error is returned as it is, and nothing is kept.
func TestIngestReaderFails(t *testing.T) {
	errGone := errors.New("client went away")
	be := dirBackend(t)
	in := evidence.NewIngester(be.open(t, evidence.Keys{Current: keyA}))
	for _, kind := range []evidence.Kind{evidence.Image, evidence.Video} {
		head := ftyp("isom")
		if kind == evidence.Image {
			head = makePNG(t, 10, 10)[:40]
		}
		r := io.MultiReader(bytes.NewReader(head), &failAfter{100 << 10, errGone})
		_, err := in.Ingest(t.Context(), kind, r)
		wantErr(t, kind.String(), err, errGone)
		if n := be.count(t); n != 0 {
			t.Fatalf("%v: %d things stored", kind, n)
		}
	}
}

func TestIngestStripsMetadata(t *testing.T) {
	const secret = "GPSLatitude 48.858370 N GPSLongitude 2.294481 E; camera serial 0xC0FFEE"
	jpg := withSegment(makeJPEG(t, 64, 32), 0xE1, exifSegment(0, secret))
	jpg = withSegment(jpg, 0xFE, []byte("comment: taken at home")) // COM
	jpg = append(jpg, "trailing polyglot <script>alert(1)</script>"...)
	be := dirBackend(t)
	blobs := be.open(t, evidence.Keys{Current: keyA})
	st, err := evidence.NewIngester(blobs).Ingest(t.Context(), evidence.Image, bytes.NewReader(jpg))
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	orig, err := read(t, blobs, st.Original.ID)
	if err != nil || hasAny(orig, "Exif", "GPS") == "" {
		t.Fatalf("the original should be kept as uploaded, metadata included (%v)", err)
	}
	img, view := decodeView(t, blobs, st.View)
	if s := hasAny(view, "Exif", "GPS", "0xC0FFEE", "taken at home", "polyglot", "script"); s != "" {
		t.Fatalf("the staff copy carries %q", s)
	}
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 32 {
		t.Fatalf("staff copy is %v, want 64×32", b)
	}
	// Only SOI, quantization and Huffman tables, frame, scan, EOI: no APPn, no COM.
	for i := 2; i+1 < len(view); i++ {
		if view[i] == 0xFF && (view[i+1]&0xF0 == 0xE0 || view[i+1] == 0xFE) {
			if sos := bytes.Index(view, []byte{0xFF, 0xDA}); sos < 0 || i < sos {
				t.Fatalf("staff copy has segment FF%02X at %d", view[i+1], i)
			}
		}
	}
}

func TestIngestAppliesOrientation(t *testing.T) {
	const w, h = 64, 32
	red, green, blue, white := "red", "green", "blue", "white"
	tests := []struct {
		orientation         int
		topLeft, topRight   string
		wantWidth, wantTall int
	}{
		{1, red, green, w, h},
		{2, green, red, w, h},
		{3, white, blue, w, h},
		{4, blue, white, w, h},
		{5, red, blue, h, w},
		{6, blue, red, h, w},
		{7, white, green, h, w},
		{8, green, white, h, w},
		{9, red, green, w, h}, // invalid: ignored
	}
	blobs := dirBackend(t).open(t, evidence.Keys{Current: keyA})
	in := evidence.NewIngester(blobs)
	for _, tc := range tests {
		t.Run(string(rune('0'+tc.orientation)), func(t *testing.T) {
			jpg := withSegment(makeJPEG(t, w, h), 0xE1, exifSegment(tc.orientation, ""))
			st, err := in.Ingest(t.Context(), evidence.Image, bytes.NewReader(jpg))
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			img, _ := decodeView(t, blobs, st.View)
			b := img.Bounds()
			if b.Dx() != tc.wantWidth || b.Dy() != tc.wantTall || st.Width != b.Dx() || st.Height != b.Dy() {
				t.Fatalf("view is %v (Stored: %d×%d), want %d×%d", b, st.Width, st.Height, tc.wantWidth, tc.wantTall)
			}
			if got := colorName(img.At(4, 4)); got != tc.topLeft {
				t.Errorf("top left is %s, want %s", got, tc.topLeft)
			}
			if got := colorName(img.At(b.Dx()-5, 4)); got != tc.topRight {
				t.Errorf("top right is %s, want %s", got, tc.topRight)
			}
		})
	}
}

func colorName(c color.Color) string {
	r, g, b, _ := c.RGBA()
	hi := func(v uint32) bool { return v > 0xC000 }
	lo := func(v uint32) bool { return v < 0x4000 }
	switch {
	case hi(r) && hi(g) && hi(b):
		return "white"
	case hi(r) && lo(g) && lo(b):
		return "red"
	case lo(r) && hi(g) && lo(b):
		return "green"
	case lo(r) && lo(g) && hi(b):
		return "blue"
	}
	return "other"
}

// videoSource yields a valid MP4 start then pseudo-random bytes, n in all,
// without holding them: one 64 KiB block, changed a little each time.
type videoSource struct {
	n     int
	block []byte
	off   int
	count uint64
}

func newVideoSource(n int) *videoSource {
	s := &videoSource{n: n, block: randomBytes(64<<10, 8)}
	copy(s.block, ftyp("isom", "isom", "iso2", "avc1", "mp41"))
	return s
}

func (s *videoSource) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, io.EOF
	}
	if s.off == len(s.block) {
		s.off = 0
		s.count++
		s.block[100] ^= byte(s.count) // the ftyp box stays intact
		s.block[len(s.block)-1] ^= byte(s.count >> 8)
	}
	k := copy(p[:min(len(p), s.n)], s.block[s.off:])
	s.off += k
	s.n -= k
	return k, nil
}

// A 100 MB video goes through Ingest into the folder store with a heap
// that grows by a few megabytes at most.
func TestIngestVideoStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 100 MB")
	}
	const size = evidence.DefaultMaxVideoBytes
	blobs := dirBackend(t).open(t, evidence.Keys{Current: keyA})
	in := evidence.NewIngester(blobs)
	upload := sha256.New()
	src := io.TeeReader(newVideoSource(size), upload)

	var st evidence.Stored
	var err error
	var elapsed time.Duration
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	grew := heapGrowth(t, func() {
		start := time.Now()
		st, err = in.Ingest(t.Context(), evidence.Video, src)
		elapsed = time.Since(start)
	})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("100 MiB video ingested in %v: heap peak %.2f MiB over the start, %.2f MiB allocated in all",
		elapsed.Round(time.Millisecond), float64(grew)/(1<<20), float64(allocated)/(1<<20))
	if grew > 4<<20 {
		t.Errorf("the heap grew by %d bytes, want a few MB at most", grew)
	}
	if allocated > 8<<20 {
		t.Errorf("%d bytes allocated while streaming, want a few MB at most", allocated)
	}
	if st.Original.Size != size || st.Original.ContentType != evidence.TypeMP4 {
		t.Fatalf("stored %+v", st.Original)
	}
	b, err := blobs.Open(t.Context(), st.Original.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	stored := sha256.New()
	if n, err := io.Copy(stored, b); err != nil || n != size {
		t.Fatalf("read back %d bytes, %v", n, err)
	}
	if !bytes.Equal(stored.Sum(nil), upload.Sum(nil)) {
		t.Fatal("the video read back differs from the upload")
	}
}

// heapGrowth runs fn and returns by how much the heap grew at its peak,
// sampled every 2 ms without stopping the world (unlike
// runtime.ReadMemStats). The collector runs at GOGC=10 meanwhile, so that
// garbage (of a store that allocates per chunk) does not hide what is
// live: the peak is then what fn holds, plus a tenth.
func heapGrowth(t *testing.T, fn func()) int64 {
	t.Helper()
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	runtime.GC()
	metrics.Read(sample)
	start := sample[0].Value.Uint64()
	var peak atomic.Uint64
	peak.Store(start)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return int64(peak.Load()) - int64(start)
}
