package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// call makes an API request with a key and a user agent and returns its
// request id and status.
func (e *env) call(method, path, key, ua string) (string, int) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", ua)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Request-Id"), resp.StatusCode
}

// waitLogged waits until the organisation's log holds n entries.
func (e *env) waitLogged(orgID string, n int) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := 0
		err := e.svc.ExportRequestLog(context.Background(), snapglyph.Operator, orgID, service.LogQuery{}, func(*snapglyph.RequestLogEntry) error { got++; return nil })
		if err != nil {
			e.t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d entries logged, want %d", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var rowID = regexp.MustCompile(`<tr id="req-([0-9a-f]+)"`)

// rows returns the request ids of the list's rows, in order.
func rows(p *page) []string {
	var ids []string
	for _, m := range rowID.FindAllStringSubmatch(p.Body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// TestLogsPage: an Owner finds every request of the organisation's keys
// on the Logs page, each filter narrows the list to what it says (checked
// against the test's own record of each request), the chart's counts add
// up, pages do not skip or repeat, the page per request shows the entry,
// the exports hold the same rows, and suspicious requests come first.
func TestLogsPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k1 := b.createKey("Production-WebApp")
		k2 := b.createKey("Zapier-Integration")
		api := b.get("/settings/api")
		id1, id2 := keyID(t, api.Body, "Production-WebApp"), keyID(t, api.Body, "Zapier-Integration")
		// Each key's row links to its requests.
		expectContains(t, api, `href="/settings/logs?key=`+id1+`&amp;range=all#results"`, `aria-label="Logs of Zapier-Integration"`)

		var reqs []req
		do := func(path, key, keyID, ua string) {
			e.advance(time.Millisecond) // the list is newest first, to the millisecond
			id, status := e.call("GET", path, key, ua)
			reqs = append(reqs, req{id, keyID, status})
		}
		for range 3 {
			do("/api/v1/usage", k1, id1, "acme-sdk/1.0")
		}
		do("/api/v1/qr-codes/qr_nope", k1, id1, "=HYPERLINK(\"http://evil.test\")")
		do("/api/v1/usage", k2, id2, "zapier/7")
		expectStatus(t, b.post("/settings/api/keys/"+id2+"/pause", nil), http.StatusSeeOther)
		do("/api/v1/usage", k2, id2, "zapier/7")
		e.waitLogged(org.ID, len(reqs))
		paused := reqs[5].id
		if reqs[5].status != 401 || reqs[3].status != 404 {
			t.Fatalf("requests answered %+v", reqs)
		}

		p := b.get("/settings/logs")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `aria-current="page"><svg class="icon"`, "<span>Logs</span>", "Suspicious activity", "key paused", "api_key_paused",
			`<title id="chart-title">Requests per hour by status class`)
		if got, want := strings.Join(rows(p), ","), ids(reqs, nil); got != want {
			t.Fatalf("the list shows %s, want %s (newest first)", got, want)
		}
		// The suspicious row is marked, and listed above the list.
		if !regexp.MustCompile(`<tr id="req-` + paused + `" class="suspicious">`).MatchString(p.Body) {
			t.Error("the request with the paused key is not marked suspicious")
		}
		if i, j := strings.Index(p.Body, "Suspicious activity"), strings.Index(p.Body, `<tr id="req-`); i < 0 || i > j {
			t.Error("suspicious activity is not shown before the list")
		}
		// The chart counts what was sent: four 2xx, two 4xx.
		for class, n := range map[string]int{"2xx": 4, "4xx": 2} {
			if !strings.Contains(p.Body, fmt.Sprintf(`data-class="%s">%d</strong>`, class, n)) {
				t.Errorf("the chart's legend does not count %d × %s", n, class)
			}
		}

		for _, tt := range []struct {
			query string
			keep  func(req) bool
		}{
			{"key=" + id2, func(r req) bool { return r.key == id2 }},
			{"status=4xx", func(r req) bool { return r.status >= 400 }},
			{"status=404", func(r req) bool { return r.status == 404 }},
			{"code=api_key_paused", func(r req) bool { return r.status == 401 }},
			{"endpoint=" + url.QueryEscape("GET /api/v1/qr-codes/{id}"), func(r req) bool { return r.status == 404 }},
			{"ip=127.0.0.1", func(req) bool { return true }},
			{"ip=10.0.0.1", func(req) bool { return false }},
			{"suspicious=1", func(r req) bool { return r.id == paused }},
			{"key=" + id1 + "&status=2xx", func(r req) bool { return r.key == id1 && r.status == 200 }},
			{"range=custom&from=2026-11-15T11:59&to=2026-11-15T12:01", func(req) bool { return true }},
			{"range=custom&from=2026-11-15T12:01", func(req) bool { return false }},
		} {
			p := b.get("/settings/logs?" + tt.query)
			expectStatus(t, p, http.StatusOK)
			if got, want := strings.Join(rows(p), ","), ids(reqs, tt.keep); got != want {
				t.Errorf("?%s shows %q, want %q", tt.query, got, want)
			}
		}
		// Two hours later, the last hour is empty and the last day is not.
		e.advance(2 * time.Hour)
		if got := rows(b.get("/settings/logs?range=1h")); len(got) != 0 {
			t.Errorf("the last hour shows %v", got)
		}
		if got := rows(b.get("/settings/logs?range=24h")); len(got) != len(reqs) {
			t.Errorf("the last day shows %d requests, want %d", len(got), len(reqs))
		}

		// The page per request.
		ep := b.get("/settings/logs/" + reqs[3].id)
		expectStatus(t, ep, http.StatusOK)
		expectContains(t, ep, "GET /api/v1/qr-codes/{id}", "qr_nope", "not_found", "Production-WebApp", "127.0.0.1", "=HYPERLINK", reqs[3].id,
			`href="/settings/logs?ip=127.0.0.1&amp;range=all#results"`, `href="/settings/logs?key=`+id1+`&amp;range=all#results"`)
		expectContains(t, b.get("/settings/logs/"+paused), "used while it was paused")
		// Each key's page links to its requests, a revoked key's too (what
		// a person reads after a leak).
		expectStatus(t, b.post("/settings/api/keys/"+id2+"/revoke", nil), http.StatusSeeOther)
		expectContains(t, b.get("/settings/api/keys/"+id2), "Revoked on")
		for _, id := range []string{id1, id2} {
			expectContains(t, b.get("/settings/api/keys/"+id), `id="key-logs"`, `href="/settings/logs?key=`+id+`&amp;range=all#results"`)
		}
		if got := rows(b.get("/settings/logs?range=all&key=" + id2)); len(got) != 2 {
			t.Errorf("the revoked key's logs show %d requests, want its 2", len(got))
		}
		expectStatus(t, b.get("/settings/logs/ffffffffffffffff"), http.StatusNotFound)

		// The exports hold the filtered rows, the CSV with formulas
		// defused.
		csvPage := b.get("/settings/logs/export.csv?range=all&key=" + id1)
		expectStatus(t, csvPage, http.StatusOK)
		if ct := csvPage.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.HasPrefix(csvPage.Header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("CSV export: Content-Type %q, Content-Disposition %q", ct, csvPage.Header.Get("Content-Disposition"))
		}
		records, err := csv.NewReader(strings.NewReader(csvPage.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(records) != 5 || strings.Join(records[0], ",") != strings.Join(service.LogCSVHeader, ",") {
			t.Fatalf("CSV export has %d lines, header %v", len(records), records[0])
		}
		var got []string
		for _, r := range records[1:] {
			got = append(got, r[1])
			if r[2] != id1 {
				t.Errorf("CSV row of key %s in an export of %s", r[2], id1)
			}
		}
		if strings.Join(got, ",") != ids(reqs, func(r req) bool { return r.key == id1 }) {
			t.Errorf("CSV rows %v", got)
		}
		if ua := records[1][10]; ua != `'=HYPERLINK("http://evil.test")` {
			t.Errorf("a user agent that is a formula is exported as %q", ua)
		}
		nd := b.get("/settings/logs/export.ndjson?range=all")
		expectStatus(t, nd, http.StatusOK)
		lines := strings.Split(strings.TrimSpace(nd.Body), "\n")
		if len(lines) != len(reqs) {
			t.Fatalf("NDJSON export has %d lines, want %d", len(lines), len(reqs))
		}
		var first map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first["requestId"] != paused || first["status"] != 401.0 ||
			first["code"] != "api_key_paused" || fmt.Sprint(first["suspicious"]) != "[inactive_key]" {
			t.Errorf("first NDJSON line %s (%v)", lines[0], err)
		}
		if b := b.get("/settings/logs/export.ndjson?range=all&ip=10.9.9.9"); b.StatusCode != 200 || b.Body != "" {
			t.Errorf("an empty NDJSON export: %d %q", b.StatusCode, b.Body)
		}
	})
}

// req is an API request as the test made it.
type req struct {
	id, key string
	status  int
}

// ids lists the request ids kept by keep (all if nil), newest first.
func ids(reqs []req, keep func(req) bool) string {
	var out []string
	for i := len(reqs) - 1; i >= 0; i-- {
		if keep == nil || keep(reqs[i]) {
			out = append(out, reqs[i].id)
		}
	}
	return strings.Join(out, ",")
}

// TestLogsPagination: 120 requests in pages of 50 arrive whole, in order,
// with nothing repeated, and the last page has no "Older" link.
func TestLogsPagination(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k := b.createKey("Production-WebApp")
		var want []string
		for i := range 120 {
			if i%40 == 0 {
				e.advance(time.Millisecond) // some requests share a millisecond, others do not
			}
			id, _ := e.call("GET", "/api/v1/usage", k, "acme-sdk/1.0")
			want = append([]string{id}, want...)
		}
		e.waitLogged(org.ID, 120)
		var got []string
		next := "/settings/logs"
		older := regexp.MustCompile(`<a class="btn" href="([^"]+)">Older requests</a>`)
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("more pages than requests")
			}
			p := b.get(strings.ReplaceAll(next, "&amp;", "&"))
			expectStatus(t, p, http.StatusOK)
			got = append(got, rows(p)...)
			next = ""
			if m := older.FindStringSubmatch(p.Body); m != nil {
				next = m[1]
			}
		}
		// Within a millisecond the order is by request id: compare as
		// sets per millisecond, and as a whole.
		if len(got) != len(want) {
			t.Fatalf("%d rows over the pages, want %d", len(got), len(want))
		}
		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("request %s shown twice", id)
			}
			seen[id] = true
		}
		for _, id := range want {
			if !seen[id] {
				t.Fatalf("request %s never shown", id)
			}
		}
	})
}

// TestLogsAccessAndTenancy: Members cannot open the Logs pages or exports
// (nor see the link); an organisation never sees another's requests, by
// list, page, export or key filter; bad filters are refused with a page
// that says which and why.
func TestLogsAccessAndTenancy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		orgA, emailA := e.org(snapglyph.PlanPro)
		orgB, emailB := e.org(snapglyph.PlanMax)
		a, bb := e.browser(), e.browser()
		a.signIn(emailA)
		bb.signIn(emailB)
		ka := a.createKey("Production-WebApp")
		kidA := keyID(t, a.get("/settings/api").Body, "Production-WebApp")
		kb := bb.createKey("Globex-Backend")
		reqA, _ := e.call("GET", "/api/v1/usage", ka, "a")
		reqB, _ := e.call("GET", "/api/v1/usage", kb, "b")
		e.waitLogged(orgA.ID, 1)
		e.waitLogged(orgB.ID, 1)

		pb := bb.get("/settings/logs?range=all")
		expectStatus(t, pb, http.StatusOK)
		if got := rows(pb); len(got) != 1 || got[0] != reqB {
			t.Errorf("B's log shows %v, want only %s", got, reqB)
		}
		expectNotContains(t, pb, reqA, kidA)
		expectStatus(t, bb.get("/settings/logs/"+reqA), http.StatusNotFound)
		expectStatus(t, a.get("/settings/logs/"+reqA), http.StatusOK)
		if body := bb.get("/settings/logs/export.ndjson?range=all").Body; strings.Contains(body, reqA) || !strings.Contains(body, reqB) {
			t.Errorf("B's export: %s", body)
		}
		p := bb.get("/settings/logs?key=" + kidA)
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, "No API key has the id", "in this organisation")
		expectNotContains(t, p, reqA)
		// The exports refuse it as the page does: a bad filter.
		for _, path := range []string{"/settings/logs/export.csv?key=" + kidA, "/settings/logs/export.ndjson?key=" + kidA} {
			p := bb.get(path)
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, "No API key has the id", "in this organisation")
			expectNotContains(t, p, reqA)
		}

		// A Member of A sees no link and is refused everywhere.
		m := e.browser()
		m.signIn(e.member(orgA, snapglyph.RoleMember))
		expectNotContains(t, m.get("/qr-codes"), `href="/settings/logs"`)
		expectContains(t, a.get("/qr-codes"), `href="/settings/logs"`)
		for _, path := range []string{"/settings/logs", "/settings/logs/" + reqA, "/settings/logs/export.csv", "/settings/logs/export.ndjson"} {
			expectStatus(t, m.get(path), http.StatusForbidden)
		}
		// An Admin may.
		ad := e.browser()
		ad.signIn(e.member(orgA, snapglyph.RoleAdmin))
		expectStatus(t, ad.get("/settings/logs"), http.StatusOK)

		for _, tt := range []struct{ query, want string }{
			{"status=abc", "neither an HTTP status"},
			{"status=4xx&code=Robert%27%29%3BDROP", "is not an error code"},
			{"endpoint=GET+/admin", "is not an API endpoint"},
			{"ip=300.1.1.1", "is not an IP address"},
			{"range=custom&from=yesterday", "is not a time"},
			{"range=custom&from=2026-11-15T12:00&to=2026-11-15T11:00", "The range ends"},
			{"range=custom&from=2020-01-01", "keeps entries for at most 90 days"},
			{"range=forever", "not one of the ranges offered"},
			{"cursor=garbage", "The cursor is not one this service made"},
			{"key=key_nope", "No API key has the id"},
			{"code=" + strings.Repeat("a", 300), "no valid value is longer than 200"},
		} {
			p := a.get("/settings/logs?" + tt.query)
			if p.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("?%s: status %d, want 422", tt.query, p.StatusCode)
				continue
			}
			expectContains(t, p, "These filters cannot be used.", tt.want)
			expectNotContains(t, p, `<tr id="req-`)
		}
		expectStatus(t, a.get("/settings/logs?ip=%ff%00"), http.StatusUnprocessableEntity)
		expectStatus(t, a.get("/settings/logs/export.csv?status=abc"), http.StatusUnprocessableEntity)
		expectStatus(t, a.get("/settings/logs/export.ndjson?key=key_nope"), http.StatusUnprocessableEntity)

		// Requests a node could not record are announced for their hours.
		hour := e.clock.Now().Truncate(time.Hour)
		if err := db.AddRequestLogGaps(context.Background(), map[string]map[time.Time]int64{orgA.ID: {hour: 1234}}); err != nil {
			t.Fatal(err)
		}
		expectContains(t, a.get("/settings/logs"), "1,234 requests were not recorded in this range")
		expectNotContains(t, bb.get("/settings/logs"), "were not recorded")
	})
}
