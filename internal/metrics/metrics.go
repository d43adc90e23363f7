// Package metrics exposes watchword's Prometheus metrics: request latency
// per route, logins by method and outcome, and messages by stage.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/watchword/watchword/internal/account"
)

// Metrics owns a registry (not the global one, so tests can build many).
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	messages *prometheus.CounterVec
}

// New returns Metrics with Go and process collectors registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "watchword_http_request_duration_seconds",
			Help:    "Latency of HTTP requests by route pattern, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_logins_total",
			Help: "Login attempts by method (password, code, totp) and outcome.",
		}, []string{"method", "outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_messages_total",
			Help: "Messages by channel and stage (queued, sent, failed).",
		}, []string{"channel", "stage"}),
	}
	m.reg.MustRegister(m.requests, m.logins, m.messages,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Middleware records the latency of each request under its route pattern
// (set by http.ServeMux on the request), never under the raw path, so ids
// in paths do not explode the label set.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Login counts a login attempt.
func (m *Metrics) Login(method, outcome string) { m.logins.WithLabelValues(method, outcome).Inc() }

// MessageQueued counts a message stored in the outbox.
func (m *Metrics) MessageQueued(ch account.Channel) {
	m.messages.WithLabelValues(string(ch), "queued").Inc()
}

// MessageSent counts a delivered message.
func (m *Metrics) MessageSent(ch account.Channel) {
	m.messages.WithLabelValues(string(ch), "sent").Inc()
}

// MessageFailed counts a failed delivery attempt.
func (m *Metrics) MessageFailed(ch account.Channel) {
	m.messages.WithLabelValues(string(ch), "failed").Inc()
}
