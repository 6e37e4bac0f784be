package server_test

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// Every request under /api/ gets a problem document: a wrong method is a
// 405 naming the methods that work, an unknown path a 404, a browser's
// CORS preflight a refusal that says why; none of them costs a call.
func TestAPIMethodsAndUnknownPaths(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	callsBefore, _ := h.credits()
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"PUT", "/api/v1/qr-codes/qr_x", 405, "method_not_allowed", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"DELETE", "/api/v1/qr-codes", 405, "method_not_allowed", "GET, HEAD, POST, OPTIONS"},
		{"POST", "/api/v1/usage", 405, "method_not_allowed", "GET, HEAD, OPTIONS"},
		{"POST", "/api/v1/openapi.json", 405, "method_not_allowed", "GET, HEAD, OPTIONS"},
		{"GET", "/api/v1/nothing", 404, "not_found", ""},
		{"GET", "/api/v2/qr-codes", 404, "not_found", ""},
		{"POST", "/api/", 404, "not_found", ""},
	}
	for _, c := range cases {
		resp := h.send(c.method, c.path, h.key, "")
		p := expectProblem(t, resp, c.status, c.code)
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
		if c.status == 405 && !strings.Contains(p["detail"].(string), strings.Split(c.allow, ", ")[0]) {
			t.Errorf("%s %s: the detail does not say what works: %v", c.method, c.path, p["detail"])
		}
	}

	// A CORS preflight is refused with a reason; a plain OPTIONS lists
	// the methods.
	req, _ := http.NewRequest("OPTIONS", h.srv.URL+"/api/v1/qr-codes", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p := expectProblem(t, resp, 403, "cors_not_allowed")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(p["detail"].(string), "server") {
		t.Errorf("preflight: %v %v", resp.Header, p)
	}
	req, _ = http.NewRequest("OPTIONS", h.srv.URL+"/api/v1/usage", nil)
	resp, err = h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("OPTIONS: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// A huge unknown path is not echoed back whole.
	long := "/api/v2/" + strings.Repeat("é", 1000)
	resp = h.send("GET", long, h.key, "")
	p = expectProblem(t, resp, 404, "not_found")
	if d := p["detail"].(string); len(d) > 300 || !strings.Contains(d, "…") {
		t.Errorf("the detail echoes %d bytes of the path", len(d))
	}

	if calls, _ := h.credits(); calls != callsBefore {
		t.Errorf("these answers cost %d API calls", calls-callsBefore)
	}
}

// Every problem code of the document has a page, as HTML and as JSON, and
// a problem's type URI leads to it.
func TestProblemPages(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Code struct {
							Enum []string `json:"enum"`
						} `json:"code"`
					} `json:"properties"`
				} `json:"Problem"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	codes := doc.Components.Schemas.Problem.Properties.Code.Enum
	if len(codes) < 20 {
		t.Fatalf("the document lists %d codes", len(codes))
	}
	get := func(path, accept string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for _, code := range codes {
		resp, body := get("/problems/"+code, "application/json")
		var page struct{ Code, Title, Description, Fix string }
		if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 200 || page.Code != code || page.Description == "" || page.Fix == "" {
			t.Errorf("/problems/%s as JSON: %d %s", code, resp.StatusCode, body)
		}
		resp, body = get("/problems/"+code, "text/html,application/xhtml+xml")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, html.EscapeString(page.Title)) {
			t.Errorf("/problems/%s as HTML: %d %s", code, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if resp, _ := get("/problems/no_such_code", "text/html"); resp.StatusCode != 404 {
		t.Errorf("an unknown code: %d", resp.StatusCode)
	}
	// Asked as JSON, an unknown code is a problem document like any 404.
	if resp, body := get("/problems/no_such_code", "application/json"); resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(body, `"code":"not_found"`) || !strings.Contains(body, "no_such_code") {
		t.Errorf("an unknown code as JSON: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// A hostile code (NUL, invalid UTF-8, 8,000 bytes: longer URLs are 414) is named, escaped
	// and shortened, never echoed whole.
	for _, code := range []string{"a%00b", "a%FFb", strings.Repeat("x", 8000)} {
		resp, body := get("/problems/"+code, "application/json")
		if resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) || len(body) > 2000 || !utf8.ValidString(body) {
			t.Errorf("the code %.20q as JSON: %d, %d bytes %.200s", code, resp.StatusCode, len(body), body)
		}
	}
	var all []struct {
		Code   string
		Status int
	}
	_, body := get("/problems/", "application/json")
	if json.Unmarshal([]byte(body), &all) == nil {
		// 499 is recorded in the request log, never sent: not in the document.
		all = slices.DeleteFunc(all, func(p struct {
			Code   string
			Status int
		}) bool {
			return p.Status == 499
		})
	}
	if len(all) != len(codes) {
		t.Errorf("/problems/ lists %d codes as JSON, the document %d", len(all), len(codes))
	}
	_, index := get("/problems/", "text/html")
	for _, code := range codes {
		if !strings.Contains(index, `href="/problems/`+code+`"`) {
			t.Errorf("the index does not link %s", code)
		}
	}

	// A real problem: its type resolves to its page, and it names its
	// occurrence.
	p := expectProblem(t, h.send("GET", "/api/v1/usage", "", ""), 401, "malformed_authorization")
	typ, _ := p["type"].(string)
	if typ != "/problems/malformed_authorization" || p["instance"] != "urn:snapglyph:request:"+p["requestId"].(string) {
		t.Fatalf("type %q instance %v", typ, p["instance"])
	}
	if resp, body := get(typ, "text/html"); resp.StatusCode != 200 || !strings.Contains(body, "Bearer") {
		t.Errorf("the type URI %s: %d", typ, resp.StatusCode)
	}
}

// A body that is not an object is refused (a PATCH with null used to
// answer 200 having changed nothing), and an answer never grows with what
// the request sent: a 100 KB unknown field name is not echoed whole.
func TestBodyShapeAndBoundedProblems(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"A","type":"text","content":{"text":"a"}}`), 201)
	path := "/api/v1/qr-codes/" + q["id"].(string)
	for _, body := range []string{"null", " null ", "[]", `"x"`, "1", "true"} {
		expectProblem(t, h.send("PATCH", path, h.key, body), 400, "invalid_json")
		expectProblem(t, h.send("POST", "/api/v1/qr-codes", h.key, body), 400, "invalid_json")
	}
	huge := strings.Repeat("é", 50000)
	for _, body := range []string{
		`{"` + huge + `":1}`,
		`{"name":"A","type":"text","content":{"text":"a","` + huge + `":1}}`,
		`{"design":{"` + huge + `":1}}`,
		// The key checks: a duplicate huge key, in the wrong case, with a
		// NUL or an escaped invalid surrogate, and invalid UTF-8 in a key.
		`{"content":{"` + huge + `":1,"` + huge + `":2}}`,
		`{"NAME` + huge + `":1}`,
		`{"na\u0000me":"A"}`,
		`{"na\ud800me":"A"}`,
		"{\"na\xffme\":\"A\"}",
	} {
		resp := h.send("PATCH", path, h.key, body)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || len(raw) > 4000 || !utf8.Valid(raw) {
			t.Errorf("a huge field name: %d, %d bytes back", resp.StatusCode, len(raw))
		}
	}
}

// HEAD answers an image's headers without the image: one API call, no
// image credit, nothing drawn.
func TestHeadImageCostsNoCredit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"A","type":"text","content":{"text":"a"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string)
		calls0, credits0 := h.credits()
		for _, c := range []struct{ query, ctype string }{{"?format=png&size=256", "image/png"}, {"?format=svg", "image/svg+xml"}, {"", "application/json"}} {
			resp := h.send("HEAD", path+c.query, h.key, "")
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
				t.Errorf("HEAD %s: %d %q", c.query, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if c.query != "" && resp.Header.Get("ETag") == "" {
				t.Errorf("HEAD %s: no ETag", c.query)
			}
		}
		// The tag a HEAD gives is the tag of the image a GET sends.
		head := h.send("HEAD", path+"?format=png&size=256", h.key, "")
		head.Body.Close()
		get := h.send("GET", path+"?format=png&size=256", h.key, "")
		io.Copy(io.Discard, get.Body)
		get.Body.Close()
		if head.Header.Get("ETag") != get.Header.Get("ETag") {
			t.Errorf("HEAD tag %s, GET tag %s", head.Header.Get("ETag"), get.Header.Get("ETag"))
		}
		calls, credits := h.credits()
		if calls-calls0 != 5 || credits-credits0 != 10 {
			t.Errorf("4 HEADs and a PNG GET cost %d calls and %d credits; want 5 and 10 (the GET's)", calls-calls0, credits-credits0)
		}
	})
}
