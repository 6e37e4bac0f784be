package web_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestLogsFarFutureRange: a custom range whose end is far in the future
// (a date picker's, or an attacker's to=9999-12-31) is drawn to now: a
// page of a few kilobytes with a bar a day of the range, which it names,
// instead of 165 MB of bars and seconds of queries. A range that starts
// after now says so.
func TestLogsFarFutureRange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanMax)
		b := e.browser()
		b.signIn(email)
		k := b.createKey("Production-WebApp")
		for range 2 {
			e.advance(time.Millisecond)
			e.call("GET", "/api/v1/usage", k, "acme-sdk/1.0")
		}
		e.waitLogged(org.ID, 2)
		for _, to := range []string{"9999-12-31", "2100-01-01"} {
			began := time.Now()
			p := b.get("/settings/logs?range=custom&from=2026-11-01&to=" + to)
			expectStatus(t, p, http.StatusOK)
			// 1 to 15 November: 15 days.
			if bars := strings.Count(p.Body, `<g class="bar">`); bars != 15 || len(p.Body) > 200<<10 || len(rows(p)) != 2 {
				t.Errorf("to=%s: %d bars, %d rows, %d bytes in %s; want 15 bars and 2 rows", to, bars, len(rows(p)), len(p.Body), time.Since(began))
			}
			expectContains(t, p, "1 Nov 2026 00:00 to 15 Nov 2026 12:00 UTC")
		}
		p := b.get("/settings/logs?range=custom&from=9999-01-01&to=9999-12-31")
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, "after now")
	})
}
