package middleware

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
)

// internalErrorBody is the API's error shape for CodeInternal.
const internalErrorBody = `{"error":{"code":"internal","message":"Internal error."}}`

// Recover turns a panic in next into a logged error (with its stack) and a
// 500 JSON response. http.ErrAbortHandler is panicked again, as net/http
// expects. If the response had already begun, the connection is aborted
// instead, so the client cannot mistake a truncated body for a whole one.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
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
			writeInternalError(w)
		}()
		next.ServeHTTP(rec, r)
	})
}

// writeInternalError drops the headers that described the response the
// handler meant to send, cookies included, and sends the generic 500.
func writeInternalError(w http.ResponseWriter) {
	h := w.Header()
	for _, name := range []string{
		"Content-Length", "Content-Encoding", "Content-Range", "Content-Disposition",
		"Etag", "Last-Modified", "Location", "Set-Cookie", "Trailer",
	} {
		h.Del(name)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	io.WriteString(w, internalErrorBody)
}
