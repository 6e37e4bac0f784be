package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// sendH sends a request with the harness's key, a JSON body if body is not
// "", and the headers given as name, value pairs.
func (h *harness) sendH(method, path, body string, headers ...string) *http.Response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+h.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// status reads and closes a response and returns its status and body.
func status(resp *http.Response) (int, string) {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConditionalJSON: every QR code's JSON has an ETag (its version) and
// Last-Modified; GET answers 304 to a current If-None-Match or
// If-Modified-Since; PATCH and DELETE honour If-Match (strong comparison,
// "*", lists) and refuse a stale or malformed one with 412, changing
// nothing, before the body is even checked.
func TestConditionalJSON(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`)
		if got := created.Header.Get("ETag"); got != `"v1"` {
			t.Fatalf("create: ETag %q, want \"v1\"", got)
		}
		lastMod := created.Header.Get("Last-Modified")
		if lm, err := http.ParseTime(lastMod); err != nil || !lm.Equal(start) {
			t.Fatalf("create: Last-Modified %q, want %s", lastMod, start.Format(http.TimeFormat))
		}
		id := readJSON(t, created, 201)["id"].(string)
		path := "/api/v1/qr-codes/" + id

		get := h.sendH("GET", path, "")
		if get.Header.Get("ETag") != `"v1"` || get.Header.Get("Last-Modified") != lastMod || get.Header.Get("Cache-Control") != "private, no-cache" {
			t.Fatalf("GET validators: %v", get.Header)
		}
		readJSON(t, get, 200)

		for _, c := range []struct {
			headers []string
			want    int
		}{
			{[]string{"If-None-Match", `"v1"`}, 304},
			{[]string{"If-None-Match", `W/"v1"`}, 304}, // weak comparison
			{[]string{"If-None-Match", `"v0", "v1"`}, 304},
			{[]string{"If-None-Match", `"v0"`, "If-None-Match", `"v1"`}, 304}, // every line counts
			{[]string{"If-None-Match", `*`}, 304},
			{[]string{"If-None-Match", `"v2"`}, 200},
			{[]string{"If-None-Match", `v1`}, 200}, // unquoted: malformed, matches nothing
			// Made within the second of the change: its Last-Modified is
			// that second's start, which a later change in the same second
			// would share, so it gives no 304.
			{[]string{"If-Modified-Since", lastMod}, 200},
			{[]string{"If-Modified-Since", start.Add(time.Second).Format(http.TimeFormat)}, 304},
			{[]string{"If-Modified-Since", start.Add(-time.Second).Format(http.TimeFormat)}, 200},
			{[]string{"If-Modified-Since", "yesterday"}, 200},
			// If-None-Match decides when both are sent (RFC 9110 §13.2.2).
			{[]string{"If-None-Match", `"v0"`, "If-Modified-Since", lastMod}, 200},
		} {
			resp := h.sendH("GET", path+"?format=json", "", c.headers...)
			code, body := status(resp)
			if code != c.want {
				t.Errorf("GET with %q: %d, want %d", c.headers, code, c.want)
			}
			if code == 304 && (body != "" || resp.Header.Get("ETag") != `"v1"`) {
				t.Errorf("304 with %q: body %q, ETag %q", c.headers, body, resp.Header.Get("ETag"))
			}
		}

		// Once the second has passed, Last-Modified is its end, and gives 304.
		h.clock.Set(start.Add(1500 * time.Millisecond))
		later := h.sendH("GET", path, "")
		readJSON(t, later, 200)
		if got := later.Header.Get("Last-Modified"); got != start.Add(time.Second).Format(http.TimeFormat) {
			t.Fatalf("GET a second later: Last-Modified %q, want %s", got, start.Add(time.Second).Format(http.TimeFormat))
		}
		if code, _ := status(h.sendH("GET", path, "", "If-Modified-Since", later.Header.Get("Last-Modified"))); code != 304 {
			t.Fatalf("GET with the Last-Modified given a second later: %d, want 304", code)
		}
		lastMod = later.Header.Get("Last-Modified")

		// A change: the version moves on, and so do the validators.
		h.clock.Set(start.Add(90 * time.Second))
		patch := h.sendH("PATCH", path, `{"name":"Menu 2"}`, "If-Match", `"v1"`)
		if patch.Header.Get("ETag") != `"v2"` || patch.Header.Get("Last-Modified") != start.Add(90*time.Second).Format(http.TimeFormat) {
			t.Fatalf("PATCH validators: %v", patch.Header)
		}
		readJSON(t, patch, 200)
		if code, _ := status(h.sendH("GET", path, "", "If-None-Match", `"v1"`)); code != 200 {
			t.Fatalf("GET with the old ETag: %d, want 200", code)
		}
		if code, _ := status(h.sendH("GET", path, "", "If-Modified-Since", lastMod)); code != 200 {
			t.Fatalf("GET modified since the change: %d, want 200", code)
		}

		// Stale, weak, malformed and If-None-Match conditions refuse the
		// change, whatever the body, and change nothing.
		for _, c := range [][]string{
			{"If-Match", `"v1"`},
			{"If-Match", `W/"v2"`}, // a weak tag never matches If-Match
			{"If-Match", `v2`},
			{"If-Match", `"v2" "v3"`},
			{"If-Match", `"v1"`, "If-Match", `"v0"`},
			{"If-None-Match", `"v2"`},
			{"If-None-Match", `*`},
		} {
			expectProblem(t, h.sendH("PATCH", path, `{"name":"Lost update"}`, c...), 412, "precondition_failed")
			expectProblem(t, h.sendH("PATCH", path, `{"name":""}`, c...), 412, "precondition_failed")
			expectProblem(t, h.sendH("DELETE", path, "", c...), 412, "precondition_failed")
		}
		now := readJSON(t, h.sendH("GET", path, ""), 200)
		if now["name"] != "Menu 2" {
			t.Fatalf("a refused change changed the code: %v", now["name"])
		}

		// A list holding the current tag, "*", and a current tag with an
		// invalid body (400: the condition held, the body did not).
		for i, c := range [][]string{
			{"If-Match", `"v0", "v2"`},
			{"If-Match", `*`},
			{"If-Match", `"v9"`, "If-Match", `"v4"`},
			{"If-None-Match", `"v1"`},
		} {
			resp := h.sendH("PATCH", path, `{"name":"Menu `+string(rune('A'+i))+`"}`, c...)
			want := `"v` + string(rune('3'+i)) + `"`
			if got := resp.Header.Get("ETag"); got != want {
				t.Fatalf("PATCH with %q: ETag %q, want %s", c, got, want)
			}
			readJSON(t, resp, 200)
		}
		expectProblem(t, h.sendH("PATCH", path, `{"name":""}`, "If-Match", `"v6"`), 400, "invalid_request")
		if got := h.sendH("GET", path, ""); got.Header.Get("ETag") != `"v6"` {
			t.Fatalf("a refused body moved the version: %q", got.Header.Get("ETag"))
		}

		// DELETE: the current tag deletes; then the code is gone (404,
		// not 412, whatever the condition).
		expectProblem(t, h.sendH("DELETE", path, "", "If-Match", `"v5"`), 412, "precondition_failed")
		if code, body := status(h.sendH("DELETE", path, "", "If-Match", `"v6"`)); code != 204 {
			t.Fatalf("DELETE with the current ETag: %d %s", code, body)
		}
		expectProblem(t, h.sendH("DELETE", path, "", "If-Match", `"v6"`), 404, "not_found")
		expectProblem(t, h.sendH("PATCH", path, `{"name":"x"}`, "If-Match", `*`), 404, "not_found")
		expectProblem(t, h.sendH("GET", path, "", "If-None-Match", `*`), 404, "not_found")
	})
}

// TestConditionalRace: the check of If-Match and the write are one step.
// Many clients holding the same ETag change the code at once: exactly one
// wins, the others get 412 and their change is nowhere; and changes
// without a condition, to different fields at once, all land (none is
// overwritten by a change that read the code before it).
func TestConditionalRace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)["id"].(string)
		path := "/api/v1/qr-codes/" + id
		const writers = 8
		codes := make([]int, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = status(h.sendH("PATCH", path, `{"name":"Writer `+string(rune('A'+i))+`"}`, "If-Match", `"v1"`))
			}()
		}
		wg.Wait()
		won := -1
		for i, c := range codes {
			switch {
			case c == 200 && won < 0:
				won = i
			case c == 200:
				t.Fatalf("writers %d and %d both changed version 1", won, i)
			case c != 412:
				t.Fatalf("writer %d: %d, want 200 or 412", i, c)
			}
		}
		if won < 0 {
			t.Fatal("no writer changed the code")
		}
		got := h.sendH("GET", path, "")
		if got.Header.Get("ETag") != `"v2"` {
			t.Fatalf("ETag %q after one change, want \"v2\"", got.Header.Get("ETag"))
		}
		if name := readJSON(t, got, 200)["name"]; name != "Writer "+string(rune('A'+won)) {
			t.Fatalf("name %v, want the winner's (writer %d)", name, won)
		}

		// Unconditional changes of different fields, at once: each lands.
		fields := []string{
			`{"name":"Renamed"}`,
			`{"content":{"url":"https://example.com/new"}}`,
			`{"design":{"foreground":"#112233"}}`,
			`{"design":{"margin":2}}`,
		}
		for i, body := range fields {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = status(h.sendH("PATCH", path, body))
			}()
		}
		wg.Wait()
		for i := range fields {
			if codes[i] != 200 {
				t.Fatalf("change %s: %d", fields[i], codes[i])
			}
		}
		got = h.sendH("GET", path, "")
		if want := `"v` + string(rune('2'+len(fields))) + `"`; got.Header.Get("ETag") != want {
			t.Errorf("ETag %q after %d more changes, want %s", got.Header.Get("ETag"), len(fields), want)
		}
		q := readJSON(t, got, 200)
		design := q["design"].(map[string]any)
		if q["name"] != "Renamed" || q["content"].(map[string]any)["url"] != "https://example.com/new" ||
			design["foreground"] != "#112233" || design["margin"] != float64(2) {
			t.Fatalf("a concurrent change was lost: %v", q)
		}
	})
}

// TestConditionalReplay: an idempotent replay of a create carries the
// first response's ETag (version 1) and Last-Modified, whatever became of
// the code since.
func TestConditionalReplay(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		body := `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		first := h.sendH("POST", "/api/v1/qr-codes", body, "Idempotency-Key", "order-1")
		id := readJSON(t, first, 201)["id"].(string)
		h.clock.Set(start.Add(time.Hour))
		readJSON(t, h.sendH("PATCH", "/api/v1/qr-codes/"+id, `{"name":"Renamed"}`), 200)
		again := h.sendH("POST", "/api/v1/qr-codes", body, "Idempotency-Key", "order-1")
		if again.Header.Get("ETag") != `"v1"` || again.Header.Get("Last-Modified") != first.Header.Get("Last-Modified") {
			t.Fatalf("replay validators %q %q, first %q %q", again.Header.Get("ETag"), again.Header.Get("Last-Modified"),
				first.Header.Get("ETag"), first.Header.Get("Last-Modified"))
		}
		if name := readJSON(t, again, 201)["name"]; name != "Menu" {
			t.Fatalf("replay name %v", name)
		}
	})
}

// TestIfModifiedSinceSameSecond: a QR code changed twice within one
// second (Last-Modified has whole seconds) is never answered 304 to a
// client holding the first version, whether it got its copy within that
// second or after it, and a client holding the second version is. Both
// stores.
func TestIfModifiedSinceSameSecond(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		at := func(ms int) { h.clock.Set(start.Add(time.Duration(ms) * time.Millisecond)) }
		at(200)
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)["id"].(string)
		path := "/api/v1/qr-codes/" + id
		get := func(ims string) (int, string) {
			t.Helper()
			resp := h.sendH("GET", path, "", "If-Modified-Since", ims)
			code, _ := status(resp)
			return code, resp.Header.Get("Last-Modified")
		}
		patch := func(name string) {
			t.Helper()
			readJSON(t, h.sendH("PATCH", path, `{"name":"`+name+`"}`), 200)
		}

		// Within the second of the change: the copy is v1, its date the
		// second's start; v2 comes 500 ms later, in the same second.
		at(400)
		_, lm1 := get("")
		at(900)
		patch("Menu 2")
		if code, _ := get(lm1); code != 200 {
			t.Errorf("v1's Last-Modified (got within the second) after a change in the same second: %d, want 200", code)
		}

		// After the second: the copy is v2, its date the second's end; v3
		// comes within the second of that date.
		at(1300)
		code, lm2 := get(lm1)
		if code != 200 || lm2 != start.Add(time.Second).Format(http.TimeFormat) {
			t.Fatalf("GET at 1.3 s: %d, Last-Modified %q; want 200 and %s", code, lm2, start.Add(time.Second).Format(http.TimeFormat))
		}
		if code, _ := get(lm2); code != 304 {
			t.Errorf("v2's own Last-Modified before any change: %d, want 304", code)
		}
		at(1700)
		patch("Menu 3")
		if code, _ := get(lm2); code != 200 {
			t.Errorf("v2's Last-Modified after a change in the second it names: %d, want 200", code)
		}
		at(2100)
		_, lm3 := get("")
		if code, _ := get(lm3); code != 304 || lm3 != start.Add(2*time.Second).Format(http.TimeFormat) {
			t.Errorf("v3's Last-Modified %q: %d, want %s and 304", lm3, code, start.Add(2*time.Second).Format(http.TimeFormat))
		}
	})
}

// TestBlankFirstConditionLine: a condition sent as a blank line followed
// by a line that holds it (curl's -H 'If-Match;' then -H 'If-Match: "v9"')
// is the condition on its second line, as a lone blank line is no
// condition: a stale If-Match, If-None-Match: * and a past
// If-Unmodified-Since still refuse a PATCH or DELETE with 412, changing
// nothing; an image whose current tag is on the second If-None-Match line
// is answered 304, with no credit needed; and a CORS preflight whose
// Origin comes second is still refused.
func TestBlankFirstConditionLine(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string)
		for _, c := range []struct {
			method, body string
			headers      []string
		}{
			{"PATCH", `{"name":"lost"}`, []string{"If-Match", "", "If-Match", `"v9"`}},
			{"PATCH", `{"name":"lost"}`, []string{"If-None-Match", " ", "If-None-Match", "*"}},
			{"DELETE", "", []string{"If-Unmodified-Since", "", "If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"}},
			{"DELETE", "", []string{"If-Match", "\t", "If-Match", `"v9"`}},
		} {
			resp := h.sendH(c.method, path, c.body, c.headers...)
			expectProblem(t, resp, 412, "precondition_failed")
		}
		got := readJSON(t, h.sendH("GET", path, ""), 200)
		if got["name"] != "Menu" {
			t.Errorf("after refused changes the code is named %v, want Menu", got["name"])
		}
		// A lone blank line is no condition: the change is made.
		if code, body := status(h.sendH("PATCH", path, `{"name":"Kept"}`, "If-Match", " ")); code != 200 {
			t.Errorf("PATCH with a blank If-Match: %d %s, want 200", code, body)
		}

		// The image's tag on the second line: 304, though no credit is left.
		img := h.sendH("GET", path+"?format=svg", "")
		etag := img.Header.Get("ETag")
		if code, _ := status(img); code != 200 || etag == "" {
			t.Fatalf("image: %d, ETag %q", code, etag)
		}
		zero := int64(0)
		if err := h.cli.SetLimits(context.Background(), snapglyph.Operator, h.org.ID, nil, &zero); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() error {
			if code, body := status(h.sendH("GET", path+"?format=svg", "", "If-None-Match", "", "If-None-Match", etag)); code != 304 {
				return fmt.Errorf("image with its tag on the second If-None-Match line: %d %s, want 304", code, body)
			}
			return nil
		})

		resp := h.sendH("OPTIONS", "/api/v1/usage", "", "Origin", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
		expectProblem(t, resp, 403, "cors_not_allowed")
	})
}
