package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestAuditedKeyActionsAreEvents: the key actions the lifecycle work
// audits (rolled, expired) become their events through the audit hook,
// with the key's prefix; other audited actions are not events.
func TestAuditedKeyActionsAreEvents(t *testing.T) {
	ctx := context.Background()
	d, org := openWithOrg(t)
	k := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_ab12"}
	if err := d.CreateKey(ctx, k, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"key.rolled", "key.expired", "member.role_changed", "key.leaked"} {
		err := d.tx(ctx, func(tx *Tx) error {
			return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: org.ID, Action: action, TargetID: k.ID, TargetName: k.Name}, snapglyph.Operator)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	evs, err := d.Events(ctx, org.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{snapglyph.EventKeyCreated, snapglyph.EventKeyRolled, snapglyph.EventKeyExpired}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		if ev.Kind != want[i] || ev.Str("keyPrefix") != "qr_live_ab12" || ev.Str("keyId") != k.ID || ev.Str("actor") != "operator (CLI)" {
			t.Errorf("event %d: %s %v", i, ev.Kind, ev.Data)
		}
		if snapglyph.EventTopic(ev.Kind) == "" {
			t.Errorf("%s has no mail topic", ev.Kind)
		}
	}
}

// TestScansAndPrunesUseIndexes: the scans every node runs each minute (keys
// expiring or expired, timed pauses ended) find the keys in their window
// by an index, not by reading every key of every organisation; and the
// statements that delete what is old find it by its time.
func TestScansAndPrunesUseIndexes(t *testing.T) {
	ctx := context.Background()
	d, org := openWithOrg(t)
	for i := range 300 {
		k := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Backend-" + snapglyph.NewID("n"), Prefix: "qr_live_ab12"}
		if i%10 == 0 {
			k.ExpiresAt = d.now().AddDate(0, 0, i)
		}
		if err := d.CreateKey(ctx, k, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.db.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, query, index string
		args               []any
	}{
		{"expiry", expiringKeysQuery, "api_keys_expires_at", []any{1, 2, "x:"}},
		{"pause ends", pauseEndsQuery, "api_keys_paused_until", []any{1, 2}},
		// What is old is deleted through an index too (migration 020).
		{"throttle", pruneThrottle, "throttle_last_at", []any{1, 2}},
		{"key addresses", pruneKeyIPs, "key_ips_last_seen", []any{1, 2, "pro", 500}},
		{"any key's addresses", pruneAnyKeyIPs, "key_ips_last_seen", []any{1, 500}},
		{"notices", pruneNotices, "notices_read_created", []any{1, 500}},
		{"leak reports", pruneLeakReports, "leak_reports_received", []any{1}},
		{"usage batch ids", pruneUsageBatches, "usage_batches_saved_at", []any{1, 500}},
		{"usage lease ids", pruneUsageLeases, "usage_leases_leased_at", []any{1, 500}},
	} {
		p := QueryPlan(t, d.db, c.query, c.args...)
		if !strings.Contains(p, "USING INDEX "+c.index) && !strings.Contains(p, "USING COVERING INDEX "+c.index) || strings.Contains(p, "SCAN k") {
			t.Errorf("%s: plan %q does not read the window by %s", c.name, p, c.index)
		}
	}
}

// openWithOrg opens a migrated SQLite store with one organisation.
func openWithOrg(t *testing.T) (*DB, *snapglyph.Org) {
	t.Helper()
	d, err := Open(t.TempDir() + "/snapglyph.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := d.CreateOrg(context.Background(), org, "o@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	return d, org
}

// QueryPlan returns SQLite's plan for q with args, its steps joined by
// "; " (the store's external tests use it too).
func QueryPlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
