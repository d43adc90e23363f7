package sqlstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/storetest"
)

// backend is a database to run the tests on. dsn returns a fresh, empty
// database for each call.
type backend struct {
	name string
	dsn  func(t testing.TB) string
}

var backends = []backend{
	{"SQLiteMemory", func(testing.TB) string { return "sqlite::memory:" }},
	{"SQLiteFile", func(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "data", "watchword.db") }},
	{"Postgres", func(t testing.TB) string { return storetest.OpenPostgres(t) }},
}

// forEach runs fn on every backend, in parallel: PostgreSQL tests mostly
// wait on the server.
func forEach(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

func newSealer(t testing.TB) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, secretbox.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// open opens dsn without migrating it and closes it when t ends.
func open(t testing.TB, dsn string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), dsn, newSealer(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openMigrated opens a fresh, migrated database of backend b.
func openMigrated(t testing.TB, b backend) *sqlstore.DB {
	t.Helper()
	db := open(t, b.dsn(t))
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestConformance(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		storetest.Run(t, func(t *testing.T) account.Store { return openMigrated(t, b) })
	})
}

func TestOpen(t *testing.T) {
	t.Run("UnknownScheme", func(t *testing.T) {
		_, err := sqlstore.Open(t.Context(), "mysql://app:hunter2@db/watchword", newSealer(t))
		if err == nil {
			t.Fatal("Open succeeded, want an error")
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q reveals the password", err)
		}
	})
	t.Run("NoSealer", func(t *testing.T) {
		if _, err := sqlstore.Open(t.Context(), "sqlite::memory:", nil); err == nil {
			t.Fatal("Open without a sealer succeeded")
		}
	})
	t.Run("SQLiteCreatesFolder", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b", "ww.db")
		db := open(t, "sqlite:"+path)
		if err := db.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("database file: %v", err)
		}
		var mode string
		if err := db.RawDB().QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		var fk int
		if err := db.RawDB().QueryRowContext(t.Context(), "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
		}
	})
	t.Run("Dialect", func(t *testing.T) {
		if got := open(t, "sqlite::memory:").Dialect(); got != "sqlite" {
			t.Errorf("Dialect = %q, want sqlite", got)
		}
		if got := open(t, storetest.OpenPostgres(t)).Dialect(); got != "postgres" {
			t.Errorf("Dialect = %q, want postgres", got)
		}
	})
	t.Run("MemoryDatabasesAreSeparate", func(t *testing.T) {
		a, b := open(t, "sqlite::memory:"), open(t, "sqlite::memory:")
		if err := a.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := b.UserByUID(t.Context(), "x"); err == nil || errors.Is(err, account.ErrNoRows) {
			t.Errorf("unmigrated second database has a users table: %v", err)
		}
	})
}

func TestMigrate(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		dsn := b.dsn(t)
		db := open(t, dsn)
		if _, err := db.UserByUID(ctx, "x"); err == nil || errors.Is(err, account.ErrNoRows) {
			t.Fatalf("Open created the schema (got %v): it must wait for Migrate", err)
		}
		if b.name == "SQLiteMemory" {
			// Each Open is its own database: nothing to race with.
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("Migrate: %v", err)
			}
		} else {
			// Two instances starting at once both migrate.
			other := open(t, dsn)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, d := range []*sqlstore.DB{db, other} {
				wg.Go(func() { errs[i] = d.Migrate(ctx) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("concurrent Migrate %d: %v", i, err)
				}
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		var n int
		if err := db.RawDB().QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		want := len(must(os.ReadDir("migrations/" + db.Dialect())))
		if n != want {
			t.Errorf("schema_migrations has %d rows, want %d", n, want)
		}
		if _, err := db.UserByUID(ctx, "x"); !errors.Is(err, account.ErrNoRows) {
			t.Errorf("UserByUID after Migrate: got %v, want ErrNoRows", err)
		}
	})
}

// TestLanguageOfOlderAccounts: an account written without a language (as
// every account made before migration 0004 was) reads back as English,
// the language its messages always had.
func TestLanguageOfOlderAccounts(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		db := openMigrated(t, b)
		if _, err := db.RawDB().ExecContext(ctx, `INSERT INTO users (uid, created_at) VALUES ('before-languages', 1)`); err != nil {
			t.Fatal(err)
		}
		u, err := db.UserByUID(ctx, "before-languages")
		if err != nil {
			t.Fatal(err)
		}
		if u.Lang != i18n.English {
			t.Errorf("got language %q, want %q", u.Lang, i18n.English)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSecurityEventsAppendOnly(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		db := openMigrated(t, b)
		e := &account.Event{UID: "u1", Kind: account.EventLogin, Detail: "method=password", CreatedAt: time.Now()}
		if err := db.RecordEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		statements := []string{
			"UPDATE security_events SET detail = 'forged'",
			"UPDATE security_events SET uid = 'u2' WHERE id = " + fmt.Sprint(e.ID),
			"DELETE FROM security_events",
			"DELETE FROM security_events WHERE id = " + fmt.Sprint(e.ID),
		}
		if db.Dialect() == "postgres" {
			statements = append(statements, "TRUNCATE security_events")
		}
		for _, stmt := range statements {
			if _, err := db.RawDB().ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want the append-only error", stmt, err)
			}
		}
		got, err := db.ListEvents(ctx, "u1", 10)
		if err != nil || len(got) != 1 || got[0].Detail != e.Detail {
			t.Errorf("ListEvents after the attempts = %+v, %v; want the event unchanged", got, err)
		}
		// Appending still works.
		if err := db.RecordEvent(ctx, &account.Event{UID: "u1", Kind: account.EventLogout, CreatedAt: time.Now()}); err != nil {
			t.Errorf("RecordEvent: %v", err)
		}
	})
}

func TestEncryptionAtRest(t *testing.T) {
	const (
		secret  = "JBSWY3DPEHPK3PXP-totp-secret"
		code    = "493817"
		subject = "Your watchword sign-in code"
	)
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		dsn := b.dsn(t)
		db := open(t, dsn)
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, uid := range []string{"alice", "mallory"} {
			if err := db.CreateUser(ctx, &account.User{UID: uid, CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.PutPendingTOTP(ctx, &account.TOTPBinding{UID: "alice", Secret: []byte(secret), CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		m := &account.Message{Channel: account.ChannelEmail, To: "alice@example.com", Subject: subject,
			Text: "Your code is " + code, HTML: "<p>Your code is <b>" + code + "</b></p>", CreatedAt: time.Now()}
		if err := db.EnqueueMessage(ctx, m); err != nil {
			t.Fatal(err)
		}

		raw := db.RawDB()
		var sealedSecret, body []byte
		if err := raw.QueryRowContext(ctx, "SELECT secret_sealed FROM totp_authenticators WHERE uid = 'alice'").Scan(&sealedSecret); err != nil {
			t.Fatal(err)
		}
		if err := raw.QueryRowContext(ctx, "SELECT body_sealed FROM outbox").Scan(&body); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what   string
			stored []byte
			plain  string
		}{
			{"secret_sealed", sealedSecret, secret[:16]},
			{"body_sealed", body, code},
			{"body_sealed", body, subject},
		} {
			if len(c.stored) == 0 || bytes.Contains(c.stored, []byte(c.plain)) {
				t.Errorf("%s holds %q in plaintext (or nothing)", c.what, c.plain)
			}
		}
		if b.name == "SQLiteFile" {
			// Nothing in the files on disk, journal included.
			path := strings.TrimPrefix(dsn, "sqlite:")
			for _, f := range []string{path, path + "-wal"} {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range []string{secret[:16], code, subject} {
					if bytes.Contains(data, []byte(p)) {
						t.Errorf("%s contains %q", filepath.Base(f), p)
					}
				}
			}
		}

		// The ciphertext is bound to its user: copied onto another
		// account it does not open.
		if _, err := raw.ExecContext(ctx, db.Rebind("INSERT INTO totp_authenticators (uid, pending, secret_sealed, offset_steps, created_at) VALUES ('mallory', TRUE, ?, 0, 0)"), sealedSecret); err != nil {
			t.Fatal(err)
		}
		if a, err := db.PendingTOTP(ctx, "mallory"); err == nil || errors.Is(err, account.ErrNoRows) {
			t.Errorf("TOTP with a secret moved from another user = %v, %v; want a decryption error", a, err)
		}
		a, err := db.PendingTOTP(ctx, "alice")
		if err != nil || string(a.Secret) != secret {
			t.Errorf("TOTP = %v, %v; want the secret back", a, err)
		}
	})
}

func TestOutbox(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		db := openMigrated(t, b)
		now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
		const lease = time.Minute
		enqueue := func(t *testing.T, text string, next time.Time) *account.Message {
			t.Helper()
			m := &account.Message{Channel: account.ChannelPhone, To: "+14155550100", Text: text, CreatedAt: now.Add(-time.Hour), NextAttemptAt: next}
			if err := db.EnqueueMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
			return m
		}
		pending := func(t *testing.T, want int) {
			t.Helper()
			n, err := db.CountPendingMessages(ctx)
			if err != nil || n != want {
				t.Errorf("CountPendingMessages = %d, %v; want %d", n, err, want)
			}
		}
		ids := func(ms []*account.Message) []int64 {
			var ids []int64
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			return ids
		}
		body := func(t *testing.T, id int64) []byte {
			t.Helper()
			var sealed []byte
			if err := db.RawDB().QueryRowContext(ctx, db.Rebind("SELECT body_sealed FROM outbox WHERE id = ?"), id).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			return sealed
		}

		t.Run("ClaimLeaseMark", func(t *testing.T) {
			m1 := enqueue(t, "one", now.Add(-time.Second))
			m2 := enqueue(t, "two", now)
			m3 := enqueue(t, "later", now.Add(time.Hour))
			pending(t, 3)

			got, err := db.ClaimMessages(ctx, now, lease, 10)
			if err != nil {
				t.Fatal(err)
			}
			if want := []int64{m1.ID, m2.ID}; fmt.Sprint(ids(got)) != fmt.Sprint(want) {
				t.Fatalf("claimed %v, want %v (due ones, oldest first)", ids(got), want)
			}
			if got[0].Text != "one" || got[0].To != m1.To || got[0].Channel != m1.Channel || got[0].Attempts != 1 ||
				!got[0].NextAttemptAt.Equal(now.Add(lease)) || !got[0].CreatedAt.Equal(m1.CreatedAt) {
				t.Errorf("claimed message = %+v", got[0])
			}

			// Leased: not claimed again until the lease ends.
			if again, err := db.ClaimMessages(ctx, now.Add(lease-time.Second), lease, 10); err != nil || len(again) != 0 {
				t.Errorf("claim during the lease = %v, %v; want none", ids(again), err)
			}
			again, err := db.ClaimMessages(ctx, now.Add(lease), lease, 1)
			if err != nil || len(again) != 1 || again[0].ID != m1.ID || again[0].Attempts != 2 {
				t.Fatalf("claim after the lease (limit 1) = %+v, %v; want m1 on attempt 2", again, err)
			}

			if err := db.MarkSent(ctx, now, m1.ID); err != nil {
				t.Fatalf("MarkSent: %v", err)
			}
			if body(t, m1.ID) != nil {
				t.Errorf("MarkSent kept the body")
			}
			if err := db.MarkSent(ctx, now, m1.ID); !errors.Is(err, account.ErrNoRows) {
				t.Errorf("MarkSent again: got %v, want ErrNoRows", err)
			}
			pending(t, 2)

			retryAt := now.Add(10 * time.Minute)
			if err := db.MarkRetry(ctx, m2.ID, retryAt, "gateway 503"); err != nil {
				t.Fatalf("MarkRetry: %v", err)
			}
			if got, _ := db.ClaimMessages(ctx, retryAt.Add(-time.Second), lease, 10); len(got) != 0 {
				t.Errorf("claimed %v before the retry time", ids(got))
			}
			got, err = db.ClaimMessages(ctx, retryAt, lease, 10)
			if err != nil || fmt.Sprint(ids(got)) != fmt.Sprint([]int64{m2.ID}) || got[0].Attempts != 2 || got[0].Text != "two" {
				t.Fatalf("claim at the retry time = %+v, %v; want m2 on attempt 2", got, err)
			}
			var lastErr string
			if err := db.RawDB().QueryRowContext(ctx, db.Rebind("SELECT last_error FROM outbox WHERE id = ?"), m2.ID).Scan(&lastErr); err != nil || lastErr != "gateway 503" {
				t.Errorf("last_error = %q, %v", lastErr, err)
			}

			if err := db.MarkFailed(ctx, m2.ID, retryAt, "gave up"); err != nil {
				t.Fatalf("MarkFailed: %v", err)
			}
			if body(t, m2.ID) != nil {
				t.Errorf("MarkFailed kept the body")
			}
			if err := db.MarkRetry(ctx, m2.ID, retryAt, "x"); !errors.Is(err, account.ErrNoRows) {
				t.Errorf("MarkRetry after MarkFailed: got %v, want ErrNoRows", err)
			}
			pending(t, 1)

			if err := db.MarkFailed(ctx, m3.ID, now, "cancelled"); err != nil {
				t.Fatal(err)
			}
			pending(t, 0)
			for _, f := range []func() error{
				func() error { return db.MarkSent(ctx, now, 999999) },
				func() error { return db.MarkRetry(ctx, 999999, now, "") },
				func() error { return db.MarkFailed(ctx, 999999, now, "") },
			} {
				if err := f(); !errors.Is(err, account.ErrNoRows) {
					t.Errorf("mark of an unknown message: got %v, want ErrNoRows", err)
				}
			}
		})

		t.Run("MarkSentSeveral", func(t *testing.T) {
			a, b, c := enqueue(t, "a", now), enqueue(t, "b", now), enqueue(t, "c", now)
			if err := db.MarkSent(ctx, now, a.ID, b.ID); err != nil {
				t.Fatalf("MarkSent(a, b): %v", err)
			}
			if body(t, a.ID) != nil || body(t, b.ID) != nil {
				t.Errorf("MarkSent kept a body")
			}
			// a is no longer pending: c is marked all the same, and the
			// caller hears that one id was not pending.
			if err := db.MarkSent(ctx, now, a.ID, c.ID); !errors.Is(err, account.ErrNoRows) {
				t.Errorf("MarkSent(a again, c): got %v, want ErrNoRows", err)
			}
			if body(t, c.ID) != nil {
				t.Errorf("c not marked sent beside an id that was not pending")
			}
			if err := db.MarkSent(ctx, now); err != nil {
				t.Errorf("MarkSent of nothing: %v", err)
			}
		})

		t.Run("ConcurrentClaim", func(t *testing.T) {
			const n = 30
			want := map[int64]bool{}
			for i := range n {
				want[enqueue(t, fmt.Sprint(i), now).ID] = true
			}
			var mu sync.Mutex
			seen := map[int64]int{}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						got, err := db.ClaimMessages(ctx, now, time.Hour, 4)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) > 4 {
							t.Errorf("a claim of at most 4 returned %d messages", len(got))
						}
						if len(got) == 0 {
							return
						}
						mu.Lock()
						for _, m := range got {
							seen[m.ID]++
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			for id := range want {
				if seen[id] != 1 {
					t.Errorf("message %d claimed %d times, want once", id, seen[id])
				}
			}
			if len(seen) != n {
				t.Errorf("claimed %d messages, want %d", len(seen), n)
			}
		})

		t.Run("UndecryptableFails", func(t *testing.T) {
			m := enqueue(t, "x", now.Add(-2*time.Hour))
			if _, err := db.RawDB().ExecContext(ctx, db.Rebind("UPDATE outbox SET body_sealed = ? WHERE id = ?"), []byte("garbage"), m.ID); err != nil {
				t.Fatal(err)
			}
			got, err := db.ClaimMessages(ctx, now.Add(-time.Hour), lease, 10)
			if err != nil || len(got) != 0 {
				t.Errorf("ClaimMessages = %v, %v; want nothing", ids(got), err)
			}
			var failed bool
			if err := db.RawDB().QueryRowContext(ctx, db.Rebind("SELECT failed_at IS NOT NULL FROM outbox WHERE id = ?"), m.ID).Scan(&failed); err != nil || !failed {
				t.Errorf("undecryptable message not marked failed: %v", err)
			}
		})
	})
}

func TestFindUser(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		ctx := t.Context()
		db := openMigrated(t, b)
		t1 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		users := []*account.User{
			{UID: "old-unverified", Email: "Ann@Example.com", EmailKey: "ann@example.com", Phone: "+14155550101", CreatedAt: t1},
			{UID: "verified", Email: "ann@example.com", EmailKey: "ann@example.com", EmailVerified: true, CreatedAt: t1.Add(time.Hour)},
			{UID: "phone-only", Phone: "+14155550102", PhoneVerified: true, CreatedAt: t1},
		}
		for _, u := range users {
			if err := db.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			name              string
			email, phone, uid string
			want              string
			err               error
		}{
			{name: "EmailPrefersVerified", email: " ANN@example.COM ", want: "verified"},
			{name: "PhoneUnverified", phone: "+14155550101", want: "old-unverified"},
			{name: "PhoneVerified", phone: "+14155550102", want: "phone-only"},
			{name: "UID", uid: "phone-only", want: "phone-only"},
			{name: "NoEmail", email: "bob@example.com", err: account.ErrNoRows},
			{name: "NoPhone", phone: "+14155550199", err: account.ErrNoRows},
			{name: "NoUID", uid: "nobody", err: account.ErrNoRows},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u, err := db.FindUser(ctx, tc.email, tc.phone, tc.uid)
				if tc.err != nil {
					if !errors.Is(err, tc.err) || u != nil {
						t.Errorf("got %v, %v; want nil, %v", u, err, tc.err)
					}
					return
				}
				if err != nil || u.UID != tc.want {
					t.Errorf("got %v, %v; want user %s", u, err, tc.want)
				}
			})
		}
		t.Run("NotExactlyOne", func(t *testing.T) {
			for _, args := range [][3]string{{"", "", ""}, {"ann@example.com", "+14155550101", ""}} {
				if _, err := db.FindUser(ctx, args[0], args[1], args[2]); err == nil || errors.Is(err, account.ErrNoRows) {
					t.Errorf("FindUser%q: got %v, want an argument error", args, err)
				}
			}
		})
	})
}
