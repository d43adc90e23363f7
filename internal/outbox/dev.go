package outbox

import (
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
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
	dm := DevMessage{Channel: m.Channel, To: m.To, Subject: m.Subject, Text: m.Text, SentAt: time.Now()}
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
	SentAt  time.Time `json:"sent_at"`
}

var devPage = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<title>Development outbox</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #ccc; padding: .4em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
pre { margin: 0; white-space: pre-wrap; font-family: ui-monospace, monospace; }
</style>
</head>
<body>
<h1>Development outbox</h1>
<p>Messages are not delivered in development mode; the latest are shown here, newest first. This page refreshes every 5 seconds.</p>
{{if .}}<table>
<thead><tr><th>Sent</th><th>Channel</th><th>To</th><th>Subject</th><th>Text</th></tr></thead>
<tbody>
{{range .}}<tr><td>{{.SentAt.Format "2006-01-02 15:04:05"}}</td><td>{{.Channel}}</td><td>{{.To}}</td><td>{{.Subject}}</td><td><pre>{{.Text}}</pre></td></tr>
{{end}}</tbody>
</table>{{else}}<p>No messages yet.</p>{{end}}
</body>
</html>
`))

// Handler serves the development outbox: an HTML page that refreshes
// itself, or JSON {"messages":[...]} when the query has format=json or the
// request accepts application/json. Responses are never cached.
func (d *Dev) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		msgs := d.Messages()
		if r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json") {
			out := devJSON{Messages: make([]devJSONMessage, 0, len(msgs))}
			for _, m := range msgs {
				out.Messages = append(out.Messages, devJSONMessage{
					Channel: string(m.Channel), To: m.To, Subject: m.Subject, Text: m.Text, SentAt: m.SentAt.UTC(),
				})
			}
			w.Header().Set("Content-Type", "application/json")
			if err := json.NewEncoder(w).Encode(out); err != nil {
				d.log.WarnContext(r.Context(), "dev outbox: write json", "error", err)
			}
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := devPage.Execute(w, msgs); err != nil {
			d.log.WarnContext(r.Context(), "dev outbox: render page", "error", err)
		}
	})
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
