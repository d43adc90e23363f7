package web

import "net/http"

// The page behind the link of an unbind notice: a button that cancels the
// request. Its address carries the cancel token (the one documented
// exception to "no token in an address"); the pages' Referrer-Policy
// (no-referrer, from the middleware) keeps it out of Referer headers.

// cancelData is the Data of cancel.html.
type cancelData struct {
	Token string
	Done  bool
}

// cancelPage shows the button: opening the link never cancels, so that a
// mail scanner that follows links cannot cancel a request.
func (s *Server) cancelPage(w http.ResponseWriter, r *http.Request) error {
	return s.page(w, r, "cancel.html", s.view(r, "web.cancel.title", &cancelData{Token: r.PathValue("token")}))
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) error {
	tok := r.PathValue("token")
	if _, err := s.reviews.CancelUnbind(r.Context(), s.client(r), tok); err != nil {
		// Not found (a wrong link) or conflict (decided or cancelled
		// already), each with its own message (web.error.CODE.cancel).
		return refused("cancel.html", s.view(r, "web.cancel.title", &cancelData{Token: tok}), "cancel", err)
	}
	return s.render(w, r, http.StatusOK, "cancel.html", s.view(r, "web.cancel.done.title", &cancelData{Done: true}))
}
