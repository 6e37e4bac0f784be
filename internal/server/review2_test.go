package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// callsUsed is the organisation's API calls used so far, the /usage
// request that asks included.
func callsUsed(t *testing.T, h *harness) float64 {
	t.Helper()
	return readJSON(t, h.sendH("GET", "/api/v1/usage", ""), 200)["apiCalls"].(map[string]any)["used"].(float64)
}

// TestPatchMergesContent: a PATCH's content is merged into the stored
// content while the type stays, as its design is into the design: fields
// left out are kept (a vCard's lastName, emails and phones; a Wi-Fi's
// hidden), arrays sent are replaced whole, null removes a field, and the
// merged content is validated as a whole. A new type needs its complete
// content: nothing of the old is kept.
func TestPatchMergesContent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		vc := readJSON(t, h.sendH("POST", "/api/v1/qr-codes",
			`{"name":"VC","type":"vcard","content":{"firstName":"Ada","lastName":"Lovelace","emails":["a@example.com"],"phones":["+44 20 7946 0958"],"address":{"city":"London","country":"UK"}},"design":{"foreground":"#1A1A2E","margin":2}}`), 201)
		path := "/api/v1/qr-codes/" + vc["id"].(string)
		got := readQR(t, h.sendH("PATCH", path, `{"content":{"firstName":"Ada","title":"Engineer"},"design":{"margin":3}}`), 200)
		want := `{"firstName":"Ada","lastName":"Lovelace","emails":["a@example.com"],"phones":["+44 20 7946 0958"],"address":{"city":"London","country":"UK"},"title":"Engineer"}`
		if c := string(got.Content); c != want {
			t.Fatalf("after a partial vCard PATCH the content is %s, want %s", c, want)
		}
		if p := got.Payload; !strings.Contains(p, "N:Lovelace;Ada") || !strings.Contains(p, "TITLE:Engineer") || !strings.Contains(p, "a@example.com") {
			t.Errorf("payload %q lost fields", p)
		}
		if d := got.Design; d["foreground"] != "#1A1A2E" || d["margin"] != 3.0 {
			t.Errorf("design %v", d)
		}
		// Arrays replaced whole, null removes, the address merged.
		got = readQR(t, h.sendH("PATCH", path, `{"content":{"emails":["b@example.com","c@example.com"],"phones":null,"address":{"city":"Paris","country":null}}}`), 200)
		want = `{"firstName":"Ada","lastName":"Lovelace","emails":["b@example.com","c@example.com"],"address":{"city":"Paris"},"title":"Engineer"}`
		if c := string(got.Content); c != want {
			t.Fatalf("content %s, want %s", c, want)
		}
		// The merged content is validated as a whole: removing every name
		// leaves a vCard without one, refused, and nothing changes.
		p := expectProblem(t, h.sendH("PATCH", path, `{"content":{"firstName":null,"lastName":null}}`), 400, "invalid_request")
		if fields, _ := problemFields(t, p); len(fields) == 0 || !strings.HasPrefix(fields[0], "content") {
			t.Errorf("errors %v, want the content named", fields)
		}
		// A field of another type is still unknown to this one.
		expectProblem(t, h.sendH("PATCH", path, `{"content":{"ssid":"Home"}}`), 400, "invalid_request")
		// So is a misspelt one sent as null, to remove it (review 8: it
		// was dropped, 200 and nothing removed), also in the address, and
		// objects deeper than content goes are refused, not merged.
		for body, field := range map[string]string{
			`{"content":{"titel":null}}`:                              "content.titel",
			`{"content":{"Title":null}}`:                              "content.Title",
			`{"content":{"address":{"floor":null}}}`:                  "content.address.floor",
			`{"content":{"address":{"city":{"x":{"y":{"z":null}}}}}}`: "content.address.city",
		} {
			p := expectProblem(t, h.sendH("PATCH", path, body), 400, "invalid_request")
			if fields, _ := problemFields(t, p); !slices.Contains(fields, field) {
				t.Errorf("PATCH %s: errors %v, want %s named", body, fields, field)
			}
		}
		if c := string(readQR(t, h.sendH("GET", path, ""), 200).Content); c != want {
			t.Fatalf("refused PATCHes changed the content to %s", c)
		}

		// Wi-Fi: resending the SSID and password keeps hidden.
		wifi := readJSON(t, h.sendH("POST", "/api/v1/qr-codes",
			`{"name":"Net","type":"wifi","content":{"ssid":"Home","password":"correct horse","hidden":true}}`), 201)
		wpath := "/api/v1/qr-codes/" + wifi["id"].(string)
		got = readQR(t, h.sendH("PATCH", wpath, `{"type":"wifi","content":{"ssid":"Home2","password":"battery staple"}}`), 200)
		if c := string(got.Content); c != `{"ssid":"Home2","password":"battery staple","hidden":true}` {
			t.Fatalf("Wi-Fi content %s, want hidden kept", c)
		}
		if p := got.Payload; !strings.Contains(p, "H:true") || !strings.Contains(p, "S:Home2") {
			t.Errorf("Wi-Fi payload %q, want the network hidden", p)
		}

		// A new type: its content is complete, nothing is merged.
		p = expectProblem(t, h.sendH("PATCH", wpath, `{"type":"vcard","content":{"title":"Dr"}}`), 400, "invalid_request")
		if fields, _ := problemFields(t, p); !slices.Contains(fields, "content") && !slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(f, "content") }) {
			t.Errorf("type change with partial content: errors %v", fields)
		}
		expectProblem(t, h.sendH("PATCH", wpath, `{"type":"sms","content":{"message":"hi"}}`), 400, "invalid_request")
		got = readQR(t, h.sendH("PATCH", wpath, `{"type":"text","content":{"text":"hello"}}`), 200)
		if c := string(got.Content); c != `{"text":"hello"}` || got.Type != "text" {
			t.Fatalf("after a type change: %v %s, want the new content alone", got.Type, c)
		}
	})
}

// qrRaw is a QR code's JSON with its content as sent, keys in order.
type qrRaw struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
	Payload string          `json:"payload"`
	Design  map[string]any  `json:"design"`
}

func readQR(t *testing.T, resp *http.Response, status int) qrRaw {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	var q qrRaw
	if err := json.Unmarshal(body, &q); err != nil {
		t.Fatal(err)
	}
	return q
}

// TestEmptyParametersRefused: a list filter or an image parameter given
// empty (type=, createdByKey, format=…) is refused with 400 naming it,
// not read as no filter or as its default; an empty cursor= or limit=
// means none, as README says. Each refusal costs a call, like any 400.
func TestEmptyParametersRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)["id"].(string)
		for _, c := range []struct{ path, field string }{
			{"/api/v1/qr-codes?createdByKey=", "createdByKey"},
			{"/api/v1/qr-codes?createdByKey", "createdByKey"},
			{"/api/v1/qr-codes?limit=100&type=", "type"},
			{"/api/v1/qr-codes?type", "type"},
			{"/api/v1/qr-codes/" + id + "?format=", "format"},
			{"/api/v1/qr-codes/" + id + "?format=png&size=", "size"},
			{"/api/v1/qr-codes/" + id + "?format=svg&download=", "download"},
		} {
			p := expectProblem(t, h.sendH("GET", c.path, ""), http.StatusBadRequest, "invalid_request")
			fields, messages := problemFields(t, p)
			if !slices.Equal(fields, []string{c.field}) || !strings.HasPrefix(messages[c.field], "is empty") {
				t.Errorf("GET %s: errors %v %v, want %s named as empty", c.path, fields, messages, c.field)
			}
		}
		before := callsUsed(t, h)
		h.sendH("GET", "/api/v1/qr-codes?createdByKey=", "").Body.Close()
		if after := callsUsed(t, h); after != before+2 {
			t.Errorf("a refused empty filter cost %v calls, want 1 (as every 400)", after-before-1)
		}
		for _, path := range []string{"/api/v1/qr-codes?cursor=&limit=", "/api/v1/qr-codes?limit=&type=url"} {
			if n := len(readJSON(t, h.sendH("GET", path, ""), 200)["data"].([]any)); n != 1 {
				t.Errorf("GET %s: %d codes, want 1", path, n)
			}
		}
	})
}

// TestIfUnmodifiedSince: without If-Match, a PATCH or DELETE whose
// If-Unmodified-Since is not after the code's last change is refused with
// 412 and changes nothing (RFC 9110 §13.1.4), costing a call as other
// 412s do; the code's own Last-Modified passes; an invalid date is
// ignored; If-Match decides alone when sent. A GET evaluates both too: a
// stale If-Match or If-Unmodified-Since is 412, for the JSON and for an
// image (no credit charged).
func TestIfUnmodifiedSince(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		at := func(ms int) { h.clock.Set(start.Add(time.Duration(ms) * time.Millisecond)) }
		at(200)
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)["id"].(string)
		path := "/api/v1/qr-codes/" + id
		at(1500)
		resp := h.sendH("GET", path, "")
		lm := resp.Header.Get("Last-Modified")
		resp.Body.Close()
		old := "Mon, 01 Jan 2001 00:00:00 GMT"

		before := callsUsed(t, h)
		p := expectProblem(t, h.sendH("PATCH", path, `{"name":"Lost update"}`, "If-Unmodified-Since", old), 412, "precondition_failed")
		if d := p["detail"].(string); !strings.Contains(d, "If-Unmodified-Since") {
			t.Errorf("detail %q does not name the header", d)
		}
		expectProblem(t, h.sendH("DELETE", path, "", "If-Unmodified-Since", old), 412, "precondition_failed")
		// The second the code changed in is not after the change.
		expectProblem(t, h.sendH("PATCH", path, `{"name":"Lost update"}`, "If-Unmodified-Since", start.Format(http.TimeFormat)), 412, "precondition_failed")
		if after := callsUsed(t, h); after != before+4 {
			t.Errorf("three 412s cost %v calls, want 3", after-before-1)
		}
		got := readJSON(t, h.sendH("GET", path, ""), 200)
		if got["name"] != "Menu" {
			t.Fatalf("a refused PATCH renamed the code to %v", got["name"])
		}
		// If-Match decides alone; an invalid date is no condition.
		readJSON(t, h.sendH("PATCH", path, `{"name":"Menu A"}`, "If-Match", `"v1"`, "If-Unmodified-Since", old), 200)
		readJSON(t, h.sendH("PATCH", path, `{"name":"Menu B"}`, "If-Unmodified-Since", "yesterday"), 200)
		// The Last-Modified of the code as it is passes; after a change
		// it fails.
		at(3500)
		resp = h.sendH("GET", path, "")
		lm = resp.Header.Get("Last-Modified")
		resp.Body.Close()
		readJSON(t, h.sendH("PATCH", path, `{"name":"Menu C"}`, "If-Unmodified-Since", lm), 200)
		expectProblem(t, h.sendH("PATCH", path, `{"name":"Menu D"}`, "If-Unmodified-Since", lm), 412, "precondition_failed")

		// GET: a stale If-Match is 412, a current one 200; the same for
		// If-Unmodified-Since; an image refused so costs no credit.
		resp = h.sendH("GET", path, "")
		etag := resp.Header.Get("ETag")
		resp.Body.Close()
		expectProblem(t, h.sendH("GET", path, "", "If-Match", `"v999"`), 412, "precondition_failed")
		readJSON(t, h.sendH("GET", path, "", "If-Match", etag), 200)
		expectProblem(t, h.sendH("GET", path, "", "If-Unmodified-Since", old), 412, "precondition_failed")
		credits := func() float64 {
			return readJSON(t, h.sendH("GET", "/api/v1/usage", ""), 200)["imageCredits"].(map[string]any)["used"].(float64)
		}
		c0 := credits()
		expectProblem(t, h.sendH("GET", path+"?format=png", "", "If-Match", etag), 412, "precondition_failed") // the JSON's tag is not the image's
		if c := credits(); c != c0 {
			t.Errorf("a 412 image cost %v credits", c-c0)
		}
		resp = h.sendH("GET", path+"?format=svg", "")
		svgTag := resp.Header.Get("ETag")
		resp.Body.Close()
		if resp := h.sendH("GET", path+"?format=svg", "", "If-Match", svgTag); resp.StatusCode != 200 {
			t.Errorf("GET svg with its own ETag in If-Match: %d, want 200", resp.StatusCode)
		}
	})
}

// TestBodyRefusedWhereNoneTaken: a request body sent to an operation that
// takes none (GET, HEAD, DELETE, /usage, the API document) is refused with
// 400 invalid_request, costing a call as any 400 after the key does, and
// nothing is done; an empty body is no body.
func TestBodyRefusedWhereNoneTaken(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)["id"].(string)
		path := "/api/v1/qr-codes/" + id
		before := callsUsed(t, h)
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/usage"}, {"GET", "/api/v1/qr-codes"}, {"GET", path}, {"GET", path + "?format=svg"},
			{"DELETE", path}, {"GET", "/api/v1/openapi.json"},
		} {
			p := expectProblem(t, h.sendH(c.method, c.path, `{"period":"2026-10"}`), 400, "invalid_request")
			if d := p["detail"].(string); !strings.Contains(d, "takes no request body") {
				t.Errorf("%s %s: detail %q", c.method, c.path, d)
			}
		}
		// HEAD, and a chunked body of unknown length.
		req, _ := http.NewRequest("HEAD", h.srv.URL+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+h.key)
		if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != 400 {
			t.Errorf("HEAD with a body: %v %v, want 400", resp, err)
		}
		req, _ = http.NewRequest("DELETE", h.srv.URL+path, io.MultiReader(strings.NewReader(`{"cascade":true}`)))
		req.Header.Set("Authorization", "Bearer "+h.key)
		if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != 400 || resp.ContentLength == 0 {
			t.Errorf("chunked DELETE body: %v %v, want 400", resp, err)
		}
		// Five metered refusals (the document's is not metered), the
		// HEAD and the chunked DELETE: one call each.
		if after := callsUsed(t, h); after != before+8 {
			t.Errorf("refused bodies cost %v calls, want 7", after-before-1)
		}
		readJSON(t, h.sendH("GET", path, ""), 200) // not deleted
		// An empty body is none.
		req, _ = http.NewRequest("GET", h.srv.URL+"/api/v1/usage", strings.NewReader(""))
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.ContentLength = 0
		readJSON(t, mustDo(t, h, req), 200)
		req, _ = http.NewRequest("DELETE", h.srv.URL+path, io.MultiReader(strings.NewReader("")))
		req.Header.Set("Authorization", "Bearer "+h.key)
		if resp := mustDo(t, h, req); resp.StatusCode != 204 {
			t.Errorf("DELETE with an empty chunked body: %d, want 204", resp.StatusCode)
		}
	})
}

func mustDo(t *testing.T, h *harness, req *http.Request) *http.Response {
	t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestOpenAPIDocumentQuery: the API document refuses a query parameter,
// as every operation refuses one it does not take.
func TestOpenAPIDocumentQuery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		p := expectProblem(t, h.get("/api/v1/openapi.json?limt=5", ""), 400, "invalid_request")
		if fields, _ := problemFields(t, p); !slices.Equal(fields, []string{"limt"}) {
			t.Errorf("errors %v, want limt", fields)
		}
		if resp := h.get("/api/v1/openapi.json", ""); resp.StatusCode != 200 {
			t.Errorf("the document: %d", resp.StatusCode)
		}
	})
}

// TestDesignMarginLiteral: a margin is taken only as a JSON integer
// literal; 4.0, 4e0, 1e1, 1e-400 and 3.9999999999999999 are refused
// (400 naming design.margin) rather than rounded; -0 is 0. Lower-case
// error correction is taken and answered upper case.
func TestDesignMarginLiteral(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		body := func(design string) string {
			return `{"name":"M","type":"url","content":{"url":"https://example.com"},"design":` + design + `}`
		}
		for _, m := range []string{"4.0", "4e0", "1e1", "1e-400", "3.9999999999999999", "0.0", "-0.0", "99999999999999999999"} {
			p := expectProblem(t, h.sendH("POST", "/api/v1/qr-codes", body(`{"margin":`+m+`}`)), 400, "invalid_request")
			fields, messages := problemFields(t, p)
			if !slices.Equal(fields, []string{"design.margin"}) || !strings.Contains(messages["design.margin"], "not 4.0") {
				t.Errorf("margin %s: errors %v %v", m, fields, messages)
			}
		}
		created := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", body(`{"margin":-0,"errorCorrection":"q"}`)), 201)
		if d := created["design"].(map[string]any); d["margin"] != 0.0 || d["errorCorrection"] != "Q" {
			t.Errorf("margin -0, errorCorrection q: %v, want 0 and Q", d)
		}
		path := "/api/v1/qr-codes/" + created["id"].(string)
		expectProblem(t, h.sendH("PATCH", path, `{"design":{"margin":2.0}}`), 400, "invalid_request")
	})
}

// TestErrorResponsesListHeaders: every error a metered operation answers
// once the key is taken (400, 404, 409, 412, 422) lists X-Request-Id and
// the allowance headers, which the server sends on each of them (the
// GET's 409 qr_code_changed listed none).
func TestErrorResponsesListHeaders(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Responses map[string]struct {
				Headers map[string]any `json:"headers"`
			} `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(mustRead(t, "openapi.json"), &doc); err != nil {
		t.Fatal(err)
	}
	want := []string{"X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit", "X-Image-Credits-Limit", "X-Image-Credits-Remaining"}
	checked := 0
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Security  []any `json:"security"`
				Responses map[string]struct {
					Ref     string         `json:"$ref"`
					Headers map[string]any `json:"headers"`
				} `json:"responses"`
			}
			if method == "parameters" || json.Unmarshal(raw, &op) != nil || op.Security != nil {
				continue // public: not metered
			}
			for _, code := range []string{"400", "404", "409", "412", "422"} {
				r, ok := op.Responses[code]
				if !ok {
					continue
				}
				headers := r.Headers
				if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
					headers = doc.Components.Responses[name].Headers
				}
				for _, h := range want {
					if _, ok := headers[h]; !ok {
						t.Errorf("%s %s %s does not list %s", method, path, code, h)
					}
				}
				checked++
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d responses checked", checked)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
