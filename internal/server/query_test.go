package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestQueryParametersTakeEffectOrAreRefused: a query parameter an
// operation does not take (a misspelt "limt"), or one given twice, is
// refused with 400 naming it, as a body's unknown field is, instead of
// being ignored; it still counts as a call, like any 400 after the key.
// Each operation's own parameters, from the API document, are accepted.
func TestQueryParametersTakeEffectOrAreRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`), 201)
		id := created["id"].(string)
		for _, tc := range []struct {
			method, path, field, message string
		}{
			{"GET", "/api/v1/qr-codes?limt=5", "limt", "is not a parameter of this operation; it takes limit, cursor, type, createdByKey"},
			{"GET", "/api/v1/qr-codes?limit=5&limit=6", "limit", "is given more than once"},
			{"GET", "/api/v1/qr-codes?type=url&type=text", "type", "is given more than once"},
			{"GET", "/api/v1/qr-codes?Limit=5", "Limit", "is not a parameter"},
			{"GET", "/api/v1/usage?period=2026-10", "period", "is not a parameter of this operation; it takes none"},
			{"GET", "/api/v1/qr-codes/" + id + "?format=png&size=100&size=200", "size", "is given more than once"},
			{"GET", "/api/v1/qr-codes/" + id + "?fromat=svg", "fromat", "it takes format, size, download"},
			{"HEAD", "/api/v1/qr-codes/" + id + "?fromat=svg", "", ""},
			{"PATCH", "/api/v1/qr-codes/" + id + "?dry_run=1", "dry_run", "it takes none"},
			{"DELETE", "/api/v1/qr-codes/" + id + "?force=true", "force", "it takes none"},
			{"POST", "/api/v1/qr-codes?name=Menu", "name", "it takes none"},
			// What net/url would drop, and names that are two parameters.
			{"GET", "/api/v1/qr-codes?limit=1;x=1", "limit", `holds a ";"`},
			{"GET", "/api/v1/qr-codes?limit=1%", "limit", `has a "%"`},
			{"GET", "/api/v1/qr-codes?type=nonsense%zz", "type", `has a "%"`},
			{"GET", "/api/v1/qr-codes/" + id + "?format=png&size=99999%", "size", `has a "%"`},
			{"GET", "/api/v1/qr-codes?limit,cursor=1", "limit,cursor", "is not a parameter"},
			{"GET", "/api/v1/qr-codes?li%6dit=1&limit=2", "limit", "is given more than once"},
		} {
			body := ""
			if tc.method == "POST" || tc.method == "PATCH" {
				body = `{"name":"Menu 2","type":"url","content":{"url":"https://example.com/menu"}}`
			}
			resp := h.send(tc.method, tc.path, h.key, body)
			if tc.method == "HEAD" {
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("HEAD %s: status %d, want 400", tc.path, resp.StatusCode)
				}
				resp.Body.Close()
				continue
			}
			p := expectProblem(t, resp, http.StatusBadRequest, "invalid_request")
			errs, _ := p["errors"].([]any)
			found := false
			for _, e := range errs {
				f := e.(map[string]any)
				found = found || f["field"] == tc.field && strings.Contains(f["message"].(string), tc.message)
			}
			if !found {
				t.Errorf("%s %s: errors %v, want %s: %q", tc.method, tc.path, errs, tc.field, tc.message)
			}
		}
		// Nothing was changed by the refused PATCH, DELETE and POST.
		got := readJSON(t, h.get("/api/v1/qr-codes/"+id, h.key), 200)
		if got["name"] != "Menu" {
			t.Errorf("after refused requests the code is named %v", got["name"])
		}
		list := readJSON(t, h.get("/api/v1/qr-codes", h.key), 200)
		if n := len(list["data"].([]any)); n != 1 {
			t.Errorf("%d codes after a refused create, want 1", n)
		}
		// The operations' own parameters, each once, are taken.
		for _, path := range []string{"/api/v1/qr-codes?limit=1&type=url&cursor=", "/api/v1/qr-codes/" + id + "?format=png&size=128&download=1", "/api/v1/usage"} {
			if resp := h.get(path, h.key); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: status %d, want 200", path, resp.StatusCode)
			} else {
				resp.Body.Close()
			}
		}
		h.node.Recorder.Flush(context.Background())
	})
}
