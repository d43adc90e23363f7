package web

import (
	"errors"
	"net/http"

	"github.com/watchword/watchword/internal/account"
)

// The signed-in pages: where the browser belongs, and logging out. The
// personal center itself and its sensitive pages are in center.go.

// home sends the browser where it belongs.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	in, err := s.signedIn(w, r)
	if err != nil {
		return err
	}
	if in {
		return redirect(w, r, "/account")
	}
	return redirect(w, r, "/login")
}

func (s *Server) logoutPage(w http.ResponseWriter, r *http.Request, _ *account.Session) error {
	return s.page(w, r, "logout.html", s.view(r, "web.logout.title", nil))
}

// logout ends the session and deletes the cookie. Without a live session
// there is nothing to end, and the answer is the same.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.session(w, r)
	switch {
	case err == nil:
		if err := s.accounts.Logout(r.Context(), s.client(r), sess); err != nil {
			return err
		}
	case !errors.Is(err, account.ErrUnauthenticated):
		return err
	}
	s.endCookieSession(w, r)
	s.clearFlow(w)
	s.flash(w, "web.flash.logged_out")
	return redirect(w, r, "/login")
}
