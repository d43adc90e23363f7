package e2e

// End-to-end tests of the personal center (issue #3): step-up, adding and
// replacing email and phone in both orders of the verification guide, the
// lost-channel replacement, password change, the session list and the
// security events, over the real binary with real SMTP and the SMS webhook.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const newPassword = "a brand new passphrase for watchword"

// pcDo sends a request like server.Do with a chosen User-Agent.
func pcDo(s *server, ua, method, path, token string, body any) *response {
	s.t.Helper()
	return s.DoAs(ua, method, path, token, body)
}

// pcMust is pcDo that fails the test unless the status is want.
func pcMust(s *server, ua string, want int, method, path, token string, body any) *response {
	s.t.Helper()
	r := pcDo(s, ua, method, path, token, body)
	if r.Status != want {
		s.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// pcNoCode fails unless a notice carries no 6-digit code.
func pcNoCode(t *testing.T, what, body string) {
	t.Helper()
	if sixDigits.MatchString(body) {
		t.Fatalf("%s carries a code: %q", what, body)
	}
}

// pcCode reads the next code sent to addr, by email or SMS.
func pcCode(s *server, addr string) string {
	s.t.Helper()
	if strings.HasPrefix(addr, "+") {
		return s.SMSCode(addr)
	}
	return s.EmailCode(addr)
}

// pcStepUp steps the session up through channel, whose verified address is
// addr, and returns privileged_until.
func pcStepUp(s *server, ua, tok, channel, addr string) time.Time {
	s.t.Helper()
	flow := pcMust(s, ua, 202, "POST", "/me/step-up/code", tok, map[string]string{"channel": channel}).Str("flow_id")
	if flow == "" {
		s.t.Fatalf("step-up: no flow_id")
	}
	r := pcMust(s, ua, 200, "POST", "/me/step-up/"+flow, tok, map[string]string{"code": pcCode(s, addr)})
	until, err := time.Parse(time.RFC3339, r.Str("privileged_until"))
	if err != nil {
		s.t.Fatalf("step-up: privileged_until %q: %v", r.Str("privileged_until"), err)
	}
	return until
}

// pcChange replaces the email ("email", with an address) or the phone
// ("phone", with a number in E.164) of a privileged session and checks
// that a relogin is required.
func pcChange(s *server, ua, tok, channel, addr string) {
	s.t.Helper()
	field := "address"
	if channel == "phone" {
		field = "number"
	}
	flow := pcMust(s, ua, 202, "POST", "/me/"+channel, tok, map[string]string{field: addr}).Str("flow_id")
	r := pcMust(s, ua, 200, "POST", "/me/"+channel+"/"+flow, tok, map[string]string{"code": pcCode(s, addr)})
	if r.Body["relogin_required"] != true {
		s.t.Fatalf("confirm %s: got %s, want relogin_required", channel, r.Raw)
	}
}

// pcCodeLogin signs in with a code sent to ident.
func pcCodeLogin(s *server, ident string) string {
	s.t.Helper()
	flow := s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": ident}).Str("flow_id")
	tok := s.Must(200, "POST", "/login/code/"+flow, "", map[string]string{"code": pcCode(s, ident)}).Str("session_token")
	if tok == "" {
		s.t.Fatalf("code login as %s: no session token", ident)
	}
	return tok
}

// pcContacts is what GET /me says of an account's email and phone.
type pcContacts struct {
	UID, Email, Phone            string
	EmailVerified, PhoneVerified bool
}

func pcMe(s *server, tok string) pcContacts {
	s.t.Helper()
	r := s.Must(200, "GET", "/me", tok, nil)
	c := pcContacts{UID: r.Str("uid")}
	if e, ok := r.Body["email"].(map[string]any); ok {
		c.Email, _ = e["address"].(string)
		c.EmailVerified, _ = e["verified"].(bool)
	} else if r.Body["email"] != nil {
		s.t.Fatalf("GET /me: email is %v", r.Body["email"])
	}
	if p, ok := r.Body["phone"].(map[string]any); ok {
		c.Phone, _ = p["number"].(string)
		c.PhoneVerified, _ = p["verified"].(bool)
	} else if r.Body["phone"] != nil {
		s.t.Fatalf("GET /me: phone is %v", r.Body["phone"])
	}
	return c
}

// pcGone checks that tokens no longer authenticate.
func pcGone(s *server, toks ...string) {
	s.t.Helper()
	for i, tok := range toks {
		r := s.Do("GET", "/me", tok, nil)
		if r.Status != 401 || r.ErrorCode() != "unauthenticated" {
			s.t.Fatalf("token %d: GET /me got %d %s, want 401 unauthenticated", i, r.Status, r.Raw)
		}
	}
}

// pcBadLogin checks that a password login is refused.
func pcBadLogin(s *server, ident, password string) {
	s.t.Helper()
	s.Fails(401, "invalid_credentials", "POST", "/login/password", "", map[string]string{"identifier": ident, "password": password})
}

// pcItems returns the items of a list answer.
func pcItems(t *testing.T, r *response) []map[string]any {
	t.Helper()
	raw, ok := r.Body["items"].([]any)
	if !ok {
		t.Fatalf("no items array in %s", r.Raw)
	}
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		m, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("item %d is %T", i, x)
		}
		out[i] = m
	}
	return out
}

// pcNotice reads the next message to addr and checks it is a notice that
// mentions every word of want.
func pcNotice(s *server, addr string, want ...string) string {
	s.t.Helper()
	var body string
	if strings.HasPrefix(addr, "+") {
		body = s.NextSMS(addr)
	} else {
		body = s.NextEmail(addr)
	}
	pcNoCode(s.t, "notice to "+addr, body)
	for _, w := range want {
		if !strings.Contains(body, w) {
			s.t.Fatalf("notice to %s does not mention %q: %q", addr, w, body)
		}
	}
	return body
}

const pcUA = "watchword-e2e/personal-center"

// TestPersonalCenterVerificationGuide walks both orders of the
// verification guide: register with one channel, step up with it, verify
// the other, log in again with the new one (by password and by code).
func TestPersonalCenterVerificationGuide(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})

		// Registered by email: the phone is added.
		email, phone := "guide-email-first@example.com", "+8613800138010"
		uid, tok := s.SignUpEmail(email, goodPassword)
		if me := pcMe(s, tok); me.Email != email || !me.EmailVerified || me.Phone != "" {
			t.Fatalf("after email sign-up: %+v", me)
		}
		s.Fails(403, "step_up_required", "POST", "/me/phone", tok, map[string]string{"number": phone})
		pcStepUp(s, pcUA, tok, "email", email)
		// Input may carry spaces, dashes and brackets.
		flow := s.Must(202, "POST", "/me/phone", tok, map[string]string{"number": "+86 (138) 0013-8010"}).Str("flow_id")
		r := s.Must(200, "POST", "/me/phone/"+flow, tok, map[string]string{"code": s.SMSCode(phone)})
		if r.Body["relogin_required"] != true {
			t.Fatalf("confirm phone: got %s", r.Raw)
		}
		pcGone(s, tok)
		pcNotice(s, email, phone)
		pcNotice(s, phone, phone)
		tok = s.Login(phone, goodPassword)
		if me := pcMe(s, tok); me.UID != uid || me.Phone != phone || !me.PhoneVerified || me.Email != email || !me.EmailVerified {
			t.Fatalf("after adding the phone: %+v", me)
		}
		if me := pcMe(s, pcCodeLogin(s, phone)); me.UID != uid {
			t.Fatalf("code login by phone reached %s, want %s", me.UID, uid)
		}
		s.Login(email, goodPassword) // the email still logs in

		// Registered by phone: the email is added.
		// (The harness counts messages per address as written, so one spelling is used.)
		phone, email = "+8613800138011", "Guide-Phone-First@example.com"
		uid, tok = s.SignUpPhone(phone, goodPassword)
		if me := pcMe(s, tok); me.Phone != phone || !me.PhoneVerified || me.Email != "" {
			t.Fatalf("after phone sign-up: %+v", me)
		}
		s.Fails(403, "step_up_required", "POST", "/me/email", tok, map[string]string{"address": email})
		pcStepUp(s, pcUA, tok, "phone", phone)
		pcChange(s, pcUA, tok, "email", email)
		pcGone(s, tok)
		pcNotice(s, phone)
		pcNotice(s, email)
		tok = s.Login("guide-phone-first@EXAMPLE.com", goodPassword) // emails compare case-insensitively
		if me := pcMe(s, tok); me.UID != uid || me.Email != email || !me.EmailVerified || me.Phone != phone || !me.PhoneVerified {
			t.Fatalf("after adding the email: %+v", me)
		}
		if me := pcMe(s, pcCodeLogin(s, email)); me.UID != uid {
			t.Fatalf("code login by email reached %s, want %s", me.UID, uid)
		}
		s.Login(phone, goodPassword)
	})
}

// TestPersonalCenterLostEmail replaces a lost email through the phone: the
// old address is told (without a code) and stops logging in.
func TestPersonalCenterLostEmail(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		oldEmail, newEmail, phone := "lost-old@example.com", "lost-new@example.com", "+8613800138020"
		uid, tok := s.SignUpEmail(oldEmail, goodPassword)
		pcStepUp(s, pcUA, tok, "email", oldEmail)
		pcChange(s, pcUA, tok, "phone", phone)
		pcNotice(s, oldEmail)
		pcNotice(s, phone)

		// The email is lost: log in with the phone, by password and by code.
		byPassword := s.Login(phone, goodPassword)
		byCode := pcCodeLogin(s, phone)
		pcStepUp(s, pcUA, byCode, "phone", phone)
		// The privilege belongs to the session that stepped up.
		s.Fails(403, "step_up_required", "POST", "/me/email", byPassword, map[string]string{"address": newEmail})
		pcChange(s, pcUA, byCode, "email", newEmail)
		pcGone(s, byPassword, byCode)

		notice := pcNotice(s, oldEmail, newEmail)
		if !strings.Contains(notice, "changed") {
			t.Fatalf("the old address was not told of the replacement: %q", notice)
		}
		pcNotice(s, newEmail)
		pcNotice(s, phone)

		tok = s.Login(newEmail, goodPassword)
		if me := pcMe(s, tok); me.UID != uid || me.Email != newEmail || !me.EmailVerified || me.Phone != phone || !me.PhoneVerified {
			t.Fatalf("after the replacement: %+v", me)
		}
		if me := pcMe(s, pcCodeLogin(s, newEmail)); me.UID != uid {
			t.Fatalf("code login by the new email reached %s", me.UID)
		}
		pcBadLogin(s, oldEmail, goodPassword)
		// A code login to the old address answers as for anyone, and sends nothing.
		s.Must(202, "POST", "/login/code", "", map[string]string{"identifier": oldEmail})
		s.NoMoreMessages(oldEmail, 300*time.Millisecond)
	})
}

// TestPersonalCenterPasswordChange changes the password after a step-up:
// every session ends, the old password fails, every verified channel is told.
func TestPersonalCenterPasswordChange(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		email, phone := "pw-change@example.com", "+8613800138030"
		_, tok := s.SignUpEmail(email, goodPassword)
		pcStepUp(s, pcUA, tok, "email", email)
		pcChange(s, pcUA, tok, "phone", phone)
		pcNotice(s, email)
		pcNotice(s, phone)

		a := s.Login(email, goodPassword)
		b := s.Login(phone, goodPassword)
		s.Fails(403, "step_up_required", "PUT", "/me/password", a, map[string]string{"password": newPassword})
		pcStepUp(s, pcUA, a, "phone", phone)
		s.Fails(403, "step_up_required", "PUT", "/me/password", b, map[string]string{"password": newPassword})
		s.Fails(400, "weak_password", "PUT", "/me/password", a, map[string]string{"password": "password123"})
		r := s.Must(200, "PUT", "/me/password", a, map[string]string{"password": newPassword})
		if r.Body["relogin_required"] != true {
			t.Fatalf("password change: got %s", r.Raw)
		}
		pcGone(s, a, b)
		pcBadLogin(s, email, goodPassword)
		pcBadLogin(s, phone, goodPassword)
		s.Must(200, "GET", "/me", s.Login(email, newPassword), nil)
		s.Must(200, "GET", "/me", s.Login(phone, newPassword), nil)
		pcNotice(s, email, "password")
		pcNotice(s, phone, "password")
	})
}

// TestPersonalCenterSessions lists the sessions of an account and revokes one.
func TestPersonalCenterSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		email := "sessions@example.com"
		s.SignUpEmail(email, goodPassword)
		login := func(ua string) string { return pcLogin(s, ua, email, goodPassword) }
		const uaA, uaB = "Mozilla/5.0 (X11; Linux x86_64) e2e-A", "Mozilla/5.0 (iPhone) e2e-B"
		a, b := login(uaA), login(uaB)

		// sessionsByUA lists the sessions as seen from tok, keyed by user agent.
		sessionsByUA := func(tok, ua string) map[string]map[string]any {
			t.Helper()
			items := pcItems(t, pcMust(s, ua, 200, "GET", "/me/sessions", tok, nil))
			out := map[string]map[string]any{}
			current := 0
			for _, it := range items {
				agent, _ := it["user_agent"].(string)
				out[agent] = it
				if it["current"] == true {
					current++
					if agent != ua {
						t.Fatalf("the current session is the one of %q, want %q", agent, ua)
					}
				}
				if id, _ := it["id"].(string); id == "" || it["ip"] != "127.0.0.1" {
					t.Fatalf("session item %v: want an id and ip 127.0.0.1", it)
				}
				for _, k := range []string{"created_at", "last_seen_at", "expires_at"} {
					if _, err := time.Parse(time.RFC3339, asString(it[k])); err != nil {
						t.Fatalf("session item %s: %v", k, err)
					}
				}
			}
			if current != 1 {
				t.Fatalf("%d sessions are current, want 1: %v", current, items)
			}
			return out
		}
		seenA := sessionsByUA(a, uaA)
		seenB := sessionsByUA(b, uaB)
		if seenA[uaA] == nil || seenA[uaB] == nil || seenB[uaA] == nil || seenB[uaB] == nil {
			t.Fatalf("both sessions should be listed: %v / %v", seenA, seenB)
		}
		if seenA[uaA]["id"] != seenB[uaA]["id"] || seenA[uaB]["id"] != seenB[uaB]["id"] {
			t.Fatalf("the two lists disagree on ids: %v / %v", seenA, seenB)
		}
		if seenA[uaB]["current"] != false || seenB[uaA]["current"] != false {
			t.Fatalf("another session marked current: %v / %v", seenA, seenB)
		}

		idB := asString(seenA[uaB]["id"])
		pcMust(s, uaA, 204, "DELETE", "/me/sessions/"+idB, a, nil)
		pcGone(s, b)
		s.Must(200, "GET", "/me", a, nil)
		if after := sessionsByUA(a, uaA); after[uaB] != nil || after[uaA] == nil {
			t.Fatalf("after revoking B: %v", after)
		}
		s.Fails(404, "not_found", "DELETE", "/me/sessions/"+idB, a, nil)
		s.Fails(404, "not_found", "DELETE", "/me/sessions/no-such-session", a, nil)

		// Another account's session cannot be revoked from here.
		s.SignUpEmail("sessions-other@example.com", goodPassword)
		other := pcLogin(s, "e2e-other", "sessions-other@example.com", goodPassword)
		otherID := ""
		for _, it := range pcItems(t, s.Must(200, "GET", "/me/sessions", other, nil)) {
			if it["current"] == true {
				otherID = asString(it["id"])
			}
		}
		s.Fails(404, "not_found", "DELETE", "/me/sessions/"+otherID, a, nil)
		s.Must(200, "GET", "/me", other, nil)

		// A session can end itself this way too.
		idA := asString(seenA[uaA]["id"])
		pcMust(s, uaA, 204, "DELETE", "/me/sessions/"+idA, a, nil)
		pcGone(s, a)
	})
}

// pcLogin signs in by password with a chosen User-Agent.
func pcLogin(s *server, ua, ident, password string) string {
	s.t.Helper()
	tok := pcMust(s, ua, 200, "POST", "/login/password", "", map[string]string{"identifier": ident, "password": password}).Str("session_token")
	if tok == "" {
		s.t.Fatalf("login as %s: no session token", ident)
	}
	return tok
}

func asString(v any) string {
	s, _ := v.(string)
	return s
}

// TestPersonalCenterSecurityEvents checks that each security-relevant
// action leaves an event with the caller's ip and user agent.
func TestPersonalCenterSecurityEvents(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		email, newEmail, phone := "events@example.com", "events-new@example.com", "+8613800138040"

		flow := pcMust(s, "ua-signup", 202, "POST", "/registrations", "", map[string]string{"email": email}).Str("flow_id")
		tok := pcMust(s, "ua-signup", 201, "POST", "/registrations/"+flow+"/complete", "",
			map[string]string{"code": s.EmailCode(email), "password": goodPassword}).Str("session_token")
		r := pcDo(s, "ua-wrong-password", "POST", "/login/password", "", map[string]string{"identifier": email, "password": "not the password at all"})
		if r.Status != 401 || r.ErrorCode() != "invalid_credentials" {
			t.Fatalf("wrong password: got %d %s", r.Status, r.Raw)
		}
		tok = pcLogin(s, "ua-login", email, goodPassword)

		// A wrong step-up code, then the right one on the same flow.
		flow = pcMust(s, "ua-step-up", 202, "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"}).Str("flow_id")
		code := s.EmailCode(email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		r = pcDo(s, "ua-step-up-wrong", "POST", "/me/step-up/"+flow, tok, map[string]string{"code": wrong})
		if r.Status != 400 || r.ErrorCode() != "invalid_code" {
			t.Fatalf("wrong step-up code: got %d %s", r.Status, r.Raw)
		}
		pcMust(s, "ua-step-up", 200, "POST", "/me/step-up/"+flow, tok, map[string]string{"code": code})
		pcChange(s, "ua-phone", tok, "phone", phone)
		pcNotice(s, email)
		pcNotice(s, phone)

		tok = pcLogin(s, "ua-login", phone, goodPassword)
		pcStepUp(s, "ua-step-up", tok, "phone", phone)
		pcChange(s, "ua-email", tok, "email", newEmail)
		pcNotice(s, email, newEmail)
		pcNotice(s, newEmail)
		pcNotice(s, phone)

		tok = pcLogin(s, "ua-login", newEmail, goodPassword)
		pcStepUp(s, "ua-step-up", tok, "email", newEmail)
		pcMust(s, "ua-password", 200, "PUT", "/me/password", tok, map[string]string{"password": newPassword})
		pcNotice(s, newEmail, "password")
		pcNotice(s, phone, "password")

		tok = pcLogin(s, "ua-logout", newEmail, newPassword)
		pcMust(s, "ua-logout", 204, "POST", "/logout", tok, nil)
		tok = pcLogin(s, "ua-list", phone, newPassword)
		r = pcMust(s, "ua-list", 200, "GET", "/me/security-events", tok, nil)
		items := pcItems(t, r)

		count := map[string]int{}
		ids := map[float64]bool{}
		found := map[[2]string]bool{}
		for _, it := range items {
			kind, ua := asString(it["kind"]), asString(it["user_agent"])
			count[kind]++
			found[[2]string{kind, ua}] = true
			id, _ := it["id"].(float64)
			if id <= 0 || ids[id] {
				t.Fatalf("event ids must be positive and unique: %s", r.Raw)
			}
			ids[id] = true
			if it["ip"] != "127.0.0.1" || ua == "" {
				t.Fatalf("event without the caller's ip and user agent: %v", it)
			}
			if _, err := time.Parse(time.RFC3339, asString(it["at"])); err != nil {
				t.Fatalf("event at: %v", err)
			}
			if _, ok := it["detail"].(string); !ok {
				t.Fatalf("event without detail: %v", it)
			}
		}
		for _, want := range [][2]string{
			{"signup", "ua-signup"},
			{"login_failed", "ua-wrong-password"},
			{"login", "ua-login"},
			{"login", "ua-list"},
			{"step_up_failed", "ua-step-up-wrong"},
			{"step_up", "ua-step-up"},
			{"phone_changed", "ua-phone"},
			{"email_changed", "ua-email"},
			{"password_changed", "ua-password"},
			{"logout", "ua-logout"},
		} {
			if !found[want] {
				t.Errorf("no %s event from %q in %s", want[0], want[1], r.Raw)
			}
		}
		for kind, n := range map[string]int{
			"signup": 1, "login_failed": 1, "step_up_failed": 1, "step_up": 3,
			"phone_changed": 1, "email_changed": 1, "password_changed": 1, "logout": 1, "login": 5,
		} {
			if count[kind] != n {
				t.Errorf("%d %s events, want %d", count[kind], kind, n)
			}
		}
	})
}

// TestPersonalCenterRefusals checks what the personal center refuses:
// sensitive calls without step-up, step-up through an unverified channel,
// flows used from another session, a wrong code and a taken number.
func TestPersonalCenterRefusals(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		email, phone, taken := "refusals@example.com", "+8613800138050", "+8613800138051"
		uid, a := s.SignUpEmail(email, goodPassword)
		b := s.Login(email, goodPassword)
		_, phoneOnly := s.SignUpPhone(taken, goodPassword)

		// Sensitive calls without a step-up.
		s.Fails(403, "step_up_required", "POST", "/me/email", a, map[string]string{"address": "refusals-new@example.com"})
		s.Fails(403, "step_up_required", "POST", "/me/phone", a, map[string]string{"number": phone})
		s.Fails(403, "step_up_required", "PUT", "/me/password", a, map[string]string{"password": newPassword})
		s.Fails(403, "step_up_required", "POST", "/me/totp", a, nil)
		s.Fails(401, "unauthenticated", "POST", "/me/step-up/code", "", map[string]string{"channel": "email"})

		// Step-up only through a verified channel.
		s.Fails(400, "invalid_request", "POST", "/me/step-up/code", a, map[string]string{"channel": "phone"})
		s.Fails(400, "invalid_request", "POST", "/me/step-up/code", a, map[string]string{"channel": "fax"})
		s.Fails(400, "invalid_request", "POST", "/me/step-up/code", phoneOnly, map[string]string{"channel": "email"})

		// A step-up flow belongs to its session.
		flow := s.Must(202, "POST", "/me/step-up/code", a, map[string]string{"channel": "email"}).Str("flow_id")
		code := s.EmailCode(email)
		s.Fails(404, "not_found", "POST", "/me/step-up/"+flow, b, map[string]string{"code": code})
		s.Fails(404, "not_found", "POST", "/me/step-up/no-such-flow", a, map[string]string{"code": code})
		s.Must(200, "POST", "/me/step-up/"+flow, a, map[string]string{"code": code})
		s.Fails(404, "not_found", "POST", "/me/step-up/"+flow, a, map[string]string{"code": code}) // used up
		if s.Must(200, "GET", "/me", a, nil).Body["privileged_until"] == nil {
			t.Fatalf("GET /me: no privileged_until after the step-up")
		}
		if s.Must(200, "GET", "/me", b, nil).Body["privileged_until"] != nil {
			t.Fatalf("GET /me: the other session is privileged too")
		}
		s.Fails(403, "step_up_required", "POST", "/me/phone", b, map[string]string{"number": phone})

		// A number verified on another account cannot be claimed.
		s.Fails(409, "identifier_in_use", "POST", "/me/phone", a, map[string]string{"number": taken})
		s.Fails(400, "invalid_phone", "POST", "/me/phone", a, map[string]string{"number": "+86 12345"})

		// A wrong code changes nothing; neither does the right code from another session.
		before := pcMe(s, a)
		flow = s.Must(202, "POST", "/me/phone", a, map[string]string{"number": phone}).Str("flow_id")
		code = s.SMSCode(phone)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		s.Fails(400, "invalid_code", "POST", "/me/phone/"+flow, a, map[string]string{"code": wrong})
		s.Fails(404, "not_found", "POST", "/me/phone/"+flow, b, map[string]string{"code": code})
		s.Fails(404, "not_found", "POST", "/me/email/"+flow, a, map[string]string{"code": code}) // wrong kind of flow
		if after := pcMe(s, a); after != before || after.Phone != "" {
			t.Fatalf("a refused code changed the account: %+v, was %+v", after, before)
		}
		s.Must(200, "GET", "/me", b, nil)
		pcBadLogin(s, phone, goodPassword)

		// One wrong try did not burn the code.
		s.Must(200, "POST", "/me/phone/"+flow, a, map[string]string{"code": code})
		pcGone(s, a, b)
		if me := pcMe(s, s.Login(phone, goodPassword)); me.UID != uid || me.Phone != phone || !me.PhoneVerified {
			t.Fatalf("after the change: %+v", me)
		}
	})
}

// TestPersonalCenterStepUpExpires checks that the privilege of a step-up
// runs out (the server runs with a 2 s step-up lifetime).
func TestPersonalCenterStepUpExpires(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn, Extra: []string{"--step-up-lifetime", "2s"}})
		email := "expiry@example.com"
		_, tok := s.SignUpEmail(email, goodPassword)
		stepped := time.Now()
		until := pcStepUp(s, pcUA, tok, "email", email)
		if d := until.Sub(stepped); d < time.Second || d > 5*time.Second {
			t.Fatalf("privileged_until is %v after the step-up, want about 2s", d)
		}
		if s.Must(200, "GET", "/me", tok, nil).Body["privileged_until"] == nil {
			t.Fatalf("GET /me: no privileged_until right after the step-up")
		}
		time.Sleep(time.Until(until) + 500*time.Millisecond)
		s.Fails(403, "step_up_required", "POST", "/me/email", tok, map[string]string{"address": "expiry-new@example.com"})
		s.Fails(403, "step_up_required", "PUT", "/me/password", tok, map[string]string{"password": newPassword})
		if me := s.Must(200, "GET", "/me", tok, nil); me.Body["privileged_until"] != nil {
			t.Fatalf("GET /me: privileged_until %v after it passed", me.Body["privileged_until"])
		}
		// A new step-up grants it again.
		pcStepUp(s, pcUA, tok, "email", email)
		s.Must(202, "POST", "/me/email", tok, map[string]string{"address": "expiry-new@example.com"})
	})
}

// pcPost is a POST safe to send from any goroutine: it returns errors
// instead of failing the test.
func pcPost(base, path, token string, body any) (status int, code string, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest("POST", base+"/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error.Code, nil
}

// TestPersonalCenterConcurrentPhoneClaim has two accounts confirm the same
// number at the same moment: exactly one gets it.
func TestPersonalCenterConcurrentPhoneClaim(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		phone := "+8613800138060"
		emails := []string{"claim-a@example.com", "claim-b@example.com"}
		uids, toks, flows, codes := make([]string, 2), make([]string, 2), make([]string, 2), make([]string, 2)
		for i, e := range emails {
			uids[i], toks[i] = s.SignUpEmail(e, goodPassword)
			pcStepUp(s, pcUA, toks[i], "email", e)
		}
		for i := range emails {
			flows[i] = s.Must(202, "POST", "/me/phone", toks[i], map[string]string{"number": phone}).Str("flow_id")
			codes[i] = s.SMSCode(phone)
		}

		var wg sync.WaitGroup
		ready := make(chan struct{})
		statuses, errCodes, errs := make([]int, 2), make([]string, 2), make([]error, 2)
		for i := range emails {
			wg.Go(func() {
				<-ready
				statuses[i], errCodes[i], errs[i] = pcPost(s.Base, "/me/phone/"+flows[i], toks[i], map[string]string{"code": codes[i]})
			})
		}
		close(ready)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		winner := -1
		for i := range emails {
			if statuses[i] == 200 && statuses[1-i] == 409 && errCodes[1-i] == "identifier_in_use" {
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("statuses %v %v: want one 200 and one 409 identifier_in_use", statuses, errCodes)
		}
		loser := 1 - winner

		// The winner was signed out; the loser's session is untouched.
		pcGone(s, toks[winner])
		if me := pcMe(s, toks[loser]); me.Phone != "" {
			t.Fatalf("the losing account has a phone: %+v", me)
		}
		holders := 0
		for i, e := range emails {
			me := pcMe(s, s.Login(e, goodPassword))
			if me.Phone == phone && me.PhoneVerified {
				holders++
				if i != winner {
					t.Fatalf("the number went to the account that got %d", statuses[i])
				}
			} else if me.Phone != "" {
				t.Fatalf("account %d: phone %q verified=%v", i, me.Phone, me.PhoneVerified)
			}
		}
		if holders != 1 {
			t.Fatalf("%d accounts hold the number, want 1", holders)
		}
		if me := pcMe(s, s.Login(phone, goodPassword)); me.UID != uids[winner] {
			t.Fatalf("the number logs in to %s, want %s", me.UID, uids[winner])
		}
	})
}
