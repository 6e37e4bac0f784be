package node_test

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSilentListenerStopsTrust: a node's LISTEN connection that stops
// delivering without a reset (a dropped NAT entry, a frozen backend;
// here its backend process is stopped) must not keep the node serving a
// revoked key from its cache. The node used to notice only at its
// listener's next probe, up to 4 s later, while its heartbeat still
// listed it as listening: the revoke warned that the node had not
// confirmed, and the node then answered 89 more requests with the key.
func TestSilentListenerStopsTrust(t *testing.T) {
	db := testdb.Open(t, "postgres")
	op := cli(t, db)
	var reports []service.Unconfirmed
	op.Unconfirmed = func(u service.Unconfirmed) { reports = append(reports, u) }
	org, key := newOrgKey(t, op, 1000, 1000)
	keys, err := op.Keys(context.Background(), snapglyph.Operator, org.ID, false)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	n := startNode(t, db, node.Config{})
	if code, body, _ := get(t, n.srv.URL, "/api/v1/usage", key); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var pid int
	if err := db.SQL().QueryRow(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, n.app).Scan(&pid); err != nil {
		t.Fatalf("the node's listener: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot stop PostgreSQL's backend %d (run as root or as the postgres user): %v", pid, err)
		}
		t.Fatalf("stopping backend %d: %v", pid, err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)

	start := time.Now()
	if _, err := op.RevokeKey(context.Background(), snapglyph.Operator, keys[0].ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	code, body, _ := get(t, n.srv.URL, "/api/v1/usage", key)
	if code != 401 || !strings.Contains(string(body), "api_key_revoked") {
		t.Fatalf("the request after the revoke returned (in %v): %d %s", took, code, body)
	}
	if len(reports) != 0 {
		t.Errorf("the revoke reported unconfirmed nodes %+v: the silent node should have stopped listening first", reports)
	}
	if !strings.Contains(n.logs.String(), "heard nothing of a committed change") {
		t.Errorf("no warning in the node's log:\n%s", n.logs.String())
	}
}
