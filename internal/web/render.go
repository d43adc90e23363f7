package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/watchword/watchword/internal/i18n"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pages holds one template set per page, parsed once when the program
// starts: the layout (layout.html, with the shared pieces of parts*.html)
// and the page's file, which defines "content". A page is rendered by its
// file name, e.g. "login.html".
var pages = parsePages()

func parsePages() map[string]*template.Template {
	base := template.Must(template.ParseFS(templateFiles, "templates/layout.html", "templates/parts*.html"))
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, name := range names {
		file := path.Base(name)
		if file == "layout.html" || strings.HasPrefix(file, "parts") {
			continue
		}
		out[file] = template.Must(template.Must(base.Clone()).ParseFS(templateFiles, name))
	}
	return out
}

// view is what a template gets: the layout's data, the form's values and
// errors, and the page's own Data.
type view struct {
	s        *Server
	Lang     i18n.Lang
	Title    string // message id of the page's <title> and <h1>
	CSRF     string // the hidden csrf_token of the page's forms
	Product  string
	Langs    []langLink
	SignedIn bool   // a live session: the header offers the account and logging out
	Notice   string // a flash message, translated
	Dev      bool
	values   map[string]string
	errors   map[string]string // translated messages by field; "" is the whole form
	Data     any
}

// view returns the view of r's page, titled with message id title.
func (s *Server) view(r *http.Request, title string, data any) *view {
	ri := s.info(r)
	return &view{
		s: s, Lang: ri.lang, Title: title, CSRF: s.csrfToken(r), Product: s.product, SignedIn: ri.signedIn,
		Langs: s.langLinks(r), Dev: s.dev, values: map[string]string{}, errors: map[string]string{}, Data: data,
	}
}

// T translates message id; args are name, value pairs for its
// placeholders ({{.Address}}): {{.T "web.signup.code.sent" "Address" .Data.Address}}.
func (v *view) T(id string, args ...any) string {
	if len(args) == 0 {
		return v.s.text(v.Lang, id)
	}
	data := map[string]any{"Product": v.Product}
	for i := 0; i+1 < len(args); i += 2 {
		data[fmt.Sprint(args[i])] = args[i+1]
	}
	return v.s.catalog.T(v.Lang, id, data)
}

// text is message id in lang with no placeholder but the product's name,
// translated once and then remembered: most of a page's texts, so that a
// page does not run the message templates again on every request.
func (s *Server) text(lang i18n.Lang, id string) string {
	key := string(lang) + "\x00" + id
	if t, ok := s.texts.Load(key); ok {
		return t.(string)
	}
	t := s.catalog.T(lang, id, map[string]any{"Product": s.product})
	if s.ids[id] { // only our own ids: the cache stays as small as the catalog
		s.texts.Store(key, t)
	}
	return t
}

// Value returns the value a form field had when the page was sent back
// with an error (never a password's: those are not kept).
func (v *view) Value(field string) string { return v.values[field] }

// Error returns the message shown beside field; "" names the whole form.
func (v *view) Error(field string) string { return v.errors[field] }

// keep records form values to show again, from pairs of name, value.
func (v *view) keep(pairs ...string) *view {
	for i := 0; i+1 < len(pairs); i += 2 {
		v.values[pairs[i]] = pairs[i+1]
	}
	return v
}

// page renders template name with v, status 200, taking the flash message.
func (s *Server) page(w http.ResponseWriter, r *http.Request, name string, v *view) error {
	v.Notice = s.takeFlash(w, r)
	return s.render(w, r, http.StatusOK, name, v)
}

// pageBuffers holds the buffers pages are rendered into, grown once to a
// page's size rather than on every request.
var pageBuffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 32<<10)) }}

// render writes template name with v and status. The page is rendered
// whole before anything is written, so a template error gives the error
// page rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) error {
	t, ok := pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	buf := pageBuffers.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		pageBuffers.Put(buf)
	}()
	if err := t.ExecuteTemplate(buf, "layout", v); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	if err != nil {
		s.log.DebugContext(r.Context(), "write page", "err", err)
	}
	return nil
}

// stepButton is the data of the "step-button" template: a one-button form
// that posts step to action (send a new code, start over).
type stepButton struct {
	View                *view
	Action, Step, Label string
}

// Button returns a stepButton for the page's templates.
func (v *view) Button(action, step, label string) stepButton {
	return stepButton{View: v, Action: action, Step: step, Label: label}
}
