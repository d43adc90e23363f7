// Package middleware holds the HTTP plumbing shared by the web UI and the
// JSON API: client IP, request ID, access log, panic recovery and security
// headers. It imports the standard library only.
//
// The intended chain, outermost first:
//
//	var h http.Handler = mux
//	h = middleware.SecurityHeaders(h)
//	h = middleware.Recover(log, h)
//	h = middleware.AccessLog(log, h)
//	h = clientIP.Handler(h)
//	h = middleware.RequestID(h)
//
// Recover sits inside AccessLog so that a recovered panic is logged as a 500.
// AccessLog logs the route pattern that ServeMux records on the request it is
// handed, so nothing between AccessLog and the mux may replace the request
// (for example with r.WithContext).
package middleware
