package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axe-core checks the pages for accessibility problems. It comes from the
// npm registry, never from this repository: .ci/run installs it into a cache
// folder and names its axe.min.js in WATCHWORD_AXE.

// axeInstall is how to install axe-core where the tests look by default;
// .ci/run does the same.
const axeInstall = `npm install --prefix "$HOME/.cache/watchword-axe" --no-audit --no-fund axe-core@4.14.1`

// axePath returns where axe.min.js is: $WATCHWORD_AXE, or the default cache.
func axePath() string {
	if p := os.Getenv("WATCHWORD_AXE"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "watchword-axe", "node_modules", "axe-core", "axe.min.js")
}

var readAxe = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath())
	return string(b), err
})

// axeSource returns the text of axe.min.js. Locally a missing file skips the
// test with how to install it; in CI it fails the test.
func axeSource(t *testing.T) string {
	t.Helper()
	src, err := readAxe()
	if err != nil {
		msg := fmt.Sprintf("axe-core is not installed (%v); install it with\n\t%s\nor set WATCHWORD_AXE to an axe.min.js; "+
			"the browser tests need it", err, axeInstall)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return src
}

// axeViolation is one rule a page breaks, with the elements that break it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []string `json:"target"`
		Summary string   `json:"summary"`
	} `json:"nodes"`
}

// axeRun runs axe on the document and keeps what JSON needs of each
// violation. A target inside a frame or a shadow root is a list of
// selectors, joined here.
const axeRun = `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
  nodes: v.nodes.map(n => ({
    target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : String(t)),
    summary: n.failureSummary || '',
  })),
})))`

// axe runs axe-core on the page at every viewport and fails the test on a
// violation of impact serious or critical, naming the rule, its help and
// the elements; lesser ones are logged. axe is evaluated through the
// DevTools protocol, which the page's Content-Security-Policy (no script at
// all) does not govern.
func (p *page) axe() {
	p.t.Helper()
	for _, v := range viewports {
		p.resize(v)
		p.axeAt(v)
	}
}

// axeAt runs axe-core on the page as it is shown, at viewport v.
func (p *page) axeAt(v viewport) {
	p.t.Helper()
	src := axeSource(p.t)
	if !evalIn[bool](p, "is axe loaded", `typeof axe === 'object'`) {
		p.run("load axe", func(ctx context.Context) error {
			return chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](src))
		})
	}
	for _, viol := range evalIn[[]axeViolation](p, "run axe", axeRun) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s (%s, %s): axe %s [%s]: %s (%s)", p.url, p.lang, v.name, viol.ID, viol.Impact, viol.Help, viol.HelpURL)
		for _, n := range viol.Nodes {
			fmt.Fprintf(&b, "\n\t%s", strings.Join(n.Target, " "))
			if n.Summary != "" {
				fmt.Fprintf(&b, "\n\t\t%s", strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
			}
		}
		if viol.Impact == "serious" || viol.Impact == "critical" {
			p.t.Error(b.String())
		} else {
			p.t.Log(b.String())
		}
	}
}
