package evidence

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// extensions are the types Serve serves, with the file name extension it
// gives each. Never HTML, SVG or anything else a browser would run.
var extensions = map[string]string{
	TypeJPEG:      ".jpg",
	TypePNG:       ".png",
	TypeMP4:       ".mp4",
	TypeQuickTime: ".mov",
	TypeWebM:      ".webm",
}

// Serve writes the stored file f to w, for GET or HEAD (no body), to be
// shown inline in the staff console under the given file name (reduced to
// safe ASCII, with the extension of its type). The answer carries
// Content-Type (f.ContentType, which must be one of the Type constants),
// Content-Length, Content-Disposition, X-Content-Type-Options: nosniff,
// Cache-Control: no-store, a Content-Security-Policy that forbids
// everything and sandboxes, and Cross-Origin-Resource-Policy: same-origin.
//
// Serve returns an error, and writes nothing, when f's type is not served
// (ErrUnsupportedType), the blob is missing (ErrNotFound) or its start
// does not decrypt; render it as usual. Once the answer has begun, a
// failure to read the blob aborts it with panic(http.ErrAbortHandler), as
// httputil.ReverseProxy does, so the client cannot take a truncated file
// for a whole one; a client that goes away is not an error.
func Serve(w http.ResponseWriter, r *http.Request, blobs Blobs, f File, filename string) error {
	ext, ok := extensions[f.ContentType]
	if !ok {
		return fmt.Errorf("%w: will not serve %q", ErrUnsupportedType, f.ContentType)
	}
	b, err := blobs.Open(r.Context(), f.ID)
	if err != nil {
		return err
	}
	defer b.Close()
	// The first package is read (and authenticated) before anything is
	// written, so a blob that does not open is a clean error.
	buf := make([]byte, 64<<10)
	n, err := io.ReadFull(b, buf)
	end := err == io.EOF || err == io.ErrUnexpectedEOF
	if err != nil && !end {
		return fmt.Errorf("evidence: serve %s: %w", f.ID, err)
	}

	h := w.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Length", strconv.FormatInt(b.Size(), 10))
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": safeName(filename, ext)}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := w.Write(buf[:n]); err != nil || end {
		return nil // done, or the client went away
	}
	cw := &clientWriter{w: w}
	if _, err := io.CopyBuffer(cw, b, buf); err != nil && cw.err == nil {
		panic(http.ErrAbortHandler) // the blob failed, not the client
	}
	return nil
}

// clientWriter remembers whether writing to the client failed.
type clientWriter struct {
	w   io.Writer
	err error
}

func (c *clientWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// safeName returns name reduced to [A-Za-z0-9._-] (at most 64 of them,
// "evidence" when nothing is left) ending in ext.
func safeName(name, ext string) string {
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < 64; i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "evidence"
	}
	if !strings.HasSuffix(strings.ToLower(s), ext) {
		s += ext
	}
	return s
}
