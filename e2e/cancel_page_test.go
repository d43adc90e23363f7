package e2e

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestCancelPage opens the link of an unbind notice as its owner would:
// the page shows a button and changes nothing; pressing it cancels the
// request; pressing it again says why it cannot.
func TestCancelPage(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	s := rvStart(t, rvSQLite(t))
	owner := rvUser(t, s, oathtool, "owner@example.com", "")
	req := rvFileSimple(t, s, owner, "O1")
	page := s.Base + "/unbind/cancel/" + req.cancel

	// A browser: the page's form carries a CSRF token tied to a cookie.
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	var token string
	get := func(method, target string) (int, http.Header, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == "GET" {
			resp, err = browser.Get(target)
		} else {
			req, rerr := http.NewRequest("POST", target, strings.NewReader(url.Values{"csrf_token": {token}}.Encode()))
			if rerr != nil {
				t.Fatal(rerr)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", s.Base)
			resp, err = browser.Do(req)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := regexp.MustCompile(`name="csrf_token" value="([^"]+)"`).FindSubmatch(b); m != nil {
			token = string(m[1])
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	status, h, body := get("GET", page)
	if status != 200 || !strings.Contains(body, `<form method="post" action="/unbind/cancel/`+req.cancel+`">`) ||
		!strings.Contains(body, `<html lang="en">`) {
		t.Fatalf("the link's page: %d\n%s", status, body)
	}
	for name, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	// A POST without the page's CSRF token is refused.
	if resp, err := http.PostForm(page, url.Values{}); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a POST without the form's token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if st := rvStatus(s, req.id, req.token); st.Body["state"] != "pending" {
		t.Fatalf("opening the link (or a forged POST) changed the request: %s", st.Raw)
	}
	status, _, body = get("POST", page)
	if status != 200 || !strings.Contains(body, "Request cancelled") {
		t.Fatalf("pressing the button: %d\n%s", status, body)
	}
	if st := rvStatus(s, req.id, req.token); st.Body["state"] != "cancelled" {
		t.Fatalf("after the button: %s", st.Raw)
	}
	status, _, body = get("POST", page)
	if status != 409 || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("pressing it again: %d\n%s", status, body)
	}
	status, _, body = get("POST", s.Base+"/unbind/cancel/not-a-token")
	if status != 404 || !strings.Contains(body, `role="alert"`) {
		t.Fatalf("a wrong link: %d\n%s", status, body)
	}
	if status, h, _ := get("GET", s.Base+"/static/site.css"); status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("the style sheet: %d %s", status, h.Get("Content-Type"))
	}
}
