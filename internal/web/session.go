package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/middleware"
)

// Cookies. Each is HttpOnly and SameSite=Lax, with Path=/; when the
// public URL is https each is also Secure and named with the __Host-
// prefix, which the browser accepts only from this very host over https
// without a Domain, so that no sibling subdomain can set or shadow it.
const (
	sessionCookie = "watchword_session" // the session token of account.Authenticate
	csrfCookie    = "watchword_csrf"    // the CSRF seed
	flowCookie    = "watchword_flow"    // a multi-step flow, sealed (flow.go)
	flashCookie   = "watchword_flash"   // a message for the next page, sealed
	langCookie    = "lang"              // the chosen language, for a year; not a secret
)

// cookieName is the name of one of the cookies above as this server sets it.
func (s *Server) cookieName(name string) string {
	if s.secure && name != langCookie {
		return "__Host-" + name
	}
	return name
}

// cookie returns a cookie of this server; maxAge 0 leaves it to the end of
// the browser session, a negative one deletes it.
func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	}
}

// sessionCookie returns the session token the browser sent, if any.
func (s *Server) sessionCookie(r *http.Request) string {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil || len(c.Value) > 128 {
		return ""
	}
	return c.Value
}

// session returns the live session of the browser. A cookie whose session
// has ended is deleted. Errors: account.ErrUnauthenticated.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (*account.Session, error) {
	ri := s.info(r)
	if ri.session == "" {
		return nil, account.ErrUnauthenticated
	}
	sess, err := s.accounts.Authenticate(r.Context(), ri.session)
	if errors.Is(err, account.ErrUnauthenticated) {
		s.endCookieSession(w, r)
	}
	if err == nil {
		ri.signedIn = true
	}
	return sess, err
}

// signedIn reports whether the browser has a live session.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (bool, error) {
	_, err := s.session(w, r)
	if errors.Is(err, account.ErrUnauthenticated) {
		return false, nil
	}
	return err == nil, err
}

// startSession puts a new session token in the cookie, after a login or
// sign-up. The cookie's value always changes here (the session id rotates
// at login: a token planted before cannot become a signed-in session),
// and a session the browser still had is ended, not left behind.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, tok string) {
	ri := s.info(r)
	if ri.session != "" {
		if old, err := s.accounts.Authenticate(r.Context(), ri.session); err == nil {
			if err := s.accounts.Logout(r.Context(), s.client(r), old); err != nil {
				s.log.WarnContext(r.Context(), "end the previous session at login", "err", err)
			}
		}
	}
	http.SetCookie(w, s.cookie(sessionCookie, tok, 0))
	ri.session, ri.signedIn = tok, true // forms on this answer carry the new session's CSRF token
	s.clearFlow(w)
}

// rotateSession gives the browser a new session id for sess, keeping its
// privilege: the step-up page calls it once the step-up succeeded, so that
// an id that leaked or was planted before is worth nothing after.
func (s *Server) rotateSession(w http.ResponseWriter, r *http.Request, sess *account.Session) error {
	tok, err := s.accounts.RotateSession(r.Context(), s.client(r), sess)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(sessionCookie, tok, 0))
	ri := s.info(r)
	ri.session, ri.signedIn = tok, true
	return nil
}

// endCookieSession deletes the session cookie (the session itself is
// ended by the caller, or already was).
func (s *Server) endCookieSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	ri := s.info(r)
	ri.session, ri.signedIn = "", false
}

// authedFunc is a handler of a signed-in page.
type authedFunc func(w http.ResponseWriter, r *http.Request, sess *account.Session) error

// authed wraps a signed-in page: without a live session the browser is
// sent to /login (303).
func (s *Server) authed(h authedFunc) http.HandlerFunc {
	return s.handle(s.withSession(h))
}

// authedUpload is authed for a form with files (see handleUpload).
func (s *Server) authedUpload(h authedFunc) http.HandlerFunc {
	return s.handleUpload(s.withSession(h))
}

func (s *Server) withSession(h authedFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.session(w, r)
		if errors.Is(err, account.ErrUnauthenticated) {
			return redirect(w, r, "/login")
		}
		if err != nil {
			return err
		}
		return h(w, r, sess)
	}
}

// staff wraps a staff page: anyone without a live staff session (a
// reviewer or admin with an authenticator bound) gets 403, signed in or
// not, so the staff pages' addresses lead nowhere for others.
func (s *Server) staff(h authedFunc) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.session(w, r)
		if errors.Is(err, account.ErrUnauthenticated) {
			return account.ErrForbidden
		}
		if err != nil {
			return err
		}
		if _, err := s.accounts.Staff(r.Context(), sess); err != nil {
			return err
		}
		return h(w, r, sess)
	})
}

// client describes the caller to the domain: its address, browser and
// the page's language (in which a sign-up code is written, and which a
// login remembers for the account's later messages).
func (s *Server) client(r *http.Request) account.Client {
	return account.Client{
		IP:        middleware.ClientIPFrom(r.Context()),
		UserAgent: r.UserAgent(),
		Lang:      s.info(r).lang,
	}
}

// flashTTL is how long a flash message waits for the next page: the
// redirect that follows it, not a later visit.
const flashTTL = time.Minute

// flashNote is the content of the flash cookie: a message id and the
// values of its placeholders.
type flashNote struct {
	ID      string            `json:"i"`
	Args    map[string]string `json:"a,omitempty"`
	Expires time.Time         `json:"e"`
}

// flash leaves a message for the next page the browser shows (after a
// redirect): "the session was ended". The cookie is sealed like the
// flow's, and carries only one of our message ids (web.flash.*) and the
// values of its placeholders, given as name, value pairs, so nobody can
// make a page say anything else; it is translated when shown, in the
// language of that page.
func (s *Server) flash(w http.ResponseWriter, id string, args ...string) {
	n := flashNote{ID: id, Expires: s.now().Add(flashTTL)}
	for i := 0; i+1 < len(args); i += 2 {
		if n.Args == nil {
			n.Args = map[string]string{}
		}
		n.Args[args[i]] = args[i+1]
	}
	if err := s.sealCookie(w, flashCookie, &n, n.Expires); err != nil {
		s.log.Warn("set the flash message", "err", err) // the page still works without it
	}
}

// takeFlash returns the translated flash message of r, once: the cookie
// is deleted.
func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	if _, err := r.Cookie(s.cookieName(flashCookie)); err != nil {
		return ""
	}
	http.SetCookie(w, s.cookie(flashCookie, "", -1))
	var n flashNote
	if !s.openCookie(r, flashCookie, &n) || !s.now().Before(n.Expires) ||
		!strings.HasPrefix(n.ID, "web.flash.") || !s.ids[n.ID] {
		return ""
	}
	data := make(map[string]any, len(n.Args)+1)
	for k, v := range n.Args {
		data[k] = v
	}
	data["Product"] = s.product
	return s.catalog.T(s.info(r).lang, n.ID, data)
}
