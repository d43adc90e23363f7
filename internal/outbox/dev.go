package outbox

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
)

// DefaultDevCapacity is the number of messages a Dev keeps when NewDev is
// given a capacity of zero or less.
const DefaultDevCapacity = 100

// DevMessage is a message shown by the development outbox.
type DevMessage struct {
	Channel account.Channel
	To      string
	Subject string
	Text    string
	Code    string // the one-time code in Text, or "" if it has none
	SentAt  time.Time
}

// Dev is the Sender of development mode: it delivers nothing, logs every
// message in full and keeps the latest ones in memory for /dev/outbox.
// It must only be wired in development mode, since it writes codes to the
// log and shows them to anyone who can reach the page.
type Dev struct {
	log      *slog.Logger
	capacity int

	mu   sync.Mutex
	msgs []DevMessage // oldest first
}

// NewDev returns a Dev that keeps the last capacity messages. A nil log
// discards log output.
func NewDev(log *slog.Logger, capacity int) *Dev {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if capacity <= 0 {
		capacity = DefaultDevCapacity
	}
	return &Dev{log: log, capacity: capacity}
}

// Send records m and logs it at Warn level with its full text. This is how
// the contract's "codes are delivered to the log" works, and it happens only
// in development mode: production senders never log a body or an address.
func (d *Dev) Send(ctx context.Context, m *account.Message) error {
	dm := DevMessage{Channel: m.Channel, To: m.To, Subject: m.Subject, Text: m.Text, Code: codeIn(m.Text), SentAt: time.Now()}
	d.mu.Lock()
	if len(d.msgs) >= d.capacity {
		n := copy(d.msgs, d.msgs[len(d.msgs)-d.capacity+1:])
		d.msgs = d.msgs[:n]
	}
	d.msgs = append(d.msgs, dm)
	d.mu.Unlock()
	d.log.WarnContext(ctx, "dev outbox: message not delivered, shown here (development mode only)",
		"message_id", m.ID, "channel", string(m.Channel), "to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}

// Messages returns the kept messages, newest first.
func (d *Dev) Messages() []DevMessage {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DevMessage, len(d.msgs))
	for i, m := range d.msgs {
		out[len(d.msgs)-1-i] = m
	}
	return out
}

// devJSON is the JSON form of the development outbox.
type devJSON struct {
	Messages []devJSONMessage `json:"messages"`
}

type devJSONMessage struct {
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	Code    string    `json:"code,omitempty"`
	SentAt  time.Time `json:"sent_at"`
}

// codeIn returns the one-time code of a message text: its only standalone
// run of exactly 6 digits, as the contract promises every message with a
// code has. A text with no such run, or several, has no code.
func codeIn(text string) string {
	code := ""
	for _, run := range digitRuns.FindAllString(text, -1) {
		if len(run) != 6 {
			continue
		}
		if code != "" {
			return ""
		}
		code = run
	}
	return code
}

var digitRuns = regexp.MustCompile(`[0-9]+`)

// devPageCSP is the site's policy plus the page's own style sheet.
const devPageCSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'"

//go:embed dev.css
var devCSS []byte

var devPage = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="5">
{{end}}<title>{{.T "dev.outbox.title"}}</title>
<link rel="stylesheet" href="outbox.css">
</head>
<body>
<header class="page-header">
<div class="title-row"><h1>{{.T "dev.outbox.title"}}</h1>
<nav class="langs" aria-label="{{.T "web.layout.language"}}"><ul>{{range .Langs}}<li><a href="?lang={{.Lang}}" lang="{{.Lang}}" hreflang="{{.Lang}}"{{if .Current}} aria-current="true"{{end}}>{{.Name}}</a></li>{{end}}</ul></nav></div>
<p class="notice">{{.T "dev.outbox.notice"}}</p>
<p class="reload">{{if .Refresh}}{{.T "dev.outbox.reloading"}} <a href="outbox">{{.T "dev.outbox.stop"}}</a>{{else}}<a href="outbox">{{.T "dev.outbox.reload"}}</a> · <a href="?refresh=on">{{.T "dev.outbox.autoreload"}}</a>{{end}} · <a href="?format=json">{{.T "dev.outbox.json"}}</a></p>
</header>
<main class="messages">
{{range .Messages}}<article class="message">
<div class="meta"><span class="channel">{{$.T (print "dev.outbox.channel." .Channel)}}</span> <span class="to">{{.To}}</span> <time datetime="{{.SentAt.UTC.Format "2006-01-02T15:04:05Z"}}">{{.SentAt.Format "2006-01-02 15:04:05"}}</time></div>
{{with .Subject}}<h2 class="subject">{{.}}</h2>
{{end}}{{with .Code}}<p class="code-row"><span class="code-label">{{$.T "dev.outbox.code"}}</span> <code class="code" title="{{$.T "dev.outbox.code.title"}}">{{.}}</code></p>
{{end}}<pre class="text">{{.Text}}</pre>
</article>
{{else}}<p class="empty">{{.T "dev.outbox.empty"}}</p>
{{end}}</main>
</body>
</html>
`))

// devPageData is what the HTML page shows.
type devPageData struct {
	Messages []DevMessage
	// Refresh makes the page reload itself every 5 seconds. Only on request
	// (?refresh=on, a link on the page): a reload nobody asked for moves a
	// screen reader back to the top and can cut off someone still reading
	// (WCAG 2.2.1), which is why axe counts it critical.
	Refresh bool
	Lang    i18n.Lang
	Langs   []devLang
}

// devLang is an entry of the page's language switch.
type devLang struct {
	Lang    i18n.Lang
	Name    string // in its own language
	Current bool
}

// T translates message id in the page's language.
func (d *devPageData) T(id string) string { return i18n.Default().T(d.Lang, id, nil) }

// langCookie is the pages' language cookie (internal/web), which this
// page reads and its switch sets, so that both speak the same language.
const langCookie = "lang"

// pageLang is the page's language: the lang cookie, else Accept-Language.
func pageLang(r *http.Request) i18n.Lang {
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := i18n.Parse(c.Value); ok {
			return l
		}
	}
	return i18n.Negotiate(r.Header.Get("Accept-Language"))
}

// switchLang handles ?lang= as the other pages do: a supported language
// goes into the lang cookie for a year, and the browser is sent back to
// the page without the parameter. It reports whether it answered.
func switchLang(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if !q.Has("lang") {
		return false
	}
	if l, ok := i18n.Parse(q.Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{
			Name: langCookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 60 * 60,
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
		})
	}
	q.Del("lang")
	target := url.URL{Path: "outbox", RawQuery: q.Encode()} // relative: the page's own name
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
	return true
}

// Handler serves the development outbox: an HTML page in the pages'
// language (the lang cookie, else Accept-Language; ?lang= switches),
// reloading itself every 5 seconds with ?refresh=on, or JSON
// {"messages":[...]} when the query has format=json or the request
// accepts application/json. Each message carries the code found in its
// text, if any. Responses are never cached.
func (d *Dev) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !readOnly(w, r) {
			return
		}
		msgs := d.Messages()
		if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
			out := devJSON{Messages: make([]devJSONMessage, 0, len(msgs))}
			for _, m := range msgs {
				out.Messages = append(out.Messages, devJSONMessage{
					Channel: string(m.Channel), To: m.To, Subject: m.Subject, Text: m.Text, Code: m.Code, SentAt: m.SentAt.UTC(),
				})
			}
			w.Header().Set("Content-Type", "application/json")
			if err := json.NewEncoder(w).Encode(out); err != nil {
				d.log.WarnContext(r.Context(), "dev outbox: write json", "error", err)
			}
			return
		}
		if switchLang(w, r) {
			return
		}
		data := devPageData{Messages: msgs, Refresh: r.URL.Query().Get("refresh") == "on", Lang: pageLang(r)}
		for _, l := range i18n.Langs {
			data.Langs = append(data.Langs, devLang{Lang: l, Name: i18n.Default().T(l, "lang.name", nil), Current: l == data.Lang})
		}
		var page bytes.Buffer
		if err := devPage.Execute(&page, &data); err != nil {
			d.log.WarnContext(r.Context(), "dev outbox: render page", "error", err)
			http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", devPageCSP)
		w.Header().Set("Content-Language", string(data.Lang))
		w.Header().Add("Vary", "Accept-Language, Cookie")
		w.Write(page.Bytes())
	})
}

// StyleHandler serves the style sheet of the page, which links it as
// outbox.css beside itself (GET /dev/outbox.css).
func (d *Dev) StyleHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !readOnly(w, r) {
			return
		}
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(devCSS)
	})
}

// readOnly refuses every method but GET and HEAD with 405, and marks the
// answer uncacheable and unsniffable; it reports whether to go on.
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	return true
}

// Tee returns a Sender that sends each message through every one of
// senders, in order. All are tried; the first error is returned. It is used
// to show messages on /dev/outbox while also delivering them.
func Tee(senders ...Sender) Sender {
	return tee(senders)
}

type tee []Sender

func (t tee) Send(ctx context.Context, m *account.Message) error {
	var first error
	for _, s := range t {
		if err := s.Send(ctx, m); err != nil && first == nil {
			first = err
		}
	}
	return first
}
