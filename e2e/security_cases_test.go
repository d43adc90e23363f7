package e2e

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sharedCases is ../shared/security-cases.md as seen from this package:
// the shared folder sits beside the checkout.
var sharedCases = filepath.Join("..", "..", "shared", "security-cases.md")

// caseID is a case of section 1, written "**C-01 · …".
var caseID = regexp.MustCompile(`\*\*([A-Z]-[0-9]{2}) ·`)

// TestSecurityCasesDocumented: every case of the shared list has a row in
// docs/security-cases.md that names its tests or says why it does not
// apply. Locally the shared list may be missing (the test skips); in CI
// it sits beside the checkout and its absence fails.
func TestSecurityCasesDocumented(t *testing.T) {
	shared, err := os.ReadFile(sharedCases)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the shared case list: %v", err)
		}
		t.Skipf("the shared case list is not beside the checkout (%v)", err)
	}
	ids := caseID.FindAllStringSubmatch(string(shared), -1)
	if len(ids) < 60 {
		t.Fatalf("found only %d case ids in %s: has its format changed?", len(ids), sharedCases)
	}
	doc, err := os.Open(filepath.Join("..", "docs", "security-cases.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer doc.Close()
	rows := map[string]string{} // case id → the rest of its table row
	sc := bufio.NewScanner(doc)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) > 3 {
			rows[strings.TrimSpace(cells[1])] = strings.Join(cells[2:], "|")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, m := range ids {
		row, ok := rows[m[1]]
		if !ok {
			t.Errorf("%s is not in docs/security-cases.md", m[1])
			continue
		}
		if !strings.Contains(row, "Test") && !strings.Contains(row, "Fuzz") && !strings.Contains(row, "not applicable") &&
			!strings.Contains(row, "in progress") {
			t.Errorf("%s names no test and no reason: %s", m[1], row)
		}
	}
}

// TestLinksUseConfiguredOrigin (C-09): the cancel link in the notice of a
// lost-authenticator request starts with --public-url, even when every
// request comes through a trusted proxy that says the host is
// evil.example in Host, X-Forwarded-Host and Forwarded. (Zitadel built
// its reset links from X-Forwarded-Host four times over.)
func TestLinksUseConfiguredOrigin(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	s := rvStart(t, rvSQLite(t), "--trusted-proxies", "127.0.0.1/32,::1/128")
	target, err := url.Parse(s.Base)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = "evil.example"
		r.Out.Header.Set("X-Forwarded-Host", "evil.example")
		r.Out.Header.Set("X-Forwarded-Proto", "https")
		r.Out.Header.Set("Forwarded", "for=198.51.100.9;host=evil.example;proto=https")
	}})
	t.Cleanup(proxy.Close)
	s.Base = proxy.URL // every call below goes through the proxy

	a := rvUser(t, s, oathtool, "links@example.com", "+8613800138000")
	// rvFile fails unless the email and the SMS carry a link that starts
	// with the public URL; no message names the proxy's host either.
	if req := rvFileSimple(t, s, a, "C09"); req.cancel == "" {
		t.Fatal("no cancel link")
	}
	var texts []string
	for _, m := range s.SMTP.Messages() {
		text, err := m.Text()
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(m.Data), text)
	}
	for _, m := range s.SMS.Messages() {
		texts = append(texts, m.Body)
	}
	for _, text := range texts {
		if strings.Contains(text, "evil.example") {
			t.Fatalf("a message names the host of the request: %q", text)
		}
	}
}

// TestNoCrossOriginAccess: the server answers no CORS preflight and
// never sends Access-Control-Allow-* headers, whatever the Origin, so a
// foreign page's script cannot read an answer, with credentials or
// without. (Redirect targets are checked in web's TestStepUpNextIsLocal.)
func TestNoCrossOriginAccess(t *testing.T) {
	t.Parallel()
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})
	_, tok := s.SignUpEmail("cors@example.com", goodPassword)
	calls := []struct{ method, path, token, body string }{
		{"OPTIONS", "/api/v1/login/password", "", ""},
		{"OPTIONS", "/api/v1/me", "", ""},
		{"POST", "/api/v1/login/password", "", `{"identifier":"cors@example.com","password":"` + goodPassword + `"}`},
		{"GET", "/api/v1/me", tok, ""},
		{"GET", "/login", "", ""},
		{"GET", "/healthz", "", ""},
	}
	for _, origin := range []string{"https://evil.example", "null", s.Base} {
		for _, c := range calls {
			req, err := http.NewRequest(c.method, s.Base+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
			if c.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			for name := range resp.Header {
				if strings.HasPrefix(strings.ToLower(name), "access-control-") {
					t.Errorf("%s %s with Origin %s: %s: %s", c.method, c.path, origin, name, resp.Header.Get(name))
				}
			}
			if c.method == "OPTIONS" && resp.StatusCode < 400 {
				t.Errorf("%s %s: preflight answered %d", c.method, c.path, resp.StatusCode)
			}
		}
	}
}

// TestServerTimeOnly (T-09): authenticator codes are checked against the
// server's clock. A Date header an hour off, with the code of that hour,
// is refused; the same header with the code of now is accepted; and no
// call takes a client time field (strict bodies refuse one).
func TestServerTimeOnly(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	t.Parallel()
	s := rvStart(t, rvSQLite(t))
	a := rvUser(t, s, oathtool, "clock@example.com", "")

	loginTOTP := func(flow, code string, date time.Time, extra map[string]string) *response {
		body := `{"code":"` + code + `"`
		for k, v := range extra {
			body += `,"` + k + `":"` + v + `"`
		}
		req, err := http.NewRequest("POST", s.Base+"/api/v1/login/totp/"+flow, strings.NewReader(body+"}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Date", date.UTC().Format(http.TimeFormat))
		return s.send(req)
	}
	later := time.Now().Add(time.Hour)

	flow := s.totpMFAFlow(a.addr)
	if r := loginTOTP(flow, a.app.at(later.Unix()), later, nil); r.Status < 400 || r.Status >= 500 {
		t.Fatalf("the code of an hour later, with a Date header of then: %d %s", r.Status, r.Raw)
	}
	code := a.app.code(true)
	if r := loginTOTP(flow, code, later, map[string]string{"time": later.Format(time.RFC3339)}); r.Status != 400 || r.ErrorCode() != "invalid_request" {
		t.Fatalf("a client time field: %d %s, want 400 invalid_request", r.Status, r.Raw)
	}
	if r := loginTOTP(flow, code, later, nil); r.Status != 200 || r.Str("session_token") == "" {
		t.Fatalf("the code of now, with a Date header an hour later: %d %s", r.Status, r.Raw)
	}
}
