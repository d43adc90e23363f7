// Package metrics exposes watchword's Prometheus metrics: request latency
// per route, logins by method and outcome, and messages by stage.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/review"
)

// Metrics owns a registry (not the global one, so tests can build many).
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	messages *prometheus.CounterVec
	// The SMS pumping defence.
	smsRefused, smsLimitTrips, smsConversionTrips *prometheus.CounterVec
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
		smsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_sms_refused_total",
			Help: "SMS held back by the pumping defence, by reason (invalid, country_not_allowed, premium_rate, shared_cost, prefix_limit, country_limit, global_limit, conversion).",
		}, []string{"reason"}),
		smsLimitTrips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_sms_limit_trips_total",
			Help: "SMS limits (prefix, country, global) that started refusing, once per window of each limited key.",
		}, []string{"limit"}),
		smsConversionTrips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "watchword_sms_conversion_blocks_total",
			Help: "Countries and number prefixes blocked by the conversion guard (their SMS codes were almost never entered).",
		}, []string{"scope"}),
	}
	m.reg.MustRegister(m.requests, m.logins, m.messages, m.smsRefused, m.smsLimitTrips, m.smsConversionTrips,
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

// SMSRefused counts an SMS held back by the pumping defence.
func (m *Metrics) SMSRefused(reason string) { m.smsRefused.WithLabelValues(reason).Inc() }

// SMSLimitTripped counts an SMS limit that started refusing.
func (m *Metrics) SMSLimitTripped(limit string) { m.smsLimitTrips.WithLabelValues(limit).Inc() }

// SMSConversionTripped counts a scope blocked by the conversion guard.
func (m *Metrics) SMSConversionTripped(scope string) {
	m.smsConversionTrips.WithLabelValues(scope).Inc()
}

// ReviewQueue exports the unbind review queue, read from stats at every
// scrape: pending and overdue requests and the age of the oldest. A
// failing read exports nothing for that scrape rather than stale numbers.
func (m *Metrics) ReviewQueue(stats func(ctx context.Context) (review.QueueStats, error)) {
	m.reg.MustRegister(&queueCollector{stats: stats})
}

var (
	pendingDesc = prometheus.NewDesc("watchword_unbind_requests_pending", "Unbind requests waiting for a decision.", nil, nil)
	overdueDesc = prometheus.NewDesc("watchword_unbind_requests_overdue", "Pending unbind requests past their due date.", nil, nil)
	oldestDesc  = prometheus.NewDesc("watchword_unbind_requests_oldest_age_seconds", "Age of the oldest pending unbind request.", nil, nil)
)

type queueCollector struct {
	stats func(ctx context.Context) (review.QueueStats, error)
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- pendingDesc
	ch <- overdueDesc
	ch <- oldestDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(pendingDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, float64(st.Overdue))
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, st.Oldest.Seconds())
}
