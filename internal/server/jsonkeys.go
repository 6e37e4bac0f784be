package server

import (
	"encoding"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

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

// keyScan reads a JSON body byte by byte, as encoding/json's scanner
// does, with the shape expected at each point. It keeps no path while it
// reads: the path of a refused key is gathered as the values that hold it
// return (see value's callers), so that a body without a refusal costs
// nothing for it.
type keyScan struct {
	body []byte
	i    int // the next byte to read

	// The first key refused: why, the struct it is not a field of, and
	// its path, innermost step first.
	bad     refusal
	badIn   *jsonShape
	badPath []pathStep
}

type refusal uint8

const (
	notRefused refusal = iota
	unknownKey
	duplicateKey
)

type pathStep struct {
	key   []byte // unescaped
	index int    // for an array element
	elem  bool
}

// checkJSONKeys refuses a body whose JSON, to be decoded into v, has a
// key twice in one object or a key that is not exactly one of the JSON
// field names of v's type at that position; map keys are free, and json.RawMessage
// and any take any value (but still no duplicate keys). Keys are compared
// as encoding/json reads them: unescaped, with bytes that are not UTF-8
// and lone surrogates read as U+FFFD. A body that is not valid JSON, or
// nested deeper than encoding/json reads, passes: the decoder that follows
// says what is wrong with it. Only the first JSON value of the body is
// read; what follows it is also the decoder's to refuse.
func checkJSONKeys(body []byte, v any) error {
	s := keyScan{body: body}
	s.space()
	if s.i == len(body) || body[s.i] != '{' && body[s.i] != '[' {
		return nil // a scalar has no keys, and not JSON is the decoder's to say
	}
	if !s.value(shapeOf(reflect.TypeOf(v)), 0) || s.bad == notRefused {
		return nil
	}
	return s.refusal()
}

// value reads one value of shape sh, from its first byte. It returns
// false at a syntax error or past maxJSONDepth. After the first refused
// key it reads on, without checking, so that a syntax error later in the
// body still comes first.
func (s *keyScan) value(sh *jsonShape, depth int) bool {
	if s.i >= len(s.body) {
		return false
	}
	switch s.body[s.i] {
	case '{':
		if depth >= maxJSONDepth {
			return false
		}
		s.i++
		return s.object(sh, depth)
	case '[':
		if depth >= maxJSONDepth {
			return false
		}
		s.i++
		return s.array(sh, depth)
	case '"':
		_, _, ok := s.str()
		return ok
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

// object reads the members of an object after its '{', and its '}'.
func (s *keyScan) object(sh *jsonShape, depth int) bool {
	s.space()
	if s.i < len(s.body) && s.body[s.i] == '}' {
		s.i++
		return true
	}
	// Objects are small (a vCard's content, the largest, has 8 fields):
	// a linear search through the keys seen needs no map until there are
	// more.
	var small [8][]byte
	seen := small[:0]
	var many map[string]bool
	for {
		if s.i >= len(s.body) || s.body[s.i] != '"' {
			return false
		}
		start := s.i
		k, ascii, ok := s.str()
		if !ok {
			return false
		}
		s.space()
		if s.i >= len(s.body) || s.body[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		checked := s.bad == notRefused
		var vsh *jsonShape
		if checked {
			if !ascii {
				// Escapes, or bytes past ASCII: read as the decoder will
				// read them (invalid UTF-8 and lone surrogates as U+FFFD).
				// str has checked the string, so this cannot fail.
				var u string
				json.Unmarshal(s.body[start:start+len(k)+2], &u)
				k = []byte(u)
			}
			switch {
			case sh == nil || sh.isList:
				// Anything goes, or the decoder refuses an object here.
			case sh.isMap:
				vsh = sh.elem
			default:
				f, ok := sh.fields[string(k)]
				if !ok {
					s.bad, s.badIn = unknownKey, sh
				}
				vsh = f
			}
			if many == nil && len(seen) == len(small) {
				many = make(map[string]bool, 2*len(small))
				for _, v := range seen {
					many[string(v)] = true
				}
			}
			var dup bool
			if many != nil {
				dup = many[string(k)]
				many[string(k)] = true
			} else {
				for _, v := range seen {
					dup = dup || string(v) == string(k)
				}
				seen = append(seen, k)
			}
			if dup && s.bad == notRefused {
				s.bad = duplicateKey
			}
		}
		if !s.value(vsh, depth+1) {
			return false
		}
		if checked && s.bad != notRefused {
			// Refused here or within: this member is on the way to it.
			s.badPath = append(s.badPath, pathStep{key: k})
		}
		if more, ok := s.after('}'); !more {
			return ok
		}
	}
}

// array reads the elements of an array after its '[', and its ']'.
func (s *keyScan) array(sh *jsonShape, depth int) bool {
	var elem *jsonShape
	if sh != nil && sh.isList {
		elem = sh.elem
	}
	s.space()
	if s.i < len(s.body) && s.body[s.i] == ']' {
		s.i++
		return true
	}
	for n := 0; ; n++ {
		checked := s.bad == notRefused
		if !s.value(elem, depth+1) {
			return false
		}
		if checked && s.bad != notRefused {
			s.badPath = append(s.badPath, pathStep{index: n, elem: true})
		}
		if more, ok := s.after(']'); !more {
			return ok
		}
	}
}

// after reads what follows a member or an element: a ',' (more follow)
// or the closing byte (ok, the end). Anything else is not JSON.
func (s *keyScan) after(closing byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.body) {
		return false, false
	}
	switch s.body[s.i] {
	case ',':
		s.i++
		s.space()
		return true, true
	case closing:
		s.i++
		return false, true
	}
	return false, false
}

// space skips JSON's whitespace.
func (s *keyScan) space() {
	for s.i < len(s.body) {
		switch s.body[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string from its opening quote and returns what is between
// the quotes as written; ascii reports that this holds no escape and no
// byte past ASCII, so that it reads as written. Like encoding/json, str
// refuses control characters and unknown escapes, and takes any other
// byte.
func (s *keyScan) str() (raw []byte, ascii, ok bool) {
	b := s.body
	start := s.i + 1
	ascii = true
	for i := start; i < len(b); i++ {
		c := b[i]
		if !strStop[c] {
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return b[start:i], ascii, true
		case c == '\\':
			ascii = false
			i++
			if i >= len(b) {
				return nil, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return nil, false, false
				}
				i += 4
			default:
				return nil, false, false
			}
		case c < ' ':
			return nil, false, false
		default: // past ASCII
			ascii = false
		}
	}
	return nil, false, false
}

// strStop holds the bytes of a string at which str stops to look: its
// end, an escape, a control character, and any byte past ASCII.
var strStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// literal reads true, false or null.
func (s *keyScan) literal(word string) bool {
	if len(s.body)-s.i < len(word) || string(s.body[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// number reads a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *keyScan) number() bool {
	b, i := s.body, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return false
		}
		i = digits(b, i)
	}
	s.i = i
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits returns the end of the digits that start at b[i].
func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// refusal is the error for the refused key, as decodeJSON reports an
// unknown field: with the exact name when only the case is wrong.
func (s *keyScan) refusal() error {
	slices.Reverse(s.badPath)
	var b strings.Builder
	for i, p := range s.badPath {
		switch {
		case p.elem:
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		case i > 0:
			b.WriteString("." + string(p.key))
		default:
			b.Write(p.key)
		}
	}
	f := b.String()
	if s.bad == duplicateKey {
		return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has a duplicate field: " + f,
			Fields: []snapglyph.FieldError{{Field: f, Message: "appears more than once in the same object; send each field once"}}}
	}
	k := string(s.badPath[len(s.badPath)-1].key)
	msg := "is not a known field"
	// The first name in order, should a type have names that differ only
	// in case.
	var use string
	for name := range s.badIn.fields {
		if strings.EqualFold(name, k) && (use == "" || name < use) {
			use = name
		}
	}
	if use != "" {
		msg = "is not a known field; field names are case-sensitive: use " + strconv.Quote(use)
	}
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the request has an unknown field: " + f,
		Fields: []snapglyph.FieldError{{Field: f, Message: msg}}}
}
