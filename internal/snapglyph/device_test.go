package snapglyph_test

import (
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestDeviceSummary names the browser and system of the user agents
// browsers and tools send; what it does not know it says so of, and it
// never repeats a piece of the agent.
func TestDeviceSummary(t *testing.T) {
	for _, c := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "Chrome on iOS"},
		{"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "Safari on iPadOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "Samsung Internet on Android"},
		{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on ChromeOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", "Opera on Windows"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"},
		{"curl/8.5.0", "curl"},
		{"Go-http-client/1.1", "Go HTTP client"},
		{"Mozilla/5.0 (test browser)", "Unknown browser"},
		{"Mozilla/5.0 (Windows NT 10.0) SomethingNew/1.0", "Unknown browser on Windows"},
		{"", "Unknown browser"},
		{"<script>alert(1)</script>", "Unknown browser"},
		{"a\x00b\xff\xfe", "Unknown browser"},
		{strings.Repeat("x", 10<<10), "Unknown browser"},
	} {
		if got := snapglyph.DeviceSummary(c.ua); got != c.want {
			t.Errorf("%.60q: %q, want %q", c.ua, got, c.want)
		}
	}
}

// TestSessionRef: a session's reference is fixed for its id, differs
// between ids, and holds neither the id nor a piece of it.
func TestSessionRef(t *testing.T) {
	a, b := strings.Repeat("0a", 32), strings.Repeat("0b", 32)
	ra, rb := snapglyph.SessionRef(a), snapglyph.SessionRef(b)
	if ra != snapglyph.SessionRef(a) || ra == rb || len(ra) != 32 {
		t.Fatalf("refs %q %q", ra, rb)
	}
	if strings.Contains(a, ra[:8]) || strings.Contains(ra, a[:8]) {
		t.Errorf("the reference %q shows the id %q", ra, a)
	}
}
