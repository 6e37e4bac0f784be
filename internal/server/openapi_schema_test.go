package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// A JSON Schema (2020-12) validator for the keywords openapi.json uses,
// written for these tests: the product's go.mod takes no dependency for
// it. It knows exactly the keywords listed in schemaKeywords and reports
// any other as an error, so a rule added to the document that it does not
// understand fails the tests instead of being ignored. Patterns are
// compiled with Go's regexp: the document keeps to the syntax that Go and
// JavaScript (the linters' validators) read alike.

// openAPIDoc is the document decoded with json.Number for numbers.
type openAPIDoc struct {
	root     any
	patterns map[string]*regexp.Regexp
}

func loadOpenAPI(t testing.TB) *openAPIDoc {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	root, err := decodeJSONValue(raw)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &openAPIDoc{root: root, patterns: map[string]*regexp.Regexp{}}
}

// decodeJSONValue decodes one JSON value, numbers as json.Number.
func decodeJSONValue(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// mustJSON decodes a test's JSON literal.
func mustJSON(t testing.TB, s string) any {
	t.Helper()
	v, err := decodeJSONValue([]byte(s))
	if err != nil {
		t.Fatalf("bad JSON in the test: %v: %s", err, s)
	}
	return v
}

// pointer resolves a JSON pointer such as "#/components/schemas/QRCode".
func (d *openAPIDoc) pointer(ref string) (any, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("only local references are supported: %s", ref)
	}
	cur := d.root
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#"), "/")[1:] {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%s: no %q", ref, tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%s: no index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%s: %q inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

func (d *openAPIDoc) schema(t testing.TB, name string) any {
	t.Helper()
	s, err := d.pointer("#/components/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// schemaKeywords are the keywords the validator implements (true) or
// knows to be annotations (false).
var schemaKeywords = map[string]bool{
	"$ref": true, "type": true, "enum": true, "const": true,
	"properties": true, "required": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true,
	"minLength": true, "maxLength": true, "pattern": true,
	"minimum": true, "maximum": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true, "if": true, "then": true, "else": true,
	"discriminator": true,
	"description":   false, "title": false, "examples": false, "default": false, "format": false,
	"contentEncoding": false, "contentMediaType": false,
	// For the Go client's generator (client/): a property whose values
	// are another schema's enum uses that schema's Go type.
	"x-go-type": false,
}

// validate returns every way v breaks the schema, each with the JSON path
// of the value ("" for the root).
func (d *openAPIDoc) validate(schema, v any) []string {
	var errs []string
	d.check(schema, v, "", &errs)
	return errs
}

func (d *openAPIDoc) check(schema, v any, path string, errs *[]string) {
	fail := func(format string, args ...any) {
		*errs = append(*errs, fmt.Sprintf("%s: %s", pathOrRoot(path), fmt.Sprintf(format, args...)))
	}
	switch s := schema.(type) {
	case bool:
		if !s {
			fail("no value is allowed here")
		}
		return
	case map[string]any:
		keys := make([]string, 0, len(s))
		for k := range s {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := schemaKeywords[k]; !ok {
				fail("the schema uses %q, which this validator does not implement", k)
			}
		}
		d.checkObject(s, v, path, errs, fail)
	default:
		fail("a schema must be an object or a boolean, not %T", schema)
	}
}

func pathOrRoot(p string) string {
	if p == "" {
		return "(root)"
	}
	return p
}

func (d *openAPIDoc) checkObject(s map[string]any, v any, path string, errs *[]string, fail func(string, ...any)) {
	if ref, ok := s["$ref"].(string); ok {
		target, err := d.pointer(ref)
		if err != nil {
			fail("%v", err)
		} else {
			d.check(target, v, path, errs)
		}
	}
	if ty, ok := s["type"]; ok {
		var types []string
		switch ty := ty.(type) {
		case string:
			types = []string{ty}
		case []any:
			for _, x := range ty {
				types = append(types, x.(string))
			}
		}
		match := false
		for _, ty := range types {
			match = match || hasType(v, ty)
		}
		if !match {
			fail("is %s, want %s", jsonTypeOf(v), strings.Join(types, " or "))
			return // the other keywords would only repeat it
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			found = found || jsonEqual(e, v)
		}
		if !found {
			fail("%s is not one of %s", short(v), short(enum))
		}
	}
	if c, ok := s["const"]; ok && !jsonEqual(c, v) {
		fail("%s is not %s", short(v), short(c))
	}
	switch v := v.(type) {
	case string:
		n := utf8.RuneCountInString(v)
		if m, ok := s["minLength"]; ok && n < toInt(m) {
			fail("has %d characters, fewer than %v", n, m)
		}
		if m, ok := s["maxLength"]; ok && n > toInt(m) {
			fail("has %d characters, more than %v", n, m)
		}
		if p, ok := s["pattern"].(string); ok {
			re, err := d.regexp(p)
			if err != nil {
				fail("pattern %q: %v", p, err)
			} else if !re.MatchString(v) {
				fail("%s does not match the pattern %s", short(v), p)
			}
		}
	case json.Number:
		r, _ := new(big.Rat).SetString(v.String())
		if m, ok := s["minimum"].(json.Number); ok {
			if min, _ := new(big.Rat).SetString(m.String()); r.Cmp(min) < 0 {
				fail("%s is less than %s", v, m)
			}
		}
		if m, ok := s["maximum"].(json.Number); ok {
			if max, _ := new(big.Rat).SetString(m.String()); r.Cmp(max) > 0 {
				fail("%s is more than %s", v, m)
			}
		}
	case []any:
		if m, ok := s["minItems"]; ok && len(v) < toInt(m) {
			fail("has %d items, fewer than %v", len(v), m)
		}
		if m, ok := s["maxItems"]; ok && len(v) > toInt(m) {
			fail("has %d items, more than %v", len(v), m)
		}
		if items, ok := s["items"]; ok {
			for i, e := range v {
				d.check(items, e, fmt.Sprintf("%s[%d]", path, i), errs)
			}
		}
	case map[string]any:
		for _, r := range asSlice(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				fail("lacks the required field %q", r)
			}
		}
		props, _ := s["properties"].(map[string]any)
		names := make([]string, 0, len(v))
		for k := range v {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			sub := joinPath(path, k)
			if ps, ok := props[k]; ok {
				d.check(ps, v[k], sub, errs)
			} else if ap, ok := s["additionalProperties"]; ok {
				d.check(ap, v[k], sub, errs)
			}
		}
	}
	for _, sub := range asSlice(s["allOf"]) {
		d.check(sub, v, path, errs)
	}
	if anyOf, ok := s["anyOf"]; ok {
		var all []string
		ok := false
		for _, sub := range asSlice(anyOf) {
			e := d.validate(sub, v)
			ok = ok || len(e) == 0
			all = append(all, e...)
		}
		if !ok {
			fail("matches none of anyOf: %s", strings.Join(firstFew(all), "; "))
		}
	}
	disc, hasDisc := s["discriminator"].(map[string]any)
	if hasDisc {
		// The branch the discriminator names reports its own errors.
		hasDisc = d.checkDiscriminator(s, disc, v, path, errs, fail)
	}
	if oneOf, ok := s["oneOf"]; ok {
		var matched []int
		var all []string
		for i, sub := range asSlice(oneOf) {
			e := d.validate(sub, v)
			if len(e) == 0 {
				matched = append(matched, i)
			}
			all = append(all, e...)
		}
		switch {
		case len(matched) == 0 && !hasDisc:
			fail("matches none of oneOf: %s", strings.Join(firstFew(all), "; "))
		case len(matched) > 1:
			fail("matches %d branches of oneOf (%v), exactly one is allowed", len(matched), matched)
		}
	}
	if not, ok := s["not"]; ok && len(d.validate(not, v)) == 0 {
		fail("matches the schema under not")
	}
	if cond, ok := s["if"]; ok {
		if len(d.validate(cond, v)) == 0 {
			if then, ok := s["then"]; ok {
				d.check(then, v, path, errs)
			}
		} else if els, ok := s["else"]; ok {
			d.check(els, v, path, errs)
		}
	}
}

// checkDiscriminator applies OpenAPI's discriminator: the property names
// the branch, which must be one of the oneOf's and must match. It
// reports whether it judged v (an object).
func (d *openAPIDoc) checkDiscriminator(s, disc map[string]any, v any, path string, errs *[]string, fail func(string, ...any)) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	name, _ := disc["propertyName"].(string)
	mapping, _ := disc["mapping"].(map[string]any)
	val, ok := obj[name].(string)
	if !ok {
		fail("lacks the discriminator %q", name)
		return true
	}
	target, ok := mapping[val].(string)
	if !ok {
		fail("the discriminator %q is %q, which the mapping does not name", name, val)
		return true
	}
	inOneOf := false
	for _, sub := range asSlice(s["oneOf"]) {
		if m, ok := sub.(map[string]any); ok && m["$ref"] == target {
			inOneOf = true
		}
	}
	if !inOneOf {
		fail("the mapping's %s is not a branch of oneOf", target)
	}
	ts, err := d.pointer(target)
	if err != nil {
		fail("%v", err)
		return true
	}
	d.check(ts, v, path, errs)
	return true
}

func (d *openAPIDoc) regexp(p string) (*regexp.Regexp, error) {
	if re, ok := d.patterns[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err == nil {
		d.patterns[p] = re
	}
	return re, err
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func firstFew(errs []string) []string {
	if len(errs) > 6 {
		errs = append(errs[:6:6], fmt.Sprintf("… %d more", len(errs)-6))
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func toInt(v any) int {
	n, _ := strconv.Atoi(fmt.Sprint(v))
	return n
}

func hasType(v any, ty string) bool {
	switch v := v.(type) {
	case nil:
		return ty == "null"
	case bool:
		return ty == "boolean"
	case string:
		return ty == "string"
	case json.Number:
		if ty == "number" {
			return true
		}
		r, ok := new(big.Rat).SetString(v.String())
		return ty == "integer" && ok && r.IsInt()
	case []any:
		return ty == "array"
	case map[string]any:
		return ty == "object"
	}
	return false
}

func jsonTypeOf(v any) string {
	for _, ty := range []string{"null", "boolean", "string", "integer", "number", "array", "object"} {
		if hasType(v, ty) {
			return ty
		}
	}
	return fmt.Sprintf("%T", v)
}

// jsonEqual compares JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	na, ok1 := a.(json.Number)
	nb, ok2 := b.(json.Number)
	if ok1 && ok2 {
		ra, _ := new(big.Rat).SetString(na.String())
		rb, _ := new(big.Rat).SetString(nb.String())
		return ra != nil && rb != nil && ra.Cmp(rb) == 0
	}
	if ok1 != ok2 {
		return false
	}
	switch a := a.(type) {
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, x := range a {
			y, ok := b[k]
			if !ok || !jsonEqual(x, y) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// short is a value for a message, cut to a readable length.
func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "…"
	}
	return string(b)
}

// TestSchemaValidator: the validator itself refuses and accepts what
// JSON Schema says, keyword by keyword, so the tests built on it can fail.
func TestSchemaValidator(t *testing.T) {
	d := &openAPIDoc{root: mustJSON(t, `{"components":{"schemas":{
		"Cat":{"type":"object","required":["kind"],"properties":{"kind":{"const":"cat"},"lives":{"type":"integer","minimum":1,"maximum":9}}},
		"Dog":{"type":"object","required":["kind"],"properties":{"kind":{"const":"dog"}}},
		"Pet":{"oneOf":[{"$ref":"#/components/schemas/Cat"},{"$ref":"#/components/schemas/Dog"}],
		       "discriminator":{"propertyName":"kind","mapping":{"cat":"#/components/schemas/Cat","dog":"#/components/schemas/Dog"}}}}}}`),
		patterns: map[string]*regexp.Regexp{}}
	cases := []struct {
		schema, value string
		ok            bool
	}{
		{`{"type":"string"}`, `"a"`, true},
		{`{"type":"string"}`, `1`, false},
		{`{"type":["string","null"]}`, `null`, true},
		{`{"type":"integer"}`, `4`, true},
		{`{"type":"integer"}`, `4.0`, true}, // JSON Schema: a number with no fraction is an integer
		{`{"type":"integer"}`, `4.5`, false},
		{`{"minLength":2,"maxLength":3}`, `"éé"`, true}, // characters, not bytes
		{`{"minLength":2,"maxLength":3}`, `"é"`, false},
		{`{"maxLength":3}`, `"abcd"`, false},
		{`{"pattern":"^a+$"}`, `"aaa"`, true},
		{`{"pattern":"^a+$"}`, `"aab"`, false},
		{`{"pattern":"b"}`, `"abc"`, true}, // unanchored
		{`{"pattern":"^a+$"}`, `5`, true},  // applies to strings only
		{`{"minimum":0,"maximum":16}`, `16`, true},
		{`{"minimum":0,"maximum":16}`, `17`, false},
		{`{"minimum":0,"maximum":16}`, `-1`, false},
		{`{"enum":["a",null]}`, `null`, true},
		{`{"enum":["a",null]}`, `"b"`, false},
		{`{"const":1}`, `1.0`, true},
		{`{"required":["a"]}`, `{"b":1}`, false},
		{`{"properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"a":"x"}`, true},
		{`{"properties":{"a":{"type":"string"}},"additionalProperties":false}`, `{"a":"x","b":1}`, false},
		{`{"items":{"type":"string"},"maxItems":2}`, `["a","b"]`, true},
		{`{"items":{"type":"string"},"maxItems":2}`, `["a","b","c"]`, false},
		{`{"items":{"type":"string"}}`, `["a",1]`, false},
		{`{"anyOf":[{"type":"string"},{"type":"null"}]}`, `null`, true},
		{`{"anyOf":[{"type":"string"},{"type":"null"}]}`, `1`, false},
		{`{"oneOf":[{"type":"string"},{"maxLength":3}]}`, `"ab"`, false}, // both match
		{`{"oneOf":[{"type":"string"},{"type":"null"}]}`, `"ab"`, true},
		{`{"allOf":[{"type":"string"},{"maxLength":1}]}`, `"ab"`, false},
		{`{"not":{"type":"null"}}`, `null`, false},
		{`{"if":{"required":["a"]},"then":{"required":["b"]},"else":{"required":["c"]}}`, `{"a":1}`, false},
		{`{"if":{"required":["a"]},"then":{"required":["b"]},"else":{"required":["c"]}}`, `{"a":1,"b":1}`, true},
		{`{"if":{"required":["a"]},"then":{"required":["b"]},"else":{"required":["c"]}}`, `{}`, false},
		{`{"$ref":"#/components/schemas/Pet"}`, `{"kind":"cat","lives":9}`, true},
		{`{"$ref":"#/components/schemas/Pet"}`, `{"kind":"cat","lives":10}`, false},
		{`{"$ref":"#/components/schemas/Pet"}`, `{"kind":"cow"}`, false},
		{`{"$ref":"#/components/schemas/Pet"}`, `{"lives":1}`, false},
		{`{"$ref":"#/components/schemas/Pet"}`, `"cat"`, false},
		{`{"x-unknown":1}`, `1`, false}, // an unknown keyword is an error, never ignored
		{`{"uniqueItems":true}`, `[]`, false},
	}
	for _, c := range cases {
		errs := d.validate(mustJSON(t, c.schema), mustJSON(t, c.value))
		if (len(errs) == 0) != c.ok {
			t.Errorf("%s against %s: errors %q, want ok=%v", c.value, c.schema, errs, c.ok)
		}
	}
}
