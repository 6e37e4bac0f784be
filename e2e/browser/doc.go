// Package browser drives the dashboard in a real browser (Debian's
// headless chromium at /usr/bin/chromium, through chromedp) against a
// whole node served on 127.0.0.1 (internal/testserver). Without chromium
// the test is skipped, saying why, unless SNAPGLYPH_TEST_BROWSER=1 makes
// that a failure. SNAPGLYPH_SCREENSHOTS names the directory its
// screenshots are kept in (default: a temporary directory).
package browser
