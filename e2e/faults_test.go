package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// httpClient is the fault tests' client: no request may hang a test.
var httpClient = http.Client{Timeout: 30 * time.Second}

const faultPassword = "correct horse battery staple"

// wantUnavailable fails unless r is the API's 503 unavailable.
func wantUnavailable(t *testing.T, what string, r *response) {
	t.Helper()
	if r.Status != http.StatusServiceUnavailable || r.ErrorCode() != "unavailable" {
		t.Errorf("%s: got %d %s, want 503 unavailable", what, r.Status, r.Raw)
	}
}

// TestFaultPostgresDownAndBack stops the test's own PostgreSQL under a
// running server: every request answers 503 unavailable (never 500),
// /readyz says not ready, and when the database is back the same process
// serves again by itself, mail included.
func TestFaultPostgresDownAndBack(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	pg := startPrivatePostgres(t)
	s := start(t, options{DB: pg.DSN()})
	_, tok := s.SignUpEmail("pg-fault@example.com", faultPassword)

	pg.Stop()
	if got := s.ready(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: %d, want 503", got)
	}
	wantUnavailable(t, "GET /me", s.rawDo("GET", "/me", tok, "", ""))
	wantUnavailable(t, "password login", s.rawDo("POST", "/login/password", "",
		`{"identifier":"pg-fault@example.com","password":"`+faultPassword+`"}`, ""))
	wantUnavailable(t, "code login", s.rawDo("POST", "/login/code", "", `{"identifier":"pg-fault@example.com"}`, ""))
	wantUnavailable(t, "sign-up", s.rawDo("POST", "/registrations", "", `{"email":"pg-later@example.com"}`, ""))

	pg.Start()
	eventually(t, 30*time.Second, "ready again", func() bool { return s.ready() == http.StatusOK })
	eventually(t, 30*time.Second, "GET /me again", func() bool { return s.rawDo("GET", "/me", tok, "", "").Status == 200 })
	s.Login("pg-fault@example.com", faultPassword)
	s.SignUpEmail("pg-after@example.com", faultPassword) // the outbox delivers again
}

// TestFaultRedisDownAndBack kills the limiter's Redis under a running
// server: requests that must pass a limit are refused with 503 unavailable
// (fail closed, as documented), /readyz says not ready, nothing answers
// 500, and the server recovers by itself when Redis is back.
func TestFaultRedisDownAndBack(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	rd := startPrivateRedis(t)
	s := start(t, options{
		DB:    "sqlite:" + filepath.Join(t.TempDir(), "watchword.db"),
		Extra: []string{"--redis-url", rd.URL()},
	})
	_, tok := s.SignUpEmail("redis-fault@example.com", faultPassword)
	login := `{"identifier":"redis-fault@example.com","password":"` + faultPassword + `"}`

	rd.Stop()
	wantUnavailable(t, "password login", s.rawDo("POST", "/login/password", "", login, ""))
	wantUnavailable(t, "code login", s.rawDo("POST", "/login/code", "", `{"identifier":"redis-fault@example.com"}`, ""))
	wantUnavailable(t, "sign-up", s.rawDo("POST", "/registrations", "", `{"email":"redis-later@example.com"}`, ""))
	if got := s.ready(); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: %d, want 503", got)
	}
	if r := s.rawDo("GET", "/me", tok, "", ""); r.Status >= 500 && r.Status != 503 {
		t.Errorf("GET /me with Redis down: %d %s", r.Status, r.Raw)
	}
	if t.Failed() {
		return
	}

	rd.Start()
	eventually(t, 30*time.Second, "login again", func() bool {
		return s.rawDo("POST", "/login/password", "", login, "").Status == 200
	})
	if got := s.ready(); got != http.StatusOK {
		t.Errorf("/readyz with Redis back: %d", got)
	}
}

// TestFaultKillDuringEmailChange kills the server (SIGKILL: nothing is
// finished) at various moments of an email change's last step and starts
// it again: the account is then wholly before the change (old address,
// sessions alive) or wholly after it (new address verified, every session
// ended), never a mix.
func TestFaultKillDuringEmailChange(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		for i, delay := range []time.Duration{0, 2, 5, 10, 20, 40, 80, 160, 320, 1000} {
			delay *= time.Millisecond
			oldAddr, newAddr := fmt.Sprintf("kill-%d-old@example.com", i), fmt.Sprintf("kill-%d-new@example.com", i)
			_, tok := s.SignUpEmail(oldAddr, faultPassword)
			step := s.Must(202, "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"}).Str("flow_id")
			s.Must(200, "POST", "/me/step-up/"+step, tok, map[string]string{"code": s.EmailCode(oldAddr)})
			flow := s.Must(202, "POST", "/me/email", tok, map[string]string{"address": newAddr}).Str("flow_id")
			code := s.EmailCode(newAddr)

			done := make(chan int, 1)
			go func() {
				req, _ := newRawRequest(s.Base+"/api/v1/me/email/"+flow, "application/json", `{"code":"`+code+`"}`)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := httpClient.Do(req)
				if err != nil {
					done <- 0 // cut by the kill
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
			time.Sleep(delay)
			s.kill9()
			status := <-done
			s.relaunch()

			me := s.rawDo("GET", "/me", tok, "", "")
			oldLogin := s.rawDo("POST", "/login/password", "", `{"identifier":"`+oldAddr+`","password":"`+faultPassword+`"}`, "")
			newLogin := s.rawDo("POST", "/login/password", "", `{"identifier":"`+newAddr+`","password":"`+faultPassword+`"}`, "")
			changed := newLogin.Status == 200
			t.Logf("kill after %v: answer %d, changed %v", delay, status, changed)
			if status == 200 && !changed {
				t.Fatalf("kill after %v: the change was answered 200 but is not there", delay)
			}
			if changed {
				if me.Status != 401 || oldLogin.Status != 401 {
					t.Fatalf("kill after %v: new address logs in, but old session %d and old address login %d (want 401, 401)",
						delay, me.Status, oldLogin.Status)
				}
				after := s.rawDo("GET", "/me", newLogin.Str("session_token"), "", "")
				if e, _ := after.Body["email"].(map[string]any); e["address"] != newAddr || e["verified"] != true {
					t.Fatalf("kill after %v: after the change /me says %s", delay, after.Raw)
				}
				continue
			}
			if me.Status != 200 || oldLogin.Status != 200 || newLogin.Status != 401 {
				t.Fatalf("kill after %v: unchanged, but old session %d, old login %d, new login %d (want 200, 200, 401)",
					delay, me.Status, oldLogin.Status, newLogin.Status)
			}
			if e, _ := me.Body["email"].(map[string]any); e["address"] != oldAddr || e["verified"] != true {
				t.Fatalf("kill after %v: unchanged, but /me says %s", delay, me.Raw)
			}
		}
	})
}

// TestFaultRelaysFailingOrHanging: with the SMTP relay refusing and the
// SMS gateway hanging, sign-ups answer at once (the message waits in the
// outbox), and once both are back the codes arrive and work.
func TestFaultRelaysFailingOrHanging(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	s.SMTP.SetFailing(true)
	s.SMS.SetHanging(true)
	const email, phone = "relay-fault@example.com", "+8613800138077"
	var flows []string
	for _, body := range []map[string]string{{"phone": phone}, {"email": email}, {"phone": "+8613800138078"}} {
		began := time.Now()
		flows = append(flows, s.Must(202, "POST", "/registrations", "", body).Str("flow_id"))
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("sign-up %v took %v with the relays down", body, took)
		}
	}
	time.Sleep(500 * time.Millisecond) // the worker is now stuck on the gateway
	if n := len(s.SMTP.Messages()) + len(s.SMS.Messages()); n != 0 {
		t.Fatalf("%d messages delivered while the relays were down", n)
	}
	s.SMTP.SetFailing(false)
	s.SMS.SetHanging(false)
	s.Must(201, "POST", "/registrations/"+flows[0]+"/complete", "", map[string]string{"code": s.SMSCode(phone), "password": faultPassword})
	s.Must(201, "POST", "/registrations/"+flows[1]+"/complete", "", map[string]string{"code": s.EmailCode(email), "password": faultPassword})
}

// TestFaultRestartDuringDelivery kills the server while the mail relay
// holds a message it has taken but not yet acknowledged: the server cannot
// know whether it went out, so after the restart it sends it again once
// the claim's lease runs out. At-least-once: the message arrives, at most
// once more than it should.
func TestFaultRestartDuringDelivery(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	const addr = "restart-delivery@example.com"
	s.SMTP.SetHanging(true)
	flow := s.Must(202, "POST", "/registrations", "", map[string]string{"email": addr}).Str("flow_id")
	eventually(t, 20*time.Second, "relay took the message", func() bool { return s.countTo(addr) == 1 })
	s.kill9()
	s.SMTP.SetHanging(false)
	s.relaunch()
	// The claim's lease (one minute) must run out before the message is
	// tried again.
	eventually(t, 100*time.Second, "message sent again", func() bool { return s.countTo(addr) >= 2 })
	time.Sleep(3 * time.Second)
	if n := s.countTo(addr); n != 2 {
		t.Fatalf("%d deliveries of one message after one restart, want 2 (at most once more)", n)
	}
	code := codeIn(t, s.NextEmail(addr))
	if again := codeIn(t, s.NextEmail(addr)); again != code {
		t.Fatalf("the second delivery carries another code")
	}
	s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": code, "password": faultPassword})
}
