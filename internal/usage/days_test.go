package usage

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestRecordDaysAndAddresses: requests are counted on their UTC day and
// address; what is buffered is readable before the flush and merged back
// after a failed one; a batch holds at most MaxPendingIPsPerOrg addresses
// of one organisation.
func TestRecordDaysAndAddresses(t *testing.T) {
	s := &fakeSaver{fail: true}
	r := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	late := time.Date(2026, 11, 3, 23, 59, 59, 0, time.UTC)
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1, ImageCredits: 10}, snapglyph.LastUse{At: late, IP: "192.0.2.1"})
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: late.Add(time.Second), IP: "192.0.2.1"})
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: late.Add(2 * time.Second), IP: "2001:db8::1"})
	if got := r.PendingKeyDay("key_a", "2026-11-03"); got != (snapglyph.Counts{APICalls: 1, ImageCredits: 10}) {
		t.Errorf("3 Nov: %+v", got)
	}
	if got := r.PendingKeyDay("key_a", "2026-11-04"); got.APICalls != 2 {
		t.Errorf("4 Nov: %+v", got)
	}
	ips := r.PendingKeyIPs("key_a")
	if v := ips["192.0.2.1"]; len(ips) != 2 || v.Calls != 2 || !v.First.Equal(late) || !v.Last.Equal(late.Add(time.Second)) {
		t.Errorf("addresses %+v", ips)
	}
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("the flush did not fail")
	}
	if got := r.PendingKeyDay("key_a", "2026-11-04"); got.APICalls != 2 {
		t.Errorf("after a failed flush, 4 Nov: %+v", got)
	}
	if ips := r.PendingKeyIPs("key_a"); ips["192.0.2.1"].Calls != 2 || len(ips) != 2 {
		t.Errorf("after a failed flush: %+v", ips)
	}
	s.fail = false
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.PendingKeyDay("key_a", "2026-11-04"); got.APICalls != 0 || len(r.PendingKeyIPs("key_a")) != 0 {
		t.Error("still pending after the flush")
	}

	for i := 0; i < MaxPendingIPsPerOrg+5; i++ {
		r.Record("org_a", "key_b", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: late, IP: "2001:db8::" + strconv.FormatInt(int64(i), 16)})
	}
	if n := len(r.PendingKeyIPs("key_b")); n != MaxPendingIPsPerOrg || r.IPsDropped.Load() != 5 {
		t.Errorf("%d addresses buffered and %d dropped, want %d and 5", n, r.IPsDropped.Load(), MaxPendingIPsPerOrg)
	}
	if got := r.Pending("key_b", "2026-11"); got.APICalls != MaxPendingIPsPerOrg+5 {
		t.Errorf("calls %d: every call is counted, whatever its address", got.APICalls)
	}
}

// TestRecordAcrossMidnight: a request that arrived on the last day of a
// month and was charged in the next one (it was in flight at midnight)
// is counted on the new month's first day, as its month total is: the
// key page's days add up to its month. It was counted on 30 Nov while
// December's total held it.
func TestRecordAcrossMidnight(t *testing.T) {
	r := New(&fakeSaver{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	arrived := time.Date(2026, 11, 30, 23, 59, 59, 999e6, time.UTC)
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: arrived})
	r.Record("org_a", "key_a", "2026-12", snapglyph.Counts{APICalls: 1, ImageCredits: 10}, snapglyph.LastUse{At: arrived})
	r.Record("org_a", "key_a", "2026-12", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: arrived.Add(time.Millisecond)})
	for period, day := range map[string]string{"2026-11": "2026-11-30", "2026-12": "2026-12-01"} {
		if got, month := r.PendingKeyDay("key_a", day), r.Pending("key_a", period); got != month {
			t.Errorf("%s holds %+v, its month %s %+v: the days do not add up to the month", day, got, period, month)
		}
	}
	if got := r.PendingKeyDay("key_a", "2026-11-30"); got != (snapglyph.Counts{APICalls: 1}) {
		t.Errorf("30 Nov holds %+v, want the one call charged in November", got)
	}
}
