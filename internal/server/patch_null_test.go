package server_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// problemFields returns the fields a problem's errors array names, in
// order, and checks that each comes with a message.
func problemFields(t *testing.T, p map[string]any) (fields []string, messages map[string]string) {
	t.Helper()
	list, _ := p["errors"].([]any)
	messages = map[string]string{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		msg, _ := m["message"].(string)
		if f == "" || msg == "" {
			t.Errorf("an error without field or message: %v", e)
		}
		fields = append(fields, f)
		messages[f] = msg
	}
	return fields, messages
}

// TestPatchNulls: a PATCH (or POST) field sent as null is not taken for a
// field left out. name, type, content and design cannot be emptied, and null could
// mean "keep" or "reset": each is refused with 400 invalid_request naming
// it ("must not be null"), with the other bad fields of the body, and
// nothing changes, not even the valid fields sent with it. Inside the
// design only logo takes null (it removes the logo); its other fields are
// refused as the design is. A condition is decided first: a stale
// If-Match is 412 whatever the body.
func TestPatchNulls(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		logo := logoPNG(t)
		created := readJSON(t, h.sendH("POST", "/api/v1/qr-codes",
			`{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"},"design":{"errorCorrection":"H","margin":2,"logo":"`+logo+`"}}`), 201)
		path := "/api/v1/qr-codes/" + created["id"].(string)

		for _, c := range []struct {
			name, body string
			fields     []string // in the errors array, in order
			nulls      []string // those refused for their null
		}{
			{"Name", `{"name":null}`, []string{"name"}, []string{"name"}},
			{"Type", `{"type":null}`, []string{"type"}, []string{"type"}},
			{"Content", `{"content":null}`, []string{"content"}, []string{"content"}},
			{"Design", `{"design":null}`, []string{"design"}, []string{"design"}},
			{"DesignForeground", `{"design":{"foreground":null}}`, []string{"design.foreground"}, []string{"design.foreground"}},
			{"DesignBackground", `{"design":{"background":null}}`, []string{"design.background"}, []string{"design.background"}},
			{"DesignErrorCorrection", `{"design":{"errorCorrection":null}}`, []string{"design.errorCorrection"}, []string{"design.errorCorrection"}},
			{"DesignMargin", `{"design":{"margin":null}}`, []string{"design.margin"}, []string{"design.margin"}},
			{"DesignFieldsAndLogo", `{"design":{"logo":null,"margin":null,"foreground":null}}`, []string{"design.foreground", "design.margin"}, []string{"design.foreground", "design.margin"}},
			{"Spaced", "{ \"name\" :\n null\t}", []string{"name"}, []string{"name"}},
			{"Escaped", `{"n\u0061me":null}`, []string{"name"}, []string{"name"}},
			{"All", `{"design":null,"content":null,"type":null,"name":null}`, []string{"name", "type", "content", "design"}, []string{"name", "type", "content", "design"}},
			{"WithValidName", `{"name":"Renamed","design":null}`, []string{"design"}, []string{"design"}},
			{"WithValidDesign", `{"content":null,"design":{"margin":8}}`, []string{"content"}, []string{"content"}},
			{"NewTypeNullContent", `{"type":"text","content":null}`, []string{"content"}, []string{"content"}},
			{"WithBadContent", `{"name":null,"content":{"url":"ftp://example.com"}}`, []string{"name", "content.url"}, []string{"name"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := expectProblem(t, h.sendH("PATCH", path, c.body), 400, "invalid_request")
				fields, messages := problemFields(t, p)
				if !slices.Equal(fields, c.fields) {
					t.Fatalf("errors name %q, want %q: %v", fields, c.fields, p)
				}
				for _, f := range c.nulls {
					if !strings.HasPrefix(messages[f], "must not be null") {
						t.Errorf("%s: %q, want it to say it must not be null", f, messages[f])
					}
				}
				if d, _ := p["detail"].(string); !strings.Contains(d, c.fields[0]) {
					t.Errorf("detail %q does not name %s", d, c.fields[0])
				}
			})
		}
		// A stale condition is decided before the body's values.
		expectProblem(t, h.sendH("PATCH", path, `{"name":null}`, "If-Match", `"v0"`), 412, "precondition_failed")

		resp := h.sendH("GET", path, "")
		now := readJSON(t, resp, 200)
		if resp.Header.Get("ETag") != `"v1"` || now["name"] != "Menu" || now["updatedAt"] != created["updatedAt"] {
			t.Fatalf("refused PATCHes changed the code: ETag %s, %v", resp.Header.Get("ETag"), now)
		}
		if d := now["design"].(map[string]any); d["logo"] == nil || d["margin"] != 2.0 || d["errorCorrection"] != "H" {
			t.Fatalf("refused PATCHes changed the design: %v", d)
		}

		// "logo": null removes the logo, and only the logo.
		resp = h.sendH("PATCH", path, `{"design":{"logo":null}}`, "If-Match", `"v1"`)
		if resp.Header.Get("ETag") != `"v2"` {
			t.Fatalf(`removing the logo: ETag %s, want "v2"`, resp.Header.Get("ETag"))
		}
		if d := readJSON(t, resp, 200)["design"].(map[string]any); d["logo"] != nil || d["margin"] != 2.0 || d["errorCorrection"] != "H" {
			t.Fatalf(`after "logo": null: %v, want no logo and the rest kept`, d)
		}
		// A create refuses nulls as well (the schema makes no field
		// nullable), all of them at once, and makes nothing; its logo
		// takes null (no logo).
		for _, c := range []struct {
			body   string
			fields []string
		}{
			{`{"name":"A","type":"text","content":{"text":"x"},"design":null}`, []string{"design"}},
			{`{"name":"A","type":"text","content":{"text":"x"},"design":{"margin":null,"errorCorrection":null,"foreground":null}}`, []string{"design.foreground", "design.errorCorrection", "design.margin"}},
			{`{"name":null,"type":"text","content":{"text":"x"}}`, []string{"name"}},
			{`{"name":"A","type":null,"content":null}`, []string{"type", "content"}},
		} {
			p := expectProblem(t, h.sendH("POST", "/api/v1/qr-codes", c.body), 400, "invalid_request")
			fields, messages := problemFields(t, p)
			if !slices.Equal(fields, c.fields) {
				t.Errorf("create %s: errors name %q, want %q", c.body, fields, c.fields)
			}
			for _, f := range fields {
				if !strings.HasPrefix(messages[f], "must not be null") {
					t.Errorf("create %s: %s: %q, want it to say it must not be null", c.body, f, messages[f])
				}
			}
		}
		list := readJSON(t, h.sendH("GET", "/api/v1/qr-codes", ""), 200)
		if n := len(list["data"].([]any)); n != 1 {
			t.Errorf("%d QR codes after refused creates, want the one made first", n)
		}
		if d := readJSON(t, h.sendH("POST", "/api/v1/qr-codes", `{"name":"A","type":"text","content":{"text":"x"},"design":{"logo":null}}`), 201)["design"].(map[string]any); d["logo"] != nil || d["margin"] != 4.0 {
			t.Errorf(`create with "logo": null: %v, want no logo and the default design`, d)
		}
	})
}
