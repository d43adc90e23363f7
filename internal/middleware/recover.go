package middleware

import (
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// Recover turns a panic in next into a logged error (with its stack) and a
// 500 answer written by render, so each delivery (the JSON API, HTML pages)
// answers in its own shape; render must write the status and the body.
// http.ErrAbortHandler is panicked again, as net/http expects. If the
// response had already begun, the connection is aborted instead, so the
// client cannot mistake a truncated body for a whole one.
func Recover(log *slog.Logger, render func(w http.ResponseWriter, r *http.Request), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := NewStatusRecorder(w)
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			ctx := r.Context()
			log.LogAttrs(ctx, slog.LevelError, "panic",
				slog.Any("panic", p),
				slog.String("stack", string(debug.Stack())),
				slog.String("method", r.Method),
				slog.String("route", r.Pattern),
				slog.String("request_id", RequestIDFrom(ctx)),
			)
			if rec.Status() != 0 {
				panic(http.ErrAbortHandler)
			}
			scrubHeaders(w.Header())
			render(w, r)
		}()
		next.ServeHTTP(rec, r)
	})
}

// scrubHeaders drops the headers that described the response the handler
// meant to send, cookies included, so that none of them leaks onto the
// error answer.
func scrubHeaders(h http.Header) {
	for _, name := range []string{
		"Content-Length", "Content-Encoding", "Content-Range", "Content-Disposition",
		"Content-Type", "Etag", "Last-Modified", "Location", "Set-Cookie", "Trailer",
	} {
		h.Del(name)
	}
	// An error answer is never for a cache, whatever the handler had set.
	h.Set("Cache-Control", "no-store")
}
