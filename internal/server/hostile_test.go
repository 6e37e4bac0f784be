package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// hostileAgents are user agents a client can send: bytes that are not
// UTF-8, a truncated sequence, and 300 bytes of three-byte characters
// (cut at 256 bytes, which falls inside a character).
var hostileAgents = []string{
	"evil-sdk/1.0 \xff\xfe",
	"agent\xc3",
	strings.Repeat("漢", 100),
	"mixed \xe6\xbc 漢字 \x80\x81",
}

// TestHostileUserAgentDoesNotStopUsage: one organisation's requests with
// hostile user agents, next to another organisation's ordinary traffic,
// on both stores. After a flush, both organisations' stored usage, per-key
// usage and last use are exact (counted independently from the answers),
// nothing was dropped, and every later flush works.
func TestHostileUserAgentDoesNotStopUsage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		otherOrg, otherKey, otherKID := h.newOrgKey("pro")
		const perOrg = 120
		var mu sync.Mutex
		ok := map[string]int64{}
		var wg sync.WaitGroup
		send := func(key, ua string) {
			defer wg.Done()
			req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/usage", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("User-Agent", ua)
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				ok[key]++
				mu.Unlock()
			}
		}
		sem := make(chan struct{}, 8)
		for i := range perOrg {
			wg.Add(2)
			sem <- struct{}{}
			go func() { defer func() { <-sem }(); send(h.key, hostileAgents[i%len(hostileAgents)]) }()
			sem <- struct{}{}
			go func() { defer func() { <-sem }(); send(otherKey, "acme-sdk/1.0") }()
			if i%40 == 39 {
				wg.Wait()
				if err := h.node.Recorder.Flush(context.Background()); err != nil {
					t.Fatalf("flush during traffic: %v", err)
				}
			}
		}
		wg.Wait()
		if err := h.node.Recorder.Flush(context.Background()); err != nil {
			t.Fatalf("flush: %v", err)
		}
		if ok[h.key] != perOrg || ok[otherKey] != perOrg {
			t.Fatalf("answered %d and %d of %d requests", ok[h.key], ok[otherKey], perOrg)
		}
		ctx := context.Background()
		for _, c := range []struct{ kid, orgID string }{{h.kid, h.org.ID}, {otherKID, otherOrg.ID}} {
			u, err := h.db.Usage(ctx, c.orgID, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			k, err := h.db.KeyUsage(ctx, c.kid, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			if u.Used.APICalls != perOrg || k.APICalls != perOrg {
				t.Errorf("key %s: stored %d calls for the organisation and %d for the key, want %d", c.kid, u.Used.APICalls, k.APICalls, perOrg)
			}
			key, err := h.db.Key(ctx, c.kid)
			if err != nil {
				t.Fatal(err)
			}
			if !key.LastUsedAt.Equal(start) || key.LastUsedIP != "127.0.0.1" {
				t.Errorf("key %s: last used %v from %q", c.kid, key.LastUsedAt, key.LastUsedIP)
			}
			if ua := key.LastUsedUA; !utf8.ValidString(ua) || strings.IndexByte(ua, 0) >= 0 || len(ua) > 256 || ua == "" {
				t.Errorf("key %s: stored user agent %q", c.kid, ua)
			}
		}
		if n := h.node.Recorder.RowsDropped.Load(); n != 0 {
			t.Errorf("%d rows dropped; the user agents should have been made storable", n)
		}
		if strings.Contains(h.logs.String(), "level=ERROR") || strings.Contains(h.logs.String(), "level=WARN") {
			t.Errorf("errors logged:\n%s", h.logs.String())
		}
	})
}

// hostileValues are what a client can put in a path segment or a query
// value, percent-encoded: a NUL, bytes that are not UTF-8, an id with a
// NUL inside, a truncated sequence.
var hostileValues = []string{"%00", "%ff", "qr_%00abc", "caf%c3", "%ff%fe%00"}

// queryParams are every query parameter the API reads.
var queryParams = []string{"cursor", "type", "createdByKey", "limit", "format", "size", "download"}

var wildcard = regexp.MustCompile(`\{([A-Za-z]+)(\.\.\.)?\}`)

// TestHostileInputAPI sends NUL and invalid UTF-8 in every path value and
// query parameter of every authenticated API route (from the server's
// route table, so a new route is covered), and in the names and content
// of JSON bodies, on both stores. Each answer is a 400 whose problem names
// the field; none is a 500, and nothing is logged as an error.
func TestHostileInputAPI(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)
		id := created["id"].(string)
		okBody := `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		expect := func(method, path, body, field string) {
			t.Helper()
			resp := h.send(method, path, h.key, body)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %s %s: status %d, want 400: %s", method, path, body, resp.StatusCode, raw)
				return
			}
			var p server.Problem
			if err := json.Unmarshal(raw, &p); err != nil || (p.Code != "invalid_request" && p.Code != "invalid_json") {
				t.Errorf("%s %s: problem %s", method, path, raw)
				return
			}
			named := strings.Contains(p.Detail, field)
			for _, e := range p.Errors {
				named = named || e.Field == field
			}
			if !named {
				t.Errorf("%s %s %s: the problem does not name %q: %s", method, path, body, field, raw)
			}
		}
		tested := 0
		for _, route := range h.node.Server.APIRoutes() {
			method, pattern, _ := strings.Cut(route, " ")
			if resp := h.send(method, wildcard.ReplaceAllString(pattern, id), "", ""); resp.StatusCode != http.StatusUnauthorized {
				resp.Body.Close()
				continue // a public route: it reads no input
			}
			body := ""
			if method == "POST" || method == "PATCH" {
				body = okBody
			}
			for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
				for _, v := range hostileValues {
					expect(method, strings.Replace(wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
						if w == m[0] {
							return "\x01"
						}
						return id
					}), "\x01", v, 1), body, m[1])
					tested++
				}
			}
			for _, q := range queryParams {
				for _, v := range hostileValues {
					expect(method, wildcard.ReplaceAllString(pattern, id)+"?"+q+"="+v, body, q)
					tested++
				}
			}
			if body != "" {
				path := wildcard.ReplaceAllString(pattern, id)
				for _, c := range []struct{ body, field string }{
					{`{"name":"Me\u0000nu","type":"url","content":{"url":"https://example.com/menu"}}`, "name"},
					{`{"name":"Menu","type":"text","content":{"text":"hello\u0000"}}`, "content.text"},
					{`{"name":"Menu","type":"vcard","content":{"firstName":"Ada","phones":["+15551234567","+1555\u0000"]}}`, "content.phones[1]"},
					{"{\"name\":\"Me\xffnu\",\"type\":\"url\",\"content\":{\"url\":\"https://example.com/menu\"}}", "UTF-8"},
					{"{\"name\":\"Menu\",\"type\":\"text\",\"content\":{\"text\":\"caf\xc3\"}}", "UTF-8"},
				} {
					expect(method, path, c.body, c.field)
					tested++
				}
			}
		}
		if tested < 150 {
			t.Fatalf("only %d hostile requests were made: the route table was not enumerated", tested)
		}
		if n := h.countQR(); n != 1 {
			t.Errorf("%d QR codes stored; hostile input changed something", n)
		}
		logs := h.logs.String()
		if strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "status=500") {
			t.Errorf("errors logged:\n%s", logs)
		}
	})
}

// TestPoisonedRowIsDroppedAndCounted: when the database refuses one key's
// usage row for its data (a trigger stands in for any such refusal), the
// flush drops that row only, logs it by the key's id and counts it in
// snapglyph_usage_rows_dropped_total; the other organisation's usage and
// the organisation's own counters are stored exactly, on both stores.
func TestPoisonedRowIsDroppedAndCounted(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		otherOrg, otherKey, otherKID := h.newOrgKey("pro")
		var stmts []string
		if db.Dialect == "postgres" {
			stmts = []string{
				`CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
					IF NEW.key_id = '` + h.kid + `' THEN RAISE EXCEPTION 'poisoned row' USING ERRCODE = '22021'; END IF;
					RETURN NEW; END $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON key_usage FOR EACH ROW EXECUTE FUNCTION poison()`,
			}
		} else {
			stmts = []string{`CREATE TRIGGER poison BEFORE INSERT ON key_usage WHEN NEW.key_id = '` + h.kid + `' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`}
		}
		for _, s := range stmts {
			if _, err := db.SQL().Exec(s); err != nil {
				t.Fatal(err)
			}
		}
		const n = 25
		for range n {
			expectOK(t, h.get("/api/v1/usage", h.key))
			expectOK(t, h.get("/api/v1/usage", otherKey))
		}
		if err := h.node.Recorder.Flush(context.Background()); err != nil {
			t.Fatalf("flush: %v", err)
		}
		ctx := context.Background()
		for _, c := range []struct {
			orgID, kid string
			keyCalls   int64
		}{{h.org.ID, h.kid, 0}, {otherOrg.ID, otherKID, n}} {
			u, _ := h.db.Usage(ctx, c.orgID, "2026-11")
			k, _ := h.db.KeyUsage(ctx, c.kid, "2026-11")
			key, _ := h.db.Key(ctx, c.kid)
			if u.Used.APICalls != n || k.APICalls != c.keyCalls || !key.LastUsedAt.Equal(start) {
				t.Errorf("key %s: organisation %d calls, key %d, last used %v; want %d, %d, %v", c.kid, u.Used.APICalls, k.APICalls, key.LastUsedAt, n, c.keyCalls, start)
			}
		}
		resp, err := http.Get(h.srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The node's own flush loop may have flushed part of the traffic
		// first: each flush drops the key's row of its batch. The drops
		// logged must add up to the requests made, and the metric must
		// count them.
		var lines, lost int
		for _, line := range strings.Split(h.logs.String(), "\n") {
			if !strings.Contains(line, "usage row dropped") {
				continue
			}
			lines++
			var calls int
			if !strings.Contains(line, "kind=key id="+h.kid+" ") || !strings.Contains(line, "level=ERROR") {
				t.Errorf("dropped row logged without its key id: %s", line)
			} else if _, err := fmt.Sscanf(line[strings.Index(line, "api_calls="):], "api_calls=%d", &calls); err != nil {
				t.Errorf("no api_calls in %s", line)
			}
			lost += calls
		}
		if lines == 0 || lost != n {
			t.Errorf("%d dropped rows logged with %d calls; want the %d calls of the poisoned key", lines, lost, n)
		}
		if want := fmt.Sprintf("snapglyph_usage_rows_dropped_total %d\n", lines); !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	})
}

// TestKeyInTheWrongPlaceIsNotEchoed: a client that puts a full API key
// (its own or another) where a key does not belong — a content type, a
// field name, a query value, a path — gets its error without the key:
// problems echo what was sent, cut to the key's display prefix.
func TestKeyInTheWrongPlaceIsNotEchoed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		_, other, _ := h.newOrgKey("pro")
		secret := strings.TrimPrefix(other, snapglyph.KeyPrefix)
		for _, tc := range []struct {
			method, path, contentType, body string
			status                          int
			echoes                          bool // the problem repeats what was sent
		}{
			{"POST", "/api/v1/qr-codes", other, `{"name":"Menu"}`, 415, true},
			{"POST", "/api/v1/qr-codes", "text/" + other, `{"name":"Menu"}`, 415, true},
			{"POST", "/api/v1/qr-codes", "application/json", `{"` + other + `":1}`, 400, true},
			{"POST", "/api/v1/qr-codes", "application/json", `{"name":"Menu","type":"url","content":{"url":"https://example.com","` + other + `":1}}`, 400, true},
			{"POST", "/api/v1/qr-codes", "application/json", `{"name":"Menu","type":"url","content":{"url":"https://example.com","` + secret + `":1}}`, 400, false},
			{"POST", "/api/v1/qr-codes", "application/json", `{"name":"Menu","type":"` + other + `","content":{}}`, 400, false},
			{"GET", "/api/v1/qr-codes?type=" + other, "", "", 400, false},
			{"GET", "/api/v1/qr-codes?cursor=" + other, "", "", 400, false},
			{"GET", "/api/v1/qr-codes/" + other, "", "", 404, false},
		} {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, h.srv.URL+tc.path, body)
			req.Header.Set("Authorization", "Bearer "+h.key)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s (%s): status %d, want %d: %s", tc.method, tc.path, tc.contentType, resp.StatusCode, tc.status, raw)
			}
			if strings.Contains(string(raw), secret) {
				t.Errorf("%s %s (%s): the answer holds the key: %s", tc.method, tc.path, tc.contentType, raw)
			}
			if tc.echoes && !strings.Contains(string(raw), other[:len(snapglyph.KeyPrefix)+4]) {
				t.Errorf("%s %s (%s): the answer does not show the key's prefix, to say what was wrong: %s", tc.method, tc.path, tc.contentType, raw)
			}
		}
		// A key sent as the method: neither the answer, the log line nor
		// the request log keeps more than its display prefix.
		req, _ := http.NewRequest(other, h.srv.URL+"/api/v1/usage", nil)
		req.Header.Set("Authorization", "Bearer "+h.key)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || strings.Contains(string(raw), secret[:5]) || strings.Contains(string(raw), "……") {
			t.Errorf("a key as the method: %d %s", resp.StatusCode, raw)
		}
		if err := h.node.RequestLog.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		methods := 0
		for _, e := range logOf(t, h.cli, h.org.ID, 10) { // the nine above and this one
			if e.Status == http.StatusMethodNotAllowed {
				methods++
				if strings.Contains(e.Method, secret[:5]) || !strings.HasPrefix(e.Method, other[:len(snapglyph.KeyPrefix)+4]) {
					t.Errorf("the request log keeps the method %q", e.Method)
				}
			}
		}
		if methods != 1 {
			t.Errorf("%d entries of the 405, want 1", methods)
		}
		if strings.Contains(h.logs.String(), secret[:5]) {
			t.Error("the server's log holds the key")
		}
	})
}
