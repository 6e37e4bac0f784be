package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestOrgListAndShow: the operator sees each organisation's plan, limits
// and this month's usage from the command line, and the usage is what
// the API served: counted here by the client, one call per 200, none for
// refused keys.
func TestOrgListAndShow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		org, k := orgWithKey(t, db, 10000)
		other := decode(t, must(cli(t, db.DSN, 0, "org", "create", "--name", "Beta Café", "--owner-email", "b@beta.test", "--plan", "pro", "--json")))["id"].(string)
		cli(t, db.DSN, 0, "org", "set-limits", other, "--image-credits", "7")

		srv := serveDB(t, db.DSN)
		served := 0
		for i := range 40 {
			key := k.Secret
			if i%8 == 7 {
				// A wrong checksum (the last character changed): refused, not counted.
				key = k.Secret[:len(k.Secret)-1] + map[bool]string{true: "y", false: "x"}[strings.HasSuffix(k.Secret, "x")]
			}
			if st, _, _ := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+key); st == 200 {
				served++
			}
		}
		if served != 35 {
			t.Fatalf("%d of 40 requests served, want 35", served)
		}
		srv.stop(t) // writes what it counted

		line := decode(t, must(cli(t, db.DSN, 0, "org", "show", org, "--json")))
		u := line["usage"].(map[string]any)
		calls, credits := u["apiCalls"].(map[string]any), u["imageCredits"].(map[string]any)
		if calls["used"] != float64(served) || calls["limit"] != 10000.0 || calls["remaining"] != float64(10000-served) {
			t.Errorf("apiCalls %v, want %d of 10000 used", calls, served)
		}
		if credits["used"] != 0.0 || u["period"] != mustPeriod() || line["plan"] != "max" || line["name"] != "Acme" {
			t.Errorf("org show %v", line)
		}
		if r, err := time.Parse(time.RFC3339, u["resetsAt"].(string)); err != nil || r.Day() != 1 || !r.After(time.Now()) {
			t.Errorf("resetsAt %v", u["resetsAt"])
		}
		// The Owner, as org create printed it (review 4: show had none).
		ownerOf := func(id string) map[string]any {
			ms, err := service.New(db.DB).Members(context.Background(), snapglyph.Operator, id)
			if err != nil || len(ms) == 0 {
				t.Fatal(ms, err)
			}
			return map[string]any{"id": ms[0].ID, "email": ms[0].Email}
		}
		if o, _ := line["owner"].(map[string]any); o == nil || o["id"] != ownerOf(org)["id"] || o["email"] != ownerOf(org)["email"] {
			t.Errorf("org show --json: owner %v, want %v", line["owner"], ownerOf(org))
		}
		beta := decode(t, must(cli(t, db.DSN, 0, "org", "show", other, "--json")))
		if o, _ := beta["owner"].(map[string]any); o == nil || o["email"] != "b@beta.test" {
			t.Errorf("org show --json of Beta: owner %v", beta["owner"])
		}

		text, _ := cli(t, db.DSN, 0, "org", "show", org)
		if !strings.Contains(text, fmt.Sprintf("%d of 10000 used in %s, %d left", served, mustPeriod(), 10000-served)) ||
			!strings.Contains(text, "set by the operator") || !strings.Contains(text, "owner:          "+ownerOf(org)["email"].(string)) {
			t.Errorf("org show:\n%s", text)
		}

		// Every organisation, oldest first, each with its own usage.
		out, _ := cli(t, db.DSN, 0, "org", "list", "--json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("org list --json: %d lines\n%s", len(lines), out)
		}
		first, second := decode(t, lines[0]), decode(t, lines[1])
		if first["id"] != org || first["usage"].(map[string]any)["apiCalls"].(map[string]any)["used"] != float64(served) {
			t.Errorf("first %v", first)
		}
		if c := second["usage"].(map[string]any)["imageCredits"].(map[string]any); second["id"] != other || c["limit"] != 7.0 || c["used"] != 0.0 {
			t.Errorf("second %v", second)
		}
		table, _ := cli(t, db.DSN, 0, "org", "list")
		if !strings.Contains(table, fmt.Sprintf("%d / 10000", served)) || !strings.Contains(table, "Beta Café") || !strings.Contains(table, "0 / 7") {
			t.Errorf("org list:\n%s", table)
		}

		// Bad input: a clear error, nothing printed, never the id echoed
		// whole when it is huge or holds a key.
		for _, args := range [][]string{
			{"org", "show"},
			{"org", "show", org, other},
			{"org", "show", "org_doesnotexist"},
			{"org", "show", "org_\x00\xff" + strings.Repeat("a", 10000)},
			{"org", "list", "extra"},
			{"key", "show", k.Secret}, // pasted where its id goes
			{"key", "pause", "x" + k.Secret + strings.Repeat("b", 5000)},
			{"org", "set-plan", k.Secret, "pro"},
		} {
			stdout, stderr := cli(t, db.DSN, 1, args...)
			if stdout != "" || !strings.HasPrefix(stderr, "snapglyph: ") || len(stderr) > 500 || strings.Contains(stderr, k.Secret[8:]) {
				t.Errorf("%q: stdout %q stderr %.200q", args[:2], stdout, stderr)
			}
		}
	})
}

// must returns its first argument (for a call that returns two).
func must(s, _ string) string { return s }
