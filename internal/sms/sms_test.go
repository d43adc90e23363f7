package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/sms"
)

// captured is one request seen by a test server.
type captured struct {
	method, path, contentType string
	user, pass                string
	hasAuth                   bool
	body                      []byte
}

// server records requests and answers with status and body.
func server(t *testing.T, status int, body string) (*httptest.Server, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var reqs []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := captured{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), body: b}
		c.user, c.pass, c.hasAuth = r.BasicAuth()
		mu.Lock()
		reqs = append(reqs, c)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), reqs...)
	}
}

func message() *account.Message {
	return &account.Message{ID: 9, Channel: account.ChannelPhone, To: "+8613800138000", Text: "Your Watchword code is 123456"}
}

func TestWebhook(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr string
	}{
		{"OK", http.StatusOK, ""},
		{"Accepted", http.StatusAccepted, ""},
		{"NoContent", http.StatusNoContent, ""},
		{"ServerError", http.StatusInternalServerError, "500"},
		{"Unavailable", http.StatusServiceUnavailable, "503"},
		{"BadRequest", http.StatusBadRequest, "400"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, reqs := server(t, tc.status, `{"error":"gateway says 123456 +8613800138000"}`)
			m := message()
			err := sms.NewWebhook(srv.URL+"/hook?token=s3cret", srv.Client()).Send(context.Background(), m)
			got := reqs()
			if len(got) != 1 {
				t.Fatalf("got %d requests, want 1", len(got))
			}
			r := got[0]
			if r.method != http.MethodPost || r.path != "/hook" || r.contentType != "application/json" {
				t.Errorf("request: %s %s %s", r.method, r.path, r.contentType)
			}
			var body map[string]string
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if want := map[string]string{"to": m.To, "body": m.Text}; len(body) != 2 || body["to"] != want["to"] || body["body"] != want["body"] {
				t.Errorf("body: got %v, want %v", body, want)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error with status %s", err, tc.wantErr)
			}
			for _, secret := range []string{"123456", m.To, "gateway says"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}

func TestWebhookTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/hook?token=s3cret"
	srv.Close()
	err := sms.NewWebhook(u, nil).Send(context.Background(), message())
	if err == nil {
		t.Fatal("got nil error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q reveals the webhook URL", err)
	}
}

// blockingServer never answers until the test ends.
func blockingServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestContextCancel(t *testing.T) {
	srv := blockingServer(t)
	tw := sms.NewTwilio("AC123", "token", "+15005550006", nil)
	tw.BaseURL = srv.URL
	senders := map[string]interface {
		Send(context.Context, *account.Message) error
	}{
		"Webhook": sms.NewWebhook(srv.URL, nil),
		"Twilio":  tw,
	}
	for name, s := range senders {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, message())
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want deadline exceeded", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Send took %v", d)
			}
		})
	}
}

func TestTwilio(t *testing.T) {
	srv, reqs := server(t, http.StatusCreated, `{"sid":"SM1","status":"queued"}`)
	tw := sms.NewTwilio("AC123", "tok/en", "+15005550006", srv.Client())
	if tw.BaseURL != "https://api.twilio.com" {
		t.Errorf("default BaseURL: got %q", tw.BaseURL)
	}
	tw.BaseURL = srv.URL + "/"
	m := message()
	if err := tw.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := reqs()
	if len(got) != 1 {
		t.Fatalf("got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost || r.path != "/2010-04-01/Accounts/AC123/Messages.json" {
		t.Errorf("request: %s %s", r.method, r.path)
	}
	if r.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type: %q", r.contentType)
	}
	if !r.hasAuth || r.user != "AC123" || r.pass != "tok/en" {
		t.Errorf("basic auth: %q:%q (%v)", r.user, r.pass, r.hasAuth)
	}
	form, err := url.ParseQuery(string(r.body))
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"To": {m.To}, "From": {"+15005550006"}, "Body": {m.Text}}
	if form.Encode() != want.Encode() {
		t.Errorf("form: got %v, want %v", form, want)
	}
}

func TestTwilioMessagingService(t *testing.T) {
	srv, reqs := server(t, http.StatusCreated, `{}`)
	tw := sms.NewTwilio("AC123", "token", "MG0123", srv.Client())
	tw.BaseURL = srv.URL
	if err := tw.Send(context.Background(), message()); err != nil {
		t.Fatalf("Send: %v", err)
	}
	form, _ := url.ParseQuery(string(reqs()[0].body))
	if form.Get("MessagingServiceSid") != "MG0123" || form.Has("From") {
		t.Errorf("form: got %v, want MessagingServiceSid and no From", form)
	}
}

func TestTwilioErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantParts []string
	}{
		{
			"InvalidNumber", http.StatusBadRequest,
			`{"code":21211,"message":"The 'To' number +8613800138000 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`,
			[]string{"400", "21211", "The 'To' number <recipient> is not a valid phone number."},
		},
		{
			"Auth", http.StatusUnauthorized,
			`{"code":20003,"message":"Authenticate","status":401}`,
			[]string{"401", "20003", "Authenticate"},
		},
		{"NotJSON", http.StatusBadGateway, `<html>bad gateway</html>`, []string{"502"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := server(t, tc.status, tc.body)
			tw := sms.NewTwilio("AC123", "token", "+15005550006", srv.Client())
			tw.BaseURL = srv.URL
			err := tw.Send(context.Background(), message())
			if err == nil {
				t.Fatal("got nil error")
			}
			for _, want := range tc.wantParts {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			for _, secret := range []string{"+8613800138000", "123456", "token", "html"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains %q", err, secret)
				}
			}
		})
	}
}
