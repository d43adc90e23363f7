package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/metrics"
	"github.com/watchword/watchword/internal/review"
)

// TestReviewQueue: the unbind queue's gauges are read at every scrape,
// and a failing read exports nothing rather than stale numbers.
func TestReviewQueue(t *testing.T) {
	m := metrics.New()
	fail := false
	m.ReviewQueue(func(ctx context.Context) (review.QueueStats, error) {
		if fail {
			return review.QueueStats{}, errors.New("database down")
		}
		return review.QueueStats{Pending: 4, Overdue: 1, Oldest: 90 * time.Minute}, nil
	})
	scrape := func() (int, string) {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return rec.Code, string(b)
	}
	code, body := scrape()
	for _, want := range []string{
		"watchword_unbind_requests_pending 4",
		"watchword_unbind_requests_overdue 1",
		"watchword_unbind_requests_oldest_age_seconds 5400",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("scrape %d lacks %q", code, want)
		}
	}
	fail = true
	if code, body := scrape(); code == 200 && strings.Contains(body, "watchword_unbind_requests_pending 4") {
		t.Error("a failing read still exported the old numbers")
	}
}
