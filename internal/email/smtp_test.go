package email_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/email"
)

// fakeServer is a real SMTP server (emersion/go-smtp) on 127.0.0.1 that
// stores what it receives.
type fakeServer struct {
	addr     string
	user     string // when set, AUTH is required with user/pass
	pass     string
	mechs    []string
	rejectTo string // RCPT TO this address is refused

	mu   sync.Mutex
	msgs []received
}

type received struct {
	from     string
	to       []string
	data     []byte
	tls      bool
	authUser string
}

type serverConfig struct {
	startTLS *tls.Config // offer STARTTLS
	implicit *tls.Config // TLS from the first byte (smtps)
	user     string
	pass     string
	mechs    []string // default PLAIN
	rejectTo string
}

func startServer(t *testing.T, cfg serverConfig) *fakeServer {
	t.Helper()
	fs := &fakeServer{user: cfg.user, pass: cfg.pass, mechs: cfg.mechs, rejectTo: cfg.rejectTo}
	if len(fs.mechs) == 0 {
		fs.mechs = []string{sasl.Plain}
	}
	srv := smtp.NewServer(fs)
	srv.Domain = "localhost"
	srv.ReadTimeout = 5 * time.Second
	srv.WriteTimeout = 5 * time.Second
	srv.AllowInsecureAuth = cfg.startTLS == nil && cfg.implicit == nil
	srv.TLSConfig = cfg.startTLS
	srv.ErrorLog = nopLogger{}
	var l net.Listener
	var err error
	if cfg.implicit != nil {
		l, err = tls.Listen("tcp", "127.0.0.1:0", cfg.implicit)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	fs.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fs
}

func (fs *fakeServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &fakeSession{fs: fs, conn: c}, nil
}

func (fs *fakeServer) messages() []received {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]received(nil), fs.msgs...)
}

type fakeSession struct {
	fs       *fakeServer
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

func (s *fakeSession) AuthMechanisms() []string { return s.fs.mechs }

func (s *fakeSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != s.fs.user || pass != s.fs.pass {
			return smtp.ErrAuthFailed
		}
		s.authUser = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *fakeSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.fs.user != "" && s.authUser == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *fakeSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.fs.rejectTo != "" && to == s.fs.rejectTo {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user: " + to}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *fakeSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.fs.mu.Lock()
	s.fs.msgs = append(s.fs.msgs, received{from: s.from, to: s.to, data: data, tls: isTLS, authUser: s.authUser})
	s.fs.mu.Unlock()
	return nil
}

func (s *fakeSession) Reset()        { s.from, s.to = "", nil }
func (s *fakeSession) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(resp) > 0 { // initial response carries the user name
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, errors.New("unexpected response")
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// testCert returns a server config with a self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "watchword test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}}
	return server, &tls.Config{RootCAs: pool}
}

// newSender returns a sender for url or fails the test.
func newSender(t *testing.T, url string, opts ...email.Option) *email.SMTP {
	t.Helper()
	s, err := email.NewSMTP(url, "Watchword <no-reply@watchword.test>", slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

func testMessage() *account.Message {
	return &account.Message{
		ID:      42,
		Channel: account.ChannelEmail,
		To:      "alice@example.com",
		Subject: "Your Watchword code: 123456",
		Text:    "Your code is 123456.\nIt expires in 10 minutes.\n\nIf you did not ask for it, ignore this message. " + strings.Repeat("Long line ", 12),
		HTML:    "<p>Your code is <b>123456</b>.</p>",
	}
}

// parsed is a received message, decoded.
type parsed struct {
	header mail.Header
	parts  map[string]string // media type → decoded body
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, data)
	}
	p := parsed{header: msg.Header, parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		p.parts[mt] = decode(t, msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
		return p
	}
	p.parts[mt] = ""
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		p.parts[pt] = decode(t, part.Header.Get("Content-Transfer-Encoding"), part)
	}
	return p
}

func decode(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	if strings.EqualFold(cte, "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

func TestSendPlainServer(t *testing.T) {
	fs := startServer(t, serverConfig{})
	m := testMessage()
	if err := newSender(t, "smtp://"+fs.addr).Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := fs.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.from != "no-reply@watchword.test" || len(got.to) != 1 || got.to[0] != m.To {
		t.Errorf("envelope: from %q to %q", got.from, got.to)
	}
	if got.tls {
		t.Errorf("plain server: got TLS")
	}
	p := parse(t, got.data)
	tests := []struct{ header, want string }{
		{"From", `"Watchword" <no-reply@watchword.test>`},
		{"To", "<alice@example.com>"},
		{"Subject", m.Subject},
	}
	for _, tc := range tests {
		if got := p.header.Get(tc.header); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.header, got, tc.want)
		}
	}
	if id := p.header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@watchword.test>") {
		t.Errorf("Message-ID: got %q", id)
	}
	if d, err := p.header.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date: got %v, %v", d, err)
	}
	if _, ok := p.parts["multipart/alternative"]; !ok {
		t.Errorf("not multipart/alternative: %v", p.header.Get("Content-Type"))
	}
	if got := strings.TrimRight(p.parts["text/plain"], "\n"); got != m.Text {
		t.Errorf("text part: got %q, want %q", got, m.Text)
	}
	if got := strings.TrimRight(p.parts["text/html"], "\n"); got != m.HTML {
		t.Errorf("html part: got %q, want %q", got, m.HTML)
	}
}

func TestSendTextOnly(t *testing.T) {
	fs := startServer(t, serverConfig{})
	m := testMessage()
	m.HTML = ""
	if err := newSender(t, "smtp://"+fs.addr).Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	p := parse(t, fs.messages()[0].data)
	if len(p.parts) != 1 || strings.TrimRight(p.parts["text/plain"], "\n") != m.Text {
		t.Errorf("got parts %q, want only text/plain %q", p.parts, m.Text)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	fs := startServer(t, serverConfig{startTLS: serverTLS, user: "mailer", pass: "p@ss/word"})
	s := newSender(t, "smtp://mailer:p%40ss%2Fword@"+fs.addr, email.WithTLSConfig(clientTLS))
	if err := s.Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := fs.messages()
	if len(msgs) != 1 || !msgs[0].tls || msgs[0].authUser != "mailer" {
		t.Fatalf("got %d messages (%+v), want 1 over TLS as mailer", len(msgs), msgs)
	}

	// A certificate the client does not trust fails the send: no
	// silent downgrade once the server has offered STARTTLS.
	if err := newSender(t, "smtp://"+fs.addr).Send(context.Background(), testMessage()); err == nil {
		t.Error("untrusted certificate: got nil error")
	}
}

func TestSendImplicitTLS(t *testing.T) {
	serverTLS, clientTLS := testCert(t)
	fs := startServer(t, serverConfig{implicit: serverTLS})
	if err := newSender(t, "smtps://"+fs.addr, email.WithTLSConfig(clientTLS)).Send(context.Background(), testMessage()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if msgs := fs.messages(); len(msgs) != 1 || !msgs[0].tls {
		t.Fatalf("got %+v, want 1 message over TLS", msgs)
	}
}

func TestSendAuth(t *testing.T) {
	tests := []struct {
		name    string
		mechs   []string
		userURL string
		wantErr bool
	}{
		{"Plain", []string{sasl.Plain}, "mailer:secret@", false},
		{"LoginFallback", []string{sasl.Login}, "mailer:secret@", false},
		{"WrongPassword", []string{sasl.Plain}, "mailer:nope@", true},
		{"NoCredentials", []string{sasl.Plain}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := startServer(t, serverConfig{user: "mailer", pass: "secret", mechs: tc.mechs})
			err := newSender(t, "smtp://"+tc.userURL+fs.addr).Send(context.Background(), testMessage())
			if tc.wantErr {
				if err == nil {
					t.Fatal("got nil error")
				}
				if len(fs.messages()) != 0 {
					t.Error("message accepted")
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if msgs := fs.messages(); len(msgs) != 1 || msgs[0].authUser != "mailer" {
				t.Fatalf("got %+v, want 1 message from mailer", msgs)
			}
		})
	}
}

func TestSendRejectedRecipient(t *testing.T) {
	fs := startServer(t, serverConfig{rejectTo: "alice@example.com"})
	m := testMessage()
	err := newSender(t, "smtp://"+fs.addr).Send(context.Background(), m)
	if err == nil {
		t.Fatal("got nil error")
	}
	msg := err.Error()
	if !strings.Contains(msg, "550") || !strings.Contains(msg, "message 42") {
		t.Errorf("error %q: want the server status and message id", msg)
	}
	for _, secret := range []string{m.To, "123456"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error %q contains %q", msg, secret)
		}
	}
}

func TestSendServerDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := newSender(t, "smtp://"+addr).Send(context.Background(), testMessage()); err == nil {
		t.Fatal("got nil error")
	}
}

func TestSendHonoursContext(t *testing.T) {
	// A server that accepts connections and never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = newSender(t, "smtp://"+l.Addr().String()).Send(ctx, testMessage())
	if err == nil {
		t.Fatal("got nil error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Send took %v; want the ctx deadline to bound it", d)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newSender(t, "smtp://"+l.Addr().String()).Send(cancelled, testMessage()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: got %v, want context.Canceled", err)
	}
}

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		from    string
		wantErr string
	}{
		{"SMTP", "smtp://mail.example.com", "a@example.com", ""},
		{"SMTPS", "smtps://u:p@mail.example.com:2465", "A <a@example.com>", ""},
		{"BadScheme", "http://mail.example.com", "a@example.com", "scheme"},
		{"NoHost", "smtp://", "a@example.com", "no host"},
		{"BadPort", "smtp://mail.example.com:99999", "a@example.com", "port"},
		{"BadFrom", "smtp://mail.example.com", "not an address", "from"},
		{"BadURLHidesPassword", "smtp://user:hunter2@mail.example.com:bad port", "a@example.com", "parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := email.NewSMTP(tc.url, tc.from, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error about %s", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals the password", err)
			}
		})
	}
}

func ExampleNewSMTP() {
	s, err := email.NewSMTP("smtps://mailer:s3cret@smtp.example.com", "Watchword <no-reply@example.com>", nil)
	fmt.Println(s != nil, err)
	// Output: true <nil>
}
