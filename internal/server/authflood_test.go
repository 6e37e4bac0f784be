package server_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// secondNode starts another node on the harness's database, with its own
// connection pool: another process behind the same load balancer.
func (h *harness) secondNode(cfg node.Config) (*node.Node, *harness) {
	h.t.Helper()
	db, err := store.Open(h.db.DSN)
	if err != nil {
		h.t.Fatal(err)
	}
	db.Now = h.clock.Now
	h.t.Cleanup(func() { db.Close() })
	n, err := node.New(context.Background(), db, cfg, slog.New(slog.NewTextHandler(h.logs, nil)))
	if err != nil {
		h.t.Fatal(err)
	}
	n.Start()
	srv := httptest.NewServer(n.Handler())
	h.t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	other := *h
	other.node, other.srv = n, srv
	other.waitReady()
	return n, &other
}

// TestNewKeyWorksEverywhereAtOnce: a key whose digest every node has
// cached as unknown works on every node as soon as its creation returns
// (SQLite: the CLI is another connection; PostgreSQL: two nodes).
func TestNewKeyWorksEverywhereAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		n2, h2 := h.secondNode(node.Config{})
		ctx := context.Background()
		cli, err := store.Open(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		cli.Now = h.clock.Now
		for round := 0; round < 20; round++ {
			secret := snapglyph.GenerateKey()
			for _, x := range []*harness{h, h2} {
				for i := 0; i < 3; i++ {
					expectProblem(t, x.get("/api/v1/usage", secret), 401, "invalid_api_key")
				}
			}
			if h.node.Verifier.UnknownHits.Load() == 0 || n2.Verifier.UnknownHits.Load() == 0 {
				t.Fatal("the unknown key was not answered from the negative cache: this test would prove nothing")
			}
			// What the CLI's "key create" does, with a secret the test
			// chose: the store call, then the wait for every node.
			key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: h.org.ID, Name: "Chosen-" + strconv.Itoa(round), Prefix: snapglyph.KeyDisplayPrefix(secret)}
			if err := cli.CreateKey(ctx, key, snapglyph.DigestKey(secret), snapglyph.Operator, ""); err != nil {
				t.Fatal(err)
			}
			if db.Postgres() {
				if behind, err := cli.WaitApplied(ctx, 5e9); err != nil || len(behind) > 0 {
					t.Fatal(behind, err)
				}
			}
			for _, x := range []*harness{h2, h} {
				expectOK(t, x.get("/api/v1/usage", secret))
			}
		}
	})
}

// TestKeyCreationRecordsChange: the service's key creation is in the
// change log, which is what every node's negative cache hears.
func TestKeyCreationRecordsChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		before, err := db.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		k, err := h.cli.CreateKey(ctx, snapglyph.Operator, h.org.ID, "Billing-Service")
		if err != nil {
			t.Fatal(err)
		}
		changes, err := db.Changes(ctx, before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(changes) != 1 || changes[0].Kind != snapglyph.ChangeKeyCreated || changes[0].RefID != k.ID {
			t.Fatalf("changes after creating %s: %+v", k.ID, changes)
		}
	})
}
