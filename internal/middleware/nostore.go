package middleware

import "net/http"

// NoStore sets Cache-Control: no-store on every response, before the rest
// of the chain runs, so that error pages from net/http (404, 405), its
// redirects and every handler carry it without having to remember. Nothing
// this server answers is meant for a cache: tokens, codes and account data
// travel in responses. A handler can still replace the header deliberately.
func NoStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
