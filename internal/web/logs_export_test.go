package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// goneClient is a response writer whose client went away: every write
// fails, and it counts them.
type goneClient struct {
	header http.Header
	writes int
	first  []byte // what the first write offered
}

func (g *goneClient) Header() http.Header { return g.header }
func (g *goneClient) WriteHeader(int)     {}
func (g *goneClient) Write(p []byte) (int, error) {
	if g.writes == 0 {
		g.first = append([]byte(nil), p...)
	}
	g.writes++
	return 0, errors.New("write: broken pipe")
}

var cutShort = regexp.MustCompile(`request log export cut short.* entries=(\d+)`)

// TestLogExportStopsWhenTheClientGoes: an export whose client is gone
// stops at the first failed write, instead of reading on through the log
// (before, the CSV export ignored its write errors until the next thousand
// rows, and a flush's error was never looked at).
func TestLogExportStopsWhenTheClientGoes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		ctx := context.Background()
		const total = 3000
		entries := make([]snapglyph.RequestLogEntry, total)
		first := e.clock.Now().Add(-time.Hour)
		for i := range entries {
			at := first.Add(time.Duration(i) * time.Second)
			entries[i] = snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: "key_x", KeyPrefix: "qr_live_abcd",
				Method: "GET", Route: "/api/v1/usage", Status: 200, IP: "192.0.2.1", UserAgent: "exporter-test/1.0", Plan: snapglyph.PlanPro}
		}
		retention := snapglyph.DefaultLogRetention()
		if err := db.EnsureRequestLogPartitions(ctx, []snapglyph.LogPartition{{RetentionDays: retention.Days(snapglyph.PlanPro), Day: snapglyph.DayOf(first)},
			{RetentionDays: retention.Days(snapglyph.PlanPro), Day: snapglyph.DayOf(e.clock.Now())}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveRequestLog(ctx, entries, retention, nil); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"csv", "ndjson"} {
			before := len(cutShort.FindAllString(e.logs.String(), -1))
			req := httptest.NewRequest("GET", "/settings/logs/export."+format+"?range=all", nil)
			for _, c := range b.client.Jar.Cookies(mustURL(t, e.srv.URL)) {
				req.AddCookie(c)
			}
			req.Header.Set("User-Agent", "Mozilla/5.0 (test browser)")
			g := &goneClient{header: http.Header{}}
			aborted := func() (aborted bool) {
				defer func() {
					if r := recover(); r != nil {
						if r != http.ErrAbortHandler {
							panic(r)
						}
						aborted = true
					}
				}()
				e.dash.ServeHTTP(g, req)
				return false
			}()
			if !aborted {
				t.Errorf("%s: the export to a gone client was not aborted", format)
			}
			if g.writes != 1 {
				t.Errorf("%s: %d writes to a gone client, want 1 (none after the first failed)", format, g.writes)
			}
			m := cutShort.FindAllStringSubmatch(e.logs.String(), -1)
			if len(m) != before+1 {
				t.Fatalf("%s: no log of the cut export:\n%s", format, e.logs)
			}
			n, _ := strconv.Atoi(m[len(m)-1][1])
			offered := strings.Count(string(g.first), "\n")
			// The entries read are those the buffers held when the write
			// failed (32 KiB, and the CSV writer's 4 KiB), and the one
			// whose write found the failure: never the next thousand.
			if n < offered-1 || n > offered+64 {
				t.Errorf("%s: %d entries read for a client gone after %d, want about %d", format, n, offered, offered)
			}
			t.Logf("%s: the client was gone at %d lines; %d entries read", format, offered, n)
		}
	})
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(fmt.Errorf("%q: %w", s, err))
	}
	return u
}
