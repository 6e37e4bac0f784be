// Package e2e is the root of a module of its own: the tests and benchmarks
// that need dependencies the product does not, so that the product's
// go.mod lists only what the snapglyph binary needs (as goose keeps its
// Docker-backed tests in a separate module).
//
//   - browser: the dashboard driven in headless Chromium (chromedp).
//   - qrbench: the image benchmark's baseline, github.com/skip2/go-qrcode.
//
// Its packages import the product's internal packages (Go's internal rule
// is by import path, and this module's path is under the product's), and
// go.mod replaces the product with the working tree above, so they always
// test the code beside them. Run them from this directory:
//
//	go test -race ./...
//
// The variables that turn on the optional suites (SNAPGLYPH_TEST_BROWSER,
// SNAPGLYPH_TEST_POSTGRES...) are the product's; see its README.
package e2e
