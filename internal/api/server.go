// Package api serves watchword's JSON API under /api/v1. Request and
// response bodies are explicit structs of this package, never domain
// types, so a hash can never be serialized by accident.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/review"
)

// Server holds what the handlers need.
type Server struct {
	svc     *account.Service
	reviews *review.Service
	log     *slog.Logger
}

// New returns an API server over the account and review services.
func New(svc *account.Service, reviews *review.Service, log *slog.Logger) *Server {
	return &Server{svc: svc, reviews: reviews, log: log}
}

// handle adapts an error-returning handler: the error is rendered once,
// here, and every answer is marked no-store.
func (s *Server) handle(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

// authed is a handler that needs a signed-in session.
type authed func(w http.ResponseWriter, r *http.Request, sess *account.Session) error

// auth resolves the bearer token before calling h.
func (s *Server) auth(h authed) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		tok, ok := bearer(r)
		if !ok {
			return account.ErrUnauthenticated
		}
		sess, err := s.svc.Authenticate(r.Context(), tok)
		if err != nil {
			return err
		}
		return h(w, r, sess)
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// client describes the caller for the domain. Its language comes from
// Accept-Language; a request without one states no language, so that a
// client that never sends the header does not switch the account's
// messages to English at every login.
func client(r *http.Request) account.Client {
	c := account.Client{IP: middleware.ClientIPFrom(r.Context()), UserAgent: r.UserAgent()}
	if al := r.Header.Get("Accept-Language"); strings.TrimSpace(al) != "" {
		c.Lang = i18n.Negotiate(al)
	}
	return c
}

// ctx is a short alias used by handlers.
func ctx(r *http.Request) context.Context { return r.Context() }
