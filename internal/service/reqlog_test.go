package service_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestRequestLogReads writes 2,500 requests of two keys over three days
// in random order, then checks the chart (per hour and per day), the
// pages and the exports against the test's own count, with a clock that
// is not in UTC; and that Members and strangers read nothing.
func TestRequestLogReads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 15, 12, 30, 0, 0, time.UTC)
		// A clock in another zone, as time.Now is on a server.
		db.Now = func() time.Time { return now.In(time.FixedZone("CET", 3600)) }
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "max"})
		if err != nil {
			t.Fatal(err)
		}
		other, stranger, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Globex", OwnerEmail: "o@globex.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		member, err := db.AddMember(ctx, org.ID, "m@acme.test", snapglyph.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		k1, _ := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
		k2, _ := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Zapier-Integration")
		ko, _ := svc.CreateKey(ctx, snapglyph.Operator, other.ID, "Globex-Backend")

		w := reqlog.New(db.DB, slog.New(slog.NewTextHandler(io.Discard, nil)))
		w.Now = db.Now
		rng := rand.New(rand.NewPCG(1, 2))
		statuses := []int{200, 200, 200, 201, 204, 304, 400, 401, 404, 429, 500}
		perHour := map[int64][5]int64{} // hour start (ms) → by class, key 1, last 24 h
		perDay := map[int64]int64{}     // day start → all, key 1, last 72 h
		var k1Total int
		const n = 2500
		for i := range n {
			at := now.Add(-time.Duration(rng.Int64N(int64(72 * time.Hour))))
			key, o := k1, org
			switch i % 5 {
			case 3:
				key = k2
			case 4:
				key, o = ko, other
			}
			status := statuses[rng.IntN(len(statuses))]
			e := snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: o.ID, KeyID: key.ID, KeyPrefix: key.Prefix,
				Method: "GET", Route: "/api/v1/usage", Status: status, IP: "192.0.2.1", Plan: o.Plan}
			w.Record(&e)
			if key == k1 {
				k1Total++
				perDay[snapglyph.DayOf(at).UnixMilli()]++
				if at.After(now.Add(-24 * time.Hour)) {
					h := at.Truncate(time.Hour).UnixMilli()
					c := perHour[h]
					c[status/100-1]++
					perHour[h] = c
				}
			}
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		as := func(u *snapglyph.User) snapglyph.Actor { return snapglyph.Actor{UserID: u.ID, Label: u.Email} }

		// The chart of the last 24 hours, by the hour: 25 buckets (the
		// first and last partial), each as counted.
		c, err := svc.RequestLogChart(ctx, as(owner), org.ID, service.LogQuery{Key: k1.ID, From: "24h"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Bucket != time.Hour || len(c.Buckets) != 25 {
			t.Fatalf("chart of 24 h: %d buckets of %s, want 25 hours", len(c.Buckets), c.Bucket)
		}
		var sum int64
		for _, b := range c.Buckets {
			if b.ByClass != perHour[b.Start.UnixMilli()] && !b.Start.Equal(now.Add(-24*time.Hour).Truncate(time.Hour)) {
				t.Errorf("hour %s: %v, counted %v", b.Start, b.ByClass, perHour[b.Start.UnixMilli()])
			}
			sum += b.Total()
		}
		var counted int64
		for _, c := range perHour {
			for _, v := range c {
				counted += v
			}
		}
		if sum != counted {
			t.Errorf("the chart adds up to %d requests, the test counted %d", sum, counted)
		}
		// Over a week, by the day.
		c, err = svc.RequestLogChart(ctx, as(owner), org.ID, service.LogQuery{Key: k1.ID, From: "8d"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Bucket != 24*time.Hour || len(c.Buckets) != 9 {
			t.Fatalf("chart of 8 days: %d buckets of %s", len(c.Buckets), c.Bucket)
		}
		for _, b := range c.Buckets {
			if b.Total() != perDay[b.Start.UnixMilli()] {
				t.Errorf("day %s: %d, counted %d", b.Start, b.Total(), perDay[b.Start.UnixMilli()])
			}
		}

		// Pages of 1,000 and the export walk the same entries in order.
		var paged []snapglyph.RequestLogEntry
		q := service.LogQuery{Key: k1.ID, From: "7d", Limit: service.MaxLogPage}
		for pages := 0; ; pages++ {
			page, next, err := svc.RequestLog(ctx, as(owner), org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, page...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("too many pages")
			}
			q.Cursor = next
		}
		if len(paged) != k1Total {
			t.Fatalf("pages hold %d entries, want %d", len(paged), k1Total)
		}
		for i := 1; i < len(paged); i++ {
			if a, b := paged[i-1], paged[i]; a.At.Before(b.At) || (a.At.Equal(b.At) && a.RequestID <= b.RequestID) {
				t.Fatalf("entry %d (%s %s) is not older than the one before (%s %s)", i, b.At, b.RequestID, a.At, a.RequestID)
			}
		}
		var exported []string
		err = svc.ExportRequestLog(ctx, as(owner), org.ID, service.LogQuery{Key: k1.ID, From: "7d"}, func(e *snapglyph.RequestLogEntry) error {
			exported = append(exported, e.RequestID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(exported) != k1Total || exported[0] != paged[0].RequestID || exported[len(exported)-1] != paged[len(paged)-1].RequestID {
			t.Fatalf("export of %d entries, want %d in the pages' order", len(exported), k1Total)
		}
		n1234 := 0
		err = svc.ExportRequestLog(ctx, as(owner), org.ID, service.LogQuery{Limit: 1234}, func(*snapglyph.RequestLogEntry) error { n1234++; return nil })
		if err != nil || n1234 != 1234 {
			t.Fatalf("an export limited to 1,234 sent %d (%v)", n1234, err)
		}

		// Nobody else reads the log: a Member is refused, an Owner of
		// another organisation does not learn it exists, and the
		// organisation's own entries stay out of the other's.
		for _, u := range []*snapglyph.User{member, stranger} {
			want := snapglyph.EFORBIDDEN
			if u == stranger {
				want = snapglyph.ENOTFOUND
			}
			if _, _, err := svc.RequestLog(ctx, as(u), org.ID, service.LogQuery{}); snapglyph.ErrorKind(err) != want {
				t.Errorf("%s reads the log: %v, want %s", u.Email, err, want)
			}
			if _, err := svc.RequestLogEntry(ctx, as(u), org.ID, paged[0].RequestID); snapglyph.ErrorKind(err) != want {
				t.Errorf("%s reads an entry: %v, want %s", u.Email, err, want)
			}
			if _, err := svc.RequestLogChart(ctx, as(u), org.ID, service.LogQuery{}); snapglyph.ErrorKind(err) != want {
				t.Errorf("%s reads the chart: %v, want %s", u.Email, err, want)
			}
			if err := svc.ExportRequestLog(ctx, as(u), org.ID, service.LogQuery{}, func(*snapglyph.RequestLogEntry) error { return nil }); snapglyph.ErrorKind(err) != want {
				t.Errorf("%s exports the log: %v, want %s", u.Email, err, want)
			}
		}
		if _, err := svc.RequestLogEntry(ctx, as(stranger), other.ID, paged[0].RequestID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("another organisation's entry by id: %v", err)
		}
		err = svc.ExportRequestLog(ctx, as(stranger), other.ID, service.LogQuery{}, func(e *snapglyph.RequestLogEntry) error {
			if e.OrgID != other.ID || e.KeyID != ko.ID {
				return fmt.Errorf("%s's export holds %s of %s", other.ID, e.RequestID, e.OrgID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestRequestLogChartEdges: the chart counts every entry in its range once,
// in the bucket of its time, whatever the range's edges: entries on an
// hour's first and last millisecond, just before the range and on its end
// (left out), in the future when the range has no end (a node's clock a
// little ahead), under the retention (left out), and with a filter. The
// store counts SQLite's buckets one query each and PostgreSQL's in one
// query; both are held against the test's own count.
func TestRequestLogChartEdges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 15, 12, 30, 0, 0, time.UTC)
		lo := newLogOrg(t, db, now, "max")
		svc, org, k1, w := lo.svc, lo.org, lo.key, lo.w
		k2, _ := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Zapier-Integration")
		hour := now.Truncate(time.Hour)
		var ats []time.Time
		for h := -50; h <= 1; h++ {
			b := hour.Add(time.Duration(h) * time.Hour)
			ats = append(ats, b, b.Add(-time.Millisecond), b.Add(time.Millisecond), b.Add(17*time.Minute))
		}
		statuses := []int{200, 201, 304, 401, 404, 429, 500}
		type entry struct {
			at     time.Time
			key    string
			status int
		}
		var all []entry
		for i, at := range ats {
			key := k1
			if i%3 == 0 {
				key = k2
			}
			status := statuses[i%len(statuses)]
			e := snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: key.ID, KeyPrefix: key.Prefix,
				Method: "GET", Route: "/api/v1/usage", Status: status, IP: "192.0.2.1", Plan: org.Plan}
			w.Record(&e)
			all = append(all, entry{at, key.ID, status})
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name      string
			f         snapglyph.RequestLogFilter
			notBefore time.Time
			bucket    time.Duration
		}{
			{"a day by the hour, unaligned", snapglyph.RequestLogFilter{From: now.Add(-24 * time.Hour), To: now}, time.Time{}, time.Hour},
			{"aligned hours", snapglyph.RequestLogFilter{From: hour.Add(-6 * time.Hour), To: hour}, time.Time{}, time.Hour},
			{"no end: the future counts", snapglyph.RequestLogFilter{From: now.Add(-3 * time.Hour)}, time.Time{}, time.Hour},
			{"retention later than the range", snapglyph.RequestLogFilter{From: now.Add(-30 * time.Hour)}, now.Add(-20*time.Hour - time.Millisecond), time.Hour},
			{"by the day, a key's refusals", snapglyph.RequestLogFilter{From: now.Add(-60 * time.Hour), KeyID: k1.ID, StatusMin: 400, StatusMax: 499}, time.Time{}, 24 * time.Hour},
			{"an empty range", snapglyph.RequestLogFilter{From: now, To: now}, time.Time{}, time.Hour},
			{"within one hour", snapglyph.RequestLogFilter{From: hour.Add(-2*time.Hour + time.Millisecond), To: hour.Add(-time.Hour - time.Millisecond)}, time.Time{}, time.Hour},
		} {
			t.Run(c.name, func(t *testing.T) {
				want := map[int64][5]int64{}
				for _, e := range all {
					if e.at.Before(c.f.From) || e.at.Before(c.notBefore) || !c.f.To.IsZero() && !e.at.Before(c.f.To) ||
						c.f.KeyID != "" && e.key != c.f.KeyID || c.f.StatusMin > 0 && (e.status < c.f.StatusMin || e.status > c.f.StatusMax) {
						continue
					}
					b := want[e.at.Truncate(c.bucket).UnixMilli()]
					b[e.status/100-1]++
					want[e.at.Truncate(c.bucket).UnixMilli()] = b
				}
				got, err := db.RequestLogChart(ctx, org.ID, c.f, c.notBefore, c.bucket)
				if err != nil {
					t.Fatal(err)
				}
				have := map[int64][5]int64{}
				for i, b := range got {
					if i > 0 && !got[i-1].Start.Before(b.Start) {
						t.Errorf("bucket %s after %s", b.Start, got[i-1].Start)
					}
					have[b.Start.UnixMilli()] = b.ByClass
				}
				for start, w := range want {
					if have[start] != w {
						t.Errorf("bucket %s: %v, counted %v", time.UnixMilli(start).UTC(), have[start], w)
					}
				}
				for start, h := range have {
					if _, ok := want[start]; !ok {
						t.Errorf("bucket %s: %v, counted none", time.UnixMilli(start).UTC(), h)
					}
				}
			})
		}
	})
}

// TestChartCountsRequestsAtNow: with the clock exactly on the hour,
// requests made at that very instant are in the chart as in the list (the
// chart drew the hours before it only, and read 0 next to a list of 3).
func TestChartCountsRequestsAtNow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
		lo := newLogOrg(t, db, now, "pro")
		svc, org, owner, k, w := lo.svc, lo.org, lo.owner, lo.key, lo.w
		for i, at := range []time.Time{now.Add(-time.Millisecond), now, now} {
			e := snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: k.ID, KeyPrefix: k.Prefix,
				Method: "GET", Route: "/api/v1/usage", Status: []int{200, 401, 200}[i], IP: "192.0.2.1", Plan: org.Plan}
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email}
		for _, q := range []service.LogQuery{{From: "24h"}, {From: "8d"}, {Key: k.ID, From: "24h"}} {
			c, err := svc.RequestLogChart(ctx, actor, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			entries, _, err := svc.RequestLog(ctx, actor, org.ID, q)
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, b := range c.Buckets {
				sum += b.Total()
			}
			if sum != 3 || len(entries) != 3 {
				t.Errorf("%+v: the chart counts %d requests, the list shows %d; want 3", q, sum, len(entries))
			}
		}
	})
}
