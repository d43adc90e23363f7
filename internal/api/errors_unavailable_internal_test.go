package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/watchword/watchword/internal/account"
)

// pgError is PostgreSQL's answer with SQLSTATE code, as pgx returns it.
func pgError(code string) error {
	return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "server error"}
}

// TestDependencyDownIsUnavailable: a database that cannot be reached gives
// 503 unavailable (the client may retry) logged at WARN, anything else
// unexpected 500 logged at ERROR, and a client error wins over the cause
// it wraps. Which errors are a dependency down is account.DependencyDown's
// to say (tested there); this checks how the API answers and logs them.
func TestDependencyDownIsUnavailable(t *testing.T) {
	const unavailable = `{"error":{"code":"unavailable","message":"The service is busy. Try again in a moment."}}` + "\n"
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name      string
		err       error
		want      int
		wantLevel string // of the one log line; "" for none
	}{
		{"connection refused", fmt.Errorf("login: %w", refused), 503, "WARN"},
		{"admin shutdown", fmt.Errorf("sqlstore: find user: %w", pgError("57P01")), 503, "WARN"},
		{"starting up", pgError("57P03"), 503, "WARN"},
		{"connection failure", pgError("08006"), 503, "WARN"},
		{"unique violation", pgError("23505"), 500, "ERROR"},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), 500, "ERROR"},
		{"plain", errors.New("bug"), 500, "ERROR"},
		{"client error over its cause", fmt.Errorf("%w: %w", account.ErrNotFound, refused), 404, ""},
		{"the domain's unavailable", account.ErrUnavailable, 503, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := httptest.NewRecorder()
			writeError(w, httptest.NewRequest("GET", "/api/v1/me", nil), slog.New(slog.NewTextHandler(&logs, nil)), tc.err)
			if w.Code != tc.want {
				t.Errorf("got %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if tc.want == 503 && w.Body.String() != unavailable {
				t.Errorf("body %s, want %s", w.Body, unavailable)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			switch {
			case tc.wantLevel == "" && logs.Len() > 0:
				t.Errorf("logged %q, want nothing", logs.String())
			case tc.wantLevel != "" && (len(lines) != 1 || !strings.Contains(lines[0], "level="+tc.wantLevel)):
				t.Errorf("logged %q, want one line at %s", logs.String(), tc.wantLevel)
			}
		})
	}
}
