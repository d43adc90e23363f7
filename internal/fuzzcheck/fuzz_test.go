package fuzzcheck

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// targets is every fuzz target of the repository, by package directory.
// TestTargetsListed fails when a func Fuzz… is added without a line here.
var targets = []struct{ pkg, name string }{
	{"./internal/identifier", "FuzzParse"},
	{"./internal/api", "FuzzDecode"},
	{"./internal/api", "FuzzMultipartForm"},
	{"./internal/api", "FuzzRoutes"},
	{"./internal/totp", "FuzzVerify"},
	{"./internal/totp", "FuzzURI"},
	{"./internal/evidence", "FuzzSniff"},
	{"./internal/evidence", "FuzzIngest"},
	{"./internal/evidence", "FuzzOpen"},
	{"./internal/middleware", "FuzzClientIP"},
	{"./internal/account", "FuzzStoredHeaders"},
	{"./internal/password", "FuzzVerify"},
	{"./internal/password", "FuzzParseParams"},
}

// defaultFuzzTime keeps the whole run (13 targets, plus building each
// package with coverage instrumentation) to about three minutes in CI.
const defaultFuzzTime = "8s"

// repoRoot is the module root, two levels up from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	return root
}

// TestTargetsListed parses every _test.go file of the repository and
// checks that its fuzz targets and the table above are the same set.
func TestTargetsListed(t *testing.T) {
	root := repoRoot(t)
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if ok && fn.Recv == nil && isFuzzTarget(fn) {
				found = append(found, "./"+filepath.ToSlash(rel)+" "+fn.Name.Name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, tg := range targets {
		listed = append(listed, tg.pkg+" "+tg.name)
	}
	slices.Sort(found)
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Fatalf("fuzz targets in the code:\n  %s\nlisted in fuzzcheck's targets:\n  %s",
			strings.Join(found, "\n  "), strings.Join(listed, "\n  "))
	}
}

// isFuzzTarget reports whether fn is func FuzzXxx(f *testing.F), the form
// go test runs; the letter after "Fuzz" must not be lower case.
func isFuzzTarget(fn *ast.FuncDecl) bool {
	name := fn.Name.Name
	if !strings.HasPrefix(name, "Fuzz") || len(name) > 4 && name[4] >= 'a' && name[4] <= 'z' {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "F"
}

// coordinatorRace reports whether a failed fuzz run is only Go's known
// race at the end of -fuzztime (golang/go#75804, fixed in Go 1.27): on a
// busy machine a worker still in flight when the time is up makes the
// coordinator report a bare "context deadline exceeded". A real finding
// always says "Failing input written to" (or panics, or fails a check), so
// a run that says none of that found nothing.
func coordinatorRace(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "context deadline exceeded") &&
		!strings.Contains(s, "Failing input written to") && !strings.Contains(s, "panic:") &&
		!strings.Contains(s, "_test.go:")
}

// lastProgress matches the fuzzer's status lines, the last of which says
// how many inputs ran.
var lastProgress = regexp.MustCompile(`(?m)^fuzz: elapsed: .*$`)

// TestFuzz runs every target for a short while (8 s; WATCHWORD_FUZZTIME
// changes it) when CI=true or WATCHWORD_FUZZ=1, and fails with the
// fuzzer's output when one fails. A failing input is saved by go test
// under the package's testdata/fuzz/, where a plain go test replays it.
func TestFuzz(t *testing.T) {
	if os.Getenv("WATCHWORD_FUZZ") == "0" || os.Getenv("CI") != "true" && os.Getenv("WATCHWORD_FUZZ") != "1" {
		t.Skip("fuzzing runs in CI (CI=true) or with WATCHWORD_FUZZ=1")
	}
	fuzzTime := defaultFuzzTime
	if v := os.Getenv("WATCHWORD_FUZZTIME"); v != "" {
		fuzzTime = v
	}
	goBin, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	for _, tg := range targets {
		t.Run(strings.TrimPrefix(tg.pkg, "./internal/")+"/"+tg.name, func(t *testing.T) {
			// Generous: building a package with coverage instrumentation
			// (modernc's SQLite above all) takes longer than the fuzzing
			// itself on a cold cache. Stop before go test's own -timeout
			// would kill the whole binary without saying why.
			limit := 10 * time.Minute
			if d, ok := t.Deadline(); ok {
				limit = min(limit, time.Until(d)-30*time.Second)
			}
			ctx, cancel := context.WithTimeout(t.Context(), limit)
			defer cancel()
			start := time.Now()
			var out []byte
			for attempt := 1; ; attempt++ {
				cmd := exec.CommandContext(ctx, goBin, "test", "-run", "^$",
					"-fuzz", "^"+tg.name+"$", "-fuzztime", fuzzTime,
					// New coverage is minimized within the fuzz time; a crash
					// is saved whether or not minimizing finishes.
					"-fuzzminimizetime", "3s", tg.pkg)
				cmd.Dir = root
				var err error
				out, err = cmd.CombinedOutput()
				if ctx.Err() != nil {
					t.Fatalf("go test -fuzz %s %s: still building or fuzzing after %s; the machine is too busy "+
						"(go test -timeout longer, or WATCHWORD_FUZZTIME shorter)\n%s", tg.name, tg.pkg, limit.Round(time.Second), out)
				}
				if err == nil {
					break
				}
				if !coordinatorRace(out) {
					t.Fatalf("go test -fuzz %s %s: %v\n%s", tg.name, tg.pkg, err, out)
				}
				if attempt == 2 {
					t.Logf("go test -fuzz %s %s ended twice with Go's fuzz-time race (golang/go#75804), "+
						"no failing input found or written:\n%s", tg.name, tg.pkg, out)
					break
				}
				t.Logf("go test -fuzz %s %s: Go's fuzz-time race (golang/go#75804), no failing input; once more", tg.name, tg.pkg)
			}
			progress := lastProgress.FindAll(out, -1)
			last := "no progress line"
			if len(progress) > 0 {
				last = string(progress[len(progress)-1])
			}
			t.Logf("%s (%s with the build)", last, time.Since(start).Round(time.Second))
		})
	}
}

// TestCoordinatorRace: only a bare "context deadline exceeded" is Go's
// race; any sign of a finding is not.
func TestCoordinatorRace(t *testing.T) {
	for _, tc := range []struct {
		out  string
		race bool
	}{
		{"fuzz: elapsed: 9s, execs: 6107 (0/sec)\n--- FAIL: FuzzOpen (9.06s)\n    context deadline exceeded\nFAIL\n", true},
		{"--- FAIL: FuzzOpen (3.1s)\n    --- FAIL: FuzzOpen (0.00s)\n        open_test.go:40: got 3, want 2\n    Failing input written to testdata/fuzz/FuzzOpen/abc\n", false},
		{"--- FAIL: FuzzOpen (9.06s)\n    context deadline exceeded\n    Failing input written to testdata/fuzz/FuzzOpen/abc\n", false},
		{"panic: runtime error: index out of range\n--- FAIL: FuzzOpen\n    context deadline exceeded\n", false},
		{"--- FAIL: FuzzOpen (1.0s)\n    open_test.go:12: setup failed\n", false},
	} {
		if got := coordinatorRace([]byte(tc.out)); got != tc.race {
			t.Errorf("coordinatorRace(%q) = %v, want %v", tc.out, got, tc.race)
		}
	}
}
