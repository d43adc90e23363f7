package e2e

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"unicode"
)

// TestMessageLanguage: a sign-up in Chinese (Accept-Language: zh-CN) gets
// its code in Chinese through the real SMTP server (subject and text) and
// the SMS webhook; later codes speak the account's language whatever the
// request's, until a login in English switches the account to English.
func TestMessageLanguage(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		const addr, number, pw = "wang.fang@example.com", "+8613800138000", "correct horse battery staple"

		flow := s.langMust(202, "zh-CN", "POST", "/registrations", "", map[string]string{"email": addr}).Str("flow_id")
		text := s.NextEmail(addr)
		langWantChinese(t, "sign-up email", text, "验证码", "注册账户", "十分钟", "请勿泄露", "如非本人操作")
		if subject := s.langLastSubject(addr); !strings.Contains(subject, "验证码") {
			t.Fatalf("sign-up email subject %q is not Chinese", subject)
		}
		tok := s.langMust(201, "zh-CN", "POST", "/registrations/"+flow+"/complete", "",
			map[string]string{"code": codeIn(t, text), "password": pw}).Str("session_token")

		// Asked for in English, a step-up code still goes out in the
		// account's language.
		s.langMust(202, "en", "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"})
		text = s.NextEmail(addr)
		langWantChinese(t, "step-up email", text, "验证码", "身份验证")
		codeIn(t, text)

		// A login in English makes English the account's language; a
		// request without Accept-Language then leaves it so.
		tok = s.langMust(200, "en", "POST", "/login/password", "", map[string]string{"identifier": addr, "password": pw}).Str("session_token")
		s.langMust(202, "", "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"})
		text = s.NextEmail(addr)
		if langHasHan(text) || !strings.Contains(text, "ten minutes") {
			t.Fatalf("step-up email after an English login is not English: %q", text)
		}
		codeIn(t, text)
		if subject := s.langLastSubject(addr); subject != "Your watchword code" {
			t.Fatalf("subject %q, want the English one", subject)
		}

		// By SMS too.
		flow = s.langMust(202, "zh-CN,zh;q=0.9,en;q=0.8", "POST", "/registrations", "", map[string]string{"phone": number}).Str("flow_id")
		text = s.NextSMS(number)
		langWantChinese(t, "sign-up SMS", text, "【watchword】验证码", "注册账户", "十分钟", "请勿泄露")
		s.langMust(201, "zh-CN", "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": codeIn(t, text), "password": pw})
	})
}

// langWantChinese fails unless text is Chinese, holds every of words and
// shows no template left over.
func langWantChinese(t *testing.T, what, text string, words ...string) {
	t.Helper()
	if !langHasHan(text) {
		t.Fatalf("%s is not Chinese: %q", what, text)
	}
	for _, w := range append(words, "watchword") {
		if !strings.Contains(text, w) {
			t.Fatalf("%s lacks %q: %q", what, w, text)
		}
	}
	for _, bad := range []string{"{{", "<no value>", "mail.code"} {
		if strings.Contains(text, bad) {
			t.Fatalf("%s shows %q: %q", what, bad, text)
		}
	}
}

func langHasHan(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0
}

// langMust sends a JSON request with Accept-Language (none when empty)
// and fails the test unless the status is want.
func (s *server) langMust(want int, acceptLanguage, method, path, token string, body any) *response {
	s.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		s.t.Fatal(err)
	}
	req, err := http.NewRequest(method, s.Base+"/api/v1"+path, bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	r := s.send(req)
	if r.Status != want {
		s.t.Fatalf("%s %s: got %d %s, want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// langLastSubject returns the decoded subject of the newest email to addr.
func (s *server) langLastSubject(addr string) string {
	s.t.Helper()
	msgs := s.SMTP.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		for _, to := range msgs[i].To {
			if !strings.EqualFold(to, addr) {
				continue
			}
			m, err := mail.ReadMessage(bytes.NewReader(msgs[i].Data))
			if err != nil {
				s.t.Fatal(err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil {
				s.t.Fatalf("subject %q: %v", m.Header.Get("Subject"), err)
			}
			return subject
		}
	}
	s.t.Fatalf("no email to %s", addr)
	return ""
}
