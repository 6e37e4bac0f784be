package web

import (
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestQRListHeadingCountsThousands: a filter's count is said as it is,
// thousands grouped, on the first page and on a later one.
func TestQRListHeadingCountsThousands(t *testing.T) {
	first := &qrListPage{Announce: true, Codes: make([]qrView, qrPageSize), Next: "/qr-codes?type=url&cursor=c#results"}
	later := &qrListPage{Announce: true, Codes: make([]qrView, 7), First: "/qr-codes?type=url#results"}
	f := snapglyph.QRFilter{Type: "url"}
	for _, c := range []struct {
		p     *qrListPage
		total int
		want  string
	}{
		{first, 1000, "1,000 QR codes, type Website address: the newest 20 shown, more on the next page"},
		{later, 1207, "1,207 QR codes, type Website address: the oldest 7 shown here"},
	} {
		if got := c.p.heading(f, c.total); got != c.want {
			t.Errorf("heading(%d) = %q, want %q", c.total, got, c.want)
		}
	}
}
