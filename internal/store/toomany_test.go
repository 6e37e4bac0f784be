package store_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestTooManyClientsIsUnavailable: PostgreSQL refusing a new connection
// because it (or the node's role) has no connection slot left — "sorry,
// too many clients already", SQLSTATE 53300 — is the database being
// unavailable for a moment (a 503 with Retry-After that a client retries),
// not an internal error (a 500 logged at ERROR). Seen when several nodes
// and the CLI filled max_connections. Once a slot is free, the same store
// answers again.
func TestTooManyClientsIsUnavailable(t *testing.T) {
	d := testdb.Open(t, "postgres")
	ctx := context.Background()
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := d.CreateOrg(ctx, org, "o@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	// A role of its own (superusers are not held to a connection limit),
	// allowed the test's schema.
	admin, err := sql.Open("pgx", os.Getenv(testdb.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	role := strings.ToLower("sg_" + snapglyph.NewID("r")[2:])
	schema := d.DSN[strings.LastIndex(d.DSN, "search_path=")+len("search_path="):]
	for _, q := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + role,
		"GRANT ALL ON ALL TABLES IN SCHEMA " + schema + " TO " + role,
		"GRANT ALL ON ALL SEQUENCES IN SCHEMA " + schema + " TO " + role,
	} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		admin.Exec("DROP OWNED BY " + role)
		admin.Exec("DROP ROLE " + role)
	})
	dsn := strings.Replace(d.DSN, "postgres://postgres@", "postgres://"+role+"@", 1)
	if dsn == d.DSN {
		t.Skipf("cannot name another role in %s", testdb.PostgresEnv)
	}
	db, err := store.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Org(ctx, org.ID); err != nil {
		t.Fatal(err)
	}

	// No slot left for the role; the connections it holds are gone, so
	// the next statement needs a new one.
	for _, q := range []string{"ALTER ROLE " + role + " CONNECTION LIMIT 0", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'"} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The pool may first meet the connections the server ended (57P01,
	// itself unavailable); then it must open a new one.
	for range 25 {
		if _, err = db.Org(ctx, org.ID); err == nil || strings.Contains(err.Error(), "53300") {
			break
		}
		if !store.IsUnavailable(err) {
			t.Fatalf("a read on an ended connection: %v; want the database unavailable", err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "53300") {
		t.Fatalf("a read with no connection slot: %v; want PostgreSQL's too-many-connections refusal", err)
	}
	if !store.IsUnavailable(err) || snapglyph.ErrorKind(err) != snapglyph.EUNAVAILABLE {
		t.Errorf("%v: unavailable %v, kind %v; want the database unavailable (503)", err, store.IsUnavailable(err), snapglyph.ErrorKind(err))
	}

	if _, err := admin.ExecContext(ctx, "ALTER ROLE "+role+" CONNECTION LIMIT -1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Org(ctx, org.ID); err != nil {
		t.Fatalf("after a slot is free again: %v", err)
	}
}
