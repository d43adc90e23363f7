package outbox

import (
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/watchword/watchword/internal/account"
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
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="5">
{{end}}<title>Development outbox</title>
<link rel="stylesheet" href="outbox.css">
</head>
<body>
<header class="page-header">
<h1>Development outbox</h1>
<p class="notice">Development mode: messages are not delivered. The latest are shown here, newest first. Click a code to select it. Also as <a href="?format=json">JSON</a>.</p>
<p class="reload">{{if .Refresh}}This page reloads every 5 seconds. <a href="outbox">Stop reloading</a>{{else}}<a href="outbox">Reload</a> or <a href="?refresh=on">reload every 5 seconds</a>{{end}}</p>
</header>
<main class="messages">
{{range .Messages}}<article class="message">
<div class="meta"><span class="channel">{{.Channel}}</span> <span class="to">{{.To}}</span> <time datetime="{{.SentAt.UTC.Format "2006-01-02T15:04:05Z"}}">{{.SentAt.Format "2006-01-02 15:04:05"}}</time></div>
{{with .Subject}}<h2 class="subject">{{.}}</h2>
{{end}}{{with .Code}}<div class="code" title="one-time code">{{.}}</div>
{{end}}<pre class="text">{{.Text}}</pre>
</article>
{{else}}<p class="empty">No messages yet.</p>
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
}

// Handler serves the development outbox: an HTML page (reloading itself
// every 5 seconds with ?refresh=on), or JSON {"messages":[...]} when the
// query has format=json or the request accepts application/json. Each message carries the code found in
// its text, if any. Responses are never cached.
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
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", devPageCSP)
		data := devPageData{Messages: msgs, Refresh: r.URL.Query().Get("refresh") == "on"}
		if err := devPage.Execute(w, data); err != nil {
			d.log.WarnContext(r.Context(), "dev outbox: render page", "error", err)
		}
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
