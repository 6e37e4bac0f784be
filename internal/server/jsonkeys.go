package server

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// encoding/json matches a body's keys to fields in any case and lets the
// last of two equal keys win, so {"NAME":"a"} and {"name":"a","name":"b"}
// would be taken for {"name":…}. The API documents exact field names and
// refuses what it does not know; checkJSONKeys enforces that before the
// body is decoded.

// jsonShape is what a Go type accepts as JSON keys: the fields of a
// struct by exact name, or any key of a map with values of elem, or the
// elements of a slice. A nil *jsonShape accepts any value (a scalar,
// json.RawMessage, any, or a type that unmarshals itself).
type jsonShape struct {
	fields map[string]*jsonShape // a struct's JSON names; nil for a map or slice
	elem   *jsonShape            // a map's values or a slice's elements
	isMap  bool
	isList bool
}

// decodedLater gives the types that raw fields are decoded into after
// decodeJSON, so that their keys are held to the same rule: the service
// applies a QR code's "design" onto a qr.Design with encoding/json. The
// content's keys are already read by exact name, per type, by the qr
// package; only its duplicates need this check.
var decodedLater = map[reflect.Type]map[string]reflect.Type{
	reflect.TypeFor[qrRequest](): {"design": reflect.TypeFor[qr.Design]()},
}

// jsonShapes caches the shape of each type decoded (reflect.Type →
// *jsonShape), so a request only looks it up.
var jsonShapes sync.Map

func shapeOf(t reflect.Type) *jsonShape {
	if t == nil {
		return nil // decoding into a nil interface takes anything
	}
	if s, ok := jsonShapes.Load(t); ok {
		return s.(*jsonShape)
	}
	s, _ := jsonShapes.LoadOrStore(t, buildShape(t, map[reflect.Type]*jsonShape{}))
	return s.(*jsonShape)
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// buildShape describes t. building holds the structs being described, so
// a type that refers to itself (through a pointer or slice) ends.
func buildShape(t reflect.Type, building map[reflect.Type]*jsonShape) *jsonShape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return nil // json.RawMessage, time.Time: they read their value themselves
	}
	switch t.Kind() {
	case reflect.Struct:
		if s, ok := building[t]; ok {
			return s
		}
		s := &jsonShape{fields: map[string]*jsonShape{}}
		building[t] = s
		addFields(s, t, decodedLater[t], building, map[string]int{}, 0)
		return s
	case reflect.Map:
		return &jsonShape{isMap: true, elem: buildShape(t.Elem(), building)}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // []byte is a base64 string
		}
		return &jsonShape{isList: true, elem: buildShape(t.Elem(), building)}
	}
	return nil
}

// addFields adds the JSON names of struct t's fields to s, with the
// fields of embedded structs without a name promoted as encoding/json
// does; a name already taken at a shallower depth (depths) wins.
func addFields(s *jsonShape, t reflect.Type, later map[string]reflect.Type, building map[reflect.Type]*jsonShape, depths map[string]int, depth int) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			addFields(s, ft, decodedLater[ft], building, depths, depth+1)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if d, ok := depths[name]; ok && d <= depth {
			continue
		}
		depths[name] = depth
		if lt, ok := later[name]; ok {
			s.fields[name] = buildShape(lt, building)
		} else {
			s.fields[name] = buildShape(f.Type, building)
		}
	}
}

// maxJSONDepth is encoding/json's own nesting limit: a deeper body is
// left to the decoder to refuse.
const maxJSONDepth = 10000

// keyScan walks a JSON value's tokens with the shape expected at each
// point. path is the position, for the error.
type keyScan struct {
	dec  *json.Decoder
	path []pathStep
	err  error // the first key refused
}

type pathStep struct {
	key   string
	index int // for an array element, when key is ""
	elem  bool
}

func (s *keyScan) pathString() string {
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

// checkJSONKeys refuses a body whose JSON, to be decoded into v, has a
// key twice in one object or a key that is not exactly one of the JSON
// field names of v's type at that position; map keys are free, and json.RawMessage
// and any take any value (but still no duplicate keys). A body that is
// not valid JSON, or nested deeper than encoding/json reads, passes: the
// decoder that follows says what is wrong with it.
func checkJSONKeys(body []byte, v any) error {
	s := keyScan{dec: json.NewDecoder(bytes.NewReader(body))}
	s.dec.UseNumber() // numbers are skipped: no need to parse them
	if !s.value(shapeOf(reflect.TypeOf(v)), 0) {
		return nil
	}
	return s.err
}

// value reads one value of shape sh. It returns false at a syntax error
// or past maxJSONDepth. After the first refused key it reads on, without
// checking, so that a syntax error later in the body still comes first.
func (s *keyScan) value(sh *jsonShape, depth int) bool {
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
		s.path = append(s.path, pathStep{index: i, elem: true})
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
func (s *keyScan) object(sh *jsonShape, depth int) bool {
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
			s.path = append(s.path, pathStep{key: k})
			f := s.pathString()
			s.path = s.path[:len(s.path)-1]
			s.err = &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has a duplicate field: " + f,
				Fields: []snapglyph.FieldError{{Field: f, Message: "appears more than once in the same object; send each field once"}}}
		}
		s.path = append(s.path, pathStep{key: k})
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
func (s *keyScan) unknownKey(k string, sh *jsonShape) error {
	s.path = append(s.path, pathStep{key: k})
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
