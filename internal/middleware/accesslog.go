package middleware

import (
	"log/slog"
	"net/http"
	"time"
)

// AccessLog logs one line at Info per request: method, route pattern,
// status, bytes, duration_ms, client_ip and request_id (the names
// ContextLogHandler gives every other line of the request). It never logs the
// path, query string, headers or bodies, where tokens and codes travel;
// the route pattern ("POST /login/code/{flow_id}") says which handler ran
// without the values.
//
// A request whose handler panicked past AccessLog is logged with
// aborted=true and the status sent so far (0 for none); the panic goes on.
func AccessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := NewStatusRecorder(w)
		completed := false
		defer func() {
			status := rec.Status()
			if completed && status == 0 {
				status = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			ctx := r.Context()
			attrs := []slog.Attr{
				slog.String("method", r.Method),
				slog.String("route", r.Pattern), // set by ServeMux on this very request
				slog.Int("status", status),
				slog.Int64("bytes", rec.BytesWritten()),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("client_ip", ClientIPFrom(ctx)),
				slog.String("request_id", RequestIDFrom(ctx)),
			}
			if !completed {
				attrs = append(attrs, slog.Bool("aborted", true))
			}
			log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(rec, r)
		completed = true
	})
}
