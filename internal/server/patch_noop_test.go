package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPatchNoop: a PATCH that leaves the code as stored (nothing sent, or
// what it already holds, however written) answers 200 with the current
// representation, its ETag and updatedAt unchanged, and writes nothing,
// so other clients' If-Match still holds. It costs its API call, and a
// stale If-Match is still 412. A real change moves the version on.
func TestPatchNoop(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := readJSON(t, h.sendH("POST", "/api/v1/qr-codes",
			`{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"},"design":{"foreground":"#1A1A2E","margin":2}}`), 201)
		id := created["id"].(string)
		path := "/api/v1/qr-codes/" + id
		h.clock.Set(start.Add(90 * time.Second))

		// current GETs the code: its ETag, Last-Modified and body.
		current := func() (etag, lastMod, body string) {
			t.Helper()
			resp := h.sendH("GET", path, "")
			code, body := status(resp)
			if code != 200 {
				t.Fatalf("GET: %d %s", code, body)
			}
			return resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), body
		}
		etag, lastMod, body := current()
		if etag != `"v1"` {
			t.Fatalf("ETag %s after create", etag)
		}
		calls, _ := h.credits()
		noops := []string{
			`{}`,
			`{"name":"Menu"}`,
			`{"name":"  Menu "}`, // names are trimmed
			`{"type":"url"}`,
			`{"content":{"url":"https://example.com/menu"}}`,
			"{ \"content\" : {\n  \"url\" : \"https://example.com/menu\"\n} }", // stored compact
			`{"type":"url","content":{"url":"https://example.com/menu"},"name":"Menu"}`,
			`{"design":{}}`,
			`{"design":{"margin":2}}`,
			`{"design":{"foreground":"#1a1a2e","background":"#ffffff"}}`, // stored in capitals
			`{"design":{"errorCorrection":"m"}}`,
			`{"design":{"logo":null}}`, // it has none
			`{"design":{"logo":""}}`,
			`{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"},"design":{"foreground":"#1A1A2E","background":"#FFFFFF","errorCorrection":"M","margin":2,"logo":null}}`,
		}
		for _, b := range noops {
			for _, cond := range [][]string{nil, {"If-Match", `"v1"`}, {"If-Match", "*"}, {"If-None-Match", `"v0"`}} {
				resp := h.sendH("PATCH", path, b, cond...)
				code, got := status(resp)
				if code != 200 {
					t.Fatalf("PATCH %s %q: %d %s", b, cond, code, got)
				}
				if resp.Header.Get("ETag") != etag || resp.Header.Get("Last-Modified") != lastMod || got != body {
					t.Fatalf("no-op PATCH %s %q: ETag %s, Last-Modified %s, body\n%s\nwant %s, %s,\n%s",
						b, cond, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), got, etag, lastMod, body)
				}
				if resp.Header.Get("X-RateLimit-Remaining") == "" {
					t.Errorf("no-op PATCH %s: no X-RateLimit-Remaining", b)
				}
			}
			// A stale or failing condition is still refused.
			expectProblem(t, h.sendH("PATCH", path, b, "If-Match", `"v0"`), 412, "precondition_failed")
			expectProblem(t, h.sendH("PATCH", path, b, "If-None-Match", `"v1"`), 412, "precondition_failed")
		}
		if e, l, b := current(); e != etag || l != lastMod || b != body {
			t.Fatalf("no-op PATCHes changed the code: %s %s %s", e, l, b)
		}
		if b := readJSON(t, h.sendH("GET", path, ""), 200); b["updatedAt"] != created["updatedAt"] {
			t.Fatalf("updatedAt %v, want %v", b["updatedAt"], created["updatedAt"])
		}
		// Each PATCH is one call (6 per body), as are the GETs.
		if now, _ := h.credits(); now-calls != int64(6*len(noops)+2) {
			t.Errorf("%d calls counted for %d no-op PATCHes and 2 GETs, want %d", now-calls, 6*len(noops), 6*len(noops)+2)
		}

		// A real change moves the version and updatedAt; sending it again
		// changes nothing.
		h.clock.Set(start.Add(3 * time.Minute))
		changed := h.sendH("PATCH", path, `{"name":"Menu 2"}`, "If-Match", `"v1"`)
		after := readJSON(t, changed, 200)
		if changed.Header.Get("ETag") != `"v2"` || after["updatedAt"] == created["updatedAt"] || after["name"] != "Menu 2" {
			t.Fatalf("rename: ETag %s, %v", changed.Header.Get("ETag"), after)
		}
		h.clock.Set(start.Add(4 * time.Minute))
		again := h.sendH("PATCH", path, `{"name":"Menu 2"}`, "If-Match", `"v2"`)
		if b := readJSON(t, again, 200); again.Header.Get("ETag") != `"v2"` || b["updatedAt"] != after["updatedAt"] {
			t.Fatalf("the same rename again: ETag %s, updatedAt %v; want \"v2\", %v", again.Header.Get("ETag"), b["updatedAt"], after["updatedAt"])
		}
		// Every change counts: a colour, the logo, the content.
		for i, b := range []string{
			`{"design":{"foreground":"#000000"}}`,
			`{"design":{"errorCorrection":"H","logo":"` + logoPNG(t) + `"}}`,
			`{"design":{"logo":null}}`,
			`{"content":{"url":"https://example.com/menu2"}}`,
			`{"type":"text","content":{"text":"https://example.com/menu2"}}`,
		} {
			want := fmt.Sprintf(`"v%d"`, 3+i)
			resp := h.sendH("PATCH", path, b)
			if code, got := status(resp); code != 200 || resp.Header.Get("ETag") != want {
				t.Fatalf("PATCH %.60s: %d, ETag %s, want 200 %s: %s", b, code, resp.Header.Get("ETag"), want, got)
			}
		}
	})
}

// TestPatchContentAsStored: content is stored as sent, without the
// spaces, and a PATCH's content is merged into it in its stored order: a
// PATCH that differs only in spacing or order, or that leaves fields out,
// is no change; one that changes a field is one, after which it is no
// change either. A new type's content is stored as sent.
func TestPatchContentAsStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := readJSON(t, h.sendH("POST", "/api/v1/qr-codes",
			`{"name":"Guest Wi-Fi","type":"wifi","content":{"ssid":"Cafe","password":"correct horse","security":"WPA"}}`), 201)
		path := "/api/v1/qr-codes/" + created["id"].(string)
		for _, c := range []struct {
			body, etag string
		}{
			{"{\"content\":{ \"ssid\" : \"Cafe\",\n\t\"password\":\"correct horse\" , \"security\":\"WPA\" }}", `"v1"`},
			{`{"type":"wifi","content":{"ssid":"Cafe","password":"correct horse","security":"WPA"}}`, `"v1"`},
			{`{"content":{"security":"WPA","ssid":"Cafe","password":"correct horse"}}`, `"v1"`},
			{`{"content":{"ssid":"Cafe"}}`, `"v1"`},
			{`{"content":{"security":null}}`, `"v2"`}, // WPA when absent: the same payload, not the same content
			{`{"content":{ "ssid":"Cafe", "password":"correct horse" }}`, `"v2"`},
			{`{"content":{"security":"WPA"}}`, `"v3"`},
		} {
			resp := h.sendH("PATCH", path, c.body)
			got := readJSON(t, resp, 200)
			if resp.Header.Get("ETag") != c.etag {
				t.Fatalf("PATCH %s: ETag %s, want %s", c.body, resp.Header.Get("ETag"), c.etag)
			}
			if got["payload"] != created["payload"] {
				t.Fatalf("payload %v, want %v", got["payload"], created["payload"])
			}
		}
	})
}

// TestPatchContentEscapes: content is answered and stored with its
// strings and keys written without needless escapes, so a PATCH resending
// values the code has, escaped as a client's JSON library does (Python's
// json.dumps escapes non-ASCII, PHP's json_encode "/"), is no change: the
// ETag stays and the content is answered as before.
func TestPatchContentEscapes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"text","content":{"\u0074ext":"\u00e9A https:\/\/example.com\/menu \ud83d\ude00"}}`)
		if code, body := status(created); code != 201 || !strings.Contains(body, `"content":{"text":"éA https://example.com/menu 😀"}`) ||
			!strings.Contains(body, `"payload":"éA https://example.com/menu 😀"`) {
			t.Fatalf("create: %d %s", code, body)
		}
		path := created.Header.Get("Location")
		for _, b := range []string{
			`{"content":{"text":"éA https://example.com/menu 😀"}}`,
			`{"content":{"text":"\u00e9A https://example.com/menu \ud83d\ude00"}}`,
			`{"content":{"text":"\u00E9A https:\/\/example.com\/menu \uD83D\uDE00"}}`,
			`{"content":{"t\u0065xt":"\u00e9\u0041 https:\/\/example.com\/menu 😀"}}`,
		} {
			resp := h.sendH("PATCH", path, b, "If-Match", `"v1"`)
			code, body := status(resp)
			if code != 200 || resp.Header.Get("ETag") != `"v1"` || !strings.Contains(body, `"content":{"text":"éA https://example.com/menu 😀"}`) {
				t.Fatalf("PATCH %s: %d, ETag %s: %s", b, code, resp.Header.Get("ETag"), body)
			}
		}
		resp := h.sendH("PATCH", path, `{"content":{"text":"\u00e9B"}}`, "If-Match", `"v1"`)
		if code, body := status(resp); code != 200 || resp.Header.Get("ETag") != `"v2"` || !strings.Contains(body, `"content":{"text":"éB"}`) {
			t.Fatalf("a real change: %d, ETag %s: %s", code, resp.Header.Get("ETag"), body)
		}
	})
}

// TestPatchNoopRace: 20 no-op PATCHes and 20 renames of one code at once.
// No-ops never move the version, never fail for a concurrent change, and
// each answers a state the code really had: the version ends at 1 + the
// renames that succeeded.
func TestPatchNoopRace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)["id"].(string)
		path := "/api/v1/qr-codes/" + id
		noops := []string{`{}`, `{"type":"url"}`, `{"content":{"url":"https://example.com/menu"}}`, `{"design":{"margin":4}}`, `{"design":{"logo":null}}`}
		const n = 20
		type answer struct {
			code       int
			etag, name string
			body       string
		}
		renames, idle := make([]answer, n), make([]answer, n)
		client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * n}}
		do := func(body string, into *answer) {
			req, _ := http.NewRequest("PATCH", h.srv.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+h.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			*into = answer{code: resp.StatusCode, etag: resp.Header.Get("ETag"), body: string(b)}
		}
		gate := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				do(fmt.Sprintf(`{"name":"Rename %d"}`, i), &renames[i])
				renames[i].name = fmt.Sprintf("Rename %d", i)
			}()
			go func() {
				defer wg.Done()
				<-gate
				do(noops[i%len(noops)], &idle[i])
			}()
		}
		close(gate)
		wg.Wait()

		// The name each version had, from the renames that landed.
		names := map[string]string{`"v1"`: "Menu"}
		ok := 0
		for _, a := range renames {
			switch a.code {
			case 200:
				ok++
				if _, dup := names[a.etag]; dup {
					t.Fatalf("two renames answered ETag %s", a.etag)
				}
				names[a.etag] = a.name
			case 409: // changed too often while it retried: nothing written
				if !strings.Contains(a.body, "qr_code_changed") {
					t.Fatalf("rename: 409 %s", a.body)
				}
			default:
				t.Fatalf("rename: %d %s", a.code, a.body)
			}
		}
		if ok == 0 {
			t.Fatal("no rename succeeded")
		}
		for i, a := range idle {
			if a.code != 200 {
				t.Fatalf("no-op PATCH %s: %d %s", noops[i%len(noops)], a.code, a.body)
			}
			name, known := names[a.etag]
			if !known || !strings.Contains(a.body, `"name":"`+name+`"`) {
				t.Fatalf("no-op PATCH answered ETag %s with %s; the code never was so (versions: %v)", a.etag, a.body, names)
			}
		}
		resp := h.sendH("GET", path, "")
		final := readJSON(t, resp, 200)
		want := fmt.Sprintf(`"v%d"`, 1+ok)
		if resp.Header.Get("ETag") != want || final["name"] != names[want] {
			t.Fatalf("after %d renames: ETag %s, name %v; want %s, %q", ok, resp.Header.Get("ETag"), final["name"], want, names[want])
		}
		t.Logf("%d of %d renames landed", ok, n)
	})
}
