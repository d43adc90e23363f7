package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/outbox"
)

func sendAll(t *testing.T, s outbox.Sender, msgs ...account.Message) {
	t.Helper()
	for i := range msgs {
		if err := s.Send(context.Background(), &msgs[i]); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
}

func TestDevKeepsNewest(t *testing.T) {
	var logs syncBuffer
	d := outbox.NewDev(slog.New(slog.NewTextHandler(&logs, nil)), 2)
	sendAll(t, d,
		account.Message{ID: 1, Channel: account.ChannelEmail, To: "a@example.com", Subject: "one", Text: "code 111111"},
		account.Message{ID: 2, Channel: account.ChannelPhone, To: "+8613800138000", Text: "code 222222"},
		account.Message{ID: 3, Channel: account.ChannelEmail, To: "c@example.com", Subject: "three", Text: "code 333333"},
	)
	got := d.Messages()
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	if got[0].Text != "code 333333" || got[1].Text != "code 222222" {
		t.Errorf("got texts %q, %q; want newest first: code 333333, code 222222", got[0].Text, got[1].Text)
	}
	if got[1].Channel != account.ChannelPhone || got[1].To != "+8613800138000" || got[1].SentAt.IsZero() {
		t.Errorf("got %+v", got[1])
	}
	// Development mode delivers codes to the log.
	if out := logs.String(); !strings.Contains(out, "code 333333") || !strings.Contains(out, "level=WARN") {
		t.Errorf("log lacks the message at WARN:\n%s", out)
	}
}

func TestDevHandlerHTML(t *testing.T) {
	d := outbox.NewDev(nil, 10)
	sendAll(t, d,
		account.Message{Channel: account.ChannelEmail, To: "a@example.com", Subject: "first", Text: "Your code is 111111."},
		account.Message{Channel: account.ChannelEmail, To: "x@example.com", Subject: "<b>hi</b>", Text: "<script>alert(1)</script> 222222"},
		account.Message{Channel: account.ChannelPhone, To: "+8613800138000", Text: "Your phone number was changed."},
	)
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	res := rec.Result()
	body := rec.Body.String()

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", res.StatusCode)
	}
	for name, want := range map[string]string{
		"Content-Type":  "text/html; charset=utf-8",
		"Cache-Control": "no-store",
		// The site's policy allows no style; this page needs its sheet.
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'",
	} {
		if got := res.Header.Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<b>hi") {
		t.Errorf("message content not escaped:\n%s", body)
	}
	for _, want := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt; 222222", "&lt;b&gt;hi&lt;/b&gt;", `<a href="?refresh=on">`,
		"Your code is 111111.", "Your phone number was changed.",
		`<link rel="stylesheet" href="outbox.css">`,
		// Each code large in its own element, easy to select and copy.
		`<code class="code" title="one-time code">111111</code>`,
		`<code class="code" title="one-time code">222222</code>`,
		`<html lang="en">`, `<a href="?lang=zh-CN" lang="zh-CN" hreflang="zh-CN">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, `class="code"`); n != 2 {
		t.Errorf("got %d code elements, want 2 (the notice has none)", n)
	}
	// Inline style and style attributes are refused by the CSP.
	if strings.Contains(body, "<style") || strings.Contains(body, "style=") {
		t.Errorf("page has inline style:\n%s", body)
	}
	if !(strings.Index(body, "changed") < strings.Index(body, "222222") && strings.Index(body, "222222") < strings.Index(body, "111111")) {
		t.Errorf("page not newest first:\n%s", body)
	}
	// The page reloads itself only when asked to, and says how to stop.
	if strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("page reloads itself unasked:\n%s", body)
	}
	rec = httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox?refresh=on", nil))
	body = rec.Body.String()
	for _, want := range []string{`<meta http-equiv="refresh" content="5">`, `<a href="outbox">Stop reloading</a>`, "222222"} {
		if !strings.Contains(body, want) {
			t.Errorf("?refresh=on: page lacks %q:\n%s", want, body)
		}
	}
}

// TestDevHandlerLanguage: the page speaks the pages' language (the lang
// cookie, else Accept-Language), and its switch sets that cookie as the
// other pages' does, then comes back without the parameter.
func TestDevHandlerLanguage(t *testing.T) {
	d := outbox.NewDev(nil, 10)
	sendAll(t, d, account.Message{Channel: account.ChannelPhone, To: "+8613800138000", Text: "验证码 654321"})
	get := func(target string, header ...string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, target, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		d.Handler().ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		name   string
		header []string
		lang   string
		want   []string
	}{
		{"accept-language", []string{"Accept-Language", "zh-CN,zh;q=0.9"}, "zh-CN", []string{"开发用发件箱", "短信", `aria-current="true">简体中文`}},
		{"cookie over accept-language", []string{"Accept-Language", "zh-CN", "Cookie", "lang=en"}, "en", []string{"Development outbox", "SMS"}},
		{"cookie", []string{"Cookie", "lang=zh-CN"}, "zh-CN", []string{"停止自动刷新", "654321"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := get("/dev/outbox?refresh=on", tc.header...)
			body := rec.Body.String()
			if rec.Code != 200 || !strings.Contains(body, `<html lang="`+tc.lang+`">`) || rec.Header().Get("Content-Language") != tc.lang {
				t.Fatalf("%d, Content-Language %q, want %s:\n%s", rec.Code, rec.Header().Get("Content-Language"), tc.lang, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
		})
	}
	rec := get("/dev/outbox?lang=zh-CN&refresh=on")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dev/outbox?refresh=on" {
		t.Fatalf("?lang=: %d to %q, want 303 to /dev/outbox?refresh=on", rec.Code, rec.Header().Get("Location"))
	}
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].Name != "lang" || c[0].Value != "zh-CN" || c[0].Path != "/" || !c[0].HttpOnly {
		t.Fatalf("?lang= cookie: %v", c)
	}
	// An unknown language changes nothing but the address.
	if rec := get("/dev/outbox?lang=xx"); rec.Code != http.StatusSeeOther || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("?lang=xx: %d %v", rec.Code, rec.Result().Cookies())
	}
}

func TestDevStyleHandler(t *testing.T) {
	d := outbox.NewDev(nil, 10)
	rec := httptest.NewRecorder()
	d.StyleHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox.css", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "text/css; charset=utf-8" {
		t.Errorf("Content-Type: got %q, want text/css", got)
	}
	for _, want := range []string{".message", ".code", "user-select: all"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("style sheet lacks %q", want)
		}
	}
	rec = httptest.NewRecorder()
	d.StyleHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dev/outbox.css", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %d, want 405", rec.Code)
	}
}

func TestDevHandlerJSON(t *testing.T) {
	d := outbox.NewDev(nil, 10)
	sendAll(t, d,
		account.Message{Channel: account.ChannelEmail, To: "a@example.com", Subject: "first", Text: "code 111111"},
		account.Message{Channel: account.ChannelPhone, To: "+8613800138000", Text: "<script> 222222"},
	)
	tests := []struct {
		name   string
		target string
		accept string
	}{
		{"Query", "/dev/outbox?format=json", ""},
		{"Accept", "/dev/outbox", "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			rec := httptest.NewRecorder()
			d.Handler().ServeHTTP(rec, req)
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q, want application/json", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q, want no-store", got)
			}
			var out struct {
				Messages []struct {
					Channel string    `json:"channel"`
					To      string    `json:"to"`
					Subject string    `json:"subject"`
					Text    string    `json:"text"`
					Code    string    `json:"code"`
					SentAt  time.Time `json:"sent_at"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			if len(out.Messages) != 2 {
				t.Fatalf("got %d messages, want 2", len(out.Messages))
			}
			m := out.Messages[0]
			if m.Channel != "phone" || m.To != "+8613800138000" || m.Text != "<script> 222222" || m.Code != "222222" || m.SentAt.IsZero() {
				t.Errorf("newest: got %+v", m)
			}
			if out.Messages[1].Subject != "first" || out.Messages[1].Code != "111111" {
				t.Errorf("oldest: got %+v", out.Messages[1])
			}
		})
	}
}

// TestDevJSONCode checks the code field: the only standalone run of exactly
// 6 digits of the text, and nothing when there is none or more than one.
func TestDevJSONCode(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // "" means the field is absent
	}{
		{"Sentence", "Your watchword code is 482913. It expires in 10 minutes.", "482913"},
		{"StartAndEnd", "482913", "482913"},
		{"NextToLetters", "code:482913;", "482913"},
		{"LeadingZero", "Code 012345 for login", "012345"},
		{"AmongOtherNumbers", "Code 482913, valid 10 minutes, sent 2026-11-24 at 12:05", "482913"},
		{"Notice", "Your password was changed. If this was not you, contact support.", ""},
		{"SevenDigits", "Order 4829131 shipped", ""},
		{"FiveDigits", "Room 48291", ""},
		{"TwoCodes", "Old 111111, new 222222", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := outbox.NewDev(nil, 10)
			sendAll(t, d, account.Message{Channel: account.ChannelEmail, To: "a@example.com", Text: tc.text})
			rec := httptest.NewRecorder()
			d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox?format=json", nil))
			var out struct {
				Messages []map[string]any `json:"messages"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Messages) != 1 {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
			got, present := out.Messages[0]["code"]
			if tc.want == "" {
				if present {
					t.Errorf("got code %v, want none", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("got code %v, want %q", got, tc.want)
			}
		})
	}
}

func TestDevHandlerEmpty(t *testing.T) {
	d := outbox.NewDev(nil, 0)
	rec := httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox?format=json", nil))
	if got, want := strings.TrimSpace(rec.Body.String()), `{"messages":[]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	rec = httptest.NewRecorder()
	d.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/dev/outbox", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: got %d, want 405", rec.Code)
	}
}

func TestTee(t *testing.T) {
	errFirst, errSecond := errors.New("first"), errors.New("second")
	a := &recSender{fail: func(*account.Message) error { return errFirst }}
	b := &recSender{fail: func(*account.Message) error { return errSecond }}
	c := &recSender{}
	err := outbox.Tee(a, b, c).Send(context.Background(), &account.Message{ID: 7})
	if !errors.Is(err, errFirst) {
		t.Errorf("got %v, want the first error", err)
	}
	for i, s := range []*recSender{a, b, c} {
		if s.count() != 1 {
			t.Errorf("sender %d: got %d sends, want 1", i, s.count())
		}
	}
	if err := outbox.Tee(c, outbox.NewDev(nil, 1)).Send(context.Background(), &account.Message{ID: 8}); err != nil {
		t.Errorf("all succeed: got %v", err)
	}
}
