// Package smstest provides an SMS webhook receiver for tests: an httptest
// server that accepts what sms.Webhook posts and records it.
package smstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Message is one text message received by a Receiver.
type Message struct {
	To   string `json:"to"`
	Body string `json:"body"`
}

// Receiver is a running webhook endpoint. It answers 204 to a valid POST
// of {"to","body"} JSON, 400 to anything else, and 503 while failing.
type Receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	msgs    []Message
	changed chan struct{} // closed and replaced when msgs grows
	failing bool
	hang    chan struct{} // non-nil while hanging; closed to release requests
}

// NewWebhookReceiver starts a Receiver; it is closed when the test ends.
func NewWebhookReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{changed: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(func() { r.SetHanging(false); r.srv.Close() })
	return r
}

// URL returns the webhook URL to give sms.NewWebhook.
func (r *Receiver) URL() string { return r.srv.URL }

// SetFailing makes the receiver answer 503 Service Unavailable (and record
// nothing) while failing is true.
func (r *Receiver) SetFailing(failing bool) {
	r.mu.Lock()
	r.failing = failing
	r.mu.Unlock()
}

// SetHanging makes the receiver, while hanging is true, hold every request
// without an answer (and record nothing), as a stalled gateway would, until
// hanging is turned off or the client gives up.
func (r *Receiver) SetHanging(hanging bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case hanging && r.hang == nil:
		r.hang = make(chan struct{})
	case !hanging && r.hang != nil:
		close(r.hang)
		r.hang = nil
	}
}

// Messages returns the messages received so far, oldest first.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// WaitFor waits until at least n messages have arrived and returns them,
// or fails the test after timeout.
func (r *Receiver) WaitFor(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		msgs, changed := append([]Message(nil), r.msgs...), r.changed
		r.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("smstest: got %d messages after %v, want %d", len(msgs), timeout, n)
			return nil
		}
	}
}

func (r *Receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	failing, hang := r.failing, r.hang
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		http.Error(w, "hung (smstest)", http.StatusServiceUnavailable)
		return
	}
	if failing {
		http.Error(w, "failing (smstest)", http.StatusServiceUnavailable)
		return
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want POST of application/json", http.StatusBadRequest)
		return
	}
	var m Message
	if err := json.NewDecoder(http.MaxBytesReader(w, req.Body, 1<<20)).Decode(&m); err != nil || m.To == "" {
		http.Error(w, "want {\"to\",\"body\"}", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
