// Command watchword-load drives a running watchword server on this machine
// through its real JSON API and reports throughput and latency percentiles
// per operation.
//
// Usage:
//
//	watchword-load --url http://127.0.0.1:8080 --users 50 --concurrency 8 \
//	    --duration 20s --scenario login|me|code|mixed [--requests N] [--json]
//
// The server must run in development mode (no email or SMS delivery
// configured, or --dev), since codes are read from /dev/outbox, and it must
// be started with
//
//	watchword serve --trusted-proxies 127.0.0.1
//
// (::1 when --url names ::1): every simulated user sends its own
// X-Forwarded-For address from 198.18.0.0/15, the benchmarking range, so
// that the per-IP limits on sign-ups (20 per hour) and failed logins apply to
// each user and not to the tool as a whole. The tool only targets loopback
// addresses (127.0.0.1, ::1, localhost) and refuses any other --url.
//
// Setup registers --users accounts with POST /api/v1/registrations, reads
// each code from GET /dev/outbox?format=json and completes the sign-up with
// POST /api/v1/registrations/{flow_id}/complete. Then a fixed pool of
// --concurrency workers loops until --duration has passed or --requests
// scenario iterations have been issued, whichever comes first. Scenarios:
//
//   - me: GET /api/v1/me with a random user's bearer token; measures the
//     cost of a session lookup, the floor under every authenticated call.
//   - login: POST /api/v1/login/password with a random user's right
//     password; dominated by argon2id, so it measures password hashing
//     capacity (about one core per concurrent login).
//   - code: POST /api/v1/login/code, wait for the code on /dev/outbox
//     (code.outbox: the durable outbox's delivery delay), then
//     POST /api/v1/login/code/{flow_id}. An address gets at most one login
//     code per 60 s and five codes per hour (registration spent one), so
//     users are taken round-robin, each at most once a minute and four times
//     in all; with N users expect at most N code logins per minute.
//   - mixed: 80% me, 15% login, 5% failed login (a wrong password, expected
//     401); a rough picture of a signed-in population.
//
// Output is a table per phase (setup, run): for each operation the count of
// requests, errors (unexpected answers or transport failures), 429s (rate
// limited, counted apart and not as errors), requests per second and
// p50/p90/p99/max latency in milliseconds over the expected answers. --json
// writes the same as one JSON object.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	default:
		fmt.Fprintln(os.Stderr, "watchword-load:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Scenario names.
const (
	scenarioMe    = "me"
	scenarioLogin = "login"
	scenarioCode  = "code"
	scenarioMixed = "mixed"
)

// config is the parsed command line.
type config struct {
	base        string // server URL without a trailing slash
	host        string // loopback address to name in the --trusted-proxies hint
	users       int
	concurrency int
	duration    time.Duration
	requests    int
	timeout     time.Duration
	scenario    string
	json        bool
	quiet       bool
}

const usageHead = `watchword-load drives a running watchword server on this machine and reports
throughput and latency percentiles.

Usage:
  watchword-load --url http://127.0.0.1:8080 --users 50 --concurrency 8 \
      --duration 20s --scenario login|me|code|mixed [--requests N] [--json]

Start the server in development mode (codes are read from /dev/outbox) and
trusting the tool as a proxy, so each simulated user gets its own client IP
from X-Forwarded-For (198.18.0.0/15) and the per-IP limits on sign-ups
(20 per hour) and failed logins do not stop the run:

  watchword serve --addr 127.0.0.1:8080 --trusted-proxies 127.0.0.1

Only loopback URLs (127.0.0.1, ::1, localhost) are accepted.

Scenarios:
  me     GET /api/v1/me with a random user's token (session lookup cost)
  login  POST /api/v1/login/password (argon2id dominates)
  code   POST /api/v1/login/code, code from /dev/outbox, POST /api/v1/login/code/{flow_id};
         each user at most once per 60 s and 4 times in all (server limits)
  mixed  80% me, 15% login, 5% failed login (wrong password)

Flags:
`

// parseArgs parses the command line; usage and flag errors go to errOut.
func parseArgs(args []string, errOut io.Writer) (*config, error) {
	fs := flag.NewFlagSet("watchword-load", flag.ContinueOnError)
	fs.SetOutput(errOut)
	cfg := &config{}
	rawURL := fs.String("url", "http://127.0.0.1:8080", "server base URL; loopback only")
	fs.IntVar(&cfg.users, "users", 50, "accounts to register in the setup phase")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "concurrent workers (and idle connections kept)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long the run phase lasts")
	fs.IntVar(&cfg.requests, "requests", 0, "stop after this many scenario iterations (0: no cap; a code login counts once)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&cfg.scenario, "scenario", scenarioMe, "me, login, code or mixed")
	fs.BoolVar(&cfg.json, "json", false, "write the report as JSON")
	fs.BoolVar(&cfg.quiet, "q", false, "no progress lines on stderr")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	base, host, err := checkURL(*rawURL)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	cfg.base, cfg.host = base, host
	switch {
	case cfg.users < 1:
		return nil, usageError{"--users must be at least 1"}
	case cfg.users > 100000:
		return nil, usageError{"--users must be at most 100000 (the 198.18.0.0/15 range gives each user an address)"}
	case cfg.concurrency < 1:
		return nil, usageError{"--concurrency must be at least 1"}
	case cfg.duration <= 0:
		return nil, usageError{"--duration must be positive"}
	case cfg.requests < 0:
		return nil, usageError{"--requests must not be negative"}
	case cfg.timeout <= 0:
		return nil, usageError{"--timeout must be positive"}
	}
	switch cfg.scenario {
	case scenarioMe, scenarioLogin, scenarioCode, scenarioMixed:
	default:
		return nil, usageError{fmt.Sprintf("--scenario %q: want me, login, code or mixed", cfg.scenario)}
	}
	return cfg, nil
}

// checkURL accepts only http(s) URLs whose host is 127.0.0.1, ::1 or
// localhost, and returns the URL without a trailing slash and the loopback
// address the server sees the tool come from.
func checkURL(raw string) (base, host string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("--url %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", fmt.Errorf("--url %q: want an http:// or https:// URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("--url %q: give only scheme, host, port and path (no credentials, query or fragment)", raw)
	}
	h := u.Hostname()
	switch {
	case strings.EqualFold(h, "localhost"):
		host = "127.0.0.1"
	default:
		a, perr := netip.ParseAddr(h)
		if perr == nil && a.Zone() == "" && (a == netip.MustParseAddr("127.0.0.1") || a == netip.IPv6Loopback()) {
			host = a.String()
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("--url host %q is not 127.0.0.1, ::1 or localhost: watchword-load only drives a server on this machine, "+
			"because it registers accounts, reads the development outbox and sends load that must never reach a shared or production server", h)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), host, nil
}

// run is the whole tool: parse args, set up users, run the scenario and
// write the report to stdout. Progress goes to stderr unless -q.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseArgs(args, os.Stderr)
	if err != nil {
		return err
	}
	progress := io.Writer(os.Stderr)
	if cfg.quiet {
		progress = io.Discard
	}
	l := newLoad(cfg, progress)
	defer l.close()

	if err := l.checkServer(ctx); err != nil {
		return err
	}
	rep := &report{
		Scenario: cfg.scenario, URL: cfg.base, Users: cfg.users, Concurrency: cfg.concurrency,
		Duration: cfg.duration.String(), Requests: cfg.requests, RunID: l.runID, CPUs: numCPU(),
	}
	fmt.Fprintf(progress, "setup: registering %d users (run %s) on %s\n", cfg.users, l.runID, cfg.base)
	setupRec, setupTime, err := l.setup(ctx)
	if err != nil {
		return err
	}
	rep.Setup = summarize(setupRec, setupTime, setupOrder, false)
	if err := ctx.Err(); err != nil {
		return err
	}
	fmt.Fprintf(progress, "setup: done in %.2fs; running scenario %s for %s with %d workers\n",
		setupTime.Seconds(), cfg.scenario, cfg.duration, cfg.concurrency)
	runRec, runTime, notes := l.runScenario(ctx)
	rep.Run = summarize(runRec, runTime, runOrder, true)
	rep.Notes = notes
	if cfg.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeText(stdout)
	return nil
}
