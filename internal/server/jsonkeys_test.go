package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// createBody is a typical create request.
const createBody = `{"name":"Spring menu","type":"url","content":{"url":"https://example.com/menu?utm_source=qr"},"design":{"foreground":"#112233","background":"#FFFFFF","errorCorrection":"Q","margin":4}}`

// TestDecodeJSONKeys: a body's keys must be exactly the documented field
// names, each once per object, at every depth; the refusal is a 400
// invalid_request naming the field by its JSON path.
func TestDecodeJSONKeys(t *testing.T) {
	for _, c := range []struct {
		name, body string
		field      string // "" for accepted
		message    string // in the field's message
	}{
		{name: "Exact", body: createBody},
		{name: "ExactNulls", body: `{"name":"a","content":null,"design":null}`},
		{name: "EscapedExact", body: `{"n\u0061me":"a"}`}, // the same key, written otherwise
		{name: "Empty", body: `{}`},
		{name: "ContentKeysFree", body: `{"type":"vcard","content":{"firstName":"Ada","phones":["1"],"Extra":{"x":[{"y":1}]}}}`},
		{name: "UpperTop", body: `{"NAME":"cf","type":"url"}`, field: "NAME", message: `use "name"`},
		{name: "MixedTop", body: `{"name":"cf","Type":"url"}`, field: "Type", message: `use "type"`},
		{name: "CaseNested", body: `{"name":"cf","design":{"ForeGround":"#112233"}}`, field: "design.ForeGround", message: `use "foreground"`},
		{name: "CaseBoth", body: `{"NAME":"cf","Type":"url","Design":{"ForeGround":"#112233"}}`, field: "NAME"},
		{name: "UnknownNested", body: `{"design":{"colour":"#112233"}}`, field: "design.colour", message: "is not a known field"},
		{name: "DuplicateTop", body: `{"name":"a","name":"b"}`, field: "name", message: "more than once"},
		{name: "DuplicateEscaped", body: `{"name":"a","n\u0061me":"b"}`, field: "name", message: "more than once"},
		{name: "DuplicateNested", body: `{"design":{"margin":1,"foreground":"#000000","margin":2}}`, field: "design.margin", message: "more than once"},
		{name: "DuplicateInRaw", body: `{"content":{"url":"https://a.example","url":"https://b.example"}}`, field: "content.url"},
		{name: "DuplicateInArray", body: `{"content":{"items":[{"a":1},{"b":1,"b":2}]}}`, field: "content.items[1].b"},
		{name: "DuplicateDeep", body: `{"content":{"a":[[{"x":{"y":1,"y":2}}]]}}`, field: "content.a[0][0].x.y"},
		{name: "DuplicateMany", body: `{"content":{` + manyKeys(40) + `,"k7":0}}`, field: "content.k7"},
		{name: "DuplicateAfterUnknown", body: `{"Name":"a","Name":"b"}`, field: "Name", message: `use "name"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var req qrRequest
			err := decodeJSON([]byte(c.body), &req)
			if c.field == "" {
				if err != nil {
					t.Fatalf("decodeJSON(%s): %v, want it accepted", c.body, err)
				}
				return
			}
			e, ok := err.(*snapglyph.Error)
			if !ok || e.Kind != snapglyph.EINVALID || e.Code != "invalid_request" || len(e.Fields) != 1 {
				t.Fatalf("decodeJSON(%s) = %#v, want an EINVALID invalid_request with one field", c.body, err)
			}
			if f := e.Fields[0]; f.Field != c.field || !strings.Contains(f.Message, c.message) || !strings.HasSuffix(e.Message, ": "+c.field) {
				t.Errorf("decodeJSON(%s): %q, field %q %q; want the field %q, its message with %q", c.body, e.Message, f.Field, f.Message, c.field, c.message)
			}
		})
	}
}

func manyKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = `"k` + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + `":0`
	}
	keys[n-1] = `"k7":0`
	return strings.Join(keys, ",")
}

// keyTypes covers what the field sets are made from: tags, untagged and
// skipped fields, embedded structs, pointers, slices, maps, time.Time and
// any, and a type that refers to itself.
type keyTypes struct {
	keyEmbedded
	Tagged   string              `json:"tagged,omitempty"`
	Untagged int                 // named as in Go
	Skipped  int                 `json:"-"`
	Dash     int                 `json:"-,"` // named "-"
	Ptr      *keyInner           `json:"ptr"`
	List     []keyInner          `json:"list"`
	Map      map[string]keyInner `json:"map"`
	At       time.Time           `json:"at"`
	Any      any                 `json:"any"`
	Raw      json.RawMessage     `json:"raw"`
	Self     *keyTypes           `json:"self"`
	hidden   int
}

type keyEmbedded struct {
	Promoted string `json:"promoted"`
	Tagged   string `json:"shadowed"` // its own name
}

type keyInner struct {
	Inner string `json:"inner"`
}

func TestCheckJSONKeysTypes(t *testing.T) {
	_ = keyTypes{}.hidden
	for _, c := range []struct {
		body, field string
	}{
		{`{"tagged":"a","Untagged":1,"-":1,"promoted":"p","shadowed":"s"}`, ""},
		{`{"ptr":{"inner":"a"},"list":[{"inner":"a"},{"inner":"b"}],"map":{"Any Key":{"inner":"a"}}}`, ""},
		{`{"at":"2026-11-15T12:00:00Z","any":{"X":1,"x":2},"raw":[{"Y":1}],"self":{"self":{"tagged":"a"}}}`, ""},
		{`{"untagged":1}`, "untagged"},
		{`{"Skipped":1}`, "Skipped"},
		{`{"hidden":1}`, "hidden"},
		{`{"keyEmbedded":{}}`, "keyEmbedded"},
		{`{"Promoted":"p"}`, "Promoted"},
		{`{"ptr":{"Inner":"a"}}`, "ptr.Inner"},
		{`{"list":[{"inner":"a"},{"INNER":"b"}]}`, "list[1].INNER"},
		{`{"map":{"k":{"inner":"a","Inner":"b"}}}`, "map.k.Inner"},
		{`{"map":{"k":{},"k":{}}}`, "map.k"},
		{`{"any":{"x":1,"x":2}}`, "any.x"},
		{`{"self":{"self":{"Tagged":"a"}}}`, "self.self.Tagged"},
		// Not JSON, or not the type's shape: left to the decoder.
		{`{"name":"a","name":`, ""},
		{`{"list":{"a":1}}`, ""},
		{`{"ptr":[{"x":1}]}`, ""},
	} {
		var v keyTypes
		err := checkJSONKeys([]byte(c.body), &v)
		var got string
		if e, ok := err.(*snapglyph.Error); ok && len(e.Fields) == 1 {
			got = e.Fields[0].Field
		} else if err != nil {
			t.Errorf("checkJSONKeys(%s) = %v, not an error with one field", c.body, err)
			continue
		}
		if got != c.field {
			t.Errorf("checkJSONKeys(%s) refused %q, want %q", c.body, got, c.field)
		}
	}
}

// TestCheckJSONKeysWritten: keys are compared as encoding/json reads
// them, whatever the bytes that write them: escapes, surrogates and bytes
// that are not UTF-8 (both read as U+FFFD).
func TestCheckJSONKeysWritten(t *testing.T) {
	for _, c := range []struct {
		body, field, message string
	}{
		{`{"\u006eame":"a","type":"url"}`, "", ""},
		{`{"\u006eame":"a","name":"b"}`, "name", "more than once"},
		{`{"content":{"\ud800":1,"\udbff":2}}`, "content.\uFFFD", "more than once"},
		{"{\"content\":{\"\xff\":1,\"\xfe\":2}}", "content.\uFFFD", "more than once"},
		{"{\"content\":{\"\uFFFD\":1,\"\xff\":2}}", "content.\uFFFD", "more than once"},
		{`{"content":{"\ud800\udc00":1,"𐀀":2}}`, "content.\U00010000", "more than once"},
		{`{"content":{"\ud800\u0041":1,"\uFFFDA":2}}`, "content.\uFFFDA", "more than once"},
		{`{"content":{"\u0000":1,"\u0000":2}}`, "content.\x00", "more than once"},
		{`{"content":{"\/":1,"/":2}}`, "content./", "more than once"},
		{`{"name\u0000":"a"}`, "name\x00", "is not a known field"},
		{`{"de\u017Fign":{}}`, "deſign", `use "design"`}, // ſ folds to s
		{`[{"a":1},{"b":1,"b":2}]`, "[1].b", "more than once"},
	} {
		var req qrRequest
		err := checkJSONKeys([]byte(c.body), &req)
		if c.field == "" {
			if err != nil {
				t.Errorf("checkJSONKeys(%q) = %v, want it accepted", c.body, err)
			}
			continue
		}
		e, ok := err.(*snapglyph.Error)
		if !ok || len(e.Fields) != 1 || e.Fields[0].Field != c.field || !strings.Contains(e.Fields[0].Message, c.message) {
			t.Errorf("checkJSONKeys(%q) = %#v, want the field %q, its message with %q", c.body, err, c.field, c.message)
		}
	}
}

// TestCheckJSONKeysDepth: a key is refused at any depth encoding/json
// reads (10,000 arrays and objects), and a body nested deeper passes, as
// one that is not JSON, for the decoder to refuse. The json.Decoder walk
// this replaced agrees.
func TestCheckJSONKeysDepth(t *testing.T) {
	dup := `{"a":1,"a":1}`
	for _, c := range []struct {
		body, field string
	}{
		{nest(maxJSONDepth-1, "[", dup, "]"), strings.Repeat("[0]", maxJSONDepth-1) + ".a"},
		{nest(maxJSONDepth, "[", dup, "]"), ""},
		{`{"content":` + nest(maxJSONDepth-2, `{"a":`, dup, "}") + `}`, "content" + strings.Repeat(".a", maxJSONDepth-1)},
		{`{"content":` + nest(maxJSONDepth-1, `{"a":`, dup, "}") + `}`, ""},
		{`{"NAME":1,"content":` + nest(maxJSONDepth-1, "[", "", "]") + `}`, "NAME"},
		{`{"NAME":1,"content":` + nest(maxJSONDepth, "[", "", "]") + `}`, ""},
		{`{"NAME":1,"content":` + nest(2*maxJSONDepth, "[", "", "]") + `}`, ""},
		{`{"design":` + nest(maxJSONDepth/2, `{"a":`, "1", "}") + `,"NAME":1}`, "design.a"},
	} {
		var req qrRequest
		err := checkJSONKeys([]byte(c.body), &req)
		var got string
		if e, ok := err.(*snapglyph.Error); ok && len(e.Fields) == 1 {
			got = e.Fields[0].Field
		} else if err != nil {
			t.Errorf("checkJSONKeys(%.40s…) = %v, not an error with one field", c.body, err)
			continue
		}
		if got != c.field {
			t.Errorf("checkJSONKeys(%.40s…) refused %.40q, want %.40q", c.body, got, c.field)
		}
		if want := checkJSONKeysToken([]byte(c.body), &req); !reflect.DeepEqual(err, want) {
			t.Errorf("checkJSONKeys(%.40s…) = %.80v, the json.Decoder walk %.80v", c.body, err, want)
		}
	}
}

// TestDecodeJSONSyntaxFirst: a body that is not JSON is reported as such
// even when a refused key comes first, and a body deeper than
// encoding/json reads is refused by the decoder, not walked.
func TestDecodeJSONSyntaxFirst(t *testing.T) {
	for _, body := range []string{
		`{"name":"a","name":"b",}`,
		`{"NAME":"a" "type":"url"}`,
		`{"content":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}`,
	} {
		var req qrRequest
		if code := snapglyph.ErrorCode(decodeJSON([]byte(body), &req)); code != "invalid_json" {
			t.Errorf("decodeJSON(%.40s…): %q, want invalid_json", body, code)
		}
	}
}

// BenchmarkDecodeJSON is the cost of a typical create body's decoding,
// and of the key check within it.
func BenchmarkDecodeJSON(b *testing.B) {
	body := []byte(createBody)
	b.Run("keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req qrRequest
			if err := checkJSONKeys(body, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var req qrRequest
			if err := decodeJSON(body, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
