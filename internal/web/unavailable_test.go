package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/watchword/watchword/internal/account"
)

// downStore is a store whose database can be made unreachable: then the
// look-ups that a signed-in page and a password login start with fail as
// a refused connection does, wrapped as sqlstore wraps its errors.
type downStore struct {
	account.Store
	down atomic.Bool
}

func (d *downStore) lost(op string) error {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	return fmt.Errorf("sqlstore: %s: %w", op, refused)
}

func (d *downStore) SessionByTokenHash(ctx context.Context, tokenHash []byte) (*account.Session, error) {
	if d.down.Load() {
		return nil, d.lost("session by token")
	}
	return d.Store.SessionByTokenHash(ctx, tokenHash)
}

func (d *downStore) UserByVerifiedEmail(ctx context.Context, emailKey string) (*account.User, error) {
	if d.down.Load() {
		return nil, d.lost("user by email")
	}
	return d.Store.UserByVerifiedEmail(ctx, emailKey)
}

// newDownEnv is newEnv with the service's store behind a downStore.
func newDownEnv(t *testing.T) (*env, *downStore) {
	t.Helper()
	var down *downStore
	e := newEnv(t, envOptions{store: func(db account.Store) account.Store {
		down = &downStore{Store: db}
		return down
	}})
	return e, down
}

// TestDatabaseDownIsBusyPage: a page whose database cannot be reached
// answers 503 "busy, try again" in the page's language, never 500, and the
// outage is logged at WARN, not as a bug. A form keeps what was typed and
// says it above itself, as for any refusal of the whole form.
func TestDatabaseDownIsBusyPage(t *testing.T) {
	e, store := newDownEnv(t)
	b := e.browser()
	wantStatus(t, b.signUpByForm("down@example.com"), http.StatusOK)
	store.down.Store(true)

	for _, tc := range []struct {
		lang           string
		title, message string
	}{
		{"en", "Service busy", "The service is busy. Try again in a moment."},
		{"zh-CN", "服务繁忙", "服务繁忙，请稍后重试。"},
	} {
		t.Run("page/"+tc.lang, func(t *testing.T) {
			b.lang = tc.lang
			p := b.get("/account")
			wantStatus(t, p, http.StatusServiceUnavailable)
			wantIn(t, p, `<h1 id="title">`+tc.title+`</h1>`, tc.message)
		})
	}

	t.Run("form", func(t *testing.T) {
		b := e.browser()
		b.get("/login")
		p := b.post("/login", "identifier", "down@example.com", "password", goodPassword)
		wantStatus(t, p, http.StatusServiceUnavailable)
		if got, want := formAlert(p.Body), "The service is busy. Try again in a moment."; got != want {
			t.Errorf("alert %q, want %q", got, want)
		}
		wantIn(t, p, `value="down@example.com"`)
		if b.cookie(sessionCookie) != nil {
			t.Error("a session cookie without a login")
		}
	})

	logs := e.logs.String()
	if !strings.Contains(logs, `level=WARN msg="dependency unavailable"`) || !strings.Contains(logs, "connection refused") {
		t.Errorf("no WARN with the cause in the log:\n%s", logs)
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("an outage logged as an error:\n%s", logs)
	}
}
