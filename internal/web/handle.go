package web

import (
	"context"
	"mime"
	"net/http"
	"strings"

	"golang.org/x/text/width"

	"github.com/watchword/watchword/internal/i18n"
)

// csp allows the site's own style sheet, images and scripts (and their
// requests to here: the unbind form's upload, upload.js) and nothing
// else: nothing inline, no other origin, no framing, forms only to here.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes bounds a url-encoded form; uploads use multipartReader.
const maxFormBytes = 64 << 10

// handlerFunc is a page handler: it writes a page or a redirect, or
// returns an error that fail renders (see errors.go).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// reqInfo is what the wrappers learned about a request before its handler
// runs, kept in its context.
type reqInfo struct {
	lang     i18n.Lang
	csrfSeed string // the browser's CSRF cookie (set on this answer when new)
	session  string // the session cookie as the browser will send it next
	signedIn bool   // session is live (set by Server.session)
	upload   bool   // a multipart POST whose token multipartReader checks
}

type reqInfoKey struct{}

// info returns the request's reqInfo; requests that did not pass through
// begin (the panic renderer's) get one computed on the spot.
func (s *Server) info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{lang: langOf(r)}
}

// handle wraps a page: the language, the CSRF cookie, the security
// headers, and on POST the origin and CSRF checks, before h runs; then
// h's error, if any, is rendered once by fail.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return s.wrap(h, false)
}

// handleUpload is handle for a form with files (multipart/form-data): its
// handler must read the body with s.multipartReader, which checks the
// CSRF token as the first part, so that files stream rather than being
// parsed into memory here.
func (s *Server) handleUpload(h handlerFunc) http.HandlerFunc {
	return s.wrap(h, true)
}

func (s *Server) wrap(h handlerFunc, upload bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.switchLanguage(w, r) {
			return
		}
		r = s.begin(w, r)
		err := s.checkPost(w, r, upload)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.fail(w, r, err)
		}
	}
}

// begin sets the page headers and the CSRF cookie and records the
// request's language in its context.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) *http.Request {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	// As the server's middleware does; said here too because the cancel
	// page's address carries its token.
	h.Set("Referrer-Policy", "no-referrer")
	ri := &reqInfo{lang: langOf(r), session: s.sessionCookie(r)}
	ri.csrfSeed = s.csrfSeed(w, r)
	return r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
}

// checkPost refuses a POST from another site or without the form's CSRF
// token. A url-encoded body is parsed here, bounded; a multipart one is
// left to multipartReader on routes that take uploads, and refused on
// the others.
func (s *Server) checkPost(w http.ResponseWriter, r *http.Request, upload bool) error {
	if r.Method != http.MethodPost {
		return nil
	}
	if !s.sameOrigin(r) {
		s.log.InfoContext(r.Context(), "cross-site form refused", "route", r.Pattern,
			"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		return errCSRF
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case mt == "multipart/form-data" && upload:
		s.info(r).upload = true
		return nil
	case mt != "application/x-www-form-urlencoded":
		return errCSRF // what no form of ours sends: not a form of ours
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return errBadForm
	}
	if !s.validCSRF(r, r.PostForm.Get(csrfField)) {
		s.log.InfoContext(r.Context(), "form without a valid CSRF token refused", "route", r.Pattern)
		return errCSRF
	}
	return nil
}

// redirect answers 303 See Other: after a POST the browser GETs target,
// so reloading never sends a form again.
func redirect(w http.ResponseWriter, r *http.Request, target string) error {
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// codeField returns a one-time, authenticator or recovery code as typed:
// full-width digits (a Chinese input method's) made ASCII and spaces
// dropped, so "１２３ ４５６" is 123456. What else it holds is left to
// the domain to refuse.
func codeField(r *http.Request) string {
	return strings.Join(strings.Fields(width.Narrow.String(r.PostForm.Get("code"))), "")
}

// textField returns a form field without surrounding spaces.
func textField(r *http.Request, name string) string {
	return strings.TrimSpace(r.PostForm.Get(name))
}
