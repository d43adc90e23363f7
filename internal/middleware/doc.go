// Package middleware holds the HTTP plumbing shared by the web UI and the
// JSON API: client IP, request ID, access log, panic recovery, security
// headers and Cache-Control. It imports the standard library only.
//
// The intended chain, outermost first:
//
//	var h http.Handler = mux
//	h = middleware.SecurityHeaders(h)
//	h = middleware.Recover(log, render, h)
//	h = middleware.AccessLog(log, h)
//	h = clientIP.Handler(h)
//	h = middleware.RequestID(h)
//	h = middleware.NoStore(h)
//
// Recover sits inside AccessLog so that a recovered panic is logged as a 500.
// AccessLog logs the route pattern that ServeMux records on the request it is
// handed, so nothing between AccessLog and the mux may replace the request
// (for example with r.WithContext). NoStore is outermost so that no answer,
// not even net/http's own 404 and 405, escapes it.
//
// The logger's handler is wrapped in ContextLogHandler, so that every line
// logged with a request's context names its request_id and client_ip.
package middleware
