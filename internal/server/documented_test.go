package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// documentedHeaders are the response headers a client may act on: each one
// a response carries must be listed for its status in the document.
var documentedHeaders = []string{"X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"RateLimit", "RateLimit-Policy", "X-Image-Credits-Limit", "X-Image-Credits-Remaining", "ETag", "Last-Modified",
	"Cache-Control", "Retry-After", "Location", "Idempotent-Replayed", "WWW-Authenticate", "Allow"}

// TestResponsesDocumented drives every route of the API (success and the
// errors a client can cause: 304, 400 (a body or query parameter an
// operation does not take included), 401, 403, 404, 405, 412, 414, 415) and checks
// that each status it answers is listed for the operation in
// openapi.json, with every header the response carries.
func TestResponsesDocumented(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		var doc map[string]any
		resp := h.sendH("GET", "/api/v1/openapi.json", "")
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		components := doc["components"].(map[string]any)
		resolve := func(v map[string]any) map[string]any {
			if r, ok := v["$ref"].(string); ok {
				parts := strings.Split(r, "/") // #/components/responses/X
				return components[parts[2]].(map[string]any)[parts[3]].(map[string]any)
			}
			return v
		}
		// A key restricted to usage:read: 403 insufficient_scope elsewhere.
		restricted, err := h.cli.CreateKeyWith(context.Background(), snapglyph.Operator, h.org.ID,
			service.KeySpec{Name: "Usage-Reader", Scopes: snapglyph.Scopes(snapglyph.ScopeUsageRead)})
		if err != nil {
			t.Fatal(err)
		}
		create := `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		id := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", create), 201)["id"].(string)
		long := strings.Repeat("a", 9000)
		seen := map[string]bool{}
		for _, route := range h.node.Server.APIRoutes() {
			method, pattern, _ := strings.Cut(route, " ")
			path := strings.Replace(pattern, "{id}", id, 1)
			type try struct {
				path, body string
				headers    []string
				noKey      bool
				method     string // another method than the route's (a 405)
				restricted bool   // with the usage:read key
			}
			tries := []try{{path: path}, {path: path, noKey: true}, {path: path + "?x=" + long}, {path: path, method: "PUT"}, {path: path, method: "PUT", noKey: true}, {path: path, restricted: true}}
			if method == "POST" || method == "PATCH" {
				tries[0].body = `{"name":"Menu 2","type":"url","content":{"url":"https://example.com/menu"}}`
				tries = append(tries, try{path: path, body: `{"name":""}`}, try{path: path, body: `{`}, try{path: path, body: "x", headers: []string{"Content-Type", "text/plain"}})
			}
			if strings.Contains(pattern, "{id}") {
				tries = append(tries, try{path: strings.Replace(pattern, "{id}", "qr_doesnotexist", 1), body: tries[0].body},
					try{path: path, body: tries[0].body, headers: []string{"If-Match", `"v0"`}},
					try{path: path, body: tries[0].body, headers: []string{"If-None-Match", `*`}})
			}
			// A query parameter no operation takes; a body where none is taken.
			tries = append(tries, try{path: path + "?x=1"})
			if method != "POST" && method != "PATCH" {
				tries = append(tries, try{path: path, body: `{}`})
			}
			if method == "DELETE" {
				tries = append(tries[1:], tries[0]) // the delete that works last
			}
			if method == "GET" && pattern == "/api/v1/qr-codes" {
				tries = append(tries, try{path: path + "?limit=0"})
			}
			op, _ := doc["paths"].(map[string]any)[pattern].(map[string]any)[strings.ToLower(method)].(map[string]any)
			if op == nil {
				t.Fatalf("%s is not in the document", route)
			}
			responses := op["responses"].(map[string]any)
			for _, c := range tries {
				m := method
				if c.method != "" {
					m = c.method
				}
				req, _ := http.NewRequest(m, h.srv.URL+c.path, strings.NewReader(c.body))
				switch {
				case c.restricted:
					req.Header.Set("Authorization", "Bearer "+restricted.Secret)
				case !c.noKey:
					req.Header.Set("Authorization", "Bearer "+h.key)
				}
				if c.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				for i := 0; i+1 < len(c.headers); i += 2 {
					req.Header.Set(c.headers[i], c.headers[i+1])
				}
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				code := strconv.Itoa(resp.StatusCode)
				seen[route+" "+code] = true
				r, ok := responses[code].(map[string]any)
				if !ok {
					t.Errorf("%s answered %s to %s %.60s, which the document does not list", route, code, m, c.path)
					continue
				}
				listed, _ := resolve(r)["headers"].(map[string]any)
				for _, name := range documentedHeaders {
					if resp.Header.Get(name) == "" {
						continue
					}
					found := false
					for k := range listed {
						found = found || strings.EqualFold(k, name)
					}
					if !found {
						t.Errorf("%s %s carries %s, which the document does not list for it", route, code, name)
					}
				}
				if resp.StatusCode == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
					t.Errorf("%s %s answered 405 without Allow", m, c.path)
				}
				if id != "" && method == "DELETE" && resp.StatusCode == 204 {
					// Deleted: make the code again for the next tries.
					id = readJSON(t, h.sendH("POST", "/api/v1/qr-codes", create), 201)["id"].(string)
				}
			}
		}
		// The tries reached the statuses they are meant to reach.
		for _, want := range []string{"GET /api/v1/qr-codes/{id} 304", "PATCH /api/v1/qr-codes/{id} 412", "DELETE /api/v1/qr-codes/{id} 412",
			"POST /api/v1/qr-codes 415", "GET /api/v1/qr-codes 400", "GET /api/v1/usage 401", "GET /api/v1/usage 414", "DELETE /api/v1/qr-codes/{id} 404",
			"GET /api/v1/usage 405", "POST /api/v1/qr-codes 405", "GET /api/v1/qr-codes 405", "GET /api/v1/qr-codes/{id} 405",
			"PATCH /api/v1/qr-codes/{id} 405", "DELETE /api/v1/qr-codes/{id} 405", "GET /api/v1/openapi.json 405",
			"GET /api/v1/openapi.json 400", "GET /api/v1/usage 400", "DELETE /api/v1/qr-codes/{id} 400", "GET /api/v1/qr-codes/{id} 412",
			"POST /api/v1/qr-codes 403", "GET /api/v1/qr-codes 403", "GET /api/v1/qr-codes/{id} 403", "PATCH /api/v1/qr-codes/{id} 403", "DELETE /api/v1/qr-codes/{id} 403"} {
			if !seen[want] {
				t.Errorf("no try answered %s", want)
			}
		}
	})
}
