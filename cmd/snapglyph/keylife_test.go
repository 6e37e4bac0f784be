package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestCLIKeyLifecycle: the lifecycle commands against a running server on
// the same database, on both stores: create with an expiry, permissions
// and an allowlist; list and show them; rename; pause with a reason and an
// end; roll with an overlap (the new key printed once, as create does);
// end the overlap. Each change applies to the server's next request.
func TestCLIKeyLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		dsn := db.DSN
		out, _ := cli(t, dsn, 0, "org", "create", "--name", "Acme", "--owner-email", "owner@acme.test", "--plan", "pro", "--json")
		org := decode(t, out)["id"].(string)
		out, _ = cli(t, dsn, 0, "key", "create", "--org", org, "--name", "Reporting", "--expires-in", "30d",
			"--scopes", "usage:read,images:read", "--allow-ip", "127.0.0.1, 2001:db8::/32", "--json")
		created := decode(t, out)
		key, kid := created["key"].(string), created["id"].(string)
		exp, err := time.Parse(time.RFC3339, created["expiresAt"].(string))
		if err != nil || exp.Sub(time.Now()) < 29*24*time.Hour || exp.Sub(time.Now()) > 30*24*time.Hour {
			t.Errorf("expiresAt %v", created["expiresAt"])
		}
		if created["access"] != "restricted" || !reflect.DeepEqual(created["scopes"], []any{"images:read", "usage:read"}) ||
			!reflect.DeepEqual(created["allowedIps"], []any{"127.0.0.1", "2001:db8::/32"}) || created["status"] != "active" ||
			created["paused"] != nil || created["replaces"] != nil || created["replacedBy"] != nil {
			t.Errorf("key create printed %v", created)
		}
		// People read when it expires, and how soon.
		if out, _ := cli(t, dsn, 0, "key", "show", kid); !strings.Contains(out, snapglyph.FormatTime(exp)+" (in 30 days)") {
			t.Errorf("key show says of the expiry:\n%s", out)
		}
		srv := serveDB(t, dsn, "--flush-interval", "200ms")
		if resp, body := call(t, srv.url, key); resp.StatusCode != 200 {
			t.Fatalf("first call: %d %v", resp.StatusCode, body)
		}
		// A key with another allowlist is refused from loopback.
		out, _ = cli(t, dsn, 0, "key", "create", "--org", org, "--name", "Office", "--allow-ip", "203.0.113.0/24", "--json")
		office := decode(t, out)
		if resp, body := call(t, srv.url, office["key"].(string)); resp.StatusCode != 403 || body["code"] != "ip_not_allowed" {
			t.Fatalf("from outside the allowlist: %d %v", resp.StatusCode, body)
		}
		// Add loopback to its allowlist: the next request passes; restrict
		// its permissions: the next one is refused for its scope.
		out, _ = cli(t, dsn, 0, "key", "restrict", office["id"].(string), "--allow-ip", "203.0.113.0/24,127.0.0.0/8", "--json")
		if got := decode(t, out); !reflect.DeepEqual(got["allowedIps"], []any{"203.0.113.0/24", "127.0.0.0/8"}) || got["access"] != "full" {
			t.Errorf("key restrict printed %v", got)
		}
		if resp, body := call(t, srv.url, office["key"].(string)); resp.StatusCode != 200 {
			t.Fatalf("after adding the address: %d %v", resp.StatusCode, body)
		}
		cli(t, dsn, 0, "key", "restrict", office["id"].(string), "--scopes", "qr_codes:read")
		if resp, body := call(t, srv.url, office["key"].(string)); resp.StatusCode != 403 || body["code"] != "insufficient_scope" {
			t.Fatalf("after restricting: %d %v", resp.StatusCode, body)
		}
		out, _ = cli(t, dsn, 0, "key", "restrict", office["id"].(string), "--full-access", "--any-ip", "--json")
		if got := decode(t, out); got["access"] != "full" || len(got["allowedIps"].([]any)) != 0 {
			t.Errorf("key restrict printed %v", got)
		}
		// A key without usage:read cannot read usage.
		out, _ = cli(t, dsn, 0, "key", "create", "--org", org, "--name", "Writer", "--scopes", "qr_codes:write", "--json")
		if resp, body := call(t, srv.url, decode(t, out)["key"].(string)); resp.StatusCode != 403 || body["code"] != "insufficient_scope" {
			t.Fatalf("without the permission: %d %v", resp.StatusCode, body)
		}

		// Names are unique among live keys; rename.
		_, stderr := cli(t, dsn, 1, "key", "create", "--org", org, "--name", "Reporting")
		if !strings.Contains(stderr, `another active API key of this organisation is named "Reporting"`) {
			t.Errorf("a duplicate name: %q", stderr)
		}
		out, _ = cli(t, dsn, 0, "key", "rename", kid, "Reporting-Prod", "--json")
		if got := decode(t, out); got["name"] != "Reporting-Prod" || got["unconfirmedNodes"] == nil {
			t.Errorf("key rename printed %v", got)
		}
		_, stderr = cli(t, dsn, 1, "key", "rename", kid, "Office")
		if !strings.Contains(stderr, "Office") || !strings.Contains(stderr, "another active API key") {
			t.Errorf("rename to a taken name: %q", stderr)
		}

		// Pause with a reason and an end.
		until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		out, _ = cli(t, dsn, 0, "key", "pause", kid, "--reason", "suspicious traffic", "--until", until.Format(time.RFC3339), "--json")
		paused := decode(t, out)["paused"].(map[string]any)
		if paused["reason"] != "suspicious traffic" || paused["by"] != "operator (CLI)" || paused["until"] != until.Format(time.RFC3339) {
			t.Errorf("paused %v", paused)
		}
		if resp, body := call(t, srv.url, key); resp.StatusCode != 401 || body["code"] != "api_key_paused" || !strings.Contains(body["detail"].(string), "until") {
			t.Fatalf("after pause: %d %v", resp.StatusCode, body)
		}
		out, _ = cli(t, dsn, 0, "key", "list", "--org", org)
		if !strings.Contains(out, "Paused (by operator (CLI): suspicious traffic; until "+snapglyph.FormatTime(until)+")") ||
			!strings.Contains(out, "images:read, usage:read (2 IP entries)") {
			t.Errorf("key list:\n%s", out)
		}
		cli(t, dsn, 0, "key", "resume", kid)

		// Roll with a 24-hour overlap: both keys work; the new one
		// inherits everything.
		out, _ = cli(t, dsn, 0, "key", "roll", kid, "--overlap", "24h", "--json")
		rolled := decode(t, out)
		newKey, newID := rolled["key"].(string), rolled["id"].(string)
		old := rolled["old"].(map[string]any)
		if !fullKey.MatchString(newKey) || newKey == key || rolled["name"] != "Reporting-Prod" || rolled["replaces"] != kid ||
			!reflect.DeepEqual(rolled["scopes"], created["scopes"]) || !reflect.DeepEqual(rolled["allowedIps"], created["allowedIps"]) || rolled["expiresAt"] == nil {
			t.Fatalf("key roll printed %v", rolled)
		}
		if rb := old["replacedBy"].(map[string]any); rb["id"] != newID || rb["prefix"] != newKey[:12] || old["key"] != nil {
			t.Errorf("old key %v", old)
		}
		for _, k := range []string{key, newKey} {
			if resp, body := call(t, srv.url, k); resp.StatusCode != 200 {
				t.Fatalf("during the overlap: %d %v", resp.StatusCode, body)
			}
		}
		out, _ = cli(t, dsn, 0, "key", "show", kid)
		if !strings.Contains(out, "replaced by") || !strings.Contains(out, newKey[:12]+"...") {
			t.Errorf("key show:\n%s", out)
		}
		if strings.Contains(out, newKey) {
			t.Error("key show prints the new key")
		}
		// End the overlap: the old key stops at once and names the new one.
		cli(t, dsn, 0, "key", "end-overlap", kid)
		resp, body := call(t, srv.url, key)
		if resp.StatusCode != 401 || body["code"] != "api_key_expired" || !strings.Contains(body["detail"].(string), newKey[:12]+"...") {
			t.Fatalf("after end-overlap: %d %v", resp.StatusCode, body)
		}
		if resp, body := call(t, srv.url, newKey); resp.StatusCode != 200 {
			t.Fatalf("the new key: %d %v", resp.StatusCode, body)
		}
		_, stderr = cli(t, dsn, 1, "key", "resume", kid)
		if !strings.Contains(stderr, "expired") {
			t.Errorf("resume of an expired key: %q", stderr)
		}
		// The list as JSON: one object per line, the roll relation both ways.
		out, _ = cli(t, dsn, 0, "key", "list", "--org", org, "--json")
		byID := map[string]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("not JSON: %q", line)
			}
			byID[v["id"].(string)] = v
		}
		if byID[kid]["status"] != "expired" || byID[newID]["status"] != "active" || byID[newID]["replaces"] != kid {
			t.Errorf("list: old %v, new %v", byID[kid], byID[newID])
		}
		srv.stop(t)
		assertNoKeyAtRest(t, db, newKey)
	})
}

// TestCLIKeyLifecycleBadInput: every wrong option is refused with a
// message naming it, exit status 1, and nothing changes.
func TestCLIKeyLifecycleBadInput(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--json")
	org := decode(t, out)["id"].(string)
	out, _ = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Base", "--json")
	kid := decode(t, out)["id"].(string)
	before, _ := cli(t, db.DSN, 0, "key", "list", "--org", org, "--all", "--json")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-in", "30s"}, "--expires-in: a key's lifetime is at least one minute"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-in", "soon"}, `--expires-in: "soon" is not a duration`},
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-in", ""}, "--expires-in"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-in", "4000d"}, "at most 10 years"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-at", "2020-01-01T00:00:00Z"}, "not at least one minute in the future"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-at", "next week"}, "--expires-at"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--expires-in", "1d", "--expires-at", "2030-01-01"}, "not both"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--scopes", "qr_codes:admin"}, `--scopes: unknown permission "qr_codes:admin"`},
		{[]string{"key", "create", "--org", org, "--name", "A", "--scopes", ""}, "--scopes: choose at least one permission"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--allow-ip", "10.0.0.1/8"}, "did you mean 10.0.0.0/8"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--allow-ip", "localhost"}, "--allow-ip"},
		{[]string{"key", "create", "--org", org, "--name", "A", "--allow-ip", ""}, "--allow-ip: give at least one"},
		{[]string{"key", "create", "--org", org, "--name", "Base"}, "another active API key"},
		{[]string{"key", "roll", kid, "--overlap", "8d"}, "7 days"},
		{[]string{"key", "roll", kid, "--overlap", "-1h"}, "--overlap"},
		{[]string{"key", "roll"}, "usage: snapglyph key roll KEY_ID"},
		{[]string{"key", "roll", "key_missing"}, "no API key"},
		{[]string{"key", "rename", kid}, "usage: snapglyph key rename KEY_ID NAME"},
		{[]string{"key", "rename", kid, ""}, "name is required"},
		{[]string{"key", "rename", kid, "Base"}, "already named"},
		{[]string{"key", "pause", kid, "--until", "2020-01-01"}, "not at least one minute in the future"},
		{[]string{"key", "pause", kid, "--until", "later"}, "--until"},
		{[]string{"key", "pause", kid, "--reason", strings.Repeat("r", 201)}, "at most 200"},
		{[]string{"key", "pause", kid, "--reason", "two\nlines"}, "control characters"},
		{[]string{"key", "end-overlap", kid}, "was not rolled"},
		{[]string{"key", "restrict", kid}, "give at least one"},
		{[]string{"key", "restrict", kid, "--scopes", "usage:read", "--full-access"}, "not both"},
		{[]string{"key", "restrict", kid, "--allow-ip", "1.2.3.4", "--any-ip"}, "not both"},
		{[]string{"key", "restrict", kid, "--scopes", "everything"}, "--scopes: unknown permission"},
		{[]string{"key", "restrict", kid, "--allow-ip", "1.2.3.4/8"}, "--allow-ip"},
		{[]string{"key", "restrict", kid, "--full-access"}, "already has these permissions"},
		{[]string{"key", "show", "key_missing"}, "no API key"},
		{[]string{"key", "frobnicate"}, "use create, list, show, pause, resume, revoke, rename, restrict, roll or end-overlap"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr := cli(t, db.DSN, 1, tc.args...)
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", stderr, tc.want)
			}
		})
	}
	if after, _ := cli(t, db.DSN, 0, "key", "list", "--org", org, "--all", "--json"); after != before {
		t.Errorf("refused commands changed the keys:\n%s\n%s", before, after)
	}
}
