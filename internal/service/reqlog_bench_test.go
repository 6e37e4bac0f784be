package service_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// BenchmarkRequestLogQueries reads a request log of many entries, made by
// the database itself (SNAPGLYPH_BENCH_LOG_ROWS of them, e.g. 10000000;
// skipped when unset): 30 days (SNAPGLYPH_BENCH_LOG_DAYS: 3 days of 1,000,000
// entries are as dense as 30 of 10,000,000) of requests of 100 organisations, one of
// which, the busiest, sends 30 % of them with 10 keys. It measures what a
// person waits for on the Logs page: the newest 100 entries of one key
// and of the busiest organisation, its suspicious ones, those from a rare
// address and those with a rare error code (1 in 10,000 entries each, so
// without an index a filter reads every entry of the organisation in the
// range to find them), and a day's chart of the organisation and of the
// key.
func BenchmarkRequestLogQueries(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SNAPGLYPH_BENCH_LOG_ROWS"))
	if n <= 0 {
		b.Skip("set SNAPGLYPH_BENCH_LOG_ROWS (e.g. 10000000) to build a log that large and read it")
	}
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			db := testdb.Open(b, dialect)
			ctx := context.Background()
			end := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
			days := 30
			if d, err := strconv.Atoi(os.Getenv("SNAPGLYPH_BENCH_LOG_DAYS")); err == nil && d >= 2 {
				days = d
			}
			start := end.AddDate(0, 0, -days)
			db.Now = func() time.Time { return end }
			svc := service.New(db.DB)
			org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Busy", OwnerEmail: "o@busy.test", Plan: "max"})
			if err != nil {
				b.Fatal(err)
			}
			var keys []string
			for i := range 10 {
				k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, fmt.Sprintf("Backend-%d", i))
				if err != nil {
					b.Fatal(err)
				}
				keys = append(keys, k.ID)
			}
			var parts []snapglyph.LogPartition
			for d := start; d.Before(end); d = d.AddDate(0, 0, 1) {
				parts = append(parts, snapglyph.LogPartition{RetentionDays: 90, Day: d})
			}
			if err := db.EnsureRequestLogPartitions(ctx, parts); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			fill(b, db, org.ID, keys, start, end, n)
			b.Logf("%s: %d entries made in %s", dialect, n, time.Since(t0).Round(time.Second))

			day := service.LogQuery{From: end.AddDate(0, 0, -2).Format(time.RFC3339), To: end.AddDate(0, 0, -1).Format(time.RFC3339)}
			keyDay := day
			keyDay.Key = keys[4]
			for _, c := range []struct {
				name string
				run  func() (int64, error)
			}{
				{"newest-100-of-a-key", func() (int64, error) {
					e, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{Key: keys[4], Limit: 100})
					return int64(len(e)), err
				}},
				{"newest-100-of-the-organisation", func() (int64, error) {
					e, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{Limit: 100})
					return int64(len(e)), err
				}},
				{"newest-100-refusals-of-a-key", func() (int64, error) {
					e, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{Key: keys[4], Status: "4xx", Limit: 100})
					return int64(len(e)), err
				}},
				{"newest-50-suspicious", func() (int64, error) {
					e, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{Suspicious: true, Limit: 50})
					return int64(len(e)), err
				}},
				{"newest-100-of-a-rare-ip", func() (int64, error) {
					e, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{IP: rareIP, Limit: 100})
					return int64(len(e)), err
				}},
				{"newest-100-of-a-rare-code", func() (int64, error) {
					e, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{Code: rareCode, Limit: 100})
					return int64(len(e)), err
				}},
				{"chart-of-a-day-organisation", func() (int64, error) {
					c, err := svc.RequestLogChart(ctx, snapglyph.Operator, org.ID, day)
					return chartTotal(c), err
				}},
				{"chart-of-a-day-key", func() (int64, error) {
					c, err := svc.RequestLogChart(ctx, snapglyph.Operator, org.ID, keyDay)
					return chartTotal(c), err
				}},
			} {
				b.Run(c.name, func(b *testing.B) {
					var got int64
					for range b.N {
						if got, err = c.run(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(got), "entries")
					b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
				})
			}
		})
	}
}

func chartTotal(c *service.LogChart) int64 {
	if c == nil {
		return 0
	}
	var n int64
	for _, b := range c.Buckets {
		n += b.Total()
	}
	return n
}

// The address and the error code that 1 in 10,000 entries have, all of
// them the busiest organisation's (see fill).
const (
	rareIP   = "203.0.113.7"
	rareCode = "precondition_failed"
)

// fill makes n entries between start and end in the database, evenly in
// time: 30 % of the organisation's keys (round robin), the rest of 99
// other organisations of 10 keys each; 1 in 20 is a 404, 1 in 20 a 401
// of a revoked key (suspicious), 1 in 20 a 429. Every entry i (from 0)
// with i % 10,000 = 0 comes from rareIP, and with i % 10,000 = 10 is a
// 412 with rareCode instead of a 200: both are the organisation's (i %
// 10 < 3), of its first and second key.
func fill(b *testing.B, db *testdb.DB, orgID string, keys []string, start, end time.Time, n int) {
	b.Helper()
	span := end.Sub(start).Milliseconds()
	q := `INSERT INTO request_log (at, request_id, org_id, key_id, key_prefix, method, route, resource_id, status, code, ip, user_agent, duration_us, calls, credits, flags, retention_days)
	SELECT at, %s, org, key, 'qr_live_ab12', 'GET', '/api/v1/qr-codes/{id}', 'qr_FJ9V1pYfmsmOtK8rZPDM',
		CASE i %% 20 WHEN 0 THEN 404 WHEN 1 THEN 401 WHEN 2 THEN 429 ELSE CASE i %% 10000 WHEN 10 THEN 412 ELSE 200 END END,
		CASE i %% 20 WHEN 0 THEN 'not_found' WHEN 1 THEN 'api_key_revoked' WHEN 2 THEN 'api_call_limit_reached' ELSE CASE i %% 10000 WHEN 10 THEN '%s' ELSE '' END END,
		CASE i %% 10000 WHEN 0 THEN '%s' ELSE '10.0.' || (i %% 200) || '.' || (i %% 250) END, 'acme-sdk/2.1 (+https://acme.test)', 800, 1, 0,
		CASE i %% 20 WHEN 1 THEN 1 ELSE 0 END, 90
	FROM (SELECT i, %d + (i * %d / %d) AS at,
		CASE WHEN i %% 10 < 3 THEN '%s' ELSE 'org_' || (i %% 99) END AS org,
		CASE WHEN i %% 10 < 3 THEN %s ELSE 'key_' || (i %% 99) || '_' || ((i / 99) %% 10) END AS key
		FROM %s) AS s`
	keyOf := "CASE (i / 10) % 10"
	for j, k := range keys {
		keyOf += fmt.Sprintf(" WHEN %d THEN '%s'", j, k)
	}
	keyOf += " END"
	const chunk = 1_000_000
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		var id, series string
		if db.Postgres() {
			id = `lpad(to_hex(at), 12, '0') || substr(md5(i::text), 1, 12)`
			series = fmt.Sprintf("generate_series(%d, %d) AS i", lo, hi-1)
		} else {
			id = `printf('%012x', at) || lower(hex(randomblob(6)))`
			series = fmt.Sprintf("(WITH RECURSIVE g(i) AS (SELECT %d UNION ALL SELECT i + 1 FROM g WHERE i < %d) SELECT i FROM g)", lo, hi-1)
		}
		sql := fmt.Sprintf(q, id, rareCode, rareIP, start.UnixMilli(), span, n, orgID, keyOf, series)
		if _, err := db.SQL().ExecContext(context.Background(), sql); err != nil {
			b.Fatal(err)
		}
	}
	if db.Postgres() {
		if _, err := db.SQL().ExecContext(context.Background(), `VACUUM ANALYZE request_log`); err != nil {
			b.Fatal(err)
		}
	} else if _, err := db.SQL().ExecContext(context.Background(), `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}
