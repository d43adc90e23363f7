package e2e

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/email/smtptest"
	"github.com/watchword/watchword/internal/sms/smstest"
)

// Several instances of the real binary behind one load balancer: they
// share one PostgreSQL database, one Redis, one key file, one mail relay
// and one SMS gateway, and keep nothing a client depends on to
// themselves. (That a revocation on one reaches the others within a
// second is shown in instances_cache_test.go.)

// cluster is three instances of one deployment. Messages to all of them
// are read through the first one's view (c.mail), since each server
// remembers which messages it has already handed out.
type cluster struct {
	s    [3]*server
	mail *server
	sms  *smstest.Receiver
	smtp *smtptest.Server
}

// startCluster starts three instances on a fresh PostgreSQL database and
// a Redis of the test's own. The first generates the key file; the others
// are given it, as a deployment gives every instance the same file.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	dsn := databases(t)["postgres"](t)
	rd := startPrivateRedis(t)
	c := &cluster{smtp: smtptest.NewServer(t), sms: smstest.NewWebhookReceiver(t)}
	for i := range c.s {
		extra := []string{"--redis-url", rd.URL()}
		if i > 0 {
			extra = append(extra, "--secret-key-file", filepath.Join(c.s[0].dataDir, "secret.key"))
		}
		c.s[i] = start(t, options{DB: dsn, SMTP: c.smtp, SMS: c.sms, Extra: extra})
	}
	c.mail = c.s[0]
	return c
}

// signUp registers addr: the code is asked for through one instance and
// given back through another.
func (c *cluster) signUp(ask, answer *server, addr string) (uid, token string) {
	c.mail.t.Helper()
	flow := ask.Must(202, "POST", "/registrations", "", map[string]string{"email": addr}).Str("flow_id")
	r := answer.Must(201, "POST", "/registrations/"+flow+"/complete", "", map[string]string{"code": c.mail.EmailCode(addr), "password": goodPassword})
	return r.Str("uid"), r.Str("session_token")
}

// TestInstancesShareCodes: a code asked for through one instance is
// accepted by another, for sign-up and for login, and the session made by
// one is good on every other.
func TestInstancesShareCodes(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	c := startCluster(t)
	a, b, cc := c.s[0], c.s[1], c.s[2]
	const addr = "roaming@example.com"
	uid, _ := c.signUp(a, b, addr)

	flow := b.Must(202, "POST", "/login/code", "", map[string]string{"identifier": addr}).Str("flow_id")
	tok := cc.Must(200, "POST", "/login/code/"+flow, "", map[string]string{"code": c.mail.EmailCode(addr)}).Str("session_token")
	for i, s := range c.s {
		if got := s.Must(200, "GET", "/me", tok, nil).Str("uid"); got != uid {
			t.Errorf("instance %d: GET /me is %q, want %q", i, got, uid)
		}
	}
	// The flow is spent everywhere.
	a.Fails(404, "not_found", "POST", "/login/code/"+flow, "", map[string]string{"code": "123456"})
}

// TestInstancesShareLimits: limits are counted once for the deployment,
// not once per instance, so a client gains nothing by spreading its
// requests over the instances.
func TestInstancesShareLimits(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	c := startCluster(t)
	const addr = "limited@example.com"
	c.signUp(c.s[1], c.s[2], addr)

	// One login code per address and minute, whichever instance is asked.
	c.s[0].Must(202, "POST", "/login/code", "", map[string]string{"identifier": addr})
	c.mail.EmailCode(addr)
	for i, s := range c.s[1:] {
		if r := s.Fails(429, "rate_limited", "POST", "/login/code", "", map[string]string{"identifier": addr}); r.Header.Get("Retry-After") == "" {
			t.Errorf("instance %d: 429 without Retry-After", i+1)
		}
	}
	c.mail.NoMoreMessages(addr, time.Second)

	// Ten wrong passwords per identifier, spread over the three instances.
	wrong := map[string]string{"identifier": addr, "password": "wrong wrong wrong"}
	for i := range 10 {
		c.s[i%3].Fails(401, "invalid_credentials", "POST", "/login/password", "", wrong)
	}
	for _, s := range c.s {
		s.Fails(429, "rate_limited", "POST", "/login/password", "", wrong)
		s.Fails(429, "rate_limited", "POST", "/login/password", "", map[string]string{"identifier": addr, "password": goodPassword})
	}
}

// TestInstancesRefuseTOTPReplay: an authenticator code accepted by one
// instance is refused by the others; the spent step is recorded in the
// shared database, not in a process.
func TestInstancesRefuseTOTPReplay(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	oathtool := totpTool(t, "oathtool", "oathtool")
	c := startCluster(t)
	a, b, cc := c.s[0], c.s[1], c.s[2]
	const addr = "replay@example.com"
	_, tok := c.signUp(a, a, addr)

	// Step-up and binding, all on A.
	sflow := a.Must(202, "POST", "/me/step-up/code", tok, map[string]string{"channel": "email"}).Str("flow_id")
	a.Must(200, "POST", "/me/step-up/"+sflow, tok, map[string]string{"code": c.mail.EmailCode(addr)})
	secret := a.Must(200, "POST", "/me/totp", tok, nil).Str("secret")
	p := &totpPhone{t: t, oathtool: oathtool, secret: secret, used: map[int64]bool{}}
	confirm := p.step(totpSteadyStep())
	a.Must(200, "POST", "/me/totp/confirm", tok, map[string]string{"code": confirm})

	// The confirming code is spent on every instance.
	b.Fails(400, "invalid_totp", "POST", "/login/totp/"+b.totpMFAFlow(addr), "", map[string]string{"code": confirm})
	// A fresh code logs in on A once, and is refused on B and C.
	code := p.code(true)
	a.Must(200, "POST", "/login/totp/"+a.totpMFAFlow(addr), "", map[string]string{"code": code})
	b.Fails(400, "invalid_totp", "POST", "/login/totp/"+b.totpMFAFlow(addr), "", map[string]string{"code": code})
	cc.Fails(400, "invalid_totp", "POST", "/login/totp/"+cc.totpMFAFlow(addr), "", map[string]string{"code": code})
	// The next code works on B: the refusals were replays, not a broken
	// binding.
	b.Must(200, "POST", "/login/totp/"+b.totpMFAFlow(addr), "", map[string]string{"code": p.code(true)})
}

// TestInstancesKillNineLosesNoQueuedMessage kills one instance with
// SIGKILL while the messages it queued are stuck: the SMS gateway hangs
// (so the instance holds their lease, mid-send) and the mail relay is down
// (so they wait for a retry). Every message is still delivered, once, by
// the instances that are left (those it had leased once the lease runs
// out), and its code still works; the killed instance starts again on
// the same data.
func TestInstancesKillNineLosesNoQueuedMessage(t *testing.T) {
	t.Parallel() // mostly waiting on its own servers: runs beside the other slow tests
	c := startCluster(t)
	a, b := c.s[0], c.s[1]
	phones := []string{"+8613800138101", "+8613800138102", "+8613800138103"}
	emails := []string{"queued1@example.com", "queued2@example.com"}

	c.sms.SetHanging(true)
	c.smtp.Stop()
	flows := map[string]string{}
	for _, n := range phones {
		flows[n] = a.Must(202, "POST", "/registrations", "", map[string]string{"phone": n}).Str("flow_id")
	}
	for _, e := range emails {
		flows[e] = a.Must(202, "POST", "/registrations", "", map[string]string{"email": e}).Str("flow_id")
	}
	// Give A's worker, woken by each request, the moment it needs to
	// claim the messages and start sending; nothing is measured.
	time.Sleep(time.Second)
	a.kill9()
	c.sms.SetHanging(false)
	c.smtp.Start()

	// The lease of what A held runs out after a minute (outbox.DefaultLease).
	const within = 2 * time.Minute
	for _, n := range phones {
		eventually(t, within, "SMS to "+n, func() bool { return countSMS(c.sms, n) > 0 })
		b.Must(201, "POST", "/registrations/"+flows[n]+"/complete", "", map[string]string{"code": c.mail.SMSCode(n), "password": goodPassword})
	}
	for _, e := range emails {
		eventually(t, within, "email to "+e, func() bool { return c.mail.countTo(e) > 0 })
		b.Must(201, "POST", "/registrations/"+flows[e]+"/complete", "", map[string]string{"code": c.mail.EmailCode(e), "password": goodPassword})
	}
	// Once each: nothing was sent twice by two instances.
	time.Sleep(2 * time.Second)
	for _, to := range append(phones, emails...) {
		if n := countSMS(c.sms, to) + c.mail.countTo(to); n != 1 {
			t.Errorf("%s received %d messages, want 1", to, n)
		}
	}

	a.relaunch()
	a.Login(phones[0], goodPassword)
	a.Login(emails[0], goodPassword)
}

// countSMS counts the text messages the gateway received for number.
func countSMS(r *smstest.Receiver, number string) int {
	n := 0
	for _, m := range r.Messages() {
		if m.To == number {
			n++
		}
	}
	return n
}
