package meter

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// BenchmarkChargeCall is the meter's cost per authenticated request:
// with the reported usage taken from the meter's own view (the baseline,
// as before) and from Spent (stored figure cached, this node's buffer).
func BenchmarkChargeCall(b *testing.B) {
	for _, withSpent := range []bool{false, true} {
		name := "meter-view"
		if withSpent {
			name = "spent"
		}
		b.Run(name, func(b *testing.B) {
			st := &usedStore{memStore: *newMemStore(), used: make(map[string]snapglyph.Counts)}
			m := New(st)
			m.MaxBlock = 1 << 20
			rec := usage.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if withSpent {
				m.Spent = NewSpent(st, rec)
			}
			org := orgWith("org_bench", 1e12, 1e12)
			period, _ := snapglyph.Period(m.Now())
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, _, ok, err := m.ChargeCall(ctx, org); !ok || err != nil {
						b.Fatal(ok, err)
					}
					rec.Record(org.ID, "key_bench", period, snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{})
				}
			})
		})
	}
}
