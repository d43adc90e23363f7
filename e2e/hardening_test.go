package e2e

import (
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/totp"
)

// TestKeyRotationEndToEnd rotates the secret key as the README says: a new
// first line in the key file, the old key kept below it. After a restart,
// the session from before still works, a recovery code made before logs
// in, and the authenticator's encrypted secret still opens.
func TestKeyRotationEndToEnd(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		const addr = "rotate@example.com"
		_, tok := s.SignUpEmail(addr, goodPassword)
		s.totpStepUp(tok, addr, "")
		bind := s.Must(200, "POST", "/me/totp", tok, nil)
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(bind.Str("secret"))
		if err != nil {
			t.Fatal(err)
		}
		conf := s.Must(200, "POST", "/me/totp/confirm", tok, map[string]string{"code": totp.Code(secret, totp.Step(time.Now()))})
		recovery, _ := conf.Body["recovery_codes"].([]any)
		if len(recovery) != 10 {
			t.Fatalf("recovery codes: %s", conf.Raw)
		}

		keyFile := filepath.Join(s.dataDir, "secret.key")
		old, err := os.ReadFile(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		newKey := make([]byte, 32)
		for i := range newKey {
			newKey[i] = byte(i*7 + 1)
		}
		rotated := hex.EncodeToString(newKey) + "\n" + string(old)
		if err := os.WriteFile(keyFile, []byte(rotated), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Restart()

		if !s.totpEnabled(tok) {
			t.Fatal("the authenticator is off after the rotation")
		}
		flow := s.totpMFAFlow(addr)
		r := s.Must(200, "POST", "/login/totp/"+flow, "", map[string]string{"code": recovery[0].(string)})
		if r.Str("session_token") == "" {
			t.Fatalf("recovery-code login after the rotation: %s", r.Raw)
		}
		s.NextEmail(addr) // "recovery code used"
		// The authenticator's secret, sealed under the old key, still opens.
		flow = s.totpMFAFlow(addr)
		code := totp.Code(secret, totp.Step(time.Now())+1) // the confirmation spent this step
		s.Must(200, "POST", "/login/totp/"+flow, "", map[string]string{"code": code})
	})
}

// TestLookAlikeLoginCodeEndToEnd: a login code asked for with a look-alike
// spelling of a registered address goes to the address on the account,
// never to the spelling typed; spellings that are other mailboxes get
// nothing.
func TestLookAlikeLoginCodeEndToEnd(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	s.SignUpEmail("kate@example.com", goodPassword)
	flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "\u212Aate@example.com"}).Str("flow_id")
	code := s.EmailCode("kate@example.com")
	if tok := s.Must(200, "POST", "/login/code/"+flow, "", map[string]string{"code": code}).Str("session_token"); tok == "" {
		t.Fatal("no session")
	}
	for _, other := range []string{"\uFF4Bate@example.com", "k\u0430te@example.com", "kate@example.com\u200b"} {
		r := s.Do("POST", "/login/code", "", map[string]string{"identifier": other})
		if r.Status != 202 && r.Status != 400 {
			t.Fatalf("code login with %q: %d %s", other, r.Status, r.Raw)
		}
	}
	for _, m := range s.SMTP.Messages() {
		for _, rcpt := range m.To {
			if rcpt != "kate@example.com" {
				t.Errorf("a message went to %q", rcpt)
			}
		}
	}
	s.NoMoreMessages("kate@example.com", 300*time.Millisecond)
}

// TestCodeLoginLimitedPerIPEndToEnd: one client cannot make the server send
// login codes to address after address.
func TestCodeLoginLimitedPerIPEndToEnd(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	for i := range 30 {
		s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": fmt.Sprintf("victim%d@example.com", i)})
	}
	r := s.Fails(429, "rate_limited", "POST", "/login/code", "", map[string]string{"identifier": "victim99@example.com"})
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}

// TestUndeliverableChannelEndToEnd: with email delivery and no SMS, a
// phone sign-up is refused clearly instead of answered 202 and dropped.
func TestUndeliverableChannelEndToEnd(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db"), Extra: []string{"--sms-webhook-url", ""}})
	s.Fails(400, "invalid_phone", "POST", "/registrations", "", map[string]string{"phone": "+86 138 0013 8000"})
	s.Fails(400, "invalid_phone", "POST", "/login/code", "", map[string]string{"identifier": "+86 138 0013 8000"})
	s.Must(202, "POST", "/registrations", "", map[string]string{"email": "only-mail@example.com"})
	if !strings.Contains(s.Logs(), "no SMS delivery configured") {
		t.Error("the log does not say that SMS is not delivered")
	}
}

// TestHostileUserAgentEndToEnd: a User-Agent with invalid UTF-8 and a
// character cut at the storage limit neither breaks a login nor loses its
// security event, on PostgreSQL (which refuses invalid UTF-8) and SQLite.
func TestHostileUserAgentEndToEnd(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		_, tok := s.SignUpEmail("agent@example.com", goodPassword)
		agents := []string{"Mozilla/5.0 \xff\xfe\xfd", strings.Repeat("a", 255) + "\u00e9\u00e9", strings.Repeat("\u4e2d", 120)}
		for _, ua := range agents {
			r := s.DoAs(ua, "POST", "/login/password", "", map[string]string{"identifier": "agent@example.com", "password": goodPassword})
			if r.Status != 200 {
				t.Fatalf("login with user agent %q: %d %s", ua, r.Status, r.Raw)
			}
		}
		ev := s.Must(200, "GET", "/me/security-events", tok, nil)
		if n := strings.Count(string(ev.Raw), `"login"`); n < len(agents) {
			t.Fatalf("%d login events, want %d: %s", n, len(agents), ev.Raw)
		}
	})
}
