package main

import (
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestWebhookCreateNamesInsecureFlag: webhook create refusing an http://
// or loopback endpoint names what permits one for local development
// (the flag and its variable, on this command and on serve, which
// delivers); a refusal the flag would not lift (a private address, an
// unknown event) does not suggest it.
func TestWebhookCreateNamesInsecureFlag(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		org := decode(t, first(cli(t, db.DSN, 0, "org", "create", "--name", "Max", "--owner-email", "m@max.test", "--plan", "max", "--json")))["id"].(string)
		const flag, variable = "--webhook-allow-insecure-local", "SNAPGLYPH_WEBHOOK_ALLOW_INSECURE_LOCAL=true"
		for _, c := range []struct {
			url, events string
			want        string // the refusal, as before
			hint        bool
		}{
			{"http://127.0.0.1:9/hooks", "qr.created", "must use https://", true},
			{"http://example.com/hooks", "qr.created", "must use https://", true},
			{"https://127.0.0.1/x", "qr.created", "loopback address", true},
			{"https://[::1]:8443/x", "qr.created", "loopback address", true},
			{"https://localhost:8443/x", "qr.created", "loopback address", true},
			{"https://10.0.0.1/x", "qr.created", "private address", false},
			{"http://10.0.0.1/x", "qr.created", "must use https://", false},
			{"http://127.0.0.1:9/hooks", "qr.scanned", `"qr.scanned" is not a webhook event`, false},
		} {
			_, stderr := cli(t, db.DSN, 1, "webhook", "create", "--org", org, "--url", c.url, "--events", c.events)
			if !strings.Contains(stderr, c.want) {
				t.Errorf("%s %s: stderr %q, want %q", c.url, c.events, stderr, c.want)
			}
			named := strings.Contains(stderr, flag) && strings.Contains(stderr, variable) && strings.Contains(stderr, "serve")
			if named != c.hint {
				t.Errorf("%s %s: stderr %q; names the flag, its variable and serve: %v, want %v", c.url, c.events, stderr, named, c.hint)
			}
		}
		// The flag lifts what the hint says it does.
		cli(t, db.DSN, 0, "webhook", "create", "--org", org, "--url", "http://127.0.0.1:9/hooks", "--events", "qr.created", flag)
	})
}
