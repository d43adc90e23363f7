// Package email delivers outbox messages by SMTP.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/watchword/watchword/internal/account"
)

// Timeout bounds the connection and every SMTP command of one Send,
// unless the context's deadline is sooner.
const Timeout = 20 * time.Second

// SMTP sends email through one SMTP server. It is safe for concurrent use:
// each Send opens its own connection.
type SMTP struct {
	host      string
	port      int
	implicit  bool // smtps: TLS from the first byte
	user      string
	pass      string
	from      string
	fromHost  string // domain part of from, for Message-IDs
	tlsConfig *tls.Config
	log       *slog.Logger
}

// Option configures an SMTP sender.
type Option func(*SMTP)

// WithTLSConfig sets the TLS configuration used for STARTTLS and implicit
// TLS, for example to trust a test certificate through RootCAs. ServerName
// defaults to the host of the URL.
func WithTLSConfig(c *tls.Config) Option {
	return func(s *SMTP) { s.tlsConfig = c }
}

// NewSMTP returns a sender for the server in rawURL, with messages from
// from (an address, optionally with a display name).
//
// rawURL is smtp://user:pass@host:port, which upgrades with STARTTLS
// whenever the server offers it (port 587 by default), or
// smtps://user:pass@host:port for implicit TLS (port 465 by default). The
// user and password are URL-decoded; without a user no authentication is
// attempted. With one, AUTH PLAIN is used, or LOGIN when the server offers
// only that; credentials are never sent over a plaintext connection except
// to localhost.
func NewSMTP(rawURL, from string, log *slog.Logger, opts ...Option) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("email: parse SMTP URL: %w", err)
	}
	s := &SMTP{log: log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, fmt.Errorf("email: SMTP URL scheme %q: want smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("email: SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("email: SMTP URL port %q is invalid", p)
		}
		s.port = n
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("email: from address %q: %w", from, err)
	}
	s.from = addr.String()
	s.fromHost = addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]
	for _, opt := range opts {
		opt(s)
	}
	if s.tlsConfig == nil {
		s.tlsConfig = &tls.Config{}
	} else {
		s.tlsConfig = s.tlsConfig.Clone()
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = s.host
	}
	if s.tlsConfig.MinVersion == 0 {
		s.tlsConfig.MinVersion = tls.VersionTLS12
	}
	return s, nil
}

// Send delivers m to m.To as a text/plain message, or multipart/alternative
// with m.HTML when that is set. Errors never contain the body, and the
// recipient's address is replaced by "<recipient>".
func (s *SMTP) Send(ctx context.Context, m *account.Message) (err error) {
	defer func() {
		if err != nil {
			err = &sendError{id: m.ID, to: m.To, err: err}
		}
	}()
	timeout := Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}

	msg, err := s.message(m)
	if err != nil {
		return err
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(s.tlsConfig),
	}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if s.user != "" {
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("configure client: %w", err)
	}
	start := time.Now()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return err
	}
	s.log.DebugContext(ctx, "email: message sent", "message_id", m.ID,
		"server", net.JoinHostPort(s.host, strconv.Itoa(s.port)), "duration", time.Since(start))
	return nil
}

// message builds the MIME message for m.
func (s *SMTP) message(m *account.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, errors.New("invalid recipient address")
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(randomID() + "@" + s.fromHost)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// sendError wraps a delivery error for the outbox log and table: servers
// and go-mail repeat the recipient's address, which must not be logged.
type sendError struct {
	id  int64
	to  string
	err error
}

func (e *sendError) Error() string {
	msg := e.err.Error()
	if e.to != "" {
		msg = strings.ReplaceAll(msg, e.to, "<recipient>")
	}
	return fmt.Sprintf("email: send message %d: %s", e.id, msg)
}

func (e *sendError) Unwrap() error { return e.err }
