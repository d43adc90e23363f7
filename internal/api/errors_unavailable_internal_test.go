package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"syscall"
	"testing"
)

// sqlStateError is a driver error with a SQLSTATE, as pgconn.PgError is.
type sqlStateError string

func (e sqlStateError) Error() string    { return "server error " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

// TestDependencyDownIsUnavailable: a database that cannot be reached gives
// 503 unavailable (the client may retry), anything else unexpected 500.
func TestDependencyDownIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name string
		err  error
		want int
	}{
		{"connection refused", fmt.Errorf("login: %w", refused), 503},
		{"admin shutdown", fmt.Errorf("sqlstore: find user: %w", sqlStateError("57P01")), 503},
		{"starting up", sqlStateError("57P03"), 503},
		{"connection failure", sqlStateError("08006"), 503},
		{"unique violation", sqlStateError("23505"), 500},
		{"plain", errors.New("bug"), 500},
	} {
		w := httptest.NewRecorder()
		writeError(w, httptest.NewRequest("GET", "/api/v1/me", nil), slog.New(slog.DiscardHandler), c.err)
		if w.Code != c.want {
			t.Errorf("%s: got %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		if c.want == 503 && w.Body.String() != `{"error":{"code":"unavailable","message":"The service is busy. Try again in a moment."}}`+"\n" {
			t.Errorf("%s: body %s", c.name, w.Body)
		}
	}
}
