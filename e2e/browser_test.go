package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/watchword/watchword/internal/i18n"
)

// The browser tests drive Debian's chromium (package chromium, installed by
// .ci/run) headless through the DevTools protocol. Each test starts its own
// browser and opens each page in a tab of it; every page is shown in both
// languages, photographed at a phone's and a desktop's size and checked with
// axe-core (axe_test.go).

// browserTimeout bounds one step in the browser (a load, a screenshot, an
// axe run), generous for a shared CI machine running the race detector.
const browserTimeout = 60 * time.Second

// viewport is a screen size a page is looked at with.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

// viewports are a phone (an iPhone 12 to 15 in CSS pixels) and a laptop.
var viewports = []viewport{
	{name: "phone", width: 390, height: 844, mobile: true},
	{name: "desktop", width: 1280, height: 800},
}

// chromium returns the browser to drive: $CHROMIUM, or Debian's
// /usr/bin/chromium. Locally a missing browser skips the test with a clear
// message; in CI (CI=true) it fails it, as totpTool does for oathtool.
func chromium(t *testing.T) string {
	t.Helper()
	name := os.Getenv("CHROMIUM")
	if name == "" {
		name = "/usr/bin/chromium"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("chromium is not installed at %s (Debian/Ubuntu: apt-get install chromium, or set CHROMIUM "+
			"to a Chromium or Chrome binary); the browser tests need it", name)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// browser is one headless Chromium for one test.
type browser struct {
	t     *testing.T
	ctx   context.Context // the first tab, which keeps the browser running
	out   *syncBuffer     // what Chromium wrote, shown when the test fails
	shots string          // screenshots go here (and to $WATCHWORD_SCREENSHOTS)
}

// newBrowser starts Chromium for t and stops it when t ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromium(t)
	b := &browser{t: t, out: &syncBuffer{}, shots: t.TempDir()}
	// chromedp gives every browser a fresh --user-data-dir of its own and
	// removes it afterwards. Root needs --no-sandbox; the flags that stop
	// background networking keep Chromium from calling out, which a closed
	// network answers by refusing the connections.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), // screenshots the same on every machine
		chromedp.CombinedOutput(b.out),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			t.Logf("chromium output:\n%s", b.out.String())
		}
	})
	b.ctx = ctx
	if err := attach(ctx, cancel); err != nil {
		t.Fatalf("start %s: %v\n%s", path, err, b.out.String())
	}
	return b
}

// attach makes the first run on a chromedp context, which starts its
// browser or attaches to its tab. That run ties the browser's or the tab's
// life to the context it is given, so it must be ctx itself, never a
// context with a timeout: a watchdog cancels ctx instead if it takes too
// long.
func attach(ctx context.Context, cancel context.CancelFunc) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-done:
		case <-time.After(browserTimeout):
			cancel()
		}
	}()
	return chromedp.Do(ctx)
}

// page is one tab of the browser, showing one address in one language.
type page struct {
	t      *testing.T
	b      *browser
	ctx    context.Context
	url    string
	lang   i18n.Lang
	Status int // HTTP status of the page's document
}

// visit opens url in a new tab, with Accept-Language asking for lang, and
// waits until it has loaded (style sheets and fonts included). The tab
// closes when the test ends.
func (b *browser) visit(url string, lang i18n.Lang) *page {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := attach(ctx, cancel); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	p := &page{t: b.t, b: b, ctx: ctx, url: url, lang: lang}
	p.run("set Accept-Language", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Accept-Language": string(lang)},
		})
		return err
	})
	p.run("open "+url, func(ctx context.Context) error {
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
		if err == nil && resp == nil {
			err = errors.New("no response")
		}
		if err != nil {
			return err
		}
		p.Status = int(resp.Status)
		return nil
	})
	p.settle()
	return p
}

// run does one step in the tab within browserTimeout, failing the test
// with what on an error.
func (p *page) run(what string, step func(ctx context.Context) error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, browserTimeout)
	defer cancel()
	if err := step(ctx); err != nil {
		p.t.Fatalf("%s (%s): %v", p.url, what, err)
	}
}

// settle waits until the fonts are loaded and a frame is drawn, so that a
// screenshot or a contrast check sees the page as a person would.
func (p *page) settle() {
	p.t.Helper()
	evalIn[bool](p, "settle", `document.fonts.ready.then(() => new Promise(ok => requestAnimationFrame(() => ok(true))))`)
}

// evalIn evaluates a JavaScript expression in p, awaiting it if it is a
// promise, and decodes its value into T.
func evalIn[T any](p *page, what, expr string) T {
	p.t.Helper()
	var v T
	p.run(what, func(ctx context.Context) error {
		var err error
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
		return err
	})
	return v
}

// count returns how many elements match the CSS selector.
func (p *page) count(selector string) int {
	p.t.Helper()
	return evalIn[int](p, "count "+selector, fmt.Sprintf("document.querySelectorAll(%q).length", selector))
}

// text returns the visible text of the first element matching the CSS
// selector, or "" if none does.
func (p *page) text(selector string) string {
	p.t.Helper()
	return evalIn[string](p, "text of "+selector,
		fmt.Sprintf("(document.querySelector(%q) || {innerText: ''}).innerText.trim()", selector))
}

// docLang returns the lang attribute of the page's html element.
func (p *page) docLang() string {
	p.t.Helper()
	return evalIn[string](p, "html lang", "document.documentElement.lang")
}

// resize shows the page at v's size.
func (p *page) resize(v viewport) {
	p.t.Helper()
	p.run("resize to "+v.name, func(ctx context.Context) error {
		opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
		if v.mobile {
			opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch}
		}
		return chromedp.Do(ctx, chromedp.EmulateViewport(v.width, v.height, opts...))
	})
	p.settle()
}

// screenshot saves the whole page as PNG at every viewport, as
// NAME.LANG.SIZE.png in the test's temporary folder, and also in
// $WATCHWORD_SCREENSHOTS when that is set, for a person to look at.
func (p *page) screenshot(name string) {
	p.t.Helper()
	for _, v := range viewports {
		p.resize(v)
		p.shotAt(name, v)
	}
}

// shotAt saves the page as shown, at viewport v (see screenshot).
func (p *page) shotAt(name string, v viewport) {
	p.t.Helper()
	var png []byte
	p.run("screenshot at "+v.name, func(ctx context.Context) error {
		var err error
		png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
		return err
	})
	file := fmt.Sprintf("%s.%s.%s.png", name, p.lang, v.name)
	if err := os.WriteFile(filepath.Join(p.b.shots, file), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	if dir := os.Getenv("WATCHWORD_SCREENSHOTS"); dir != "" {
		dir = filepath.Join(dir, strings.ReplaceAll(p.t.Name(), "/", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("screenshot %s", filepath.Join(dir, file))
	}
}

// TestBrowserCancelPage opens the link of an unbind notice in a browser: the
// page shows its button, passes axe in both languages and at both sizes,
// and is photographed.
func TestBrowserCancelPage(t *testing.T) {
	axeSource(t)
	b := newBrowser(t)
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db")})
	for _, lang := range i18n.Langs {
		p := b.visit(s.Base+"/unbind/cancel/some-token", lang)
		if p.Status != 200 {
			t.Fatalf("%s: status %d, want 200", lang, p.Status)
		}
		const button = `form[method="post"][action="/unbind/cancel/some-token"] button[type="submit"]`
		if n := p.count(button); n != 1 {
			t.Errorf("%s: %d cancel buttons, want 1", lang, n)
		}
		if p.text("h1") == "" || p.text(button) == "" {
			t.Errorf("%s: heading %q, button %q: want both", lang, p.text("h1"), p.text(button))
		}
		p.check("cancel")
	}
}

// TestBrowserDevOutbox opens the development outbox after a sign-up sent a
// code there: the message and its code show, the language switch works,
// axe passes in both languages, and the page is photographed.
func TestBrowserDevOutbox(t *testing.T) {
	axeSource(t)
	b := newBrowser(t)
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "watchword.db"), Extra: []string{"--dev"}})
	const addr = "outbox@example.com"
	s.Must(202, "POST", "/registrations", "", map[string]string{"email": addr})
	code := s.EmailCode(addr) // delivered by mail and shown on the page too
	p := b.visit(s.Base+"/dev/outbox", i18n.English)
	if p.Status != 200 {
		t.Fatalf("status %d, want 200", p.Status)
	}
	titles := map[i18n.Lang]string{}
	for i, lang := range i18n.Langs {
		if i > 0 { // the page's own switch
			p.click(`a[hreflang="` + string(lang) + `"]`)
			p.lang = lang
		}
		if n := p.count("article.message"); n != 1 {
			t.Errorf("%s: %d messages shown, want 1", lang, n)
		}
		if got := p.text(".message .code"); got != code {
			t.Errorf("%s: code shown %q, want %q", lang, got, code)
		}
		if got := p.text(".message .to"); got != addr {
			t.Errorf("%s: recipient shown %q, want %q", lang, got, addr)
		}
		titles[lang] = p.text("h1")
		p.check("outbox")
	}
	if titles[i18n.English] == titles[i18n.Chinese] {
		t.Errorf("the outbox reads the same in both languages: %q", titles[i18n.English])
	}
}
