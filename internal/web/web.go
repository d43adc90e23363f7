// Package web serves the pages people see, next to the JSON API (package
// api) and on the same use cases: a form POST and an API call end in the
// same method of account.Service. routes.go is the site map; each page
// group has a file of handlers (signup.go, login.go, account.go, …) and a
// template in templates/; every text is a message id of internal/i18n
// (locales/web.LANG.json), so each page exists in every language.
//
// The plumbing every page shares lives in a few files: render.go (the
// layout and the view a template gets), errors.go (one renderer for every
// error: the field's message beside it, or an HTML error page), lang.go,
// session.go (the session cookie), csrf.go and flow.go (the sealed cookie
// that carries a multi-step flow between its steps).
//
// A page is added with
//
//   - its routes in routes.go, wrapped by handle (anyone), authed (a
//     session, else 303 to /login) or staff (else 403); authedUpload and
//     handleUpload for forms with files (read with multipartReader); a
//     step-up ends with rotateSession, a multi-step form keeps its state
//     with setFlow/flowOf (the login's authenticator flow is flowMFA);
//   - a file of handlers that call account (or review) and end in
//     s.page(w, r, "NAME.html", s.view(r, titleID, data)), a redirect, or
//     an error: invalid(page, view, field, err) shows err beside field,
//     refused(...) above the form, anything else gives the error page;
//   - templates/NAME.html defining "content" (forms carry
//     {{template "csrf" .}}; texts are {{.T "web.…"}});
//   - its message ids in internal/i18n/locales/web.en.json and
//     web.zh-CN.json, and web.error.CODE.FIELD for a field's own message.
package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/review"
)

// Deps are the collaborators of the pages.
type Deps struct {
	Accounts *account.Service
	Reviews  *review.Service // the unbind pages; may be nil where they are not served
	Log      *slog.Logger
	// Key is a secret of this server, at least 32 bytes, derived from the
	// key file: it keys the CSRF tokens and seals the flow cookie. Changing
	// it (a key rotation) only makes open forms and flows start again.
	Key    []byte
	Random io.Reader        // nil: crypto/rand
	Now    func() time.Time // nil: time.Now
}

// Config holds what the pages need to know about the deployment.
type Config struct {
	// PublicURL is the address users see. When it is https, cookies are
	// Secure and carry the __Host- prefix, and POSTs from its origin are
	// accepted even when a proxy changed the Host header.
	PublicURL string
	// Product is the name in the header and titles; "watchword" when empty.
	Product string
	// PasswordMinLength is the policy's shortest password, explained on the
	// sign-up page before the user types one; 8 when zero.
	PasswordMinLength int
	// Channels are the channels codes can be sent on; nil means both. The
	// sign-up page offers a phone only when text messages go out.
	Channels []account.Channel
	// Dev says that codes are shown on /dev/outbox; code steps link to it.
	Dev bool
}

// Server serves the pages.
type Server struct {
	accounts *account.Service
	reviews  *review.Service
	log      *slog.Logger
	catalog  *i18n.Catalog
	ids      map[string]bool // every message id, to pick a field's own error message
	texts    sync.Map        // lang + "\x00" + id → the message without placeholders (Server.text)
	csrfKey  []byte
	flowBox  cipher.AEAD
	random   io.Reader
	now      func() time.Time

	secure   bool   // the public URL is https
	origin   string // the public URL's origin, "" when unknown
	product  string
	minLen   int
	channels []account.Channel
	dev      bool
}

// New returns the pages' server.
func New(d Deps, cfg Config) (*Server, error) {
	if len(d.Key) < 32 {
		return nil, errors.New("web: the key must have at least 32 bytes")
	}
	s := &Server{
		accounts: d.Accounts, reviews: d.Reviews, log: d.Log, catalog: i18n.Default(),
		csrfKey: subkey(d.Key, "csrf"), random: d.Random, now: d.Now,
		product: cfg.Product, minLen: cfg.PasswordMinLength, channels: cfg.Channels, dev: cfg.Dev,
	}
	block, err := aes.NewCipher(subkey(d.Key, "flow-cookie"))
	if err != nil {
		return nil, err
	}
	if s.flowBox, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	if s.random == nil {
		s.random = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.product == "" {
		s.product = "watchword"
	}
	if s.minLen == 0 {
		s.minLen = 8
	}
	if len(s.channels) == 0 {
		s.channels = []account.Channel{account.ChannelEmail, account.ChannelPhone}
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("web: the public URL must be an absolute http(s) URL")
		}
		s.secure = u.Scheme == "https"
		s.origin = u.Scheme + "://" + strings.ToLower(u.Host)
	}
	s.ids = map[string]bool{}
	for _, id := range s.catalog.IDs(i18n.English) {
		s.ids[id] = true
	}
	return s, nil
}

// subkey derives an independent key for one use of the server's key.
func subkey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("watchword/web/" + purpose))
	return m.Sum(nil)
}

// delivers reports whether codes can be sent on ch.
func (s *Server) delivers(ch account.Channel) bool { return slices.Contains(s.channels, ch) }
