package web

import (
	"bytes"
	"context"
	"image/color"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/totp"
)

// totpNow is the authenticator's code of secret now.
func totpNow(secret []byte) string { return totp.Code(secret, totp.Step(time.Now())) }

// BenchmarkPage measures the server's time for every page and step, GET
// through the real handlers (no network, no password hashing): reading
// the cookies (the session look-up on SQLite, opening the sealed flow),
// the domain's reads, translating and rendering the whole page, in
// Chinese. cpu-ns/op is the process's CPU time per page, which a busy
// machine does not inflate as it does ns/op. Run with
//
//	go test ./internal/web -run XXX -bench BenchmarkPage -benchtime 200x -count 3
func BenchmarkPage(b *testing.B) {
	e, rs := newReviewEnv(b)
	mux := http.NewServeMux()
	e.web.Register(mux)
	u, _ := url.Parse(e.srv.URL)
	ctx := context.Background()

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

	// The step-up's code step, and the pages behind it.
	stepUp := e.browser()
	stepUp.signUpByForm("bench6@example.com")
	stepUp.get("/account/step-up?next=/account/email")
	stepUp.post("/account/step-up", "step", "channel", "channel", "email", "next", "/account/email")
	privileged := e.totpSignedIn("bench7@example.com")
	contactCode := e.totpSignedIn("bench8@example.com")
	contactCode.get("/account/phone")
	contactCode.post("/account/phone", "step", "address", "number", "+8613800138008")
	if contactCode.last.Status != 200 || !bytes.Contains([]byte(contactCode.last.Body), []byte(`name="code"`)) {
		b.Fatalf("no code step for the phone:\n%s", contactCode.last.Body)
	}
	totpSetup := e.totpSignedIn("bench9@example.com")
	totpSetup.totpConnect()
	totpCodes := e.totpSignedIn("bench10@example.com")
	_, secret10 := totpCodes.totpConnect()
	totpCodes.post("/account/authenticator", "step", "confirm", "code", totpNow(secret10))
	totpBound := e.totpSignedIn("bench11@example.com")
	_, secret11 := totpBound.totpConnect()
	totpBound.post("/account/authenticator", "step", "confirm", "code", totpNow(secret11))
	totpBound.post("/account/authenticator", "step", "done")

	// The review pages: an identity verification pending, a request filed.
	idvPending := e.browser()
	idvPending.signUpByForm("bench12@example.com")
	sess, err := e.svc.Authenticate(ctx, idvPending.cookie(sessionCookie).Value)
	if err != nil {
		b.Fatal(err)
	}
	d, err := rs.BeginIdentityVerification(ctx, testClient, sess, review.IdentityForm{FullName: "Bench Mark", DocumentType: "passport", DocumentNumber: "B12"})
	if err != nil {
		b.Fatal(err)
	}
	for _, role := range idvFiles {
		if err := d.Add(ctx, role, bytes.NewReader(testPNG(b, color.RGBA{10, 10, 200, 255}))); err != nil {
			b.Fatal(err)
		}
	}
	if err := d.Submit(ctx); err != nil {
		b.Fatal(err)
	}
	idvUID := e.uidOf("bench12@example.com")
	e.bindTOTP("bench-u@example.com")
	unbindForm := e.mfaBrowser("bench-u@example.com")
	unbindForm.get("/unbind") // the challenge is now in its cookie
	filer, filed := e.fileUnbind("bench-u@example.com", "B1")
	fu, _ := url.Parse(filed.URL)
	id := fu.Path[len("/unbind/status/"):]
	sb := e.staffBrowser("bench-staff@example.com")

	for _, tc := range []struct {
		name, path string
		b          *browser
		status     int
	}{
		{"home", "/", fresh, 303},
		{"signup", "/signup", fresh, 200},
		{"signup_phone", "/signup?with=phone", fresh, 200},
		{"signup_code", "/signup", signupCode, 200},
		{"signup_password", "/signup", signupPassword, 200},
		{"login", "/login", fresh, 200},
		{"login_code", "/login/code", fresh, 200},
		{"login_code_code", "/login/code", codeLogin, 200},
		{"authenticator", "/login", mfa, 200},
		{"authenticator_recovery", "/login?recovery=1", mfa, 200},
		{"account", "/account", signedIn, 200},
		{"logout", "/logout", signedIn, 200},
		{"step_up", "/account/step-up?next=/account/email", signedIn, 200},
		{"step_up_code", "/account/step-up?next=/account/email", stepUp, 200},
		{"email", "/account/email", privileged, 200},
		{"phone", "/account/phone", privileged, 200},
		{"phone_code", "/account/phone", contactCode, 200},
		{"password", "/account/password", privileged, 200},
		{"totp_intro", "/account/authenticator", signedIn, 200},
		{"totp_setup", "/account/authenticator", totpSetup, 200},
		{"totp_codes", "/account/authenticator", totpCodes, 200},
		{"totp_bound", "/account/authenticator", totpBound, 200},
		{"identity", "/account/identity", signedIn, 200},
		{"identity_pending", "/account/identity", idvPending, 200},
		{"unbind", "/unbind", unbindForm, 200},
		{"unbind_no_flow", "/unbind", fresh, 200},
		{"unbind_status", fu.Path, filer, 200},
		{"cancel", "/unbind/cancel/some-token", fresh, 200},
		{"staff", "/staff", sb, 200},
		{"staff_unbind", "/staff/unbind/" + id, sb, 200},
		{"staff_identity", "/staff/identity/" + idvUID, sb, 200},
		{"not_found", "/no/such/page", fresh, 404},
		{"signed_out_redirect", "/account", fresh, 303},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8")
			for _, c := range tc.b.client.Jar.Cookies(&url.URL{Scheme: u.Scheme, Host: u.Host, Path: req.URL.Path}) {
				req.AddCookie(c)
			}
			cpu := cpuTime()
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				if w.Code != tc.status {
					b.Fatalf("got %d, want %d\n%s", w.Code, tc.status, w.Body)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
