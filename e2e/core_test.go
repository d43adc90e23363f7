package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"
)

const goodPassword = "correct horse battery staple"

func TestSignUpAndLogin(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})

		t.Run("EmailSignUp", func(t *testing.T) {
			uid, tok := s.SignUpEmail("Alice@Example.com", goodPassword)
			if len(uid) != 10 || tok == "" {
				t.Fatalf("got uid %q token %q", uid, tok)
			}
			me := s.Must(200, "GET", "/me", tok, nil)
			email, _ := me.Body["email"].(map[string]any)
			if email["address"] != "Alice@example.com" || email["verified"] != true {
				t.Fatalf("email: got %v", me.Body["email"])
			}
			if me.Body["phone"] != nil {
				t.Fatalf("phone: got %v, want null", me.Body["phone"])
			}
			if me.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("Cache-Control: got %q", me.Header.Get("Cache-Control"))
			}
			// Emails compare case-insensitively at login.
			s.Login("alice@EXAMPLE.com", goodPassword)
		})

		t.Run("PhoneSignUpAnyNotation", func(t *testing.T) {
			flow := s.Must(202, "POST", "/registrations", "", map[string]string{"phone": "+86 (138) 0013-8000"}).Str("flow_id")
			code := s.SMSCode("+8613800138000")
			r := s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": code, "password": goodPassword})
			me := s.Must(200, "GET", "/me", r.Str("session_token"), nil)
			phone, _ := me.Body["phone"].(map[string]any)
			if phone["number"] != "+8613800138000" || phone["verified"] != true || me.Body["email"] != nil {
				t.Fatalf("got %s", me.Raw)
			}
			s.Login("+86 138 0013 8000", goodPassword)
		})

		t.Run("CodeLogin", func(t *testing.T) {
			s.SignUpEmail("bob@example.com", goodPassword)
			flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "bob@example.com"}).Str("flow_id")
			tok := s.Must(200, "POST", "/login/code/"+flow, "", map[string]string{"code": s.EmailCode("bob@example.com")}).Str("session_token")
			s.Must(200, "GET", "/me", tok, nil)
		})

		t.Run("Logout", func(t *testing.T) {
			tok := s.Login("bob@example.com", goodPassword)
			s.Must(204, "POST", "/logout", tok, nil)
			s.Fails(401, "unauthenticated", "GET", "/me", tok, nil)
		})
	})
}

func TestFailureCases(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		s.SignUpEmail("carol@example.com", goodPassword)

		t.Run("WrongCodeFiveTimesBurnsIt", func(t *testing.T) {
			flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "carol@example.com"}).Str("flow_id")
			code := s.EmailCode("carol@example.com")
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			for i := 0; i < 5; i++ {
				s.Fails(400, "invalid_code", "POST", "/login/code/"+flow, "", map[string]string{"code": wrong})
			}
			s.Fails(400, "invalid_code", "POST", "/login/code/"+flow, "", map[string]string{"code": code})
		})

		t.Run("MalformedCodesCountToo", func(t *testing.T) {
			s.SignUpEmail("mal@example.com", goodPassword)
			flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "mal@example.com"}).Str("flow_id")
			code := s.EmailCode("mal@example.com")
			for _, bad := range []string{"12345", "1234567", " " + code[1:], "١٢٣٤٥٦", strings.Repeat("9", 10000)} {
				s.Fails(400, "invalid_code", "POST", "/login/code/"+flow, "", map[string]string{"code": bad})
			}
			s.Fails(400, "invalid_code", "POST", "/login/code/"+flow, "", map[string]string{"code": code})
		})

		t.Run("ReusedCode", func(t *testing.T) {
			s.SignUpEmail("dave@example.com", goodPassword)
			flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "dave@example.com"}).Str("flow_id")
			code := s.EmailCode("dave@example.com")
			s.Must(200, "POST", "/login/code/"+flow, "", map[string]string{"code": code})
			r := s.Do("POST", "/login/code/"+flow, "", map[string]string{"code": code})
			if r.Status == 200 {
				t.Fatalf("reused code accepted: %s", r.Raw)
			}
		})

		t.Run("UnknownIdentifier", func(t *testing.T) {
			known := s.Do("POST", "/login/password", "", map[string]string{"identifier": "carol@example.com", "password": "wrong password here"})
			unknown := s.Do("POST", "/login/password", "", map[string]string{"identifier": "nobody@example.com", "password": "wrong password here"})
			if known.Status != 401 || unknown.Status != 401 || string(known.Raw) != string(unknown.Raw) {
				t.Fatalf("known %d %s, unknown %d %s: want the same 401", known.Status, known.Raw, unknown.Status, unknown.Raw)
			}
			a := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "nobody@example.com"})
			b := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "+14155550100"})
			if a.Str("flow_id") == "" || b.Str("flow_id") == "" || len(a.Body) != len(b.Body) {
				t.Fatalf("got %s and %s", a.Raw, b.Raw)
			}
			s.NoMoreMessages("nobody@example.com", 300*time.Millisecond)
			s.NoMoreMessages("+14155550100", 0)
		})

		t.Run("WeakPassword", func(t *testing.T) {
			addr := "weakpw@example.com"
			flow := s.Must(202, "POST", "/registrations", "", map[string]string{"email": addr}).Str("flow_id")
			code := s.EmailCode(addr)
			for _, pw := range []string{"short", "password123", "12345678", "qwertyuiop", "weakpw-weakpw"} {
				s.Fails(400, "weak_password", "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": code, "password": pw})
			}
			// Weak passwords did not burn the code.
			s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": code, "password": goodPassword})
		})

		t.Run("InvalidEmailAndPhone", func(t *testing.T) {
			s.Fails(400, "invalid_email", "POST", "/registrations", "", map[string]string{"email": "not-an-email"})
			s.Fails(400, "invalid_phone", "POST", "/registrations", "", map[string]string{"phone": "12345"})
			s.Fails(400, "invalid_request", "POST", "/registrations", "", map[string]string{"email": "a@example.com", "phone": "+8613800138000"})
			s.Fails(400, "invalid_request", "POST", "/registrations", "", map[string]any{"email": 5})
			s.Fails(400, "invalid_request", "POST", "/registrations", "", map[string]any{"email": "x@example.com", "email_verified": true})
		})

		t.Run("TakenEmailAtSignUp", func(t *testing.T) {
			s.SignUpEmail("taken@example.com", goodPassword)
			// The resend limit allows one registration code a minute per
			// address; a restart starts the in-memory limiter afresh.
			s.Restart()
			r := s.Must(202, "POST", "/registrations", "", map[string]string{"email": "TAKEN@example.com"})
			if r.Str("flow_id") == "" || r.Str("expires_at") == "" {
				t.Fatalf("got %s", r.Raw)
			}
			notice := s.NextEmail("taken@example.com")
			if sixDigits.MatchString(notice) || !strings.Contains(notice, "already belongs") {
				t.Fatalf("want a notice without a code, got %q", notice)
			}
			s.Fails(400, "invalid_code", "POST", "/registrations/"+r.Str("flow_id")+"/complete", "", map[string]string{"code": "123456", "password": goodPassword})
		})

		t.Run("StrictBodies", func(t *testing.T) {
			req := func(ct, body string) *response {
				r, _ := newRawRequest(s.Base+"/api/v1/login/password", ct, body)
				return s.send(r)
			}
			if r := req("text/plain", `{}`); r.Status != 415 || r.ErrorCode() != "unsupported_media_type" {
				t.Fatalf("text/plain: got %d %s", r.Status, r.Raw)
			}
			if r := req("application/json", `{"identifier":"a@b.co","password":"x"} {}`); r.Status != 400 || r.ErrorCode() != "invalid_request" {
				t.Fatalf("trailing data: got %d %s", r.Status, r.Raw)
			}
			if r := req("application/json", `{"identifier":"`+strings.Repeat("a", 70<<10)+`"}`); r.Status != 413 || r.ErrorCode() != "too_large" {
				t.Fatalf("large body: got %d", r.Status)
			}
		})
	})
}

func TestSameCodeTwiceAtOnceYieldsOneSession(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		s.SignUpEmail("race@example.com", goodPassword)
		flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "race@example.com"}).Str("flow_id")
		code := s.EmailCode("race@example.com")
		const n = 8
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Go(func() {
				statuses[i] = s.Do("POST", "/login/code/"+flow, "", map[string]string{"code": code}).Status
			})
		}
		wg.Wait()
		ok := 0
		for _, st := range statuses {
			if st == 200 {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("statuses %v: want exactly one 200", statuses)
		}
	})
}

func TestMessageQueuedWhileSMTPDownIsDeliveredAfterRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		s.SMTP.Stop()
		flow := s.Must(202, "POST", "/registrations", "", map[string]string{"email": "later@example.com"}).Str("flow_id")
		time.Sleep(500 * time.Millisecond) // let the worker fail at least once
		s.Stop()
		s.SMTP.Start()
		s.launch()
		code := s.EmailCode("later@example.com")
		s.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": code, "password": goodPassword})
	})
}

func TestNoSecretsInLogs(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + t.TempDir() + "/w.db"})
	uid, tok := s.SignUpEmail("quiet@example.com", goodPassword)
	flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": "quiet@example.com"}).Str("flow_id")
	code := s.EmailCode("quiet@example.com")
	tok2 := s.Must(200, "POST", "/login/code/"+flow, "", map[string]string{"code": code}).Str("session_token")
	logs := s.Logs()
	for name, secret := range map[string]string{"code": code, "token": tok, "token2": tok2, "password": goodPassword, "flow": flow} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
	if !strings.Contains(logs, uid) {
		t.Errorf("the log does not mention the new account %s", uid)
	}
}
