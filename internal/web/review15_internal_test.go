package web

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// TestPageParamsListEveryQueryRead: every query parameter the package's
// pages read (r.URL.Query().Get, and the q/query values taken from it) is
// in pageParams, so queryProblem refuses a raw ";" or a bad "%" in it
// rather than let the filter drop without a word.
func TestPageParamsListEveryQueryRead(t *testing.T) {
	reads := regexp.MustCompile(`(?:URL\.Query\(\)|\bq|\bquery)\.Get\("([A-Za-z_.]+)"\)`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reads.FindAllStringSubmatch(string(src), -1) {
			found++
			if !pageParam(m[1]) {
				t.Errorf("%s reads the query parameter %q, which pageParams does not list", name, m[1])
			}
		}
	}
	if found < 20 {
		t.Errorf("found %d reads of query parameters; the pattern no longer matches the code", found)
	}
}

// TestMeterRaise: who can raise a full meter's limit, for each plan.
func TestMeterRaise(t *testing.T) {
	calls := func(l snapglyph.PlanLimits) int64 { return l.APICalls }
	for _, tt := range []struct {
		plan snapglyph.Plan
		set  *int64
		role snapglyph.Role
		want string
	}{
		{snapglyph.PlanPro, nil, snapglyph.RoleOwner, "plan"},
		{snapglyph.PlanTrial, nil, snapglyph.RoleOwner, "plan"},
		{snapglyph.PlanPro, nil, snapglyph.RoleAdmin, "owner"},
		{snapglyph.PlanMax, nil, snapglyph.RoleOwner, "none"},
		{snapglyph.PlanMax, nil, snapglyph.RoleAdmin, "none"},
		{snapglyph.PlanPro, new(int64), snapglyph.RoleOwner, "operator"},
	} {
		b := base{User: &reqSession{Session: &snapglyph.Session{Role: tt.role}}, Org: &snapglyph.Org{Plan: tt.plan}}
		if got := raiseBy(b, tt.set, calls); got != tt.want {
			t.Errorf("%s, override %v, %s: %q, want %q", tt.plan, tt.set != nil, tt.role, got, tt.want)
		}
	}
}
