package middleware

import "net/http"

// SecurityHeaders sets restrictive defaults for headers that browsers act
// on: no MIME sniffing, no framing, no referrer, a CSP that allows nothing,
// and a separate browsing context group. Headers already set are kept, and
// a handler can replace any of them with Header().Set, for example to allow
// its own scripts and styles in Content-Security-Policy.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		setDefault(h, "X-Content-Type-Options", "nosniff")
		setDefault(h, "X-Frame-Options", "DENY")
		setDefault(h, "Referrer-Policy", "no-referrer")
		setDefault(h, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		setDefault(h, "Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func setDefault(h http.Header, name, value string) {
	if h.Get(name) == "" {
		h.Set(name, value)
	}
}

// StrictTransport tells browsers to reach this host over HTTPS only, for a
// year (HSTS). Use it when the public address is https; TLS usually ends
// at a proxy in front of watchword, so the request itself may be plain.
func StrictTransport(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		next.ServeHTTP(w, r)
	})
}
