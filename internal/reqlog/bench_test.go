package reqlog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// nullStore takes every batch and keeps nothing.
type nullStore struct{ saved atomic.Int64 }

func (s *nullStore) SaveRequestLog(_ context.Context, e []snapglyph.RequestLogEntry, _ snapglyph.LogRetention, _ []snapglyph.KeyIP) ([]int, error) {
	s.saved.Add(int64(len(e)))
	return nil, nil
}
func (s *nullStore) SaveRequestLogAgain(ctx context.Context, e []snapglyph.RequestLogEntry, r snapglyph.LogRetention, fresh []snapglyph.KeyIP) ([]int, error) {
	return s.SaveRequestLog(ctx, e, r, fresh)
}
func (*nullStore) EnsureRequestLogPartitions(context.Context, []snapglyph.LogPartition) error {
	return nil
}
func (*nullStore) AddRequestLogGaps(context.Context, map[string]map[time.Time]int64) error {
	return nil
}

// BenchmarkRecord is what a request pays to be logged: one entry copied
// into the node's buffer ("record"; the buffer is emptied every 5,000
// entries, outside the timing), and that plus the writer's own work per
// entry before the database (sorting, cleaning text, new addresses) with
// a store that keeps nothing ("record+write").
func BenchmarkRecord(b *testing.B) {
	for _, withWrite := range []bool{false, true} {
		name := "record"
		if withWrite {
			name = "record+write"
		}
		b.Run(name, func(b *testing.B) {
			w := reqlog.New(&nullStore{}, quiet())
			ctx := context.Background()
			e := entry("org_a", "key_a", "192.0.2.1", time.Now(), 200, "")
			b.ReportAllocs()
			for i := range b.N {
				e.IP = ips[i%len(ips)]
				w.Record(&e)
				if i%5000 == 4999 {
					if !withWrite {
						b.StopTimer()
					}
					w.Flush(ctx)
					if !withWrite {
						b.StartTimer()
					}
				}
			}
		})
	}
}

var ips = func() []string {
	var out []string
	for i := range 500 {
		out = append(out, fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	return out
}()

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWrite writes the request log as a busy node does: batches of
// 5,000 entries of 50 keys of 10 organisations from 500 addresses, into a
// log that already holds 200,000 entries. It reports the CPU time per
// entry (all goroutines, the database's own included on SQLite), which
// the machine's other load does not inflate as it does the wall time.
func BenchmarkWrite(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			db := testdb.Open(b, dialect)
			w := reqlog.New(db, quiet())
			now := time.Now()
			w.Now = func() time.Time { return now }
			seq := 0
			batch := func(n int) {
				for range n {
					seq++
					k := seq % 50
					e := snapglyph.RequestLogEntry{At: now.Add(time.Duration(seq) * 50 * time.Microsecond), RequestID: snapglyph.NewRequestID(now.Add(time.Duration(seq) * 50 * time.Microsecond)),
						OrgID: fmt.Sprintf("org_%02d", k%10), KeyID: fmt.Sprintf("key_%02d", k), KeyPrefix: "qr_live_ab12", Method: "GET",
						Route: "/api/v1/qr-codes/{id}", ResourceID: "qr_FJ9V1pYfmsmOtK8rZPDM", Status: 200, IP: ips[seq%len(ips)],
						UserAgent: "acme-sdk/2.1 (+https://acme.test)", Duration: 800 * time.Microsecond, Calls: 1, Plan: snapglyph.PlanPro}
					w.Record(&e)
				}
				if err := w.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			for range 40 {
				batch(5000)
			}
			b.ResetTimer()
			cpu := cpuTime()
			for range b.N {
				batch(5000)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*5000), "cpu-ns/entry")
			b.ReportMetric(float64(b.Elapsed())/float64(b.N*5000), "wall-ns/entry")
		})
	}
}
