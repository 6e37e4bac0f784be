package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSecretScanLeakText: a signed report whose url and source hold
// control characters (BEL, NUL), a right-to-left override, bytes that are
// not UTF-8, a 3,000-character URL or a URL that is not http(s) still
// pauses the key, and what is kept and sent on is clean: the pause reason
// follows a person's pause-reason rules (one line of visible text, at most
// 200 characters), and the api_key.leaked event (the webhook's data) holds
// an http(s) URL or none, and a bounded source, without such characters.
func TestSecretScanLeakText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		gh := newSigner(t, "gh-current")
		h := newHarness(t, db, node.Config{SecretScanKeys: scanKeysFile(t, gh)})
		ctx := context.Background()
		long := "https://gist.github.com/x/" + strings.Repeat("A", 3000)
		mid := "https://github.com/octocat/hello/blob/5e1f/" + strings.Repeat("d/", 100) + ".env" // kept, cut in the reason
		for _, c := range []struct {
			name, url, source string
			wantURL           string // "" when the url is dropped; "*" when only checked
		}{
			{"RLO", "https://gist.github.com/x/\u202eevil<script>\"' onmouseover=1", "gist\u202e<b>", "*"},
			{"BEL", "https://github.com/a/b\a", "gist\a<b>", "https://github.com/a/b"},
			{"NUL", "https://github.com/a/\x00b", "con\x00tent", "https://github.com/a/b"},
			{"invalid UTF-8", "https://github.com/a/\xff\xfeb", "content\xff", "*"},
			{"line break", "https://github.com/a/b\nInjected: line", "content\r\nX", "*"},
			{"3,000 characters", long, strings.Repeat("s", 3000), ""},
			{"javascript", "javascript:alert(1)//https://github.com/", "content", ""},
			{"no scheme", "github.com/a/b", "content", ""},
			{"long but kept", mid, "commit", mid},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, key, kid := h.newOrgKey("pro")
				body := report(t, leakItem{key, "snapglyph_api_key", c.url, c.source})
				resp, b := postReport(t, h.srv.URL, body, gh.id, gh.sign(t, body))
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "true_positive") {
					t.Fatalf("%d %s", resp.StatusCode, b)
				}
				k, err := h.db.Key(ctx, kid)
				if err != nil {
					t.Fatal(err)
				}
				if k.Status != snapglyph.KeyPaused {
					t.Fatalf("the key is %s, want paused", k.Status)
				}
				if clean, err := snapglyph.NormalizeReason(k.PausedReason); err != nil || clean != k.PausedReason {
					t.Errorf("the stored reason %q breaks a pause reason's rules: %v", k.PausedReason, err)
				}
				if n := utf8.RuneCountInString(k.PausedReason); n > snapglyph.MaxPauseReasonLen || !strings.HasPrefix(k.PausedReason, "found in public") {
					t.Errorf("the stored reason has %d characters: %q", n, k.PausedReason)
				}
				evs, err := h.db.Events(ctx, k.OrgID, snapglyph.EventKeyLeaked, 1)
				if err != nil || len(evs) != 1 {
					t.Fatalf("%d leak events: %v", len(evs), err)
				}
				ev := evs[0]
				url, source := ev.Str("url"), ev.Str("source")
				switch {
				case c.wantURL == "*":
					if !strings.HasPrefix(url, "https://") {
						t.Errorf("the event's url %q", url)
					}
				case url != c.wantURL:
					t.Errorf("the event's url %q, want %q", url, c.wantURL)
				}
				if c.wantURL == "" && k.PausedReason != "found in public" {
					t.Errorf("the reason without a url: %q", k.PausedReason)
				}
				if c.wantURL == mid && (!strings.HasSuffix(k.PausedReason, "…") || !strings.HasPrefix(k.PausedReason, "found in public at https://github.com/octocat/")) {
					t.Errorf("the reason with a long url: %q", k.PausedReason)
				}
				if len(url) > 1000 || len(source) > 100 || source == "" {
					t.Errorf("the event's url (%d bytes) or source (%q) is not bounded", len(url), source)
				}
				data, _ := json.Marshal(ev.Data)
				for _, s := range []string{url, source, ev.Str("reason"), string(data)} {
					if !utf8.ValidString(s) || snapglyph.HiddenText(s) != "" {
						t.Errorf("the event holds hidden or invalid text: %q", s)
					}
				}
				for _, bad := range []string{`\u0007`, `\u0000`, `\u202e`, "\u202e", `\n`, `\r`, "javascript:"} {
					if strings.Contains(string(data), bad) {
						t.Errorf("the webhook data holds %q: %s", bad, data)
					}
				}
				audit, _ := h.db.AuditEvents(ctx, k.OrgID, 0, 1)
				if len(audit) != 1 || audit[0].Action != "key.leaked" || snapglyph.HiddenText(audit[0].Detail) != "" || !utf8.ValidString(audit[0].Detail) {
					t.Errorf("audit %+v", audit)
				}
			})
		}
	})
}
