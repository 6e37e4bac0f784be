package snapglyph_test

import (
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestTimeUntilRounds: how soon a key expires is said rounded to the
// nearest unit, so a key made a moment ago for 30 days expires "in 30
// days", and a count that rounds up to the next unit is said in it.
func TestTimeUntilRounds(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Hour, "less than a minute"},
		{59 * time.Second, "less than a minute"},
		{time.Minute, "1 minute"},
		{89 * time.Second, "1 minute"},
		{90 * time.Second, "2 minutes"},
		{59*time.Minute + 40*time.Second, "1 hour"},
		{90 * time.Minute, "2 hours"},
		{47*time.Hour + 29*time.Minute, "47 hours"},
		{47*time.Hour + 30*time.Minute, "2 days"},
		{30*24*time.Hour - 3*time.Millisecond, "30 days"},
		{365*24*time.Hour - time.Second, "365 days"},
		{5*24*time.Hour + 21*time.Hour, "6 days"},
		{5*24*time.Hour + 11*time.Hour, "5 days"},
	} {
		if got := snapglyph.TimeUntil(now, now.Add(c.d)); got != c.want {
			t.Errorf("TimeUntil(+%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
