package web

import (
	"net/http"
	"strings"
	"testing"
)

// TestLanguage: ?lang= sets the cookie and sends the browser to the same
// address without it; the cookie then wins over Accept-Language, which
// decides otherwise; the page says its language in <html lang>.
func TestLanguage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()

	p := b.do(mustGet(t, e.srv.URL+"/signup?with=phone&lang=zh-CN"), false)
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/signup?with=phone" {
		t.Fatalf("?lang=: %d %q, want 303 /signup?with=phone", p.Status, p.Header.Get("Location"))
	}
	c := setCookies(p)["lang"]
	if c == nil || c.Value != "zh-CN" || c.Path != "/" || c.MaxAge != 365*24*3600 || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("lang cookie %+v", c)
	}
	p = b.get("/signup?with=phone")
	wantIn(t, p, `<html lang="zh-CN">`, "手机号", `href="/signup?lang=en&amp;with=phone"`, `lang="zh-CN" hreflang="zh-CN" aria-current="true"`)

	b.lang = "en-US,en;q=0.9" // the cookie wins
	wantIn(t, b.get("/login"), `<html lang="zh-CN">`)

	// A language we do not have: the parameter goes, the cookie stays.
	p = b.do(mustGet(t, e.srv.URL+"/login?lang=fr"), false)
	if p.Header.Get("Location") != "/login" || setCookies(p)["lang"] != nil {
		t.Fatalf("?lang=fr: %q, cookie %v", p.Header.Get("Location"), setCookies(p)["lang"])
	}
	// No language lingers in an address, nor does a host slip into one.
	p = b.do(mustGet(t, e.srv.URL+"/login?lang=en"), false)
	if loc := p.Header.Get("Location"); loc != "/login" {
		t.Fatalf("?lang=en: %q", loc)
	}
	if got := localURL("//evil.example/x", nil); got != "/" {
		t.Errorf("localURL(//evil.example/x) = %q", got)
	}

	for header, want := range map[string]string{
		"zh-CN,zh;q=0.9,en;q=0.8": "zh-CN", "zh-TW": "zh-CN", "en-GB": "en", "fr-FR": "en", "": "en",
	} {
		b := e.browser()
		b.lang = header
		p := b.get("/login")
		if !strings.Contains(p.Body, `<html lang="`+want+`">`) {
			t.Errorf("Accept-Language %q: want %s", header, want)
		}
	}
}
