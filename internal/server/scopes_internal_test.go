package server

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestOperationScopes holds each route's permission against the OpenAPI
// document's x-snapglyph-scope (and x-snapglyph-image-scope, the
// permission of an image), and checks that every operation's description
// says it in words.
func TestOperationScopes(t *testing.T) {
	type operation struct {
		Description string `json:"description"`
		Scope       string `json:"x-snapglyph-scope"`
		ImageScope  string `json:"x-snapglyph-image-scope"`
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	for _, rt := range s.apiRoutes() {
		raw, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]
		var op operation
		if !ok || json.Unmarshal(raw, &op) != nil {
			t.Errorf("%s %s is not in the document", rt.method, rt.path)
			continue
		}
		if rt.scope == nil {
			if rt.public == nil {
				t.Errorf("%s %s needs a key but has no permission", rt.method, rt.path)
			}
			if op.Scope != "" {
				t.Errorf("%s %s is public but the document gives it %q", rt.method, rt.path, op.Scope)
			}
			continue
		}
		path := strings.ReplaceAll(rt.path, "{id}", "qr_x")
		got := rt.scope(httptest.NewRequest(rt.method, path, nil)).String()
		if got != op.Scope {
			t.Errorf("%s %s needs %s; the document says %q", rt.method, rt.path, got, op.Scope)
		}
		if !strings.Contains(op.Description, "Permission: `"+got+"`") {
			t.Errorf("%s %s: the description does not state the permission: %q", rt.method, rt.path, op.Description)
		}
		for _, format := range []string{"svg", "png"} {
			img := rt.scope(httptest.NewRequest(rt.method, path+"?format="+format, nil))
			if want := op.ImageScope; want != "" && img.String() != want {
				t.Errorf("%s %s?format=%s needs %s; the document says %q", rt.method, rt.path, format, img, want)
			} else if want == "" && img.String() != got {
				t.Errorf("%s %s?format=%s needs %s, unlike the JSON", rt.method, rt.path, format, img)
			}
		}
		if _, err := snapglyph.ParseScopes(op.Scope); err != nil {
			t.Errorf("%s %s: %v", rt.method, rt.path, err)
		}
	}
}
