package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The session cache across instances (README, "The session cache"): each
// instance keeps sessions in memory, and a revocation committed through
// one reaches the others' caches by PostgreSQL LISTEN/NOTIFY, or, when
// that channel is down, by their reading the database. Either way the
// contract is one second. The times below are that bound, checked by
// polling every 20 ms; they are not performance measurements.

// revocationBound is the documented bound (sessioncache.Staleness).
const revocationBound = time.Second

// warm makes every instance cache tok: a session check puts the session
// and the "me" view in the instance's cache, the next ones are served
// from it.
func (c *cluster) warm(toks ...string) {
	c.mail.t.Helper()
	for _, s := range c.s {
		for _, tok := range toks {
			for range 3 {
				s.Must(200, "GET", "/me", tok, nil)
			}
		}
	}
}

// refusedWithin runs revoke (through one instance), then polls every
// instance in others every 20 ms until each refuses every token in toks,
// and returns, per instance, how long after revoke began the last of its
// tokens was refused. It fails the test past the bound, and if a token
// once refused is served again.
func refusedWithin(t *testing.T, what string, others []*server, toks []string, revoke func()) []time.Duration {
	t.Helper()
	begin := time.Now()
	revoke()
	took := make([]time.Duration, len(others))
	refused := make([]map[string]bool, len(others))
	for i := range refused {
		refused[i] = map[string]bool{}
	}
	for {
		done := true
		for i, s := range others {
			for _, tok := range toks {
				r := s.Do("GET", "/me", tok, nil)
				switch {
				case r.Status == 401 && r.ErrorCode() == "unauthenticated":
					if !refused[i][tok] {
						refused[i][tok] = true
						took[i] = time.Since(begin)
					}
				case r.Status == 200 && refused[i][tok]:
					t.Fatalf("%s: instance %s served a token it had refused", what, s.Base)
				case r.Status != 200:
					t.Fatalf("%s: GET /me on %s: %d %s", what, s.Base, r.Status, r.Raw)
				}
				done = done && refused[i][tok]
			}
		}
		if done {
			break
		}
		if time.Since(begin) > 5*revocationBound {
			break // report below with what was seen
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, s := range others {
		if len(refused[i]) < len(toks) {
			t.Errorf("%s: instance %s still serves the revoked session %v after the revocation began", what, s.Base, 5*revocationBound)
		} else if took[i] >= revocationBound {
			t.Errorf("%s: instance %s refused the revoked session after %v, the bound is %v", what, s.Base, took[i], revocationBound)
		}
	}
	t.Logf("%s: refused after %v (per polled instance)", what, took)
	return took
}

// currentSessionID returns the id of tok's own session.
func currentSessionID(s *server, tok string) string {
	s.t.Helper()
	for _, it := range pcItems(s.t, s.Must(200, "GET", "/me/sessions", tok, nil)) {
		if it["current"] == true {
			return asString(it["id"])
		}
	}
	s.t.Fatal("no current session in GET /me/sessions")
	return ""
}

// stepUp makes tok's session privileged by an email code.
func (c *cluster) stepUp(s *server, tok, addr string) {
	c.mail.t.Helper()
	flow := s.Must(202, "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"}).Str("flow_id")
	s.Must(200, "POST", "/me/step-up/"+flow, tok, map[string]string{"code": c.codeTo(addr)})
}

// codeTo returns the code of the next message to addr that carries one,
// passing over notices (of a password or address change), which any
// instance's delivery worker may send before or after it.
func (c *cluster) codeTo(addr string) string {
	c.mail.t.Helper()
	for range 5 {
		if m := sixDigits.FindAllStringSubmatch(c.mail.NextEmail(addr), -1); len(m) == 1 {
			return m[0][1]
		}
	}
	c.mail.t.Fatalf("no code among the next 5 messages to %s", addr)
	return ""
}

// TestInstancesCacheRevocation: a session cached by all three instances
// and revoked through one (logout, ending it from another session, a
// password change, an email change, binding an authenticator) is refused
// by the other two within one second.
func TestInstancesCacheRevocation(t *testing.T) {
	c := startCluster(t)
	a, b, cc := c.s[0], c.s[1], c.s[2]
	others := []*server{b, cc}
	addr := "cached@example.com"
	password := goodPassword
	c.signUp(a, b, addr)

	// Logout on A.
	tok := a.Login(addr, password)
	c.warm(tok)
	refusedWithin(t, "logout", others, []string{tok}, func() {
		a.Must(204, "POST", "/logout", tok, nil)
		a.Fails(401, "unauthenticated", "GET", "/me", tok, nil)
	})

	// One session ends another through A; the one that ended it stays
	// good everywhere.
	keep, gone := a.Login(addr, password), b.Login(addr, password)
	c.warm(keep, gone)
	id := currentSessionID(cc, gone)
	refusedWithin(t, "session ended from another session", others, []string{gone}, func() {
		a.Must(204, "DELETE", "/me/sessions/"+id, keep, nil)
	})
	for _, s := range c.s {
		s.Must(200, "GET", "/me", keep, nil)
	}

	// A password change through A ends every session of the account.
	c.stepUp(a, keep, addr)
	other := cc.Login(addr, password)
	c.warm(keep, other)
	password = goodPassword + " again"
	refusedWithin(t, "password change", others, []string{keep, other}, func() {
		a.Must(200, "PUT", "/me/password", keep, map[string]string{"password": password})
	})

	// So does an email change.
	tok, other = a.Login(addr, password), b.Login(addr, password)
	c.stepUp(a, tok, addr)
	flow := a.Must(202, "POST", "/me/email", tok, map[string]string{"address": "moved@example.com"}).Str("flow_id")
	code := c.codeTo("moved@example.com")
	c.warm(tok, other)
	addr = "moved@example.com"
	refusedWithin(t, "email change", others, []string{tok, other}, func() {
		a.Must(200, "POST", "/me/email/"+flow, tok, map[string]string{"code": code})
	})

	// Binding an authenticator does not end the session, but the "me"
	// view cached by the others must show it at once (within the bound).
	tok = a.Login(addr, password)
	c.stepUp(a, tok, addr)
	oathtool := totpTool(t, "oathtool", "oathtool")
	secret := a.Must(200, "POST", "/me/totp", tok, nil).Str("secret")
	p := &totpPhone{t: t, oathtool: oathtool, secret: secret, used: map[int64]bool{}}
	confirm := p.step(totpSteadyStep())
	c.warm(tok)
	begin := time.Now()
	a.Must(200, "POST", "/me/totp/confirm", tok, map[string]string{"code": confirm})
	for _, s := range others {
		for {
			me := s.Must(200, "GET", "/me", tok, nil)
			if totp, _ := me.Body["totp"].(map[string]any); totp["enabled"] == true {
				break
			}
			if time.Since(begin) > 5*revocationBound {
				t.Fatalf("authenticator bound: %s still shows none", s.Base)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if took := time.Since(begin); took >= revocationBound {
			t.Errorf("authenticator bound: %s showed it after %v, the bound is %v", s.Base, took, revocationBound)
		} else {
			t.Logf("authenticator bound: shown by %s after %v", s.Base, took)
		}
	}
}

// TestInstancesCacheChannelDown: with the invalidation channel cut (the
// listening connections of every instance terminated by PostgreSQL), a
// revocation whose notification no other instance heard is still
// refused by them within the bound, because an instance that cannot
// vouch for its channel reads the database; once the channel is back,
// revocations travel by it again.
func TestInstancesCacheChannelDown(t *testing.T) {
	c := startCluster(t)
	a, b, cc := c.s[0], c.s[1], c.s[2]
	others := []*server{b, cc}
	const addr = "cut@example.com"
	uid, _ := c.signUp(a, a, addr)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, rvDSN(a))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// cut terminates the listening connections of this test's database
	// (only: other tests share the server) and returns how many.
	cut := func() int {
		t.Helper()
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%') AS cut`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// back waits until every instance listens again (they reconnect
	// within a second and flush what they cached before).
	back := func() {
		t.Helper()
		eventually(t, 10*time.Second, "listeners back", func() bool {
			var n int
			conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`).Scan(&n)
			return n == len(c.s)
		})
	}
	cutAll := func() {
		t.Helper()
		if n := cut(); n != len(c.s) {
			t.Fatalf("cut %d listening connections, want %d (one per instance)", n, len(c.s))
		}
	}

	// The cache is really used (so the tests above are not vacuous): a
	// session ended behind the instances' backs, in the database with the
	// triggers off so that nobody is told, is still served from their
	// caches...
	tok := a.Login(addr, goodPassword)
	c.warm(tok)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE uid = $1`, uid); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range c.s {
		s.Must(200, "GET", "/me", tok, nil)
	}
	// ...until the channel is cut: an instance that cannot vouch for its
	// channel reads the database, and starts again empty.
	refusedWithin(t, "a change nobody was told of, channel cut", c.s[:], []string{tok}, cutAll)
	for _, s := range c.s {
		if !strings.Contains(s.Logs(), "invalidation channel lost") {
			t.Errorf("%s did not log the lost channel", s.Base)
		}
	}
	back()

	// A revocation right after the cut: its notification reaches no
	// other instance.
	tok = a.Login(addr, goodPassword)
	c.warm(tok)
	refusedWithin(t, "logout with the channel cut", others, []string{tok}, func() {
		cutAll()
		a.Must(204, "POST", "/logout", tok, nil)
	})
	back()

	// The channel is back and carries the next revocation.
	tok = a.Login(addr, goodPassword)
	c.warm(tok)
	refusedWithin(t, "logout with the channel back", others, []string{tok}, func() {
		a.Must(204, "POST", "/logout", tok, nil)
	})
}
