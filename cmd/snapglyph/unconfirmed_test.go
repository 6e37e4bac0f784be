package main

import (
	"context"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestCLIReportsUnconfirmedChange: a live node that does not apply a
// change (here a node row that never moves, as a node whose database
// writes fail) makes the command warn on stderr, naming it, and list it
// in --json; the change itself is committed and the exit status is 0.
func TestCLIReportsUnconfirmedChange(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	svc := service.New(db.DB)
	org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
	if err != nil {
		t.Fatal(err)
	}

	// Confirmed everywhere (no node is behind): no warning, an empty list.
	out, errOut := cli(t, db.DSN, 0, "key", "pause", k.ID, "--json")
	if v := decode(t, out); v["status"] != "paused" || v["unconfirmedNodes"] == nil || len(v["unconfirmedNodes"].([]any)) != 0 {
		t.Fatalf("stdout %s", out)
	}
	if strings.Contains(errOut, "warning") {
		t.Fatalf("warning with every node confirmed: %s", errOut)
	}

	if err := db.SetNode(ctx, "node_stuck", 0, true); err != nil {
		t.Fatal(err)
	}
	out, errOut = cli(t, db.DSN, 0, "key", "revoke", k.ID, "--json")
	v := decode(t, out)
	if nodes, _ := v["unconfirmedNodes"].([]any); v["status"] != "revoked" || len(nodes) != 1 || nodes[0] != "node_stuck" {
		t.Fatalf("stdout %s", out)
	}
	if !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "node_stuck") {
		t.Fatalf("stderr %q does not warn about node_stuck", errOut)
	}
	got, err := db.Key(ctx, k.ID)
	if err != nil || got.Status != snapglyph.KeyRevoked {
		t.Fatalf("the revocation is not committed: %v %v", got, err)
	}

	if err := db.SetNode(ctx, "node_stuck", 0, true); err != nil { // heartbeat
		t.Fatal(err)
	}
	out, errOut = cli(t, db.DSN, 0, "org", "set-limits", org.ID, "--api-calls", "5000")
	if !strings.Contains(out, "limits of organisation "+org.ID+": 5000 API calls") || !strings.Contains(errOut, "node_stuck") {
		t.Fatalf("stdout %q, stderr %q", out, errOut)
	}

	// A new key waits for the nodes too (each forgets it was unknown).
	if err := db.SetNode(ctx, "node_stuck", 0, true); err != nil {
		t.Fatal(err)
	}
	out, errOut = cli(t, db.DSN, 0, "key", "create", "--org", org.ID, "--name", "Billing-Worker", "--json")
	v = decode(t, out)
	if nodes, _ := v["unconfirmedNodes"].([]any); v["status"] != "active" || !strings.HasPrefix(v["key"].(string), snapglyph.KeyPrefix) || len(nodes) != 1 || nodes[0] != "node_stuck" {
		t.Fatalf("stdout %s", out)
	}
	if !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "node_stuck") {
		t.Fatalf("stderr %q does not warn about node_stuck", errOut)
	}
}
