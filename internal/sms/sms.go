// Package sms delivers outbox messages as text messages, through a generic
// JSON webhook or the Twilio REST API.
package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// DefaultTimeout bounds a request when no *http.Client is given.
const DefaultTimeout = 30 * time.Second

// maxErrorBody limits how much of an error response is read.
const maxErrorBody = 64 << 10

func defaultClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// post sends req and returns the response, which the caller must close.
// Transport errors drop the URL that *url.Error repeats: it may carry a
// credential (a webhook token in the query, for instance).
func post(c *http.Client, req *http.Request) (*http.Response, error) {
	res, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	return res, nil
}

// drain reads the rest of a body so that the connection can be reused.
func drain(r io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r, maxErrorBody))
	_ = r.Close()
}

// Webhook delivers messages by POSTing {"to": "+E164", "body": "text"} as
// JSON to a URL. Any 2xx response means delivered.
type Webhook struct {
	url    string
	client *http.Client
}

// NewWebhook returns a Webhook that posts to url with client, or with a
// client with DefaultTimeout when client is nil.
func NewWebhook(url string, client *http.Client) *Webhook {
	return &Webhook{url: url, client: defaultClient(client)}
}

type webhookRequest struct {
	To   string `json:"to"`
	Body string `json:"body"`
}

// Send posts m.Text to m.To. Errors carry the HTTP status, never the
// response body, the message text or the URL.
func (w *Webhook) Send(ctx context.Context, m *account.Message) error {
	body, err := json.Marshal(webhookRequest{To: m.To, Body: m.Text})
	if err != nil {
		return fmt.Errorf("sms webhook: encode message %d: %w", m.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("sms webhook: message %d: invalid webhook URL", m.ID)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := post(w.client, req)
	if err != nil {
		return fmt.Errorf("sms webhook: send message %d: %w", m.ID, err)
	}
	defer drain(res.Body)
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("sms webhook: send message %d: unexpected status %s", m.ID, res.Status)
	}
	return nil
}

// DefaultTwilioBaseURL is the Twilio REST API.
const DefaultTwilioBaseURL = "https://api.twilio.com"

// Twilio delivers messages through Twilio's Messages API.
type Twilio struct {
	// BaseURL is the API root, DefaultTwilioBaseURL unless changed (tests
	// point it at an httptest server).
	BaseURL string

	sid    string
	token  string
	from   string
	client *http.Client
}

// NewTwilio returns a Twilio sender for the account accountSID with
// authToken, sending from the number from (or, when from starts with "MG",
// through that Messaging Service). A nil client gets DefaultTimeout.
func NewTwilio(accountSID, authToken, from string, client *http.Client) *Twilio {
	return &Twilio{
		BaseURL: DefaultTwilioBaseURL,
		sid:     accountSID,
		token:   authToken,
		from:    from,
		client:  defaultClient(client),
	}
}

// twilioError is the JSON body of a Twilio error response.
type twilioError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Send posts m.Text to m.To. Errors carry the HTTP status and Twilio's
// error code and message, with the recipient's number masked out.
func (t *Twilio) Send(ctx context.Context, m *account.Message) error {
	form := url.Values{"To": {m.To}, "Body": {m.Text}}
	if strings.HasPrefix(t.from, "MG") {
		form.Set("MessagingServiceSid", t.from)
	} else {
		form.Set("From", t.from)
	}
	endpoint := strings.TrimRight(t.BaseURL, "/") + "/2010-04-01/Accounts/" + url.PathEscape(t.sid) + "/Messages.json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("twilio: message %d: %w", m.ID, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(t.sid, t.token)
	res, err := post(t.client, req)
	if err != nil {
		return fmt.Errorf("twilio: send message %d: %w", m.ID, err)
	}
	defer drain(res.Body)
	if res.StatusCode >= 200 && res.StatusCode <= 299 {
		return nil
	}
	var te twilioError
	if err := json.NewDecoder(io.LimitReader(res.Body, maxErrorBody)).Decode(&te); err != nil || (te.Code == 0 && te.Message == "") {
		return fmt.Errorf("twilio: send message %d: unexpected status %s", m.ID, res.Status)
	}
	msg := te.Message
	if m.To != "" {
		// Twilio quotes the number ("The 'To' number +1... is not valid").
		msg = strings.ReplaceAll(msg, m.To, "<recipient>")
	}
	return fmt.Errorf("twilio: send message %d: status %s: error %d: %s", m.ID, res.Status, te.Code, msg)
}
