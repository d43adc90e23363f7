// Package deploy holds the files a deployment installs (the systemd unit,
// an example settings file) and the tests that check them; there is no Go
// code to import.
package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// systemdAnalyze returns the path of systemd-analyze. Locally a machine
// without it skips the test; in CI (CI=true) it fails, as .ci/run
// installs it.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		msg := "systemd-analyze is not installed (Debian/Ubuntu: apt-get install systemd); the unit file is not checked"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// watchword builds the server once, without the race detector: the unit
// runs it, and its -h lists the flags.
var watchword = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "watchword-deploy-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "watchword")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/watchword").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build watchword: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := watchword(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// unitForTest copies watchword.service into a temporary folder with
// ExecStart pointing at a freshly built watchword, since systemd-analyze
// checks that the command exists.
func unitForTest(t *testing.T) string {
	t.Helper()
	bin, err := watchword()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("watchword.service")
	if err != nil {
		t.Fatal(err)
	}
	const start = "ExecStart=/usr/local/bin/watchword serve"
	if !strings.Contains(string(unit), "\n"+start+"\n") {
		t.Fatalf("watchword.service has no line %q", start)
	}
	path := filepath.Join(t.TempDir(), "watchword.service")
	if err := os.WriteFile(path, []byte(strings.Replace(string(unit), start, "ExecStart="+bin+" serve", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUnitVerifies runs systemd-analyze verify on the unit: it must exit
// zero and say nothing (an unknown or misspelt directive is only a warning,
// and would silently drop a protection).
func TestUnitVerifies(t *testing.T) {
	analyze := systemdAnalyze(t)
	unit := unitForTest(t)
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Offline security review: the exposure stays "OK" (at most 2.0 of 10).
	out, err = exec.Command(analyze, "security", "--offline=true", "--threshold=20", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 2.0 (or the check failed): %v\n%s", err, out)
	}
}

// TestUnitHardening checks that the protections docs/deploy.md promises
// are in the unit, so that an edit cannot drop one unnoticed.
func TestUnitHardening(t *testing.T) {
	f, err := os.Open("watchword.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if key, val, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[key] = append(set[key], val)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"DynamicUser":           "yes",
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"StateDirectory":        "watchword",
		"EnvironmentFile":       "/etc/watchword/watchword.env",
		"LoadCredential":        "secret.key:/etc/watchword/secret.key",
		"CapabilityBoundingSet": "",
		"KillSignal":            "SIGTERM",
	}
	for key, val := range want {
		if !slices.Contains(set[key], val) {
			t.Errorf("%s=%s missing (have %q)", key, val, set[key])
		}
	}
	for _, env := range []string{"WATCHWORD_SECRET_KEY_FILE=%d/secret.key", "WATCHWORD_DATA_DIR=/var/lib/watchword"} {
		if !slices.Contains(set["Environment"], env) {
			t.Errorf("Environment=%s missing", env)
		}
	}
	// The example settings name only flags the server knows.
	bin, err := watchword()
	if err != nil {
		t.Fatal(err)
	}
	help, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	flags := map[string]bool{}
	for line := range strings.Lines(string(help)) {
		if name, ok := strings.CutPrefix(line, "  -"); ok {
			flags[strings.Fields(name)[0]] = true
		}
	}
	if !flags["addr"] {
		t.Fatalf("watchword serve -h lists no -addr:\n%s", help)
	}
	env, err := os.ReadFile("watchword.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(env)) {
		name, _, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		flag, ok := strings.CutPrefix(name, "WATCHWORD_")
		if flag = strings.ReplaceAll(strings.ToLower(flag), "_", "-"); !ok || !flags[flag] {
			t.Errorf("watchword.env.example: %s is not a flag of watchword serve", name)
		}
	}
}
