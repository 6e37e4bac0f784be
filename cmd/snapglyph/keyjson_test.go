package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestKeyJSONNamesPeopleAlike: a key's JSON names who created it as
// paused.by names who paused it (createdByLabel: an email or "operator
// (CLI)"), beside createdBy in its stored form ("user:usr_…",
// "operator"), in key list, show, pause and roll; so a script can tell
// whether the person who paused a key created it.
func TestKeyJSONNamesPeopleAlike(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "owner@acme.test", "--plan", "pro", "--json")
		org := decode(t, out)["id"].(string)
		owner := decode(t, out)["owner"].(map[string]any)["id"].(string)
		svc := service.New(db.DB) // the dashboard's side, in process
		as := snapglyph.Actor{UserID: owner, Label: "owner@acme.test"}

		// The Owner makes "Web" and pauses the operator's "Batch"; the
		// operator pauses "Web".
		web, err := svc.CreateKey(ctx, as, org, "Web")
		if err != nil {
			t.Fatal(err)
		}
		batch := decode(t, first(cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Batch", "--json")))
		if batch["createdBy"] != "operator" || batch["createdByLabel"] != "operator (CLI)" {
			t.Errorf("key create: createdBy %v, createdByLabel %v", batch["createdBy"], batch["createdByLabel"])
		}
		if _, err := svc.PauseKeyWith(ctx, as, batch["id"].(string), "night job off", time.Time{}); err != nil {
			t.Fatal(err)
		}
		paused := decode(t, first(cli(t, db.DSN, 0, "key", "pause", web.ID, "--json")))

		want := map[string][2]string{ // id: createdBy, createdByLabel
			web.ID:               {"user:" + owner, "owner@acme.test"},
			batch["id"].(string): {"operator", "operator (CLI)"},
		}
		pausedBy := map[string]string{web.ID: "operator (CLI)", batch["id"].(string): "owner@acme.test"}
		check := func(cmd string, k map[string]any) {
			t.Helper()
			id, _ := k["id"].(string)
			w, ok := want[id]
			if !ok {
				t.Errorf("%s: a key %q", cmd, id)
				return
			}
			if k["createdBy"] != w[0] || k["createdByLabel"] != w[1] {
				t.Errorf("%s %s: createdBy %v, createdByLabel %v; want %q, %q", cmd, id, k["createdBy"], k["createdByLabel"], w[0], w[1])
			}
			if p, _ := k["paused"].(map[string]any); p == nil || p["by"] != pausedBy[id] {
				t.Errorf("%s %s: paused %v; want by %q", cmd, id, k["paused"], pausedBy[id])
			}
		}
		check("key pause", paused)
		out, _ = cli(t, db.DSN, 0, "key", "list", "--org", org, "--json")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("key list --json: %q", out)
		}
		byID := map[string]map[string]any{}
		for _, l := range lines {
			k := decode(t, l)
			check("key list", k)
			byID[k["id"].(string)] = k
		}
		for id := range want {
			check("key show", decode(t, first(cli(t, db.DSN, 0, "key", "show", id, "--json"))))
		}
		// Labels compare with labels: the Owner paused the key the
		// operator made, and made the key the operator paused.
		if byID[batch["id"].(string)]["paused"].(map[string]any)["by"] != byID[web.ID]["createdByLabel"] {
			t.Errorf("Batch was paused by %v, Web created by %v: the same person, named differently",
				byID[batch["id"].(string)]["paused"], byID[web.ID]["createdByLabel"])
		}
		// A roll: the new key is the operator's, the old one still the Owner's.
		rolled := decode(t, first(cli(t, db.DSN, 0, "key", "roll", web.ID, "--overlap", "1h", "--json")))
		old, _ := rolled["old"].(map[string]any)
		if rolled["createdBy"] != "operator" || rolled["createdByLabel"] != "operator (CLI)" || old == nil ||
			old["createdBy"] != "user:"+owner || old["createdByLabel"] != "owner@acme.test" {
			t.Errorf("key roll: createdBy %v, createdByLabel %v, old %v", rolled["createdBy"], rolled["createdByLabel"], old)
		}
	})
}
