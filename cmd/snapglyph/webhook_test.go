package main

import (
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestWebhookCommands: webhook create prints the secret once, list shows
// the endpoint without it, delete removes it; a Pro organisation, an
// http:// URL without the flag (or its variable), a loopback address, an
// unknown event and an unknown id are refused with a clear message and
// exit status 1.
func TestWebhookCommands(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		pro := decode(t, first(cli(t, db.DSN, 0, "org", "create", "--name", "Pro", "--owner-email", "p@pro.test", "--plan", "pro", "--json")))["id"].(string)
		org := decode(t, first(cli(t, db.DSN, 0, "org", "create", "--name", "Max", "--owner-email", "m@max.test", "--plan", "max", "--json")))["id"].(string)
		url := "http://127.0.0.1:9/hooks"
		local := map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_WEBHOOK_ALLOW_INSECURE_LOCAL": "true"}
		for _, c := range []struct {
			env  map[string]string
			args []string
			want string
		}{
			{local, []string{"webhook", "create", "--org", pro, "--url", url, "--events", "qr.created"}, "webhooks are part of the Max plan"},
			{nil, []string{"webhook", "create", "--org", org, "--url", url, "--events", "qr.created"}, "must use https://"},
			{nil, []string{"webhook", "create", "--org", org, "--url", "https://127.0.0.1/x", "--events", "qr.created"}, "loopback address"},
			{local, []string{"webhook", "create", "--org", org, "--url", url, "--events", "qr.created,qr.scanned"}, `"qr.scanned" is not a webhook event`},
			{local, []string{"webhook", "create", "--org", org, "--url", url}, "choose at least one event"},
			{local, []string{"webhook", "delete", "wh_nope"}, `no webhook endpoint has the id "wh_nope"`},
			{local, []string{"webhook", "frobnicate"}, "unknown webhook command"},
		} {
			env := c.env
			if env == nil {
				env = map[string]string{"SNAPGLYPH_DB": db.DSN}
			}
			_, stderr := cliWith(t, env, "", 1, c.args...)
			if !strings.Contains(stderr, c.want) {
				t.Errorf("%v: stderr %q, want %q", c.args, stderr, c.want)
			}
		}
		out, _ := cliWith(t, local, "", 0, "webhook", "create", "--org", org, "--url", url, "--events", "qr.created,api_key.revoked", "--json")
		w := decode(t, out)
		secret, _ := w["secret"].(string)
		if !strings.HasPrefix(secret, "whsec_") || w["url"] != url || w["enabled"] != true {
			t.Fatalf("create: %v", w)
		}
		// Without --json the secret and the word that it is shown once go
		// to standard output, as a new key's do.
		text, errText := cliWith(t, local, "", 0, "webhook", "create", "--org", org, "--url", url+"/2", "--events", "qr.created")
		if !strings.Contains(text, "Signing secret: whsec_") || !strings.Contains(text, "This is the only time the secret is shown") || errText != "" {
			t.Errorf("webhook create printed %q and %q", text, errText)
		}
		cli(t, db.DSN, 0, "webhook", "delete", strings.Fields(text)[2])
		out, _ = cli(t, db.DSN, 0, "webhook", "list", "--org", org, "--json")
		if l := decode(t, out); l["id"] != w["id"] || l["secret"] != nil || strings.Contains(out, secret) {
			t.Fatalf("list: %s", out)
		}
		out, _ = cli(t, db.DSN, 0, "webhook", "list", "--org", org)
		if !strings.Contains(out, w["id"].(string)) || !strings.Contains(out, "qr.created,api_key.revoked") || strings.Contains(out, secret) {
			t.Fatalf("list: %s", out)
		}
		out, _ = cli(t, db.DSN, 0, "webhook", "delete", w["id"].(string))
		if !strings.Contains(out, "Deleted webhook "+w["id"].(string)) {
			t.Fatalf("delete: %s", out)
		}
		if out, _ = cli(t, db.DSN, 0, "webhook", "list", "--org", org, "--json"); out != "" {
			t.Fatalf("list after delete: %s", out)
		}
	})
}

func first(stdout, _ string) string { return stdout }
