// Package web serves the pages people see, next to the JSON API and on
// the same use cases. For now it has the page behind the link of an
// unbind notice; the other pages come with the web UI.
package web

import (
	"embed"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/review"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

var pages = template.Must(template.ParseFS(templateFiles, "templates/*.html"))

// csp allows the site's own style sheet and forms, and nothing else: no
// script, no inline style, no framing.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Server serves the pages.
type Server struct {
	reviews *review.Service
	log     *slog.Logger
}

// New returns the pages' server.
func New(reviews *review.Service, log *slog.Logger) *Server {
	return &Server{reviews: reviews, log: log}
}

// Register adds every page to mux: the site map of the pages.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("GET /static/", http.FileServerFS(staticFiles))
	mux.HandleFunc("GET /unbind/cancel/{token}", s.cancelPage)
	mux.HandleFunc("POST /unbind/cancel/{token}", s.cancel)
}

type cancelView struct {
	Token string
	Done  bool
	Error string
}

// cancelPage shows the button: opening the link never cancels, so that a
// mail scanner that follows links cannot cancel a request.
func (s *Server) cancelPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "cancel.html", cancelView{Token: r.PathValue("token")})
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	_, err := s.reviews.CancelUnbind(r.Context(), account.Client{IP: middleware.ClientIPFrom(r.Context()), UserAgent: r.UserAgent()},
		r.PathValue("token"))
	if err == nil {
		s.render(w, r, http.StatusOK, "cancel.html", cancelView{Done: true})
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong. Try again in a moment."
	switch account.ErrorCode(err) {
	case account.CodeNotFound:
		status, msg = http.StatusNotFound, "This link does not belong to a request. Check that you copied it whole."
	case account.CodeConflict:
		status, msg = http.StatusConflict, "This request was already decided or cancelled, so it cannot be cancelled now. "+
			"If you did not file it, change your password and contact support."
	default:
		s.log.ErrorContext(r.Context(), "cancel unbind request", "err", err)
	}
	s.render(w, r, status, "cancel.html", cancelView{Token: r.PathValue("token"), Error: msg})
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer") // the token is in the address
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}
