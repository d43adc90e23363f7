package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsListener runs the binary with --metrics-addr: Prometheus
// metrics are served there, and only there.
func TestMetricsListener(t *testing.T) {
	metricsAddr := freeAddr(t)
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db"), Extra: []string{"--metrics-addr", metricsAddr}})
	s.SignUpEmail("metrics@example.com", goodPassword)
	s.Do("POST", "/login/password", "", map[string]string{"identifier": "metrics@example.com", "password": "not the password"})

	if resp, _ := get(t, s.Base+"/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: got %d, want 404", resp.StatusCode)
	}
	resp, body := get(t, "http://"+metricsAddr+"/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics listener: got %d", resp.StatusCode)
	}
	for _, want := range []string{
		`watchword_http_request_duration_seconds_bucket{method="POST",route="POST /api/v1/registrations",status="202"`,
		`watchword_logins_total{method="password",outcome="failure"} 1`,
		`watchword_messages_total{channel="email",stage="queued"} 1`,
		`watchword_messages_total{channel="email",stage="sent"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("metrics Cache-Control: got %q, want no-store", got)
	}
	if !strings.Contains(s.Logs(), `"msg":"metrics listening","addr":"`+metricsAddr+`"`) {
		t.Errorf("the metrics address is not in the log")
	}
	// The second listener serves metrics and nothing of the product.
	if resp, _ := get(t, "http://"+metricsAddr+"/api/v1/me"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("metrics listener /api/v1/me: got %d, want 404", resp.StatusCode)
	}
}

// TestNoMetricsWithoutFlag: without --metrics-addr nothing serves metrics.
func TestNoMetricsWithoutFlag(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	resp, body := get(t, s.Base+"/metrics")
	if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "watchword_") {
		t.Errorf("public /metrics: got %d, want 404", resp.StatusCode)
	}
	if strings.Contains(s.Logs(), "metrics listening") {
		t.Error("a metrics listener started without --metrics-addr")
	}
}

// TestNoStoreOnEveryAnswer checks Cache-Control on answers outside the
// API too: service endpoints, net/http's own 404 and 405.
func TestNoStoreOnEveryAnswer(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	tests := []struct {
		method, path string
		wantStatus   int
	}{
		{"GET", "/healthz", 200},
		{"GET", "/readyz", 200},
		{"POST", "/healthz", 405},
		{"GET", "/no/such/page", 404},
		{"GET", "/metrics", 404},
		{"GET", "/api/v1/me", 401},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, s.Base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := s.send(req)
			if r.Status != tc.wantStatus {
				t.Fatalf("got %d %s, want %d", r.Status, r.Raw, tc.wantStatus)
			}
			if got := r.Header.Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
		})
	}
}
