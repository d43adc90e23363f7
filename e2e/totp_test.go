package e2e

import (
	"encoding/base32"
	"encoding/base64"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The authenticator app end to end: the phone is oathtool (RFC 6238, the
// same codes Google Authenticator shows), the QR code is read back by a
// real scanner (zbarimg), against the real binary on both databases.

// totpTool returns the path of an external program the test depends on.
// Locally a missing tool skips the test with a clear message; in CI
// (CI=true) it fails it, so the tests cannot silently stop running.
func totpTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := name + " is not installed (Debian/Ubuntu: apt-get install " + debianPackage +
			"); the authenticator end-to-end tests need it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// totpPhone is an authenticator app: oathtool with the account's secret. It
// picks codes the way a user's phone produces them and keeps track of what
// the server knows: the offset it learned and the steps already spent.
type totpPhone struct {
	t        *testing.T
	oathtool string
	secret   string
	center   int            // offset in steps the server has learned
	used     map[int64]bool // steps whose code was sent once already
}

const totpPeriod = 30 // seconds per TOTP step

// at returns the code oathtool shows at unix time sec.
func (p *totpPhone) at(sec int64) string {
	p.t.Helper()
	out, err := exec.Command(p.oathtool, "--totp", "-b", "-N", "@"+strconv.FormatInt(sec, 10), p.secret).CombinedOutput()
	if err != nil {
		p.t.Fatalf("oathtool: %v: %s", err, out)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		p.t.Fatalf("oathtool printed %q, want a 6-digit code", out)
	}
	return code
}

// step returns the code of a time step (read in its middle) and marks the
// step used.
func (p *totpPhone) step(s int64) string {
	p.t.Helper()
	p.used[s] = true
	return p.at(s*totpPeriod + totpPeriod/2)
}

// totpSteadyStep waits, if needed, until the current step has at least six
// seconds left, so that a request sent now is checked in the same step by
// the server (same host, same clock), and returns that step.
func totpSteadyStep() int64 {
	for {
		now := time.Now()
		if now.Unix()%totpPeriod < totpPeriod-6 {
			return now.Unix() / totpPeriod
		}
		time.Sleep(time.Until(time.Unix((now.Unix()/totpPeriod+1)*totpPeriod, 0)) + 50*time.Millisecond)
	}
}

// code returns a code the server accepts now: inside its window (one step
// around the learned offset) and not used before, waiting for the next
// step when the window is used up. follow says whether the server moves
// its learned offset to this code's (login and removal do, step-up not).
func (p *totpPhone) code(follow bool) string {
	p.t.Helper()
	for {
		cur := totpSteadyStep()
		for _, d := range []int{0, 1, -1} {
			s := cur + int64(p.center+d)
			if p.used[s] {
				continue
			}
			if follow {
				p.center += d
			}
			return p.step(s)
		}
		time.Sleep(time.Until(time.Unix((cur+1)*totpPeriod, 0)) + 50*time.Millisecond)
	}
}

// totpZbar decodes the QR code in png with a real scanner.
func totpZbar(t *testing.T, zbarimg string, png []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(f, png, 0o600); err != nil {
		t.Fatal(err)
	}
	// stdout only: zbarimg may complain on stderr (no D-Bus in containers).
	cmd := exec.Command(zbarimg, "--raw", "-q", f)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zbarimg could not read the QR code: %v: %s", err, stderr.String())
	}
	return strings.TrimRight(string(out), "\r\n")
}

// totpStepUp makes tok privileged through the email code, with an
// authenticator code when totp is not empty.
func (s *server) totpStepUp(tok, addr, totp string) {
	s.t.Helper()
	flow := s.Must(202, "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"}).Str("flow_id")
	body := map[string]string{"code": s.EmailCode(addr)}
	if totp != "" {
		body["totp"] = totp
	}
	r := s.Must(200, "POST", "/me/step-up/"+flow, tok, body)
	if _, err := time.Parse(time.RFC3339, r.Str("privileged_until")); err != nil {
		s.t.Fatalf("privileged_until %q: %v", r.Str("privileged_until"), err)
	}
}

// totpMFAFlow logs in with the password and expects the authenticator to be asked for.
func (s *server) totpMFAFlow(ident string) string {
	s.t.Helper()
	r := s.Must(200, "POST", "/login/password", "", map[string]string{"identifier": ident, "password": goodPassword})
	if r.Body["mfa_required"] != true || r.Str("flow_id") == "" || r.Str("session_token") != "" {
		s.t.Fatalf("login of an account with an authenticator: got %s, want mfa_required and a flow_id", r.Raw)
	}
	return r.Str("flow_id")
}

// totpEnabled reads totp.enabled from GET /me.
func (s *server) totpEnabled(tok string) bool {
	s.t.Helper()
	me := s.Must(200, "GET", "/me", tok, nil)
	v, _ := me.Body["totp"].(map[string]any)
	on, ok := v["enabled"].(bool)
	if !ok {
		s.t.Fatalf("GET /me: no totp.enabled in %s", me.Raw)
	}
	return on
}

// totpNotice reads the next email to addr and checks it is a notice
// without any code.
func (s *server) totpNotice(addr string, about ...string) string {
	s.t.Helper()
	text := s.NextEmail(addr)
	if sixDigits.MatchString(text) {
		s.t.Fatalf("notice carries a 6-digit code: %q", text)
	}
	low := strings.ToLower(text)
	for _, a := range about {
		if strings.Contains(low, a) {
			return text
		}
	}
	s.t.Fatalf("want a notice about one of %q, got %q", about, text)
	return ""
}

// totpBegin starts a binding and checks everything a user gets to set up
// the app: the secret, the otpauth URI and the QR code, which a scanner
// must read as exactly that URI.
func totpBegin(t *testing.T, s *server, zbarimg, tok, issuer, account string) string {
	t.Helper()
	r := s.Must(200, "POST", "/me/totp", tok, nil)
	secret := r.Str("secret")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(raw) != 20 {
		t.Fatalf("secret %q: %d bytes, %v; want 20 bytes of unpadded base32", secret, len(raw), err)
	}
	if g := r.Str("secret_grouped"); strings.ReplaceAll(g, " ", "") != secret {
		t.Fatalf("secret_grouped %q is not the secret %q", g, secret)
	}

	uri := r.Str("otpauth_uri")
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	want := "otpauth://totp/" + label + "?secret=" + secret + "&issuer=" +
		strings.ReplaceAll(url.QueryEscape(issuer), "+", "%20") + "&algorithm=SHA1&digits=6&period=30"
	if uri != want {
		t.Fatalf("otpauth_uri\n got %s\nwant %s", uri, want)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/"+issuer+":"+account || u.Fragment != "" {
		t.Fatalf("otpauth_uri %s parses as scheme %q host %q path %q fragment %q", uri, u.Scheme, u.Host, u.Path, u.Fragment)
	}
	q := u.Query()
	if q.Get("secret") != secret || q.Get("issuer") != issuer {
		t.Fatalf("otpauth_uri %s: query %v", uri, q)
	}

	png, err := base64.StdEncoding.DecodeString(r.Str("qr_png"))
	if err != nil {
		t.Fatalf("qr_png is not base64: %v", err)
	}
	if got := totpZbar(t, zbarimg, png); got != uri {
		t.Fatalf("the QR code reads\n %s\nwant\n %s", got, uri)
	}
	img := s.Must(200, "GET", "/me/totp/qr.png", tok, nil)
	if ct := img.Header.Get("Content-Type"); ct != "image/png" {
		t.Fatalf("GET /me/totp/qr.png: Content-Type %q", ct)
	}
	if got := totpZbar(t, zbarimg, img.Raw); got != uri {
		t.Fatalf("GET /me/totp/qr.png reads\n %s\nwant\n %s", got, uri)
	}
	return secret
}

func TestTOTPAuthenticatorApp(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	zbarimg := totpTool(t, "zbarimg", "zbar-tools")
	t.Parallel()
	forEachDB(t, func(t *testing.T, dsn string) {
		// An issuer and an address with characters that must be escaped
		// in the otpauth label.
		const issuer = "Watch Word"
		s := start(t, options{DB: dsn, Extra: []string{"--issuer", issuer}})
		const addr = "ana+totp?x#y@example.com"
		_, tok := s.SignUpEmail(addr, goodPassword)

		// Connecting needs a recent step-up.
		s.Fails(403, "step_up_required", "POST", "/me/totp", tok, nil)
		s.Fails(403, "step_up_required", "GET", "/me/totp/qr.png", tok, nil)
		s.Fails(403, "step_up_required", "POST", "/me/totp/confirm", tok, map[string]string{"code": "123456"})
		s.totpStepUp(tok, addr, "")
		s.Fails(404, "not_found", "GET", "/me/totp/qr.png", tok, nil)
		s.Fails(404, "not_found", "POST", "/me/totp/confirm", tok, map[string]string{"code": "123456"})

		secret := totpBegin(t, s, zbarimg, tok, issuer, addr)
		if s.totpEnabled(tok) {
			t.Fatal("a pending binding shows as enabled")
		}
		// A pending binding guards nothing.
		s.Login(addr, goodPassword)

		p := &totpPhone{t: t, oathtool: oathtool, secret: secret, used: map[int64]bool{}}
		confirmCode := p.step(totpSteadyStep())
		c := s.Must(200, "POST", "/me/totp/confirm", tok, map[string]string{"code": confirmCode})
		if c.Body["enabled"] != true || c.Body["clock_offset_seconds"] != float64(0) {
			t.Fatalf("confirm: got %s, want enabled and offset 0", c.Raw)
		}
		rcs, _ := c.Body["recovery_codes"].([]any)
		if len(rcs) != 10 {
			t.Fatalf("confirm: %d recovery codes, want 10", len(rcs))
		}
		recovery := make([]string, len(rcs))
		for i, x := range rcs {
			recovery[i], _ = x.(string)
			if recovery[i] == "" || sixDigits.MatchString(recovery[i]) {
				t.Fatalf("recovery code %q", x)
			}
		}
		s.totpNotice(addr, "authenticator")
		if !s.totpEnabled(tok) {
			t.Fatal("GET /me: totp not enabled after confirming")
		}
		s.Fails(404, "not_found", "GET", "/me/totp/qr.png", tok, nil)

		// Login asks for the code. The confirming code is spent (T-06).
		flow := s.totpMFAFlow(addr)
		s.Fails(400, "invalid_totp", "POST", "/login/totp/"+flow, "", map[string]string{"code": confirmCode})
		code := p.code(true)
		tok2 := s.Must(200, "POST", "/login/totp/"+flow, "", map[string]string{"code": code}).Str("session_token")
		if !s.totpEnabled(tok2) {
			t.Fatal("GET /me with the new session: totp not enabled")
		}
		// A code works once.
		s.Fails(400, "invalid_totp", "POST", "/login/totp/"+s.totpMFAFlow(addr), "", map[string]string{"code": code})
		s.Fails(404, "not_found", "POST", "/login/totp/"+flow, "", map[string]string{"code": "123456"}) // the flow is done

		// Step-up wants the authenticator as well: without it the same
		// flow answers totp_required and can be sent again with both.
		sflow := s.Must(202, "POST", "/me/step-up/code", tok2, map[string]string{"channel": "email"}).Str("flow_id")
		ecode := s.EmailCode(addr)
		s.Fails(400, "totp_required", "POST", "/me/step-up/"+sflow, tok2, map[string]string{"code": ecode})
		s.Must(200, "POST", "/me/step-up/"+sflow, tok2, map[string]string{"code": ecode, "totp": p.code(false)})

		// Removing it with a recovery code.
		s.Fails(400, "invalid_totp", "DELETE", "/me/totp", tok2, map[string]string{"code": "abcde-fghjk"})
		r := s.Must(200, "DELETE", "/me/totp", tok2, map[string]string{"code": recovery[4]})
		if r.Body["enabled"] != false {
			t.Fatalf("DELETE /me/totp: got %s", r.Raw)
		}
		a := s.totpNotice(addr, "recovery code", "removed")
		b := s.totpNotice(addr, "recovery code", "removed")
		if both := strings.ToLower(a + b); !strings.Contains(both, "recovery code") || !strings.Contains(both, "removed") {
			t.Fatalf("want notices of the recovery code and of the removal, got %q and %q", a, b)
		}
		if s.totpEnabled(tok2) {
			t.Fatal("GET /me: totp still enabled")
		}
		// Login no longer asks for it.
		s.Login(addr, goodPassword)
		s.Fails(404, "not_found", "DELETE", "/me/totp", tok2, map[string]string{"code": recovery[5]})

		// Turning it on again gives a new secret.
		again := s.Must(200, "POST", "/me/totp", tok2, nil)
		if again.Str("secret") == secret || again.Str("secret") == "" {
			t.Fatalf("rebinding gave secret %q, the old one was %q", again.Str("secret"), secret)
		}
	})
}

var totpDriftMessage = regexp.MustCompile(`(\d+) seconds (ahead|behind)`)

func TestTOTPClockDrift(t *testing.T) {
	oathtool := totpTool(t, "oathtool", "oathtool")
	zbarimg := totpTool(t, "zbarimg", "zbar-tools")
	t.Parallel()
	forEachDB(t, func(t *testing.T, dsn string) {
		s := start(t, options{DB: dsn})
		const addr = "drift@example.com"
		_, tok := s.SignUpEmail(addr, goodPassword)
		s.totpStepUp(tok, addr, "")
		secret := totpBegin(t, s, zbarimg, tok, "watchword", addr)
		p := &totpPhone{t: t, oathtool: oathtool, secret: secret, used: map[int64]bool{}}

		// The phone's clock is 3 minutes behind when the user confirms.
		totpSteadyStep()
		now := time.Now().Unix()
		code := p.at(now - 180) // oathtool -N @(now-180)
		p.used[(now-180)/totpPeriod] = true
		c := s.Must(200, "POST", "/me/totp/confirm", tok, map[string]string{"code": code})
		off, ok := c.Body["clock_offset_seconds"].(float64)
		if !ok || off < -210 || off > -150 {
			t.Fatalf("confirm with a phone 3 minutes behind: got %s, want clock_offset_seconds about -180", c.Raw)
		}
		p.center = int(off) / totpPeriod

		// Later, a code from a phone 5 minutes off the learned offset is
		// refused with clock_drift, and the message names the offset.
		flow := s.totpMFAFlow(addr)
		cur := totpSteadyStep()
		drifted := p.step(cur + int64(p.center+10))
		r := s.Fails(400, "clock_drift", "POST", "/login/totp/"+flow, "", map[string]string{"code": drifted})
		e, _ := r.Body["error"].(map[string]any)
		msg, _ := e["message"].(string)
		m := totpDriftMessage.FindStringSubmatch(msg)
		wantSecs := (p.center + 10) * totpPeriod
		dir := "ahead"
		if wantSecs < 0 {
			dir, wantSecs = "behind", -wantSecs
		}
		if m == nil || m[1] != strconv.Itoa(wantSecs) || m[2] != dir {
			t.Fatalf("clock_drift message %q, want it to name %d seconds %s", msg, wantSecs, dir)
		}
		// A code at the learned offset logs in (same flow).
		tok2 := s.Must(200, "POST", "/login/totp/"+flow, "", map[string]string{"code": p.code(true)}).Str("session_token")
		s.Must(200, "GET", "/me", tok2, nil)
	})
}
