package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestFlashMessage: an action leaves a message that the next page shows
// once, as a status, in that page's language; the cookie is sealed, so
// one set by anybody else (or the old plain form) shows nothing.
func TestFlashMessage(t *testing.T) {
	e := newEnv(t)
	e.signUp("flash@example.com")
	b := e.browser()
	p := b.loginByForm("flash@example.com", goodPassword)
	ids := sessionIDs.FindAllStringSubmatch(p.Body, -1)
	if len(ids) != 1 {
		t.Fatalf("%d end buttons, want 1:\n%s", len(ids), p.Body)
	}
	b.lang = "zh-CN"
	p = b.post("/account/sessions/end", "session", ids[0][1])
	wantStatus(t, p, 200)
	wantIn(t, p, `<div class="notice" role="status">该设备上的会话已结束。</div>`)
	c := setCookies(p)["watchword_flash"]
	if c == nil || c.MaxAge >= 0 {
		t.Fatalf("the flash cookie is not deleted once shown: %v", c)
	}
	if p = b.get("/account"); strings.Contains(p.Body, `class="notice"`) {
		t.Fatalf("the flash message shows twice:\n%s", p.Body)
	}

	// A cookie this server did not seal: no message, and it is deleted.
	u, _ := url.Parse(e.srv.URL)
	for _, v := range []string{"web.flash.welcome", "x", strings.Repeat("A", 80)} {
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "watchword_flash", Value: v, Path: "/"}})
		p = b.get("/account")
		if strings.Contains(p.Body, `class="notice"`) {
			t.Fatalf("a planted flash cookie %q shows:\n%s", v, p.Body)
		}
		if b.cookie("watchword_flash") != nil {
			t.Fatalf("a planted flash cookie %q is kept", v)
		}
	}
}
