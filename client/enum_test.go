package client

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestEnumConstants: every enum type the generator wrote (a type with a
// Valid method) has as constants exactly the strings of one enum (or
// const) of the document, so that Valid accepts no value the server
// refuses and none it takes is missing. A null in a document enum is no
// Go constant: a nullable enum is written as anyOf with {"type":"null"},
// and the generator once made `enum: [..., null]` the constant "<nil>".
func TestEnumConstants(t *testing.T) {
	raw, err := os.ReadFile("../internal/server/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{} // each enum's strings, sorted and joined
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			var values []any
			if e, ok := v["enum"].([]any); ok {
				values = e
			} else if c, ok := v["const"]; ok {
				values = []any{c}
			}
			var strs []string
			for _, e := range values {
				if s, ok := e.(string); ok {
					strs = append(strs, s)
				}
			}
			if len(strs) > 0 {
				slices.Sort(strs)
				documented[strings.Join(strs, "\x00")] = true
			}
			for _, sub := range v {
				walk(sub)
			}
		case []any:
			for _, sub := range v {
				walk(sub)
			}
		}
	}
	walk(doc)

	enums := generatedEnums(t, "client.gen.go")
	if len(enums) < 10 {
		t.Fatalf("found %d enum types in client.gen.go; the parsing is wrong", len(enums))
	}
	for _, typ := range slices.Sorted(maps.Keys(enums)) {
		values := enums[typ]
		slices.Sort(values)
		for _, v := range values {
			if v == "<nil>" || v == "null" {
				t.Errorf("%s has the constant %q, which is no value the server takes", typ, v)
			}
		}
		if !documented[strings.Join(values, "\x00")] {
			t.Errorf("%s's constants %q are the strings of no enum of the document", typ, values)
		}
	}

	// Wi-Fi security may be null (absent) in the document, which is a nil
	// *WifiContentSecurity, not a constant.
	for _, v := range []string{"WPA", "WEP", "none", ""} {
		if !WifiContentSecurity(v).Valid() {
			t.Errorf("WifiContentSecurity(%q).Valid() = false; the server takes it", v)
		}
	}
	for _, v := range []string{"<nil>", "null", "wpa", "WPA3"} {
		if WifiContentSecurity(v).Valid() {
			t.Errorf("WifiContentSecurity(%q).Valid() = true; the server refuses it", v)
		}
	}
}

// generatedEnums returns the string constants of each type in file that
// has a Valid method: the generator's enums.
func generatedEnums(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	withValid := map[string]bool{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Valid" && fn.Recv != nil {
			if id, ok := fn.Recv.List[0].Type.(*ast.Ident); ok {
				withValid[id.Name] = true
			}
		}
	}
	enums := map[string][]string{}
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			id, ok := vs.Type.(*ast.Ident)
			if !ok || !withValid[id.Name] {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("a constant of %s is not a string literal", id.Name)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				enums[id.Name] = append(enums[id.Name], s)
			}
		}
	}
	for typ := range withValid {
		if len(enums[typ]) == 0 {
			t.Errorf("%s has a Valid method but no constants found", typ)
		}
	}
	return enums
}
