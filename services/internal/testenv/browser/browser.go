// Package browser runs Debian's chromium, headless, for the tests of pages (chromedp).
package browser

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where hack/install-chromium.sh puts chromium.
const Path = "/usr/bin/chromium"

// Require skips the test when chromium is not installed, or fails it when TERA_REQUIRE_BROWSER is
// set (CI, where a missing browser must not pass for a skipped test).
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		if os.Getenv("TERA_REQUIRE_BROWSER") != "" {
			t.Fatalf("chromium missing: run hack/install-chromium.sh")
		}
		t.Skip("chromium not installed (hack/install-chromium.sh)")
	}
}

// New starts a browser for the test (closed with it) and returns its chromedp context, bounded
// by timeout: a bound for a stuck page, not a measure (a loaded machine starts chromium slowly).
func New(t testing.TB, timeout time.Duration, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	Require(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(Path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-background-networking", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), append(opts, flags...)...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return ctx
}
