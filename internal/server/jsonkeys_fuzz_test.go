package server

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// keyTargets are the types the fuzz test checks bodies against: the API's
// request (checkJSONKeys's only caller decodes into it), the type of its
// "design" (decodedLater), and types with every shape.
var keyTargets = []struct {
	name string
	new  func() any
}{
	{"qrRequest", func() any { return new(qrRequest) }},
	{"qr.Design", func() any { return new(qr.Design) }},
	{"keyTypes", func() any { return new(keyTypes) }},
	{"map", func() any { return new(map[string]keyInner) }},
	{"list", func() any { return new([]keyTypes) }},
	{"any", func() any { return nil }},
}

// keySeeds are bodies for FuzzCheckJSONKeys: the tests' bodies, and
// hostile ones for the byte scanner.
func keySeeds() []string {
	seeds := []string{
		createBody, `{"name":"a","content":null,"design":null}`, `{}`, `{"n\u0061me":"a"}`,
		`{"type":"vcard","content":{"firstName":"Ada","phones":["1"],"Extra":{"x":[{"y":1}]}}}`,
		`{"NAME":"cf","type":"url"}`, `{"name":"cf","Type":"url"}`, `{"name":"cf","design":{"ForeGround":"#112233"}}`,
		`{"NAME":"cf","Type":"url","Design":{"ForeGround":"#112233"}}`, `{"design":{"colour":"#112233"}}`,
		`{"name":"a","name":"b"}`, `{"name":"a","n\u0061me":"b"}`, `{"design":{"margin":1,"foreground":"#000000","margin":2}}`,
		`{"content":{"url":"https://a.example","url":"https://b.example"}}`, `{"content":{"items":[{"a":1},{"b":1,"b":2}]}}`,
		`{"content":{"a":[[{"x":{"y":1,"y":2}}]]}}`, `{"content":{` + manyKeys(40) + `,"k7":0}}`, `{"Name":"a","Name":"b"}`,
		`{"tagged":"a","Untagged":1,"-":1,"promoted":"p","shadowed":"s"}`,
		`{"ptr":{"inner":"a"},"list":[{"inner":"a"},{"inner":"b"}],"map":{"Any Key":{"inner":"a"}}}`,
		`{"at":"2026-11-15T12:00:00Z","any":{"X":1,"x":2},"raw":[{"Y":1}],"self":{"self":{"tagged":"a"}}}`,
		`{"untagged":1}`, `{"Skipped":1}`, `{"hidden":1}`, `{"keyEmbedded":{}}`, `{"Promoted":"p"}`, `{"ptr":{"Inner":"a"}}`,
		`{"list":[{"inner":"a"},{"INNER":"b"}]}`, `{"map":{"k":{"inner":"a","Inner":"b"}}}`, `{"map":{"k":{},"k":{}}}`,
		`{"any":{"x":1,"x":2}}`, `{"self":{"self":{"Tagged":"a"}}}`, `{"name":"a","name":`, `{"list":{"a":1}}`, `{"ptr":[{"x":1}]}`,
		`{"name":"a","name":"b",}`, `{"NAME":"a" "type":"url"}`,
		`{"name":"Menu","type":"text","content":{"text":"hé"},"design":{"margin":2}}`, `null`, `[]`, `"x"`, `1`,
		`{"name":"a"}{"name":"b"}`, `{"name":"a"} x`, `{"nAmE":"a","NAME":"b"}`, `{"unknown":true}`, `{"name":"\ud800"}`,
		"{\"name\":\"\xff\"}", "{\"name\x00\":1}", `{"name":"a",}`, "",
		// Keys written otherwise: escapes, surrogates, bytes that are
		// not UTF-8, case folding.
		`{"\u006eame":1,"name":2}`, `{"\ud800":1,"\udbff":2}`, `{"\ud800\udc00":1,"𐀀":2}`, `{"\ud800\u0041":1,"\uFFFDA":2}`,
		`{"\udc00\ud800":1}`, `{"\ud800\ud800\udc00":1,"\uFFFD𐀀":2}`, `{"\ud800\\u0041":1}`, `{"\ud800\u":1}`, `{"\ud800\u12":1}`,
		"{\"\xff\":1,\"\xfe\":2}", "{\"\xef\xbf\xbd\":1,\"\xff\":2}", "{\"\xed\xa0\x80\":1}", "{\"na\xffme\":1}", "{\"\xc3\":1,\"\xc3\xa9\":2}",
		`{"name\u0000":1}`, `{"\u0000":1,"\u0000":2}`, `{"\u004eAME":1}`, `{"de\u017Fign":{}}`, `{"\u212Aey":1}`, `{"\/name":1,"name":2}`,
		`{"na\/me":1}`, `{"\b\f\n\r\t\"\\":1,"\b\f\n\r\t\"\\":2}`, `{"\'":1}`, `{"\x":1}`, `{"\u12G4":1}`, "{\"a\tb\":1}", "{\"a\x7fb\":1,\"a\x7fb\":1}",
		// Not JSON, or not only JSON.
		`{"NAME":1} x`, `{"NAME":1}}`, `{"NAME":1`, `{"NAME":1,}`, `{"NAME"`, `{"NAME":`, `{"NAME"}`, `{"a" 1}`, `{"a"::1}`, `{:1}`,
		`{,}`, `{]`, `[}`, `[,1]`, `[1,]`, `[1 2]`, `[1,,2]`, `{"a":1 "b":2}`, `{1:2}`, `{null:1}`, `]`, `}`, `   `, "\t\r\n{\"NAME\":1}",
		"{\t\"NAME\"\r\n:\n1 }", "{\v\"NAME\":1}", "\ufeff{\"NAME\":1}", "{\"NAME\":1}\x00", " \n[ ]",
		`[{"NAME":1}]`, `[{"a":1,"a":2}]`, `[[],{"x":{"x":1,"x":1}}]`, `[{"inner":1},{"Inner":1}]`,
		// Values.
		`{"a":-0,"b":1.5e+10,"c":-1E-2,"d":0.0e0,"NAME":1}`, `{"a":01,"NAME":1}`, `{"a":1.,"NAME":1}`, `{"a":-,"NAME":1}`,
		`{"a":.5,"NAME":1}`, `{"a":1e,"NAME":1}`, `{"a":+1,"NAME":1}`, `{"a":1e400,"NAME":1}`, `{"a":-01}`, `{"NAME":1e+}`,
		`{"a":tru,"NAME":1}`, `{"a":nulll,"NAME":1}`, `{"a":true false}`, `{"NAME":true}`, `{"NAME":null}`, `{"NAME":false}`,
		`{"NAME":[true,false,null,"x",1,{},[]]}`, `{"a":"\x","NAME":1}`, `{"a":"\u12","NAME":1}`, `{"NAME":"\'"}`, `{"a":"b`,
		"{\"a\":\"\t\",\"NAME\":1}", `{"NAME":"\""}`, `{"NAME":"\\"}`, `{"NAME":"\\\""}`, "{\"NAME\":\"\xff\xfe\"}",
		// Many keys, in each shape.
		`{"design":{` + manyKeys(12) + `}}`, `{"name":1,"type":1,"content":1,"design":1,"name":1}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"a":9}`, `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"h":10}`,
		// Nested, though not as deep as the limit: TestCheckJSONKeysDepth
		// has those, too big for the fuzzer to mutate quickly.
		nest(40, "[", `{"a":1,"a":1}`, "]"), `{"content":` + nest(40, `{"a":`, `{"b":1,"b":1}`, "}") + `}`,
	}
	seeds = append(seeds, benchBodies[1].body) // the others are above, or long
	// What FuzzDecodeJSON found.
	files, _ := filepath.Glob("testdata/fuzz/FuzzDecodeJSON/*")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		_, line, _ := bytes.Cut(data, []byte("\n"))
		q, ok := strings.CutPrefix(strings.TrimSpace(string(line)), "[]byte(")
		if s, err := strconv.Unquote(strings.TrimSuffix(q, ")")); ok && err == nil {
			seeds = append(seeds, s)
		}
	}
	return seeds
}

// FuzzCheckJSONKeys checks the byte scanner of checkJSONKeys against the
// json.Decoder walk it replaced (checkJSONKeysToken): for any body and
// each target type, both accept it or both refuse it with the same error.
func FuzzCheckJSONKeys(f *testing.F) {
	for _, s := range keySeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 8<<10 {
			// The fuzzer grows deep nests this long, towards the depth
			// limit; they are slow to run and to minimize, which leaves
			// it little time for the rest. TestCheckJSONKeysDepth has
			// the limit.
			t.Skip()
		}
		for _, tt := range keyTargets {
			got, want := checkJSONKeys(body, tt.new()), checkJSONKeysToken(body, tt.new())
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("into %s, checkJSONKeys(%q) = %#v, the json.Decoder walk %#v", tt.name, body, errorValue(got), errorValue(want))
			}
		}
	})
}

// nest returns inner within n opens and closes.
func nest(n int, open, inner, close string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

// errorValue shows an error's fields.
func errorValue(err error) any {
	if e, ok := err.(*snapglyph.Error); ok {
		return *e
	}
	return err
}

// The json.Decoder walk that checkJSONKeys did before it read bytes
// itself, kept as the reference for FuzzCheckJSONKeys.

// tokenKeyScan walks a JSON value's tokens with the shape expected at each
// point. path is the position, for the error.
type tokenKeyScan struct {
	dec  *json.Decoder
	path []tokenPathStep
	err  error // the first key refused
}

type tokenPathStep struct {
	key   string
	index int // for an array element, when key is ""
	elem  bool
}

func (s *tokenKeyScan) pathString() string {
	var b strings.Builder
	for i, p := range s.path {
		switch {
		case p.elem:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case i > 0:
			b.WriteString("." + p.key)
		default:
			b.WriteString(p.key)
		}
	}
	return b.String()
}

// checkJSONKeysToken refuses a body whose JSON, to be decoded into v, has a
// key twice in one object or a key that is not exactly one of the JSON
// field names of v's type at that position; map keys are free, and json.RawMessage
// and any take any value (but still no duplicate keys). A body that is
// not valid JSON, or nested deeper than encoding/json reads, passes: the
// decoder that follows says what is wrong with it.
func checkJSONKeysToken(body []byte, v any) error {
	s := tokenKeyScan{dec: json.NewDecoder(bytes.NewReader(body))}
	s.dec.UseNumber() // numbers are skipped: no need to parse them
	if !s.value(shapeOf(reflect.TypeOf(v)), 0) {
		return nil
	}
	return s.err
}

// value reads one value of shape sh. It returns false at a syntax error
// or past maxJSONDepth. After the first refused key it reads on, without
// checking, so that a syntax error later in the body still comes first.
func (s *tokenKeyScan) value(sh *jsonShape, depth int) bool {
	tok, err := s.dec.Token()
	if err != nil {
		return false
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return true
	}
	if depth >= maxJSONDepth {
		return false
	}
	switch d {
	case '{':
		return s.object(sh, depth)
	case ']', '}':
		return false // the tokenizer refuses these here; not reached
	}
	var elem *jsonShape
	if sh != nil && sh.isList {
		elem = sh.elem
	}
	for i := 0; s.dec.More(); i++ {
		s.path = append(s.path, tokenPathStep{index: i, elem: true})
		ok := s.value(elem, depth+1)
		s.path = s.path[:len(s.path)-1]
		if !ok {
			return false
		}
	}
	_, err = s.dec.Token() // ]
	return err == nil
}

// object reads the members of an object after its '{'.
func (s *tokenKeyScan) object(sh *jsonShape, depth int) bool {
	// Objects are small: a linear search through the keys seen needs no
	// map until there are many.
	var small [8]string
	seen := small[:0]
	var many map[string]bool
	for s.dec.More() {
		tok, err := s.dec.Token()
		if err != nil {
			return false
		}
		k, _ := tok.(string)
		var vsh *jsonShape
		switch {
		case sh == nil || sh.isList:
			// Anything goes, or the decoder refuses an object here.
		case sh.isMap:
			vsh = sh.elem
		default:
			f, ok := sh.fields[k]
			if !ok && s.err == nil {
				s.err = s.unknownKey(k, sh)
			}
			vsh = f
		}
		if many == nil && len(seen) == len(small) {
			many = make(map[string]bool, 2*len(small))
			for _, v := range seen {
				many[v] = true
			}
		}
		var dup bool
		if many != nil {
			dup = many[k]
			many[k] = true
		} else {
			for _, v := range seen {
				dup = dup || v == k
			}
			seen = append(seen, k)
		}
		if dup && s.err == nil {
			s.path = append(s.path, tokenPathStep{key: k})
			f := s.pathString()
			s.path = s.path[:len(s.path)-1]
			s.err = &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has a duplicate field: " + f,
				Fields: []snapglyph.FieldError{{Field: f, Message: "appears more than once in the same object; send each field once"}}}
		}
		s.path = append(s.path, tokenPathStep{key: k})
		ok := s.value(vsh, depth+1)
		s.path = s.path[:len(s.path)-1]
		if !ok {
			return false
		}
	}
	_, err := s.dec.Token() // }
	return err == nil
}

// unknownKey is the error for key k of a struct's object, as decodeJSON
// reports an unknown field, with the exact name when only the case is
// wrong.
func (s *tokenKeyScan) unknownKey(k string, sh *jsonShape) error {
	s.path = append(s.path, tokenPathStep{key: k})
	f := s.pathString()
	s.path = s.path[:len(s.path)-1]
	msg := "is not a known field"
	for name := range sh.fields {
		if strings.EqualFold(name, k) {
			msg = "is not a known field; field names are case-sensitive: use " + strconv.Quote(name)
			break
		}
	}
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has an unknown field: " + f,
		Fields: []snapglyph.FieldError{{Field: f, Message: msg}}}
}
