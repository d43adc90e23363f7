package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Operation names, in report order. The *.outbox rows are waits for a
// message to show up on /dev/outbox, not single requests.
var (
	setupOrder = []string{"register", "register.outbox", "register.complete"}
	runOrder   = []string{"me", "login", "login.fail", "code.request", "code.outbox", "code.verify", "code.replay",
		"signup", "signup.outbox", "signup.complete"}
)

// isWait tells the rows that are outbox waits rather than API requests.
func isWait(op string) bool { return strings.HasSuffix(op, ".outbox") }

// opStats accumulates one operation's outcomes.
type opStats struct {
	count   int
	errors  int
	limited int
	lat     []time.Duration // expected answers only
	kinds   map[string]int  // error description → count
}

// recorder holds the outcomes of one worker; workers never share one, and
// recorders are merged when the workers are done.
type recorder struct {
	ops map[string]*opStats
}

func newRecorder() *recorder { return &recorder{ops: map[string]*opStats{}} }

func (r *recorder) get(op string) *opStats {
	s := r.ops[op]
	if s == nil {
		s = &opStats{kinds: map[string]int{}}
		r.ops[op] = s
	}
	return s
}

// ok records an expected answer and its latency.
func (r *recorder) ok(op string, d time.Duration) {
	s := r.get(op)
	s.count++
	s.lat = append(s.lat, d)
}

// fail records an unexpected answer or a transport failure.
func (r *recorder) fail(op, kind string) {
	s := r.get(op)
	s.count++
	s.errors++
	s.kinds[kind]++
}

// limit records a 429.
func (r *recorder) limit(op string) {
	s := r.get(op)
	s.count++
	s.limited++
}

func (r *recorder) merge(o *recorder) {
	for op, x := range o.ops {
		s := r.get(op)
		s.count += x.count
		s.errors += x.errors
		s.limited += x.limited
		s.lat = append(s.lat, x.lat...)
		for k, n := range x.kinds {
			s.kinds[k] += n
		}
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// sorted, which must be in ascending order; 0 for an empty slice.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return sorted[rank-1]
}

// opResult is one row of the report.
type opResult struct {
	Op          string         `json:"op"`
	Count       int            `json:"count"`
	Errors      int            `json:"errors"`
	RateLimited int            `json:"rate_limited"`
	PerSecond   float64        `json:"per_second"`
	P50         float64        `json:"p50_ms"`
	P90         float64        `json:"p90_ms"`
	P99         float64        `json:"p99_ms"`
	Max         float64        `json:"max_ms"`
	ErrorKinds  map[string]int `json:"error_kinds,omitempty"`
}

// phaseResult is the report of one phase.
type phaseResult struct {
	ElapsedSeconds float64    `json:"elapsed_s"`
	Operations     []opResult `json:"operations"`
}

// report is the tool's output.
type report struct {
	Scenario    string      `json:"scenario"`
	URL         string      `json:"url"`
	Users       int         `json:"users"`
	Concurrency int         `json:"concurrency"`
	Duration    string      `json:"duration"`
	Requests    int         `json:"requests_cap,omitempty"`
	RunID       string      `json:"run_id"`
	CPUs        int         `json:"client_cpus"`
	SetupUsers  int         `json:"setup_users,omitempty"`
	Setup       phaseResult `json:"setup"`
	Run         phaseResult `json:"run"`
	Server      *usage      `json:"server,omitempty"`
	Machine     *machine    `json:"machine,omitempty"`
	Bare        *report     `json:"bare,omitempty"`
	Compare     *compare    `json:"compare_to_bare,omitempty"`
	Notes       []string    `json:"notes,omitempty"`
}

// usage is the server process's CPU time and memory over the run phase,
// read from /proc.
type usage struct {
	PID        int     `json:"pid"`
	CPUMS      float64 `json:"cpu_ms"` // user + system over the run phase
	CPUMSStart float64 `json:"cpu_ms_start"`
	CPUMSEnd   float64 `json:"cpu_ms_end"`
	// CPUPerRequest is CPUMS over the API requests of the run phase;
	// CPUPerOp over the completed scenario operations (a session check,
	// a login, a sign-up) when the scenario has one.
	CPUPerRequest float64 `json:"cpu_ms_per_request"`
	CPUPerOp      float64 `json:"cpu_ms_per_op,omitempty"`
	MainOp        string  `json:"op,omitempty"`
	RSSStartMB    float64 `json:"rss_mb_start"`
	RSSEndMB      float64 `json:"rss_mb_end"`
	PeakRSSMB     float64 `json:"peak_rss_mb"`
	OutboxPolls   int64   `json:"outbox_polls,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// compare sets the scenario beside the bare reference of the same run.
type compare struct {
	ThroughputRatio float64 `json:"throughput_ratio"` // scenario requests/s over bare requests/s
	P99Ratio        float64 `json:"p99_ratio"`
	CPURatio        float64 `json:"cpu_per_request_ratio,omitempty"`
}

func numCPU() int { return runtime.NumCPU() }

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func result(op string, s *opStats, elapsed time.Duration) opResult {
	sort.Slice(s.lat, func(i, j int) bool { return s.lat[i] < s.lat[j] })
	r := opResult{Op: op, Count: s.count, Errors: s.errors, RateLimited: s.limited}
	if elapsed > 0 {
		r.PerSecond = math.Round(float64(s.count)/elapsed.Seconds()*10) / 10
	}
	if len(s.lat) > 0 {
		r.P50, r.P90, r.P99 = ms(percentile(s.lat, 50)), ms(percentile(s.lat, 90)), ms(percentile(s.lat, 99))
		r.Max = ms(s.lat[len(s.lat)-1])
	}
	if len(s.kinds) > 0 {
		r.ErrorKinds = s.kinds
	}
	return r
}

// summarize turns a recorder into report rows in the given order; with
// total, a "total" row over the API requests (not the outbox waits) follows
// when there is more than one kind.
func summarize(rec *recorder, elapsed time.Duration, order []string, total bool) phaseResult {
	pr := phaseResult{ElapsedSeconds: math.Round(elapsed.Seconds()*1000) / 1000, Operations: []opResult{}}
	all := &opStats{kinds: map[string]int{}}
	kinds := 0
	seen := map[string]bool{}
	add := func(op string) {
		s := rec.ops[op]
		if s == nil || seen[op] {
			return
		}
		seen[op] = true
		if !isWait(op) {
			kinds++
			all.count += s.count
			all.errors += s.errors
			all.limited += s.limited
			all.lat = append(all.lat, s.lat...)
		}
		pr.Operations = append(pr.Operations, result(op, s, elapsed))
	}
	for _, op := range order {
		add(op)
	}
	var rest []string
	for op := range rec.ops {
		if !seen[op] {
			rest = append(rest, op)
		}
	}
	sort.Strings(rest)
	for _, op := range rest {
		add(op)
	}
	if total && kinds > 1 {
		pr.Operations = append(pr.Operations, result("total", all, elapsed))
	}
	return pr
}

func (p phaseResult) writeTable(w io.Writer) {
	fmt.Fprintf(w, "  %-18s %8s %7s %6s %9s %9s %9s %9s %9s\n",
		"operation", "count", "errors", "429", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms")
	for _, r := range p.Operations {
		fmt.Fprintf(w, "  %-18s %8d %7d %6d %9.1f %9.2f %9.2f %9.2f %9.2f\n",
			r.Op, r.Count, r.Errors, r.RateLimited, r.PerSecond, r.P50, r.P90, r.P99, r.Max)
	}
	for _, r := range p.Operations {
		if r.Op == "total" || len(r.ErrorKinds) == 0 {
			continue
		}
		keys := make([]string, 0, len(r.ErrorKinds))
		for k := range r.ErrorKinds {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return r.ErrorKinds[keys[i]] > r.ErrorKinds[keys[j]] })
		if len(keys) > 5 {
			keys = keys[:5]
		}
		for _, k := range keys {
			fmt.Fprintf(w, "  ! %s: %d× %s\n", r.Op, r.ErrorKinds[k], k)
		}
	}
}

func (rep *report) writeText(w io.Writer) {
	fmt.Fprintf(w, "watchword-load  scenario=%s  url=%s  users=%d  concurrency=%d  duration=%s",
		rep.Scenario, rep.URL, rep.Users, rep.Concurrency, rep.Duration)
	if rep.Requests > 0 {
		fmt.Fprintf(w, "  requests=%d", rep.Requests)
	}
	fmt.Fprintf(w, "  client cpus=%d\n\n", rep.CPUs)
	if len(rep.Setup.Operations) > 0 {
		fmt.Fprintf(w, "setup: %d users in %.2fs\n", rep.SetupUsers, rep.Setup.ElapsedSeconds)
		rep.Setup.writeTable(w)
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "run: scenario %s, %.2fs\n", rep.Scenario, rep.Run.ElapsedSeconds)
	rep.Run.writeTable(w)
	if rep.Server != nil {
		rep.Server.writeText(w)
	}
	if rep.Machine != nil {
		rep.Machine.writeText(w)
	}
	if b := rep.Bare; b != nil {
		fmt.Fprintf(w, "\nbare reference (%s), %.2fs\n", b.URL, b.Run.ElapsedSeconds)
		b.Run.writeTable(w)
		if b.Server != nil {
			b.Server.writeText(w)
		}
		if c := rep.Compare; c != nil {
			fmt.Fprintf(w, "me / bare: throughput %.1f%%, p99 %.2f×", c.ThroughputRatio*100, c.P99Ratio)
			if c.CPURatio > 0 {
				fmt.Fprintf(w, ", server CPU per request %.2f×", c.CPURatio)
			}
			fmt.Fprintln(w)
		}
		for _, n := range b.Notes {
			fmt.Fprintln(w, "note:", n)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency percentiles cover expected answers only. errors: unexpected answers and")
	fmt.Fprintln(w, "transport failures; 429: rate limited, not counted as errors. *.outbox rows are")
	fmt.Fprintln(w, "waits for the code to appear on /dev/outbox, not single requests.")
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// mainOp is the operation a scenario completes once per iteration.
func mainOp(scenario string) string {
	return map[string]string{
		scenarioMe: "me", scenarioBare: "me", scenarioLogin: "login",
		scenarioCode: "code.verify", scenarioSignup: "signup.complete",
	}[scenario]
}

// sampleProc reads pid's usage, or nothing for pid 0.
func sampleProc(pid int) (procSample, error) {
	if pid <= 0 {
		return procSample{}, nil
	}
	return readProc(pid)
}

// serverUsage reads pid again and sets the usage since before against the
// run phase's counts.
func serverUsage(pid int, before procSample, beforeErr error, run phaseResult, op string) *usage {
	u := &usage{PID: pid}
	after, err := readProc(pid)
	if err = errors.Join(beforeErr, err); err != nil {
		u.Error = err.Error()
		return u
	}
	mb := func(kb int64) float64 { return math.Round(float64(kb)/1024*10) / 10 }
	u.CPUMSStart, u.CPUMSEnd, u.CPUMS = before.cpuMS, after.cpuMS, after.cpuMS-before.cpuMS
	u.RSSStartMB, u.RSSEndMB, u.PeakRSSMB = mb(before.rssKB), mb(after.rssKB), mb(after.peakKB)
	requests, done := 0, 0
	for _, r := range run.Operations {
		if r.Op != "total" && !isWait(r.Op) {
			requests += r.Count
		}
		if r.Op == op {
			done = r.Count - r.Errors - r.RateLimited
		}
	}
	round := func(x float64) float64 { return math.Round(x*1000) / 1000 }
	if requests > 0 {
		u.CPUPerRequest = round(u.CPUMS / float64(requests))
	}
	if done > 0 {
		u.MainOp, u.CPUPerOp = op, round(u.CPUMS/float64(done))
	}
	return u
}

// machine is how the machine's CPUs were spent over the run phase: the
// server's share, this tool's, PostgreSQL's (0 on SQLite, or when it runs
// elsewhere) and the rest (the kernel's own threads, other processes). Per
// op divides each by the completed scenario operations.
type machine struct {
	CPUs        int     `json:"cpus"`
	BusyPercent float64 `json:"busy_percent"` // of all CPUs
	ServerMS    float64 `json:"server_cpu_ms"`
	ToolMS      float64 `json:"tool_cpu_ms"`
	PostgresMS  float64 `json:"postgres_cpu_ms"`
	OtherMS     float64 `json:"other_cpu_ms"`
	MainOp      string  `json:"op,omitempty"`
	PerOp       struct {
		Server   float64 `json:"server"`
		Tool     float64 `json:"tool"`
		Postgres float64 `json:"postgres"`
		Other    float64 `json:"other"`
	} `json:"cpu_ms_per_op"`
	Error string `json:"error,omitempty"`
}

// machineUsage reads the machine again and splits its busy time since
// before; server is the server's usage over the same phase (nil: unknown).
func machineUsage(before machineSample, beforeErr error, server *usage, run phaseResult, op string) *machine {
	m := &machine{CPUs: runtime.NumCPU()}
	after, err := readMachine()
	if err = errors.Join(beforeErr, err); err != nil {
		m.Error = err.Error()
		return m
	}
	round := func(x float64) float64 { return math.Round(x*1000) / 1000 }
	busy := after.busyMS - before.busyMS
	if total := after.totalMS - before.totalMS; total > 0 {
		m.BusyPercent = math.Round(busy/total*1000) / 10
	}
	if server != nil && server.Error == "" {
		m.ServerMS = server.CPUMS
	}
	m.ToolMS = after.toolMS - before.toolMS
	m.PostgresMS = after.postgresMS - before.postgresMS
	m.OtherMS = max(0, busy-m.ServerMS-m.ToolMS-m.PostgresMS)
	done := 0
	for _, r := range run.Operations {
		if r.Op == op {
			done = r.Count - r.Errors - r.RateLimited
		}
	}
	if done > 0 {
		n := float64(done)
		m.MainOp = op
		m.PerOp.Server, m.PerOp.Tool = round(m.ServerMS/n), round(m.ToolMS/n)
		m.PerOp.Postgres, m.PerOp.Other = round(m.PostgresMS/n), round(m.OtherMS/n)
	}
	return m
}

func (m *machine) writeText(w io.Writer) {
	if m.Error != "" {
		fmt.Fprintf(w, "machine: not read: %s\n", m.Error)
		return
	}
	fmt.Fprintf(w, "machine: %d CPUs %.0f%% busy over the run: server %.0f ms, load tool %.0f ms, postgres %.0f ms, other %.0f ms",
		m.CPUs, m.BusyPercent, m.ServerMS, m.ToolMS, m.PostgresMS, m.OtherMS)
	if m.MainOp != "" {
		fmt.Fprintf(w, "; per %s: %.3f + %.3f + %.3f + %.3f ms", m.MainOp, m.PerOp.Server, m.PerOp.Tool, m.PerOp.Postgres, m.PerOp.Other)
	}
	fmt.Fprintln(w)
}

// compareBare sets the ratios of the scenario to the bare reference.
func (rep *report) compareBare() {
	rate := func(p phaseResult) (float64, float64) {
		for _, r := range p.Operations {
			if r.Op == "me" {
				return r.PerSecond, r.P99
			}
		}
		return 0, 0
	}
	sr, sp := rate(rep.Run)
	br, bp := rate(rep.Bare.Run)
	if br == 0 || bp == 0 {
		return
	}
	c := &compare{ThroughputRatio: math.Round(sr/br*1000) / 1000, P99Ratio: math.Round(sp/bp*100) / 100}
	if rep.Server != nil && rep.Bare.Server != nil && rep.Bare.Server.CPUPerRequest > 0 {
		c.CPURatio = math.Round(rep.Server.CPUPerRequest/rep.Bare.Server.CPUPerRequest*100) / 100
	}
	rep.Compare = c
}

func (u *usage) writeText(w io.Writer) {
	if u.Error != "" {
		fmt.Fprintf(w, "server (pid %d): not read: %s\n", u.PID, u.Error)
		return
	}
	fmt.Fprintf(w, "server (pid %d): CPU %.0f ms over the run, %.3f ms per request", u.PID, u.CPUMS, u.CPUPerRequest)
	if u.MainOp != "" {
		fmt.Fprintf(w, ", %.3f ms per %s", u.CPUPerOp, u.MainOp)
	}
	fmt.Fprintf(w, "; RSS %.1f MB at start, %.1f MB at end, peak %.1f MB\n", u.RSSStartMB, u.RSSEndMB, u.PeakRSSMB)
}
