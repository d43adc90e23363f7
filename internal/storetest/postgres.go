package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgres is the server tests use when WATCHWORD_TEST_POSTGRES is
// not set: a local PostgreSQL with trust authentication.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// OpenPostgres creates a fresh, empty database for t on the PostgreSQL
// server named by WATCHWORD_TEST_POSTGRES (a postgres:// URL of a user
// allowed to create databases; DefaultPostgres when unset), drops it when t
// ends, and returns its URL. A database per test keeps tests isolated
// without cleaning up after each other. When the server is unreachable the
// test is skipped, except with CI=true, where it fails: CI must never
// silently skip the PostgreSQL tests.
func OpenPostgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("WATCHWORD_TEST_POSTGRES")
	if admin == "" {
		admin = DefaultPostgres
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("storetest: WATCHWORD_TEST_POSTGRES must be a postgres:// URL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		msg := "storetest: PostgreSQL unreachable at " + u.Redacted() + ": " + err.Error() +
			" (start it, or point WATCHWORD_TEST_POSTGRES at one)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer conn.Close(ctx)

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "ww_test_" + hex.EncodeToString(b[:])
	// FILE_COPY (PostgreSQL 15+) copies the small template at the file
	// level, about twice as fast as the default WAL_LOG; tests create many
	// databases.
	create := "CREATE DATABASE " + name
	major, _, _ := strings.Cut(conn.PgConn().ParameterStatus("server_version"), ".")
	if n, _ := strconv.Atoi(major); n >= 15 {
		create += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("storetest: %s: %v", create, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		// FORCE ends connections a leaked pool may still hold.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
