package service_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestLogRangeEndsAtNow: a range that ends far in the future is cut at now
// (plus LogClockSkew, so an entry of a node whose clock is a little ahead
// still shows): the list, the exports and the gaps read up to there, and
// the chart draws to now, with a bounded number of bars whatever the
// range (it drew 26,700 daily bars for to=2100-01-01, and ran a query per
// day on SQLite). A range that starts after now, or ends before it
// starts, is refused, naming the field.
func TestLogRangeEndsAtNow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
		lo := newLogOrg(t, db, now, "max")
		svc, org, owner, k, w := lo.svc, lo.org, lo.owner, lo.key, lo.w
		// Three requests this month, one of them from a node whose clock
		// is 30 s ahead.
		for _, at := range []time.Time{now.AddDate(0, 0, -20), now.Add(-time.Hour), now.Add(30 * time.Second)} {
			e := snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: k.ID, KeyPrefix: k.Prefix,
				Method: "GET", Route: "/api/v1/usage", Status: 200, IP: "192.0.2.1", Plan: org.Plan}
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email}

		for _, to := range []string{"9999-12-31", "2100-01-01", "2026-12-31"} {
			q := service.LogQuery{From: "2026-11-01", To: to}
			f, err := svc.LogFilter(ctx, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			if want := now.Add(snapglyph.LogClockSkew); !f.To.Equal(want) {
				t.Errorf("to=%s reads up to %s, want %s", to, f.To, want)
			}
			if to == "9999-12-31" {
				continue // the chart of the old code ran for minutes
			}
			start := time.Now()
			c, err := svc.RequestLogChart(ctx, actor, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, b := range c.Buckets {
				sum += b.Total()
			}
			if !c.To.Equal(now) || c.Bucket != 24*time.Hour || len(c.Buckets) != 32 || sum != 3 {
				t.Errorf("to=%s: a chart to %s of %d buckets of %s counting %d requests (%s), want to now, 32 days, 3 requests",
					to, c.To, len(c.Buckets), c.Bucket, sum, time.Since(start))
			}
			entries, _, err := svc.RequestLog(ctx, actor, org.ID, q)
			if err != nil || len(entries) != 3 {
				t.Errorf("to=%s: the list shows %d requests (%v), want 3", to, len(entries), err)
			}
		}

		// The chart's bars are bounded whatever the retention allows.
		svc.LogRetention = snapglyph.LogRetention{snapglyph.PlanMax: snapglyph.MaxRetentionDays}
		for _, q := range []service.LogQuery{{To: "9999-12-31"}, {From: "3650d"}, {From: "3650d", To: "2100-01-01"}} {
			c, err := svc.RequestLogChart(ctx, actor, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, b := range c.Buckets {
				sum += b.Total()
			}
			if len(c.Buckets) > service.ChartMaxDays+2 || sum != 3 || !c.To.Equal(now) {
				t.Errorf("%+v: %d buckets of %s to %s counting %d requests, want at most %d counting 3", q, len(c.Buckets), c.Bucket, c.To, sum, service.ChartMaxDays+2)
			}
			for i, b := range c.Buckets {
				if b.Start.UnixMilli()%c.Bucket.Milliseconds() != 0 || i > 0 && !b.Start.Equal(c.Buckets[i-1].Start.Add(c.Bucket)) {
					t.Errorf("%+v: bucket %d starts at %s", q, i, b.Start)
				}
			}
		}
		svc.LogRetention = nil

		// Ranges that hold nothing are refused, as before the cut.
		for _, c := range []struct {
			q           service.LogQuery
			field, word string
		}{
			{service.LogQuery{From: "2026-12-01", To: "2026-11-01"}, "to", "before it starts"},
			// No start given: the end is before anything kept (the message
			// named the default start, a time the user never gave).
			{service.LogQuery{To: "100d"}, "to", "before the oldest request the log keeps: it keeps entries for at most 90 days"},
			{service.LogQuery{From: "9999-01-01", To: "9999-12-31"}, "from", "after now"},
			{service.LogQuery{From: "2027-01-01"}, "from", "after now"},
		} {
			_, err := svc.LogFilter(ctx, org.ID, c.q)
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(snapglyph.ErrorMessage(err), c.word) {
				t.Errorf("%+v: %v, want EINVALID saying %q", c.q, err, c.word)
				continue
			}
			if fe := err.(*snapglyph.Error).Fields; len(fe) != 1 || fe[0].Field != c.field {
				t.Errorf("%+v: fields %+v, want %s", c.q, fe, c.field)
			}
		}
	})
}

// TestLogShowsCurrentRetention: the log shows an organisation's entries
// for its current plan's retention, whatever they were stored with: after
// a move from Max to Pro (30 days) and after the operator shortens Pro's
// retention to 7 days, older entries leave the list, the request's page,
// the chart and the exports at once, and the next maintenance removes
// them.
func TestLogShowsCurrentRetention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
		lo := newLogOrg(t, db, now, "max")
		svc, org, owner, k, w := lo.svc, lo.org, lo.owner, lo.key, lo.w
		ids := map[int]string{} // by age in days
		for _, days := range []int{60, 20, 10, 1} {
			at := now.AddDate(0, 0, -days)
			e := snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: k.ID, KeyPrefix: k.Prefix,
				Method: "GET", Route: "/api/v1/usage", Status: 200, IP: "192.0.2.1", Plan: snapglyph.PlanMax}
			ids[days] = e.RequestID
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email}
		shows := func(name string, kept int, want ...int) {
			t.Helper()
			q := service.LogQuery{From: "90d", To: "9999-12-31"}
			entries, _, err := svc.RequestLog(ctx, actor, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(want) {
				t.Errorf("%s: the list shows %d requests, want %d", name, len(entries), len(want))
			}
			exported := 0
			if err := svc.ExportRequestLog(ctx, actor, org.ID, service.LogQuery{}, func(*snapglyph.RequestLogEntry) error { exported++; return nil }); err != nil {
				t.Fatal(err)
			}
			if exported != len(want) {
				t.Errorf("%s: the export holds %d requests, want %d", name, exported, len(want))
			}
			c, err := svc.RequestLogChart(ctx, actor, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, b := range c.Buckets {
				sum += b.Total()
			}
			if from := now.AddDate(0, 0, -kept); sum != int64(len(want)) || !c.From.Equal(from) {
				t.Errorf("%s: the chart from %s counts %d requests, want %d from %s", name, c.From, sum, len(want), from)
			}
			for days, id := range ids {
				_, err := svc.RequestLogEntry(ctx, actor, org.ID, id)
				shown := false
				for _, d := range want {
					shown = shown || d == days
				}
				if shown && err != nil || !shown && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
					t.Errorf("%s: the request of %d days ago: %v (shown: %v)", name, days, err, shown)
				}
			}
		}
		shows("on Max", 90, 60, 20, 10, 1)
		if err := db.SetPlan(ctx, org.ID, snapglyph.PlanPro, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		shows("moved to Pro", 30, 20, 10, 1)
		retention, err := snapglyph.ParseLogRetention("pro=7d")
		if err != nil {
			t.Fatal(err)
		}
		svc.LogRetention = retention
		shows("Pro kept 7 days", 7, 1)
		// A custom range wholly before the retention says so.
		_, _, err = svc.RequestLog(ctx, actor, org.ID, service.LogQuery{From: "30d", To: "20d"})
		if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(snapglyph.ErrorMessage(err), "keeps the request log for 7 days") {
			t.Errorf("a range before the retention: %v", err)
		}

		// The maintenance removes what is no longer shown.
		if _, _, err := reqlog.Maintain(ctx, db, retention, now); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.RequestLog(ctx, org.ID, snapglyph.RequestLogFilter{}, time.Time{}, func(*snapglyph.RequestLogEntry) error { left++; return nil }); err != nil {
			t.Fatal(err)
		}
		if left != 1 {
			t.Errorf("%d entries stored after the maintenance, want 1", left)
		}
	})
}

// logOrg is an organisation of a plan, its Owner and its key
// Production-WebApp, made at the fixed time now (db's clock from then
// on), with a request log writer on the same clock.
type logOrg struct {
	svc   *service.Service
	org   *snapglyph.Org
	owner *snapglyph.User
	key   *service.NewKey
	w     *reqlog.Writer
}

func newLogOrg(t *testing.T, db *testdb.DB, now time.Time, plan string) logOrg {
	t.Helper()
	db.Now = func() time.Time { return now }
	svc := service.New(db.DB)
	org, owner, err := svc.CreateOrg(context.Background(), service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	k, err := svc.CreateKey(context.Background(), snapglyph.Operator, org.ID, "Production-WebApp")
	if err != nil {
		t.Fatal(err)
	}
	w := reqlog.New(db.DB, slog.New(slog.NewTextHandler(io.Discard, nil)))
	w.Now = db.Now
	return logOrg{svc, org, owner, k, w}
}
