package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/watchword/watchword/internal/i18n"
)

// langCookieAge is how long a chosen language is remembered: a year.
const langCookieAge = 365 * 24 * 60 * 60

// langOf is the language of a page: the one chosen with ?lang= (kept in
// the lang cookie), else the best match of Accept-Language, else English.
func langOf(r *http.Request) i18n.Lang {
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := i18n.Parse(c.Value); ok {
			return l
		}
	}
	return i18n.Negotiate(r.Header.Get("Accept-Language"))
}

// switchLanguage handles ?lang= on a GET: a supported language goes into
// the lang cookie, and the browser is sent to the same address without
// the parameter, so no language lingers in addresses that are shared or
// bookmarked. It reports whether it answered.
func (s *Server) switchLanguage(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	q := r.URL.Query()
	if !q.Has("lang") {
		return false
	}
	if l, ok := i18n.Parse(q.Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{
			Name: langCookie, Value: string(l), Path: "/", MaxAge: langCookieAge,
			HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	q.Del("lang")
	http.Redirect(w, r, localURL(r.URL.Path, q), http.StatusSeeOther)
	return true
}

// localURL is path with query q as a reference to this site: a path that
// would read as another host ("//evil.example") becomes "/".
func localURL(path string, q url.Values) string {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		path = "/"
	}
	u := url.URL{Path: path, RawQuery: q.Encode()}
	return u.String()
}

// langLink is one entry of the language switch.
type langLink struct {
	Lang    i18n.Lang
	Name    string // in its own language
	URL     string // this page with ?lang=
	Current bool
}

// langLinks returns the language switch of r's page.
func (s *Server) langLinks(r *http.Request) []langLink {
	cur := s.info(r).lang
	links := make([]langLink, 0, len(i18n.Langs))
	for _, l := range i18n.Langs {
		q := r.URL.Query()
		q.Set("lang", string(l))
		links = append(links, langLink{Lang: l, Name: s.catalog.T(l, "lang.name", nil), URL: localURL(r.URL.Path, q), Current: l == cur})
	}
	return links
}
