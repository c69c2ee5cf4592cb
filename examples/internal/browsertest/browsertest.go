// Package browsertest drives the system's headless Chromium with chromedp
// for the examples' end-to-end tests: one browser per test, a fresh
// user-data directory, independent browser contexts for independent users,
// DOM waits with generous timeouts, and PNG screenshots under a test output
// folder that is not committed.
//
// Without Chromium the tests skip loudly, or fail when HUBBUB_REQUIRE_ALL
// is set (see internal/testenv).
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hubbubhq/hubbub/internal/testenv"
)

// Timeout bounds every wait for a DOM condition. It is generous on
// purpose: the tests run on a noisy 2-core machine, and a wait returns as
// soon as its condition holds.
const Timeout = 20 * time.Second

// OutputVar names the environment variable that chooses the screenshot
// folder; by default it is testdata/output/examples at the module root,
// which .gitignore ignores.
const OutputVar = "HUBBUB_TEST_OUTPUT"

// Browser is one headless Chromium for one test.
type Browser struct {
	t   *testing.T
	ctx context.Context // the browser's first tab; parent of every user
}

// New starts Chromium with a fresh user-data directory and stops it when
// the test ends.
func New(t *testing.T) *Browser {
	t.Helper()
	path := testenv.LookPath(t, "chromium", "chromium-browser")
	dir := t.TempDir() // removed after the browser has stopped (cleanups run last-in first-out)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if path, err := OutputPath(t, "FAILED.png"); err == nil {
		os.Remove(path) // from an earlier run
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return &Browser{t: t, ctx: ctx}
}

// User opens a tab in a new browser context: a user with cookies and
// storage of its own, independent of every other User (like a separate
// browser profile). Closing the returned Tab closes the context too.
func (b *Browser) User(width, height int64) *Tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	return newTab(b.t, ctx, cancel, width, height)
}

// Tab is one browser tab.
type Tab struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	closed bool
}

func newTab(t *testing.T, ctx context.Context, cancel context.CancelFunc, width, height int64) *Tab {
	t.Helper()
	tab := &Tab{t: t, ctx: ctx, cancel: cancel}
	t.Cleanup(tab.Close)
	opts := []chromedp.EmulateViewportOption{}
	if width < 600 {
		opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// NewTab opens another tab in the same browser context (same user, same
// storage), like a second tab of one person.
func (tab *Tab) NewTab(width, height int64) *Tab {
	tab.t.Helper()
	ctx, cancel := chromedp.NewContext(tab.ctx)
	return newTab(tab.t, ctx, cancel, width, height)
}

// Close closes the tab (and, for the first tab of a User, its browser
// context). The page's connections end as when a person closes a tab.
func (tab *Tab) Close() {
	if tab.closed {
		return
	}
	tab.closed = true
	tab.cancel()
}

// Do runs actions in the tab and fails the test on error.
func (tab *Tab) Do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.fail("%s: %v", what, err)
	}
}

// Navigate loads url and waits until sel is visible.
func (tab *Tab) Navigate(url, sel string) {
	tab.t.Helper()
	tab.Do("load "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitFor waits until the JavaScript expression is truthy in the page;
// what says, for the failure message, what was expected.
func (tab *Tab) WaitFor(what, expr string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, Timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(Timeout)))
	if err != nil {
		tab.fail("waiting for %s (%s): %v", what, expr, err)
	}
}

// Try reports whether the expression becomes truthy within d, without
// failing: for conditions a test re-triggers until they show.
func (tab *Tab) Try(expr string, d time.Duration) bool {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, d+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(d)))
	return err == nil
}

// Eval evaluates a JavaScript expression and decodes its result.
func Eval[T any](tab *Tab, expr string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tab.fail("evaluating %s: %v", expr, err)
	}
	return v
}

// Text returns the text of the first element that matches sel, waiting
// for it to be there.
func (tab *Tab) Text(sel string) string {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, Timeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		tab.fail("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// Screenshot saves a full-page PNG as <output>/<test name>-<label>.png and
// logs its path.
func (tab *Tab) Screenshot(label string) string {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, Timeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Errorf("screenshot %s: %v", label, err)
		return ""
	}
	path, err := OutputPath(tab.t, label+".png")
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		tab.t.Errorf("saving screenshot %s: %v", label, err)
		return ""
	}
	tab.t.Logf("screenshot: %s", path)
	return path
}

// fail saves a screenshot of the tab as it is, for the reviewer, and
// fails the test.
func (tab *Tab) fail(format string, args ...any) {
	tab.t.Helper()
	if tab.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(tab.ctx, 5*time.Second)
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			if path, err := OutputPath(tab.t, "FAILED.png"); err == nil && os.WriteFile(path, png, 0o644) == nil {
				tab.t.Logf("screenshot at failure: %s", path)
			}
		}
		cancel()
	}
	tab.t.Fatalf(format, args...)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// OutputPath returns the path of a file for the current test in the output
// folder, creating the folder.
func OutputPath(t testing.TB, name string) (string, error) {
	dir := os.Getenv(OutputVar)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "testdata", "output", "examples")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, unsafeChars.ReplaceAllString(t.Name(), "_")+"-"+name), nil
}

// moduleRoot finds the directory of go.mod above the working directory
// (go test runs in the package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// JS quotes a Go string as a JavaScript string literal.
func JS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
