package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestRequestLogFiltersUseIndexes: a page or a chart of an organisation's
// entries with a rare error code is read through the code's index
// (migration 023) in the page's order, not by walking every entry of the
// organisation in the range; and the plain page still reads the table's
// own key. Both without statistics (the store never runs ANALYZE) and
// with them.
func TestRequestLogFiltersUseIndexes(t *testing.T) {
	ctx := context.Background()
	d, org := openWithOrg(t)
	now := d.now()
	// Three organisations' entries of three days from 40 addresses each;
	// 1 in 10 is refused with a code. 1 in 600, all of them org's, comes
	// from a rare address, and as many others are refused with a rare code.
	var entries []snapglyph.RequestLogEntry
	for i := range 6000 {
		at := now.Add(-72 * time.Hour).Add(time.Duration(i) * 43 * time.Second)
		e := snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: []string{org.ID, "org_b", "org_c"}[i%3],
			KeyID: fmt.Sprintf("key_%d", i%7), KeyPrefix: "qr_live_ab12", Method: "GET", Route: "/api/v1/qr-codes/{id}",
			Status: 200, IP: fmt.Sprintf("10.0.%d.%d", i%5, i%8), Calls: 1, Plan: snapglyph.PlanPro}
		switch {
		case i%600 == 300:
			e.IP = "192.0.2.1"
		case i%600 == 150:
			e.Status, e.Code = 412, "precondition_failed"
		case i%10 == 1:
			e.Status, e.Code = 404, "not_found"
		}
		entries = append(entries, e)
	}
	if _, err := d.SaveRequestLog(ctx, entries, snapglyph.DefaultLogRetention(), nil); err != nil {
		t.Fatal(err)
	}
	notBefore := now.AddDate(0, 0, -90)
	cursor := &snapglyph.LogCursor{At: now.Add(-24 * time.Hour), RequestID: snapglyph.NewRequestID(now.Add(-24 * time.Hour))}
	from, to := now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			if _, err := d.db.ExecContext(ctx, `ANALYZE`); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []struct {
			name  string
			f     snapglyph.RequestLogFilter
			chart bool
			index string // as the plan names it
		}{
			{"code", snapglyph.RequestLogFilter{Code: "precondition_failed", Limit: 101}, false, "INDEX request_log_code"},
			{"code, next page", snapglyph.RequestLogFilter{Code: "precondition_failed", After: cursor, Limit: 101}, false, "INDEX request_log_code"},
			{"code and status", snapglyph.RequestLogFilter{Code: "precondition_failed", StatusMin: 400, StatusMax: 499, Limit: 101}, false, "INDEX request_log_code"},
			{"code's chart", snapglyph.RequestLogFilter{Code: "precondition_failed", From: from, To: to}, true, "INDEX request_log_code"},
			{"organisation", snapglyph.RequestLogFilter{Limit: 101}, false, "PRIMARY KEY"},
			{"key", snapglyph.RequestLogFilter{KeyID: "key_3", Limit: 101}, false, "INDEX request_log_key"},
			{"key, next page", snapglyph.RequestLogFilter{KeyID: "key_3", After: cursor, Limit: 101}, false, "INDEX request_log_key"},
			{"key's chart", snapglyph.RequestLogFilter{KeyID: "key_3", From: from, To: to}, true, "INDEX request_log_key"},
			{"suspicious", snapglyph.RequestLogFilter{Suspicious: true, Limit: 101}, false, "INDEX request_log_suspicious"},
		} {
			q, args := logPageQuery(sqlite, org.ID, &c.f, notBefore)
			if c.chart {
				q, args = logChartQuery(sqlite, org.ID, &c.f, notBefore, (24 * time.Hour).Milliseconds())
			}
			p := QueryPlan(t, d.db, q, args...)
			if !strings.Contains(p, c.index+" (") {
				t.Errorf("%s (analyzed %v): plan %q does not read the entries by %s", c.name, analyzed, p, c.index)
			}
			if !c.chart && strings.Contains(p, "TEMP B-TREE") && !strings.Contains(p, "LAST TERM OF ORDER BY") {
				t.Errorf("%s (analyzed %v): plan %q sorts the entries instead of reading them in the page's order", c.name, analyzed, p)
			}
		}
	}
}
