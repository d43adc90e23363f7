package evidence

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"time"
)

// Kind is what an upload is meant to be.
type Kind int

// Kinds of uploads.
const (
	// Image is a photo or a picture of an identity document: JPEG or PNG.
	Image Kind = iota + 1
	// Video is a video: MP4, QuickTime or WebM.
	Video
)

// String returns the kind's name: "image" or "video".
func (k Kind) String() string {
	switch k {
	case Image:
		return "image"
	case Video:
		return "video"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Default limits of an Ingester. A megabyte here is 2^20 bytes.
const (
	DefaultMaxImageBytes = 10 << 20
	DefaultMaxVideoBytes = 100 << 20
	// DefaultMaxPixels bounds an image's width × height, and so the
	// memory a decode takes (up to 4 bytes a pixel, 8 for 16-bit PNG).
	DefaultMaxPixels = 40_000_000
	// DefaultMaxSide bounds an image's width and height.
	DefaultMaxSide = 12_000
	// DefaultDecoders is how many images are decoded at once: each may
	// take a few hundred megabytes at the pixel limit, so uploads queue
	// rather than add up.
	DefaultDecoders = 2
)

// Quality of the JPEG copies made for staff.
const viewJPEGQuality = 90

// File is one stored blob with its type and size.
type File struct {
	ID          string
	ContentType string // one of the Type constants
	Size        int64
}

// Stored is what Ingest stored for one upload.
type Stored struct {
	Kind Kind
	// Original holds the bytes as uploaded (metadata included): keep it
	// for the record; staff see View.
	Original File
	// View is what staff see. For an image, a copy re-encoded with the
	// standard library, of the same type: no EXIF (so no GPS position),
	// no other metadata, no bytes after the image's end; the EXIF
	// orientation is applied to the pixels, since the tag is gone. For a
	// video, View is Original.
	View File
	// Width and Height are the View's, for images; zero for videos.
	Width, Height int
}

// IDs returns the distinct blob ids of s: what to delete when the
// evidence expires.
func (s Stored) IDs() []string {
	if s.View.ID == "" || s.View.ID == s.Original.ID {
		return []string{s.Original.ID}
	}
	return []string{s.Original.ID, s.View.ID}
}

// Ingester checks uploads and stores them in Blobs. Make one with
// NewIngester (the zero Ingester is not usable); its limits are fields so
// that they can be changed (tests lower them) before first use. It is
// safe for concurrent use.
type Ingester struct {
	blobs Blobs
	// MaxImageBytes and MaxVideoBytes are the size limits of uploads.
	MaxImageBytes, MaxVideoBytes int64
	// MaxPixels bounds an image's width × height and MaxSide each of
	// them, checked from the header before anything is decoded.
	MaxPixels int64
	MaxSide   int
	// decoders holds a token for each image being decoded.
	decoders chan struct{}
}

// NewIngester returns an Ingester that stores into blobs, with the
// default limits.
func NewIngester(blobs Blobs) *Ingester {
	return &Ingester{
		blobs:         blobs,
		MaxImageBytes: DefaultMaxImageBytes,
		MaxVideoBytes: DefaultMaxVideoBytes,
		MaxPixels:     DefaultMaxPixels,
		MaxSide:       DefaultMaxSide,
		decoders:      make(chan struct{}, DefaultDecoders),
	}
}

// Ingest reads an upload of the given kind from r, checks it and stores
// it. The type is decided from the bytes only, and the size limit is
// enforced while streaming. It returns an error wrapping
// ErrUnsupportedType when the bytes are not of an accepted type for kind
// (or are an image that does not decode or has too many pixels), and
// ErrTooLarge when r yields more than the limit; r's own errors are
// wrapped as they are. On any error, nothing of the upload stays stored.
func (in *Ingester) Ingest(ctx context.Context, kind Kind, r io.Reader) (st Stored, err error) {
	var limit int64
	switch kind {
	case Image:
		limit = in.MaxImageBytes
	case Video:
		limit = in.MaxVideoBytes
	default:
		return Stored{}, fmt.Errorf("evidence: ingest: unknown kind %v", kind)
	}
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Stored{}, fmt.Errorf("evidence: read upload: %w", err)
	}
	head = head[:n]
	upload := &limitReader{r: io.MultiReader(bytes.NewReader(head), r), left: limit, limit: limit}

	var written []string
	defer func() {
		if err != nil {
			in.remove(ctx, written)
		}
	}()
	put := func(r io.Reader, ct string) (File, error) {
		id := NewID()
		written = append(written, id)
		size, err := in.blobs.Put(ctx, id, r)
		if err != nil {
			return File{}, err
		}
		return File{ID: id, ContentType: ct, Size: size}, nil
	}

	if kind == Video {
		ct := sniffVideo(head)
		if ct == "" {
			return Stored{}, fmt.Errorf("%w: not an MP4, QuickTime or WebM video", ErrUnsupportedType)
		}
		f, err := put(upload, ct)
		if err != nil {
			return Stored{}, fmt.Errorf("evidence: store video: %w", err)
		}
		return Stored{Kind: Video, Original: f, View: f}, nil
	}

	ct := sniffImage(head)
	if ct == "" {
		return Stored{}, fmt.Errorf("%w: not a JPEG or PNG image", ErrUnsupportedType)
	}
	orig, err := put(upload, ct)
	if err != nil {
		return Stored{}, fmt.Errorf("evidence: store image: %w", err)
	}
	orientation, err := in.checkImage(ctx, orig)
	if err != nil {
		return Stored{}, err
	}
	select {
	case in.decoders <- struct{}{}:
	case <-ctx.Done():
		return Stored{}, fmt.Errorf("evidence: wait to decode: %w", ctx.Err())
	}
	defer func() { <-in.decoders }()
	img, err := in.decode(ctx, orig)
	if err != nil {
		return Stored{}, err
	}
	img = applyOrientation(img, orientation)
	copied := encoded(img, ct)
	view, err := put(copied, ct)
	// Stops the encoder if Put gave up early (its next write fails); a
	// no-op once it has finished.
	copied.CloseWithError(errAbandoned)
	if err != nil {
		return Stored{}, fmt.Errorf("evidence: store image copy: %w", err)
	}
	b := img.Bounds()
	return Stored{Kind: Image, Original: orig, View: view, Width: b.Dx(), Height: b.Dy()}, nil
}

// remove deletes the blobs of a failed upload, even when the failure is
// the cancellation of ctx. Put leaves nothing behind by itself; this is
// for the blobs stored before the failure.
func (in *Ingester) remove(ctx context.Context, ids []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, id := range ids {
		in.blobs.Delete(ctx, id)
	}
}

// checkImage reads the header of a stored image (never its pixels) and
// refuses it unless its dimensions are within the limits, and a JPEG of
// too many scans; it returns the JPEG's EXIF orientation (1 when there is
// none).
func (in *Ingester) checkImage(ctx context.Context, f File) (orientation int, err error) {
	b, err := in.blobs.Open(ctx, f.ID)
	if err != nil {
		return 0, fmt.Errorf("evidence: read back image: %w", err)
	}
	defer b.Close()
	src := &errReader{r: b}
	// The EXIF segment comes before the frame header, so it is among
	// the bytes DecodeConfig reads.
	head := &prefix{max: 256 << 10}
	r := bufio.NewReader(io.TeeReader(src, head))
	var cfg image.Config
	if f.ContentType == TypeJPEG {
		cfg, err = jpeg.DecodeConfig(r)
	} else {
		cfg, err = png.DecodeConfig(r)
	}
	if src.err != nil {
		return 0, fmt.Errorf("evidence: read back image: %w", src.err)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: image header: %v", ErrUnsupportedType, err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 || w > in.MaxSide || h > in.MaxSide || int64(w)*int64(h) > in.MaxPixels {
		return 0, fmt.Errorf("%w: image of %d×%d pixels is over the limits (%d a side, %d in all)",
			ErrUnsupportedType, w, h, in.MaxSide, in.MaxPixels)
	}
	if f.ContentType != TypeJPEG {
		return 1, nil
	}
	if err := in.checkScans(ctx, f); err != nil {
		return 0, err
	}
	return jpegOrientation(head.b), nil
}

// checkScans refuses a stored JPEG of more than maxJPEGScans scans. It
// reads the whole JPEG (at most MaxImageBytes), but decodes nothing.
func (in *Ingester) checkScans(ctx context.Context, f File) error {
	b, err := in.blobs.Open(ctx, f.ID)
	if err != nil {
		return fmt.Errorf("evidence: read back image: %w", err)
	}
	defer b.Close()
	src := &errReader{r: b}
	r := bufio.NewReader(src)
	r.Discard(2) // SOI, which sniffImage saw
	n := jpegScans(r, r.Discard, maxJPEGScans)
	if src.err != nil {
		return fmt.Errorf("evidence: read back image: %w", src.err)
	}
	if n > maxJPEGScans {
		return fmt.Errorf("%w: JPEG of more than %d scans", ErrUnsupportedType, maxJPEGScans)
	}
	return nil
}

// decode decodes a stored image, which checkImage accepted.
func (in *Ingester) decode(ctx context.Context, f File) (image.Image, error) {
	b, err := in.blobs.Open(ctx, f.ID)
	if err != nil {
		return nil, fmt.Errorf("evidence: read back image: %w", err)
	}
	defer b.Close()
	src := &errReader{r: b}
	r := bufio.NewReader(src)
	var img image.Image
	if f.ContentType == TypeJPEG {
		img, err = jpeg.Decode(r)
	} else {
		img, err = png.Decode(r)
	}
	if src.err != nil {
		return nil, fmt.Errorf("evidence: read back image: %w", src.err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: image does not decode: %v", ErrUnsupportedType, err)
	}
	return img, nil
}

// encoded returns a reader of img encoded as ct, encoding as it is read.
// Close it when done reading, so that the encoding goroutine ends.
func encoded(img image.Image, ct string) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		var err error
		if ct == TypeJPEG {
			err = jpeg.Encode(pw, img, &jpeg.Options{Quality: viewJPEGQuality})
		} else {
			err = (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(pw, img)
		}
		pw.CloseWithError(err)
	}()
	return pr
}

var errAbandoned = errors.New("evidence: image copy abandoned")

// limitReader fails with ErrTooLarge once r yields more than limit bytes.
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.tooLarge()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), l.tooLarge()
	}
	return n, err
}

func (l *limitReader) tooLarge() error {
	return fmt.Errorf("%w: over %d bytes", ErrTooLarge, l.limit)
}

// errReader remembers the first error of r other than io.EOF, to tell the
// store's failures from a decoder's complaints about the bytes.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// prefix is a writer that keeps the first max bytes written to it.
type prefix struct {
	b   []byte
	max int
}

func (p *prefix) Write(b []byte) (int, error) {
	if room := p.max - len(p.b); room > 0 {
		p.b = append(p.b, b[:min(room, len(b))]...)
	}
	return len(b), nil
}
