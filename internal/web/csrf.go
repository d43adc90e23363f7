package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/watchword/watchword/internal/token"
)

// CSRF: SameSite=Lax cookies already keep other sites' forms from
// carrying the session, and every POST must also
//
//   - come from this origin: Sec-Fetch-Site, else Origin, else Referer,
//     when the browser sends one (sameOrigin); and
//   - carry the hidden field csrf_token, which must equal an HMAC, under
//     the server's key, of a random seed in the browser's CSRF cookie and
//     of its session cookie. A seed planted by someone else (a sibling
//     subdomain can set cookies on http) is useless without the key, and a
//     token is worth nothing once the session it was made for changes.

const csrfField = "csrf_token"

// csrfSeed returns the browser's CSRF seed, making one (and setting its
// cookie on w) when the browser has none yet.
func (s *Server) csrfSeed(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.cookieName(csrfCookie)); err == nil && validSeed(c.Value) {
		return c.Value
	}
	seed, err := token.New(s.random, 32)
	if err != nil {
		// crypto/rand does not fail on supported systems; a page without a
		// usable token only makes its form refused.
		s.log.Error("csrf seed", "err", err)
		return ""
	}
	http.SetCookie(w, s.cookie(csrfCookie, seed, 0))
	return seed
}

// validSeed reports whether v looks like a seed of csrfSeed.
func validSeed(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// csrfToken is the value of the hidden field for forms on r's page.
func (s *Server) csrfToken(r *http.Request) string {
	ri := s.info(r)
	if ri.csrfSeed == "" {
		return ""
	}
	return s.csrfFor(ri.csrfSeed, ri.session)
}

func (s *Server) csrfFor(seed, session string) string {
	m := hmac.New(sha256.New, s.csrfKey)
	io.WriteString(m, seed)
	m.Write([]byte{0})
	io.WriteString(m, session)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF reports whether got is the token of the seed and session
// cookies the browser sent with r.
func (s *Server) validCSRF(r *http.Request, got string) bool {
	c, err := r.Cookie(s.cookieName(csrfCookie))
	if err != nil || !validSeed(c.Value) || got == "" {
		return false
	}
	return hmac.Equal([]byte(got), []byte(s.csrfFor(c.Value, s.sessionCookie(r))))
}

// sameOrigin reports whether a POST comes from a page of this site, as
// far as the browser tells. Sec-Fetch-Site is the browser's own verdict;
// older browsers send Origin (which pages with Referrer-Policy:
// no-referrer, as ours, send as "null"), and Referer when allowed. A
// request with none of them is left to the CSRF token.
func (s *Server) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default: // cross-site, and same-site: a sibling subdomain is another site here
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		return s.isOurOrigin(o, r)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && s.isOurOrigin(u.Scheme+"://"+u.Host, r)
	}
	return true
}

// isOurOrigin reports whether origin is the public URL's, or that of the
// host the request was sent to.
func (s *Server) isOurOrigin(origin string, r *http.Request) bool {
	origin = strings.ToLower(origin)
	if s.origin != "" && origin == s.origin {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+strings.ToLower(r.Host)
}

// multipartReader returns the body of an upload form (a route registered
// with handleUpload) after checking that its first part is the CSRF
// token: the browser sends fields in the form's order, so the hidden
// csrf_token must come first in the form. The caller reads the other
// parts as streams and bounds each.
func (s *Server) multipartReader(r *http.Request) (*multipart.Reader, error) {
	if !s.info(r).upload {
		return nil, errCSRF
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, errBadForm
	}
	p, err := mr.NextPart()
	if err != nil || p.FormName() != csrfField || p.FileName() != "" {
		return nil, errCSRF
	}
	tok, err := io.ReadAll(io.LimitReader(p, 256))
	if err != nil || !s.validCSRF(r, string(tok)) {
		return nil, errCSRF
	}
	return mr, nil
}
