package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// BenchmarkPage measures the server's time for each page and step, GET
// through the real handlers (no network, no password hashing): reading
// the cookies (the session look-up on SQLite, opening the sealed flow),
// translating and rendering the whole page.
func BenchmarkPage(b *testing.B) {
	e := newEnv(b)
	mux := http.NewServeMux()
	e.web.Register(mux)
	u, _ := url.Parse(e.srv.URL)

	// Browsers at each step, whose cookies the benchmarks send.
	fresh := e.browser()
	fresh.get("/login")
	signupCode := e.browser()
	signupCode.get("/signup")
	signupCode.post("/signup", "step", "address", "email", "bench1@example.com")
	signupPassword := e.browser()
	signupPassword.get("/signup")
	signupPassword.post("/signup", "step", "address", "email", "bench2@example.com")
	signupPassword.post("/signup", "step", "code", "code", e.code("bench2@example.com"))
	codeLogin := e.browser()
	codeLogin.get("/login/code")
	codeLogin.post("/login/code", "step", "identifier", "identifier", "bench3@example.com")
	e.bindTOTP("bench4@example.com")
	mfa := e.browser()
	mfa.get("/login")
	mfa.post("/login", "identifier", "bench4@example.com", "password", goodPassword)
	signedIn := e.browser()
	signedIn.signUpByForm("bench5@example.com")

	for _, tc := range []struct {
		name, path string
		b          *browser
		status     int
	}{
		{"signup", "/signup", fresh, 200},
		{"signup_phone", "/signup?with=phone", fresh, 200},
		{"signup_code", "/signup", signupCode, 200},
		{"signup_password", "/signup", signupPassword, 200},
		{"login", "/login", fresh, 200},
		{"login_code", "/login/code", fresh, 200},
		{"login_code_code", "/login/code", codeLogin, 200},
		{"authenticator", "/login", mfa, 200},
		{"account", "/account", signedIn, 200},
		{"logout", "/logout", signedIn, 200},
		{"cancel", "/unbind/cancel/some-token", fresh, 200},
		{"not_found", "/no/such/page", fresh, 404},
		{"signed_out_redirect", "/account", fresh, 303},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
			for _, c := range tc.b.client.Jar.Cookies(u) {
				req.AddCookie(c)
			}
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != tc.status {
					b.Fatalf("got %d, want %d\n%s", w.Code, tc.status, w.Body)
				}
			}
		})
	}
}
