package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// The filtered QR-code lists at scale. One organisation holds n codes;
// one in every rareEvery is a vCard made by the key "key_rare", the rest
// are URLs made in the dashboard. Each list asks for the first page of
// 20, newest first, as the dashboard and the API do.
const rareEvery = 1000

// fillQRCodes inserts n codes for org in one statement per dialect
// (generated in the database: a million rows through the store's
// CreateQRCode would take the benchmark's whole budget).
func fillQRCodes(tb testing.TB, db *testdb.DB, orgID string, n int) {
	tb.Helper()
	ctx := context.Background()
	cols := `id, org_id, name, type, content, payload, design, logo_type, created_by_type, created_by_id, created_by_name, created_by_prefix, created_at, updated_at`
	var q string
	if db.Dialect == "postgres" {
		q = `INSERT INTO qr_codes (` + cols + `)
SELECT 'qr_' || lpad(i::text, 9, '0'), $1, 'Code ' || i,
  CASE WHEN i % ` + fmt.Sprint(rareEvery) + ` = 0 THEN 'vcard' ELSE 'url' END, '{}', 'https://example.com/' || i, '{}', '',
  CASE WHEN i % ` + fmt.Sprint(rareEvery) + ` = 0 THEN 'api_key' ELSE 'user' END,
  CASE WHEN i % ` + fmt.Sprint(rareEvery) + ` = 0 THEN 'key_rare' ELSE 'usr_owner' END, 'Someone', '',
  1700000000000 + i, 1700000000000 + i
FROM generate_series(1, $2::bigint) AS i`
	} else {
		q = `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2)
INSERT INTO qr_codes (` + cols + `)
SELECT printf('qr_%09d', i), ?1, 'Code ' || i,
  CASE WHEN i % ` + fmt.Sprint(rareEvery) + ` = 0 THEN 'vcard' ELSE 'url' END, '{}', 'https://example.com/' || i, '{}', '',
  CASE WHEN i % ` + fmt.Sprint(rareEvery) + ` = 0 THEN 'api_key' ELSE 'user' END,
  CASE WHEN i % ` + fmt.Sprint(rareEvery) + ` = 0 THEN 'key_rare' ELSE 'usr_owner' END, 'Someone', '',
  1700000000000 + i, 1700000000000 + i
FROM s`
	}
	if _, err := db.SQL().ExecContext(ctx, q, orgID, n); err != nil {
		tb.Fatalf("fill %d codes: %v", n, err)
	}
	if db.Dialect == "postgres" {
		if _, err := db.SQL().ExecContext(ctx, `ANALYZE qr_codes`); err != nil {
			tb.Fatal(err)
		}
	} else if _, err := db.SQL().ExecContext(ctx, `ANALYZE`); err != nil {
		tb.Fatal(err)
	}
}

var listFilters = []struct {
	name string
	f    snapglyph.QRFilter
	// want: the type and creator every listed code must have ("" any).
	typ, creator string
}{
	{"all", snapglyph.QRFilter{}, "", ""},
	{"type=vcard", snapglyph.QRFilter{Type: "vcard"}, "vcard", ""},
	{"key", snapglyph.QRFilter{CreatedByKey: "key_rare"}, "", "key_rare"},
	{"key+type=vcard", snapglyph.QRFilter{CreatedByKey: "key_rare", Type: "vcard"}, "vcard", "key_rare"},
	{"type=url", snapglyph.QRFilter{Type: "url"}, "url", ""},
}

// checkPage checks a first page against what fillQRCodes made: 20 codes
// (the rare ones number n/rareEvery ≥ 30), newest first, each matching
// the filter, the first being the newest that does.
func checkPage(tb testing.TB, n int, l struct {
	name         string
	f            snapglyph.QRFilter
	typ, creator string
}, got []*snapglyph.QRCode) {
	tb.Helper()
	if len(got) != 20 {
		tb.Fatalf("%s: %d codes, want 20", l.name, len(got))
	}
	// The newest matching code, counted independently of the query.
	newest := n
	if l.typ == "vcard" || l.creator != "" {
		newest = n - n%rareEvery
	} else if l.typ == "url" && n%rareEvery == 0 {
		newest = n - 1
	}
	if want := fmt.Sprintf("qr_%09d", newest); got[0].ID != want {
		tb.Errorf("%s: first code %s, want %s", l.name, got[0].ID, want)
	}
	for i, c := range got {
		if (l.typ != "" && string(c.Type) != l.typ) || (l.creator != "" && c.CreatedBy.ID != l.creator) {
			tb.Errorf("%s: code %s is %s by %s", l.name, c.ID, c.Type, c.CreatedBy.ID)
		}
		if i > 0 && !c.CreatedAt.Before(got[i-1].CreatedAt) {
			tb.Errorf("%s: not newest first at %d", l.name, i)
		}
	}
}

// BenchmarkQRCodeLists measures the first page of each filtered list at
// 30,000 and 1,000,000 codes in both dialects, with the indexes of
// migration 013 and (the "-no013" runs) without them. Run with
//
//	go test -run '^$' -bench QRCodeLists -benchtime 200x ./internal/store/
func BenchmarkQRCodeLists(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		for _, n := range []int{30_000, 1_000_000} {
			b.Run(fmt.Sprintf("%s/%d", dialect, n), func(b *testing.B) {
				db := testdb.Open(b, dialect)
				org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
				ctx := context.Background()
				if _, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
					b.Fatal(err)
				}
				fillQRCodes(b, db, org.ID, n)
				for _, with := range []bool{true, false} {
					if !with {
						for _, idx := range []string{"qr_codes_org_type", "qr_codes_org_creator_type"} {
							if _, err := db.SQL().ExecContext(ctx, `DROP INDEX `+idx); err != nil {
								b.Fatal(err)
							}
						}
					}
					for _, l := range listFilters {
						name := l.name
						if !with {
							name += "-no013"
						}
						b.Run(name, func(b *testing.B) {
							f := l.f
							f.Limit = 20
							for b.Loop() {
								got, _, err := db.QRCodes(ctx, org.ID, f)
								if err != nil {
									b.Fatal(err)
								}
								checkPage(b, n, l, got)
							}
						})
					}
				}
			})
		}
	}
}

// TestQRCodeListsUseIndexes: on SQLite, the query planner serves every
// filtered list from an index in page order (no table scan, no sort),
// and the lists read right at 30,000 codes.
func TestQRCodeListsUseIndexes(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	const n = 30_000
	fillQRCodes(t, db, org.ID, n)
	for _, l := range listFilters {
		where, args := `org_id = ?`, []any{org.ID}
		if l.f.Type != "" {
			where += ` AND type = ?`
			args = append(args, l.f.Type)
		}
		if l.f.CreatedByKey != "" {
			where += ` AND created_by_id = ?`
			args = append(args, l.f.CreatedByKey)
		}
		p := store.QueryPlan(t, db.SQL(), `SELECT id, name, payload FROM qr_codes WHERE `+where+` ORDER BY created_at DESC, id DESC LIMIT 21`, args...)
		t.Logf("%s: %s", l.name, p)
		if !strings.Contains(p, "SEARCH qr_codes USING") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("%s: plan %q scans or sorts", l.name, p)
		}
		if l.f.Type == "vcard" && !strings.Contains(p, "qr_codes_org_type") && !strings.Contains(p, "qr_codes_org_creator_type") {
			t.Errorf("%s: plan %q does not use migration 013's indexes", l.name, p)
		}
		f := l.f
		f.Limit = 20
		got, _, err := db.QRCodes(ctx, org.ID, f)
		if err != nil {
			t.Fatal(err)
		}
		checkPage(t, n, l, got)
	}
}
