// Command watchword-load drives a running watchword server on this machine
// through its real JSON API and reports throughput and latency percentiles
// per operation.
//
// Usage:
//
//	watchword-load --url http://127.0.0.1:8080 --users 50 --concurrency 8 \
//	    --duration 20s --scenario me|login|code|signup|mixed|all|bare \
//	    [--requests N] [--json] [--with-bare] [--server-pid PID]
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
//     One code login in ten (code.replay) sends its spent code again: any
//     answer but a refusal is an error, and a 2xx one is a code accepted
//     twice.
//   - signup: every iteration registers a new user, each from an address of
//     its own; the setup phase registers only the first user, as a check.
//   - mixed: 80% me, 15% login, 5% failed login (a wrong password, expected
//     401); a rough picture of a signed-in population.
//   - all: the workers split evenly between signup, code, login and me, all
//     at once (what the end-to-end load test runs).
//   - bare: the me scenario against a bare net/http handler that answers
//     GET /api/v1/me with a fixed JSON body of the same shape, served by a
//     child process of the tool (--serve-bare 127.0.0.1:0): the reference
//     a session check is compared with. --with-bare runs it right after
//     another scenario, with the same workers and duration, and reports the
//     ratios.
//
// The server's CPU time and resident memory are read from /proc/PID at the
// start and end of the run phase: PID is --server-pid, or the process that
// listens on --url's port (found through /proc/net/tcp and /proc/*/fd; the
// tool must be allowed to read that process's file descriptors). The report
// gives the CPU per API request and per completed operation; the tool's own
// polls of /dev/outbox are counted, since they cost the server too.
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
	"net"
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
	// scenarioSignup registers new users for the whole run.
	scenarioSignup = "signup"
	// scenarioBare runs the me scenario against the bare reference
	// handler, served by a child process of the tool.
	scenarioBare = "bare"
	// scenarioAll splits the workers evenly between signup, code, login
	// and me, all at once.
	scenarioAll = "all"
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
	serverPID   int    // 0: find the listener's process; -1: do not read /proc
	withBare    bool   // also run the bare reference after the scenario
	serveBare   string // serve the bare handler here and do nothing else
}

const usageHead = `watchword-load drives a running watchword server on this machine and reports
throughput and latency percentiles.

Usage:
  watchword-load --url http://127.0.0.1:8080 --users 50 --concurrency 8 \
      --duration 20s --scenario me|login|code|signup|mixed|all|bare \
      [--requests N] [--json] [--with-bare] [--server-pid PID]

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
         one in ten replays its spent code, which must be refused
  signup a new user per iteration, each from its own client IP
  mixed  80% me, 15% login, 5% failed login (wrong password)
  all    workers split evenly between signup, code, login and me
  bare   me against a bare net/http handler in a child process (the reference);
         --with-bare runs it after any scenario and prints the ratios

The server's CPU time and RSS over the run are read from /proc (the process
listening on --url's port, or --server-pid).

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
	fs.StringVar(&cfg.scenario, "scenario", scenarioMe, "me, login, code, signup, mixed, all or bare")
	fs.IntVar(&cfg.serverPID, "server-pid", 0, "process whose CPU time and RSS to read from /proc (0: the process listening on --url's port; -1: none)")
	fs.BoolVar(&cfg.withBare, "with-bare", false, "after the scenario, run the bare reference with the same workers and duration and report both")
	fs.StringVar(&cfg.serveBare, "serve-bare", "", "only serve the bare reference handler on this loopback `host:port` (what --scenario bare starts by itself)")
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
	if cfg.serveBare != "" {
		return cfg, nil
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
	case cfg.serverPID < -1:
		return nil, usageError{"--server-pid must be a process id, 0 (find it) or -1 (none)"}
	}
	switch cfg.scenario {
	case scenarioMe, scenarioLogin, scenarioCode, scenarioMixed, scenarioSignup, scenarioBare, scenarioAll:
	default:
		return nil, usageError{fmt.Sprintf("--scenario %q: want me, login, code, signup, mixed, all or bare", cfg.scenario)}
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
	if cfg.serveBare != "" {
		// Serve until the parent closes our standard input, or a signal.
		stop := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
		return serveBare(ctx, cfg.serveBare, stdout, stop)
	}
	progress := io.Writer(os.Stderr)
	if cfg.quiet {
		progress = io.Discard
	}
	rep := &report{
		Scenario: cfg.scenario, URL: cfg.base, Users: cfg.users, Concurrency: cfg.concurrency,
		Duration: cfg.duration.String(), Requests: cfg.requests, CPUs: numCPU(),
	}
	if cfg.scenario == scenarioBare {
		b, err := runBare(ctx, cfg, progress)
		if err != nil {
			return err
		}
		rep.URL, rep.RunID, rep.Run, rep.Server, rep.Notes = b.URL, b.RunID, b.Run, b.Server, b.Notes
		return rep.write(stdout, cfg.json)
	}

	l := newLoad(cfg, progress)
	defer l.close()
	rep.RunID = l.runID
	if err := l.checkServer(ctx); err != nil {
		return err
	}
	fmt.Fprintf(progress, "setup: registering %d users (run %s) on %s\n", l.setupUsers(), l.runID, cfg.base)
	setupRec, setupTime, err := l.setup(ctx)
	if err != nil {
		return err
	}
	rep.Setup, rep.SetupUsers = summarize(setupRec, setupTime, setupOrder, false), l.setupUsers()
	if err := ctx.Err(); err != nil {
		return err
	}
	pid, pidNote := l.serverPID()
	if pidNote != "" {
		rep.Notes = append(rep.Notes, pidNote)
	}
	fmt.Fprintf(progress, "setup: done in %.2fs; running scenario %s for %s with %d workers\n",
		setupTime.Seconds(), cfg.scenario, cfg.duration, cfg.concurrency)
	before, beforeErr := sampleProc(pid)
	machineBefore, machineErr := readMachine()
	polls := l.ob.polls.Load()
	runRec, runTime, notes := l.runScenario(ctx)
	rep.Run = summarize(runRec, runTime, runOrder, true)
	rep.Notes = append(rep.Notes, notes...)
	if pid > 0 {
		rep.Server = serverUsage(pid, before, beforeErr, rep.Run, mainOp(cfg.scenario))
		if n := l.ob.polls.Load() - polls; n > 0 {
			rep.Server.OutboxPolls = n
			rep.Notes = append(rep.Notes, fmt.Sprintf("server CPU includes %d polls of /dev/outbox (%.0f/s) made to read codes", n, float64(n)/runTime.Seconds()))
		}
	}
	rep.Machine = machineUsage(machineBefore, machineErr, rep.Server, rep.Run, mainOp(cfg.scenario))
	if cfg.withBare && ctx.Err() == nil {
		fmt.Fprintf(progress, "bare: running the reference for %s with %d workers\n", cfg.duration, cfg.concurrency)
		b, err := runBare(ctx, cfg, progress)
		if err != nil {
			return err
		}
		rep.Bare = b
		rep.compareBare()
	}
	return rep.write(stdout, cfg.json)
}

// runBare starts the bare reference handler in a child process and runs
// the me scenario against it with the same workers, duration and cap.
func runBare(ctx context.Context, cfg *config, progress io.Writer) (*report, error) {
	child, err := startBareChild()
	if err != nil {
		return nil, err
	}
	defer child.stop()
	bcfg := *cfg
	bcfg.scenario = scenarioBare
	bcfg.base = "http://" + child.addr
	l := newLoad(&bcfg, progress)
	defer l.close()
	l.makeUsers()
	for _, u := range l.users {
		u.token = "bare-" + l.runID
	}
	pid := child.cmd.Process.Pid
	before, beforeErr := sampleProc(pid)
	runRec, runTime, notes := l.runScenario(ctx)
	rep := &report{Scenario: scenarioBare, URL: bcfg.base, Users: cfg.users, Concurrency: cfg.concurrency,
		Duration: cfg.duration.String(), Requests: cfg.requests, RunID: l.runID, CPUs: numCPU()}
	rep.Run = summarize(runRec, runTime, runOrder, true)
	rep.Server = serverUsage(pid, before, beforeErr, rep.Run, "me")
	rep.Notes = append(notes, "bare: GET /api/v1/me answered by a bare net/http handler (fixed JSON body of the same shape) in a child process of the tool")
	return rep, nil
}

// serverPID is the process whose CPU and memory the report shows: the one
// named by --server-pid, or the one listening on --url's port.
func (l *load) serverPID() (int, string) {
	switch l.cfg.serverPID {
	case -1:
		return 0, ""
	case 0:
	default:
		return l.cfg.serverPID, ""
	}
	u, err := url.Parse(l.cfg.base)
	if err != nil {
		return 0, ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	pid, err := listenerPID(net.JoinHostPort(l.cfg.host, port))
	if err != nil {
		return 0, "server CPU and memory not read (give --server-pid): " + err.Error()
	}
	return pid, ""
}

func (rep *report) write(stdout io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeText(stdout)
	return nil
}
