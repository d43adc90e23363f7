package main

import (
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
	runOrder   = []string{"me", "login", "login.fail", "code.request", "code.outbox", "code.verify"}
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
	Setup       phaseResult `json:"setup"`
	Run         phaseResult `json:"run"`
	Notes       []string    `json:"notes,omitempty"`
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
	fmt.Fprintf(w, "setup: %d users in %.2fs\n", rep.Users, rep.Setup.ElapsedSeconds)
	rep.Setup.writeTable(w)
	fmt.Fprintf(w, "\nrun: scenario %s, %.2fs\n", rep.Scenario, rep.Run.ElapsedSeconds)
	rep.Run.writeTable(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Latency percentiles cover expected answers only. errors: unexpected answers and")
	fmt.Fprintln(w, "transport failures; 429: rate limited, not counted as errors. *.outbox rows are")
	fmt.Fprintln(w, "waits for the code to appear on /dev/outbox, not single requests.")
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}
