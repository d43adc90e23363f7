package account_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/watchword/watchword/internal/account"
)

// sqlStateError is a driver error with a SQLSTATE, as pgconn.PgError is.
type sqlStateError string

func (e sqlStateError) Error() string    { return "server error " + string(e) }
func (e sqlStateError) SQLState() string { return string(e) }

// TestDependencyDown: the errors of a database that cannot be reached are
// told from those of a request or a bug, however deeply they are wrapped.
func TestDependencyDown(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("bug"), false},
		{"dial refused", refused, true},
		{"dial refused, wrapped twice", fmt.Errorf("login: %w", fmt.Errorf("sqlstore: find user: %w", refused)), true},
		{"read reset", fmt.Errorf("authenticate: %w", reset), true},
		{"bare ECONNREFUSED", fmt.Errorf("connect: %w", syscall.ECONNREFUSED), true},
		{"bare ECONNRESET", syscall.ECONNRESET, true},
		{"DNS", &net.DNSError{Err: "no such host", Name: "db.internal", IsNotFound: true}, true},
		{"bad conn", fmt.Errorf("begin: %w", driver.ErrBadConn), true},
		{"unexpected EOF", fmt.Errorf("read reply: %w", io.ErrUnexpectedEOF), true},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), true},
		{"connection failure 08006", sqlStateError("08006"), true},
		{"cannot connect 08001", fmt.Errorf("open: %w", sqlStateError("08001")), true},
		{"admin shutdown 57P01", fmt.Errorf("sqlstore: %w", sqlStateError("57P01")), true},
		{"starting up 57P03", sqlStateError("57P03"), true},
		{"too many connections 53300", sqlStateError("53300"), true},
		{"joined", errors.Join(errors.New("rollback"), sqlStateError("08006")), true},
		{"unique violation 23505", fmt.Errorf("create user: %w", sqlStateError("23505")), false},
		{"serialization failure 40001", sqlStateError("40001"), false},
		{"query canceled 57014", sqlStateError("57014"), false},
		{"no SQLSTATE", sqlStateError(""), false},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), false},
		{"EOF", io.EOF, false},
		{"no rows", fmt.Errorf("find: %w", account.ErrNoRows), false},
		{"conflict", fmt.Errorf("use step: %w", account.ErrConflict), false},
		{"client error", account.ErrInvalidCode, false},
		// %v breaks the chain: what the store did not wrap cannot be seen.
		{"wrapped with %v", fmt.Errorf("login: %v", refused), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := account.DependencyDown(tc.err); got != tc.want {
				t.Errorf("DependencyDown(%v): got %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestHTTPStatuses: the statuses the contract gives its codes, a fresh
// map on each call, and CodeInternal left to the 500 default.
func TestHTTPStatuses(t *testing.T) {
	m := account.HTTPStatuses()
	for _, tc := range []struct {
		code account.Code
		want int
	}{
		{account.CodeInvalidRequest, 400},
		{account.CodeInvalidCredentials, 401},
		{account.CodeUnauthenticated, 401},
		{account.CodeStepUpRequired, 403},
		{account.CodeForbidden, 403},
		{account.CodeNotFound, 404},
		{account.CodeIdentifierInUse, 409},
		{account.CodeConflict, 409},
		{account.CodeTooLarge, 413},
		{account.CodeUnsupportedMediaType, 415},
		{account.CodeRateLimited, 429},
		{account.CodeUnavailable, 503},
	} {
		if got := m[tc.code]; got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.code, got, tc.want)
		}
	}
	if st, ok := m[account.CodeInternal]; ok {
		t.Errorf("internal is listed (%d): it is the default", st)
	}
	for code, st := range m {
		if st < 400 || st > 599 {
			t.Errorf("%s: status %d is no error", code, st)
		}
	}
	before := maps.Clone(m)
	m["mine"] = 418
	if again := account.HTTPStatuses(); !maps.Equal(again, before) {
		t.Errorf("a caller's change leaked into the table: %v", again)
	}
}
