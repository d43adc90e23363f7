package middleware

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// mediaTypes are the only types ServeMedia sends, with their file name
// extensions: images and videos, never HTML or SVG, whatever was stored.
var mediaTypes = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm",
}

// ErrUnservableType: ServeMedia refuses a type that is not an image or a
// video it knows.
var ErrUnservableType = errors.New("middleware: not a servable media type")

// mediaTimeout is how long a media download (a 100 MB video) may take, in
// place of the server's timeout for JSON calls.
const mediaTimeout = 15 * time.Minute

// ServeMedia streams rc as an inline image or video named name (no
// extension): shown by the browser, but never sniffed, cached, framed
// elsewhere or run. The first bytes are read before the headers are sent,
// so a source that fails at once is an error the caller renders; a
// failure after the headers aborts the connection, so that a cut file
// never looks whole. It closes rc.
func ServeMedia(w http.ResponseWriter, r *http.Request, log *slog.Logger, contentType, name string, rc io.ReadCloser) error {
	defer rc.Close()
	ext, ok := mediaTypes[contentType]
	if !ok {
		return ErrUnservableType
	}
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", name, err)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(mediaTimeout))
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", `inline; filename="`+name+ext+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	_, werr := w.Write(head[:n])
	if werr == nil {
		_, werr = io.Copy(w, rc)
	}
	if werr != nil && r.Context().Err() == nil {
		log.ErrorContext(r.Context(), "media stream failed", "name", name, "err", werr)
		panic(http.ErrAbortHandler)
	}
	return nil
}
