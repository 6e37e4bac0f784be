package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestOpenAPIDescribed: the document describes itself completely, and
// every example in it is valid: a description and an example for every
// operation, parameter and schema, declared tags, contact and license.
// Every schema keyword is one the validator implements, so the example
// tests below check every rule the document states.
func TestOpenAPIDescribed(t *testing.T) {
	d := loadOpenAPI(t)
	root := d.root.(map[string]any)
	info := root["info"].(map[string]any)
	for _, f := range []string{"title", "version", "description", "contact", "license"} {
		if info[f] == nil {
			t.Errorf("info has no %s", f)
		}
	}
	if lic, _ := info["license"].(map[string]any); lic["name"] == nil || lic["url"] == nil {
		t.Errorf("info.license needs a name and a url: %v", lic)
	}
	tags := map[string]bool{}
	for _, tag := range asSlice(root["tags"]) {
		tag := tag.(map[string]any)
		tags[tag["name"].(string)] = true
		if tag["description"] == nil {
			t.Errorf("tag %v has no description", tag["name"])
		}
	}

	paths := root["paths"].(map[string]any)
	for _, p := range sortedKeys(paths) {
		item := paths[p].(map[string]any)
		for _, prm := range asSlice(item["parameters"]) {
			checkParameter(t, d, p, prm)
		}
		for _, method := range sortedKeys(item) {
			if method == "parameters" {
				continue
			}
			op := item[method].(map[string]any)
			where := strings.ToUpper(method) + " " + p
			for _, f := range []string{"operationId", "summary", "description", "tags"} {
				if s, ok := op[f].(string); f != "tags" && (!ok || s == "") {
					t.Errorf("%s has no %s", where, f)
				}
			}
			for _, tag := range asSlice(op["tags"]) {
				if !tags[tag.(string)] {
					t.Errorf("%s: the tag %v is not declared", where, tag)
				}
			}
			if len(asSlice(op["tags"])) == 0 {
				t.Errorf("%s has no tag", where)
			}
			for _, prm := range asSlice(op["parameters"]) {
				checkParameter(t, d, where, prm)
			}
			if rb, ok := op["requestBody"].(map[string]any); ok {
				checkMediaExamples(t, d, where+" request", rb)
			}
			responses := op["responses"].(map[string]any)
			for _, status := range sortedKeys(responses) {
				r := responses[status].(map[string]any)
				if ref, ok := r["$ref"].(string); ok {
					v, err := d.pointer(ref)
					if err != nil {
						t.Fatal(err)
					}
					r = v.(map[string]any)
				}
				if r["description"] == nil {
					t.Errorf("%s %s has no description", where, status)
				}
				checkMediaExamples(t, d, where+" "+status, r)
			}
		}
	}

	schemas := root["components"].(map[string]any)["schemas"].(map[string]any)
	for _, name := range sortedKeys(schemas) {
		s := schemas[name].(map[string]any)
		if s["description"] == nil {
			t.Errorf("schema %s has no description", name)
		}
		examples := asSlice(s["examples"])
		if len(examples) == 0 {
			t.Errorf("schema %s has no examples", name)
		}
		for i, ex := range examples {
			if errs := d.validate(s, ex); len(errs) > 0 {
				t.Errorf("schema %s: example %d is invalid: %v", name, i, errs)
			}
		}
		walkSchema(t, name, s, false)
	}
}

// walkSchema checks that every keyword of s and of its sub-schemas is
// known, and that every property is described (a $ref describes itself).
func walkSchema(t *testing.T, where string, s any, isProperty bool) {
	m, ok := s.(map[string]any)
	if !ok {
		return
	}
	for k := range m {
		if _, known := schemaKeywords[k]; !known {
			t.Errorf("%s: the keyword %q is not one the tests' validator implements", where, k)
		}
	}
	if isProperty && m["description"] == nil && m["$ref"] == nil {
		t.Errorf("%s has no description", where)
	}
	props, _ := m["properties"].(map[string]any)
	for _, k := range sortedKeys(props) {
		// Properties inside if/then/allOf narrow ones described above.
		walkSchema(t, where+"."+k, props[k], !strings.Contains(where, "/"))
	}
	for _, k := range []string{"items", "additionalProperties", "not", "if", "then", "else"} {
		if sub, ok := m[k].(map[string]any); ok {
			walkSchema(t, where+"/"+k, sub, false)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		for i, sub := range asSlice(m[k]) {
			walkSchema(t, fmt.Sprintf("%s/%s[%d]", where, k, i), sub, false)
		}
	}
}

func checkParameter(t *testing.T, d *openAPIDoc, where string, prm any) {
	p := prm.(map[string]any)
	name := fmt.Sprintf("%s parameter %v", where, p["name"])
	if s, _ := p["description"].(string); s == "" {
		t.Errorf("%s has no description", name)
	}
	ex, ok := p["example"]
	if !ok {
		t.Errorf("%s has no example", name)
		return
	}
	if errs := d.validate(p["schema"], ex); len(errs) > 0 {
		t.Errorf("%s: the example %v is invalid: %v", name, ex, errs)
	}
}

// checkMediaExamples validates the examples of a request body or a
// response against their media type's schema.
func checkMediaExamples(t *testing.T, d *openAPIDoc, where string, r map[string]any) {
	content, _ := r["content"].(map[string]any)
	for _, mt := range sortedKeys(content) {
		m := content[mt].(map[string]any)
		var examples []any
		if ex, ok := m["example"]; ok {
			examples = append(examples, ex)
		}
		exs, _ := m["examples"].(map[string]any)
		for _, k := range sortedKeys(exs) {
			examples = append(examples, exs[k].(map[string]any)["value"])
		}
		for i, ex := range examples {
			if errs := d.validate(m["schema"], ex); len(errs) > 0 {
				t.Errorf("%s %s: example %d is invalid: %v", where, mt, i, errs)
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// q is s as a JSON string.
func q(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// qrBody is a create request of the type with the content.
func qrBody(typ, content string) string {
	return `{"name":"Case","type":"` + typ + `","content":` + content + `}`
}

// A request body, and whether the document (schema) and the server
// (server) accept it. Where they differ, why says so: each such case is
// a rule a JSON Schema cannot state, and the document's descriptions
// state it instead.
type exampleCase struct {
	name   string
	body   string
	schema bool
	server bool
	why    string
	base   string // PATCH: the code to create first (default: a URL code)
}

func valid(name, body string) exampleCase {
	return exampleCase{name: name, body: body, schema: true, server: true}
}
func invalid(name, body string) exampleCase {
	return exampleCase{name: name, body: body}
}

func createCases(logo string) []exampleCase {
	url := func(u string) string { return qrBody("url", `{"url":`+q(u)+`}`) }
	email := func(to string) string { return qrBody("email", `{"to":`+q(to)+`}`) }
	phone := func(n string) string { return qrBody("phone", `{"number":`+q(n)+`}`) }
	text := func(s string) string { return qrBody("text", `{"text":`+q(s)+`}`) }
	wifi := func(fields string) string { return qrBody("wifi", `{"ssid":"Home"`+fields+`}`) }
	vcard := func(fields string) string { return qrBody("vcard", fields) }
	name := func(n string) string { return `{"name":` + n + `,"type":"text","content":{"text":"x"}}` }
	design := func(d string) string {
		return `{"name":"Case","type":"text","content":{"text":"x"},"design":` + d + `}`
	}
	long := func(prefix string, n int) string { return prefix + strings.Repeat("a", n-len(prefix)) }
	cases := []exampleCase{
		// The request as a whole.
		invalid("unknown field", `{"name":"A","type":"text","content":{"text":"x"},"colour":"red"}`),
		invalid("no name", `{"type":"text","content":{"text":"x"}}`),
		invalid("no type", `{"name":"A","content":{"text":"x"}}`),
		invalid("no content", `{"name":"A","type":"text"}`),
		invalid("unknown type", qrBody("link", `{"url":"https://example.com"}`)),
		invalid("type in capitals", qrBody("URL", `{"url":"https://example.com"}`)),
		invalid("content of another type", qrBody("text", `{"url":"https://example.com"}`)),
		invalid("content not an object", qrBody("text", `"hello"`)),
		invalid("unknown content field", qrBody("text", `{"text":"x","font":"serif"}`)),
		invalid("an array", `[{"name":"A","type":"text","content":{"text":"x"}}]`),

		// name
		valid("name of one character", name(`"A"`)),
		valid("name of 100 characters", name(q(strings.Repeat("é", 100)))),
		valid("name of 100 characters between spaces", name(q("  "+strings.Repeat("n", 100)+"\u00a0\t"))),
		valid("name on two lines", name(q("Spring\nmenu"))),
		valid("name in Japanese", name(q("春のメニュー"))),
		invalid("name empty", name(`""`)),
		invalid("name of spaces", name(q(" \u3000\t"))),
		invalid("name of 101 characters", name(q(strings.Repeat("n", 101)))),
		invalid("name with NUL", name(q("a\x00b"))),
		invalid("name with an escape character", name(q("\x1b[31mRed"))),
		invalid("name with a C1 control", name(q("a\u0090b"))),
		invalid("name with a right-to-left override", name(q("menu\u202Etxt.exe"))),
		invalid("name with a zero-width space", name(q("Pro\u200Bmo"))),
		invalid("name of a Hangul filler", name(q("\u3164"))),
		valid("name with a line separator", name(q("Spring\u2028menu"))),
		invalid("name a number", name(`5`)),
		invalid("name null", name(`null`)),

		// url
		valid("url", url("https://example.com")),
		valid("url with everything", url("http://user:pa%20ss@example.com:8443/a/b%2Fc?q=1&r=%zz#top#more")),
		valid("url in capitals", url("HTTPS://EXAMPLE.COM/")),
		valid("url with an empty port", url("http://example.com:/")),
		valid("url, international", url("https://bücher.example/straße?ä=ö")),
		valid("url, host escaped UTF-8", url("https://b%C3%BCcher.example/")),
		valid("url of one-letter host", url("https://a")),
		valid("url of 2048 bytes", url(long("https://example.com/", 2048))),
		valid("url to an IPv6 host", url("http://[2001:db8::1]:8080/")),
		valid("url to an IPv4-mapped IPv6 host", url("http://[::ffff:192.0.2.1]/")),
		valid("url to the IPv6 loopback", url("http://[::1]/")),
		invalid("url to an IPv6 host with 9 groups", url("http://[1:2:3:4:5:6:7:8:9]/")),
		invalid("url to an IPv4 host in brackets", url("http://[192.0.2.1]/")),
		invalid("url to an IPv6 host with two ::", url("http://[1::2::3]/")),
		invalid("url empty", url("")),
		invalid("url null", qrBody("url", `{"url":null}`)),
		invalid("url a number", qrBody("url", `{"url":5}`)),
		invalid("url without scheme", url("example.com/p")),
		invalid("url ftp", url("ftp://example.com/")),
		invalid("url mailto", url("mailto:a@example.com")),
		invalid("url opaque", url("http:example.com")),
		invalid("url without host", url("https:///p")),
		invalid("url with only a port", url("https://:80/")),
		invalid("url with a space", url("https://example.com/a b")),
		invalid("url with a tab", url("https://example.com/a\tb")),
		invalid("url with DEL", url("https://example.com/a\x7fb")),
		invalid("url with U+FFFD", url("https://example.com/\ufffd")),
		invalid("url with a bad port", url("https://example.com:80a/")),
		invalid("url with a bad escape in the path", url("https://example.com/%zz")),
		invalid("url with a bad escape in the fragment", url("https://example.com/#%zz")),
		invalid("url with an ASCII escape in the host", url("https://ex%41mple.com/")),
		invalid("url with a brace in the host", url("https://ex{a}mple.com/")),
		invalid("url of 2049 bytes", url(long("https://example.com/", 2049))),

		// email
		valid("email", email("orders@example.com")),
		valid("email, one letter each side", email("a@b")),
		valid("email with every atext character", email("!#$%&'*+/=?^_`{|}~-@example.com")),
		valid("email, international", email("用户@例子.广告")),
		valid("email to an IPv4 literal", email("postmaster@[192.0.2.1]")),
		valid("email to an IPv6 literal", email("postmaster@[2001:db8::1]")),
		valid("email of 254 bytes", email(long("a", 254-len("@example.com"))+"@example.com")),
		valid("email with subject and body", qrBody("email", `{"to":"a@example.com","subject":"Hi","body":"Line 1\r\nLine 2\tend"}`)),
		valid("email with null subject and body", qrBody("email", `{"to":"a@example.com","subject":null,"body":null}`)),
		invalid("email without @", email("orders.example.com")),
		invalid("email without local part", email("@example.com")),
		invalid("email without domain", email("orders@")),
		invalid("email with two dots", email("a..b@example.com")),
		invalid("email with a leading dot", email(".a@example.com")),
		invalid("email with a trailing dot", email("a.@example.com")),
		invalid("email with a dot before the domain's end", email("a@example.")),
		invalid("email with a display name", email("Orders <orders@example.com>")),
		invalid("email with a space", email(" orders@example.com")),
		invalid("email quoted", email(`"orders"@example.com`)),
		invalid("email with a comment", email("a(b)@example.com")),
		invalid("email to a bad IPv4 literal", email("a@[256.1.1.1]")),
		invalid("email to a short IPv4 literal", email("a@[1.2.3]")),
		invalid("email to an IPv4 literal with a leading zero", email("a@[192.0.2.01]")),
		invalid("email to a name in brackets", email("a@[example.com]")),
		invalid("email of 255 bytes", email(long("a", 255-len("@example.com"))+"@example.com")),
		invalid("email subject on two lines", qrBody("email", `{"to":"a@example.com","subject":"a\nb"}`)),
		invalid("email body with a control character", qrBody("email", `{"to":"a@example.com","body":"a\u0001b"}`)),
		invalid("email to missing", qrBody("email", `{"subject":"Hi"}`)),

		// phone and SMS
		valid("phone of 3 digits", phone("112")),
		valid("phone with separators", phone("+1 (555) 123-4567")),
		valid("phone with dots", phone("555.123.4567")),
		valid("phone after spaces", phone("  +44 20 7946 0958")),
		valid("phone with a space after +", phone("+ 1 555 123")),
		valid("phone of 15 digits", phone("123456789012345")),
		invalid("phone of 2 digits", phone("12")),
		invalid("phone of 2 digits and a space", phone("1 2")),
		invalid("phone of 16 digits", phone("1234567890123456")),
		invalid("phone with two +", phone("++15551234567")),
		invalid("phone with + inside", phone("1+5551234567")),
		invalid("phone with + after a parenthesis", phone("(+1) 555 1234")),
		invalid("phone with letters", phone("555-CALL-NOW")),
		invalid("phone with full-width digits", phone("１２３４")),
		invalid("phone empty", phone("")),
		valid("sms", qrBody("sms", `{"number":"+15551234567","message":"STOP\nnow"}`)),
		valid("sms with null message", qrBody("sms", `{"number":"+15551234567","message":null}`)),
		invalid("sms with a bad number", qrBody("sms", `{"number":"12","message":"x"}`)),
		invalid("sms message with a control character", qrBody("sms", `{"number":"+15551234567","message":"a\u001bb"}`)),
		invalid("sms without number", qrBody("sms", `{"message":"x"}`)),

		// text
		valid("text", text("hello")),
		valid("text between spaces", text("  x  ")),
		valid("text on lines with tabs", text("a\nb\r\n\tc")),
		invalid("text empty", text("")),
		invalid("text of spaces", text(" \t\n ")),
		invalid("text of Unicode spaces", text("\u00a0\u2003\u3000")),
		invalid("text with a control character", text("a\x01b")),
		invalid("text with DEL", text("a\x7fb")),
		invalid("text with NUL", text("a\x00b")),

		// wifi
		valid("wifi WPA of 8", wifi(`,"password":"12345678"`)),
		valid("wifi WPA of 63", wifi(`,"password":`+q(strings.Repeat("p", 63)))),
		valid("wifi WPA of 64 hex digits", wifi(`,"password":`+q(strings.Repeat("aF", 32)))),
		valid("wifi WPA said", wifi(`,"password":"12345678","security":"WPA","hidden":true`)),
		valid("wifi security null", wifi(`,"password":"12345678","security":null,"hidden":null`)),
		valid("wifi security empty", wifi(`,"password":"12345678","security":""`)),
		invalid("wifi security empty, short password", wifi(`,"password":"1234567","security":""`)),
		valid("wifi WEP of 5", wifi(`,"security":"WEP","password":"abcde"`)),
		valid("wifi WEP of 13", wifi(`,"security":"WEP","password":"abcdefghijklm"`)),
		valid("wifi WEP of 10 hex", wifi(`,"security":"WEP","password":"0123456789"`)),
		valid("wifi WEP of 26 hex", wifi(`,"security":"WEP","password":"0123456789abcdef0123456789"`)),
		valid("wifi open", wifi(`,"security":"none"`)),
		valid("wifi open, empty password", wifi(`,"security":"none","password":""`)),
		valid("wifi open, null password", wifi(`,"security":"none","password":null`)),
		valid("wifi SSID of 32", qrBody("wifi", `{"ssid":`+q(strings.Repeat("s", 32))+`,"security":"none"}`)),
		invalid("wifi WPA of 7", wifi(`,"password":"1234567"`)),
		invalid("wifi WPA of 64, not hex", wifi(`,"password":`+q(strings.Repeat("g", 64)))),
		invalid("wifi WPA of 65", wifi(`,"password":`+q(strings.Repeat("a", 65)))),
		invalid("wifi WPA not ASCII", wifi(`,"password":"pässwört!"`)),
		invalid("wifi WPA without password", wifi(``)),
		invalid("wifi WPA with null password", wifi(`,"password":null`)),
		invalid("wifi WEP of 6", wifi(`,"security":"WEP","password":"abcdef"`)),
		invalid("wifi WEP of 11 hex", wifi(`,"security":"WEP","password":"0123456789a"`)),
		invalid("wifi WEP without password", wifi(`,"security":"WEP"`)),
		invalid("wifi open with a password", wifi(`,"security":"none","password":"12345678"`)),
		invalid("wifi security in lower case", wifi(`,"security":"wpa","password":"12345678"`)),
		invalid("wifi security unknown", wifi(`,"security":"WPA3","password":"12345678"`)),
		invalid("wifi hidden a string", wifi(`,"password":"12345678","hidden":"yes"`)),
		invalid("wifi SSID empty", qrBody("wifi", `{"ssid":"","security":"none"}`)),
		invalid("wifi SSID of 33", qrBody("wifi", `{"ssid":`+q(strings.Repeat("s", 33))+`,"security":"none"}`)),
		invalid("wifi SSID on two lines", qrBody("wifi", `{"ssid":"a\nb","security":"none"}`)),
		invalid("wifi SSID with a C1 control", qrBody("wifi", `{"ssid":"Net\u009b[31m","security":"none"}`)),
		invalid("text of a C1 control alone", text("\u0090")),
		valid("text with a line separator", text("a\u2028b")),
		invalid("vcard first name with a next-line control", vcard(`{"firstName":"A\u0085B"}`)),
		invalid("url with a zero-width space in the host", url("https://pay\u200bpal.com/")),
		invalid("url with a no-break space in the host", url("https://ex\u00a0ample.com/")),
		invalid("url with a right-to-left override", url("https://exa\u202eelpm.com/")),
		invalid("url with a no-break space in the path", url("https://example.com/a\u00a0b")),
		invalid("vcard website with an ideographic space", vcard(`{"firstName":"A","website":"https://ex\u3000ample.com/"}`)),
		invalid("wifi without SSID", qrBody("wifi", `{"security":"none"}`)),

		// vcard
		valid("vcard first name", vcard(`{"firstName":"Ada"}`)),
		valid("vcard organization", vcard(`{"organization":"Acme"}`)),
		valid("vcard last name, blank first name", vcard(`{"firstName":"  ","lastName":"L"}`)),
		valid("vcard full", vcard(`{"firstName":"Ada","lastName":"Lovelace","organization":"Acme","title":"Engineer",
			"phones":["+1 555 123 4567","112","(0)20 7946","555.1234","+44 20 7946 0958"],
			"emails":["a@example.com","b@example.com","c@example.com","d@example.com","e@example.com"],
			"website":"https://example.com/ada","address":{"street":"12 Example Road\nFlat 3","city":"London","region":"Greater London","postalCode":"SW1A 1AA","country":"UK"}}`)),
		valid("vcard with nulls", vcard(`{"firstName":"Ada","lastName":null,"phones":null,"emails":null,"website":null,"address":null}`)),
		valid("vcard with empty website and address", vcard(`{"firstName":"Ada","website":"","address":{},"phones":[]}`)),
		valid("vcard field of 256 bytes", vcard(`{"firstName":`+q(strings.Repeat("f", 256))+`}`)),
		invalid("vcard empty", vcard(`{}`)),
		invalid("vcard blank names", vcard(`{"firstName":" ","lastName":"\u3000","organization":""}`)),
		invalid("vcard title only", vcard(`{"title":"Dr"}`)),
		invalid("vcard of 6 phones", vcard(`{"firstName":"A","phones":["111","222","333","444","555","666"]}`)),
		invalid("vcard of 6 emails", vcard(`{"firstName":"A","emails":["a@b","a@b","a@b","a@b","a@b","a@b"]}`)),
		invalid("vcard bad phone", vcard(`{"firstName":"A","phones":["12"]}`)),
		invalid("vcard bad email", vcard(`{"firstName":"A","emails":["nobody"]}`)),
		invalid("vcard phones not an array", vcard(`{"firstName":"A","phones":"111"}`)),
		invalid("vcard bad website", vcard(`{"firstName":"A","website":"ftp://example.com"}`)),
		invalid("vcard first name on two lines", vcard(`{"firstName":"A\nB"}`)),
		invalid("vcard field of 257 bytes", vcard(`{"firstName":`+q(strings.Repeat("f", 257))+`}`)),
		invalid("vcard address field a number", vcard(`{"firstName":"A","address":{"street":5}}`)),
		invalid("vcard unknown address field", vcard(`{"firstName":"A","address":{"zip":"1"}}`)),
		invalid("vcard address not an object", vcard(`{"firstName":"A","address":"London"}`)),

		// design
		valid("design colours", design(`{"foreground":"#102030","background":"#fafafa"}`)),
		valid("design margins", design(`{"margin":0}`)),
		valid("design margin 16", design(`{"margin":16}`)),
		valid("design error correction", design(`{"errorCorrection":"L"}`)),
		valid("design logo", design(`{"errorCorrection":"H","logo":"`+logo+`"}`)),
		valid("design no logo", design(`{"logo":null}`)),
		valid("design empty logo", design(`{"logo":""}`)),
		invalid("design margin 17", design(`{"margin":17}`)),
		invalid("design margin -1", design(`{"margin":-1}`)),
		invalid("design margin a string", design(`{"margin":"4"}`)),
		invalid("design margin 4.5", design(`{"margin":4.5}`)),
		// JSON Schema's integer is any number without a fraction; the
		// server takes an integer literal only, as the description says.
		{name: "design margin 4.0", body: design(`{"margin":4.0}`),
			schema: true, why: "JSON Schema's integer takes 4.0; the margin's description says only an integer literal is taken"},
		{name: "design margin 1e1", body: design(`{"margin":1e1}`),
			schema: true, why: "JSON Schema's integer takes 1e1; the margin's description says only an integer literal is taken"},
		valid("design margin -0", design(`{"margin":-0}`)),
		invalid("design colour of 5 digits", design(`{"foreground":"#12345"}`)),
		invalid("design colour by name", design(`{"background":"white"}`)),
		invalid("design error correction unknown", design(`{"errorCorrection":"X"}`)),
		invalid("design logo not base64", design(`{"errorCorrection":"H","logo":"not base64!"}`)),
		invalid("design logo without H", design(`{"logo":"`+logo+`"}`)),
		invalid("design logo with L", design(`{"errorCorrection":"L","logo":"`+logo+`"}`)),
		invalid("design unknown field", design(`{"colour":"red"}`)),
		invalid("design not an object", design(`"black"`)),

		// Hosts url.Parse reads and the document refuses; the server
		// accepted these once and sent them back breaking the QR code schema.
		invalid("url to an IPv6 host with a zone", url("http://[fe80::1%25en0]:8080/")),
		invalid("url to the host >", url("http://>")),
		invalid("url to the host <", url("https://<")),
		invalid("url to the host ]", url("http://]")),
		invalid("vcard website to the host >", vcard(`{"firstName":"A","website":"http://>"}`)),

		// Rules a JSON Schema cannot state: the document allows these and
		// its descriptions say why the server refuses them.
		{name: "content too long for the error correction", body: `{"name":"Case","type":"text","content":{"text":` + q(strings.Repeat("x", 2000)) + `},"design":{"errorCorrection":"H"}}`,
			schema: true, why: "422 content_too_long: what fits depends on the error correction and on the characters (QR capacity)"},
		{name: "design light on dark", body: design(`{"foreground":"#FFFFFF","background":"#000000"}`),
			schema: true, why: "a WCAG contrast and luminance rule between two fields"},
		{name: "design low contrast", body: design(`{"foreground":"#777777","background":"#888888"}`),
			schema: true, why: "a WCAG contrast rule between two fields"},
		{name: "url of 2048 characters, 4076 bytes", body: url("https://example.com/" + strings.Repeat("é", 2048-len("https://example.com/"))),
			schema: true, why: "the limit is 2048 bytes of UTF-8; maxLength counts characters"},
		{name: "SSID of 17 two-byte characters", body: qrBody("wifi", `{"ssid":`+q(strings.Repeat("é", 17))+`,"security":"none"}`),
			schema: true, why: "the limit is 32 bytes of UTF-8; maxLength counts characters"},
		{name: "name with a tag character", body: name(q("a\U000E0041b")),
			schema: true, why: "invisible characters beyond the Basic Multilingual Plane, which the description names"},
		{name: "logo not an image", body: design(`{"errorCorrection":"H","logo":"aGVsbG8="}`),
			schema: true, why: "the file's format and pixel size are checked by decoding it"},

		// What the server accepts beyond the document. It answers these
		// in the canonical form the document gives, so what it sends back
		// passes the QR code schema.
		// Either case, which the document allows: the server answers
		// capitals, the canonical form the QR code schema gives.
		valid("design colours and error correction in lower case", design(`{"foreground":"#1a237e","errorCorrection":"h"}`)),
		invalid("design with an empty foreground", design(`{"foreground":""}`)),
		invalid("design with an empty error correction", design(`{"errorCorrection":""}`)),
		{name: "null design on create", body: `{"name":"A","type":"text","content":{"text":"x"},"design":null}`},
		{name: "null margin on create", body: design(`{"margin":null}`)},
		{name: "null name on create", body: `{"name":null,"type":"text","content":{"text":"x"}}`},
	}
	return cases
}

func patchCases(logo string) []exampleCase {
	logoBase := `{"name":"Logo","type":"url","content":{"url":"https://example.com/logo"},"design":{"errorCorrection":"H","logo":"` + logo + `"}}`
	vcardBase := `{"name":"Card","type":"vcard","content":{"firstName":"Ada","lastName":"Lovelace","title":"Engineer",` +
		`"phones":["+44 20 7946 0958"],"address":{"city":"London","country":"United Kingdom"}}}`
	wifiBase := `{"name":"Wi-Fi","type":"wifi","content":{"ssid":"Cafe Guest","password":"correct horse battery","hidden":true}}`
	return []exampleCase{
		valid("empty change", `{}`),
		valid("rename", `{"name":"Spring menu"}`),
		valid("content, type kept", `{"content":{"url":"https://example.com/new"}}`),
		valid("same type, no content", `{"type":"url","name":"Again"}`),
		valid("new type and content", `{"type":"text","content":{"text":"hello"}}`),
		valid("new type, phone", `{"type":"phone","content":{"number":"+1 555 123 4567"}}`),
		valid("design", `{"design":{"margin":2,"foreground":"#1A1A2E"}}`),
		valid("add a logo", `{"design":{"errorCorrection":"H","logo":"`+logo+`"}}`),
		{name: "remove the logo", body: `{"design":{"logo":null,"errorCorrection":"M"}}`, schema: true, server: true, base: logoBase},
		invalid("empty name", `{"name":""}`),
		invalid("empty error correction and colour", `{"design":{"errorCorrection":"","foreground":""}}`),
		invalid("unknown type", `{"type":"link","content":{"url":"https://example.com"}}`),
		invalid("content of another type than sent", `{"type":"text","content":{"url":"https://example.com"}}`),
		invalid("bad content, type kept", `{"content":{"url":"ftp://example.com"}}`),
		invalid("unknown field", `{"id":"qr_x"}`),
		invalid("a logo without H", `{"design":{"logo":"`+logo+`"}}`),
		invalid("bad design", `{"design":{"margin":99}}`),
		invalid("not an object", `"rename"`),
		invalid("null name", `{"name":null}`),
		invalid("null design", `{"design":null}`),
		invalid("null design field", `{"design":{"margin":null}}`),
		// What depends on the code as stored.
		{name: "new type without content", body: `{"type":"text"}`,
			schema: true, why: "content is required when the type changes: the schema cannot know the current type"},
		{name: "content of another type, type kept", body: `{"content":{"text":"hello"}}`,
			schema: true, why: "content must be valid for the current type, which the schema cannot know"},
		{name: "lower the error correction of a code with a logo", body: `{"design":{"errorCorrection":"L"}}`, base: logoBase,
			schema: true, why: "a logo kept from before needs H, which the schema cannot know"},

		// Content merged while the type stays: only the fields to change.
		{name: "a vCard's title alone", body: `{"content":{"title":"Dr"}}`, base: vcardBase, schema: true, server: true},
		{name: "a vCard's address merged, a field removed", body: `{"content":{"title":null,"address":{"city":null,"postalCode":"SW1A 1AA"}}}`,
			base: vcardBase, schema: true, server: true},
		{name: "a vCard's phones replaced", body: `{"content":{"phones":["+1 555 123 4567"]}}`, base: vcardBase, schema: true, server: true},
		{name: "a Wi-Fi's password alone", body: `{"content":{"password":"new horse battery staple"}}`, base: wifiBase, schema: true, server: true},
		{name: "a Wi-Fi made open", body: `{"content":{"security":"none","password":null}}`, base: wifiBase, schema: true, server: true},
		valid("the URL alone, type sent", `{"type":"url","content":{"url":"https://example.com/again"}}`),
		invalid("a required content field removed", `{"content":{"url":null}}`),
		{name: "a Wi-Fi's ssid removed", body: `{"content":{"ssid":null}}`, base: wifiBase},
		{name: "a bad vCard field alone", body: `{"content":{"title":"a\nb"}}`, base: vcardBase},
		{name: "new type, partial content", body: `{"type":"vcard","content":{"title":"Dr"}}`, base: wifiBase},
		{name: "a vCard's title alone, type sent", body: `{"type":"vcard","content":{"title":"Dr"}}`, base: vcardBase,
			server: true, why: "with type the schema asks for complete content, as it cannot know whether the type changes; the server merges content for the stored type"},
		{name: "a Wi-Fi's password too short for its stored WPA", body: `{"content":{"password":"short"}}`, base: wifiBase,
			schema: true, why: "the password's rule depends on the stored security, which the schema cannot know"},
		{name: "a Wi-Fi made open, its password kept", body: `{"content":{"security":"none"}}`, base: wifiBase,
			schema: true, why: "an open network takes no password, and the stored one is kept: the schema cannot know it"},
		{name: "a vCard's names all removed", body: `{"content":{"firstName":null,"lastName":""}}`, base: vcardBase,
			schema: true, why: "at least one name must stay, and which are stored the schema cannot know"},
	}
}

// TestOpenAPIExamples: every example the document gives is accepted by
// the server, and every case of the tables above is judged by the
// document and by the server as the table says: what the document allows
// is created (201) or changed (200), what it refuses the server refuses
// too (400 or 422, nothing created or changed). Every answer is checked
// against the document's schemas: the QR code, the problem, the list.
func TestOpenAPIExamples(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		d := loadOpenAPI(t)
		h := newHarness(t, db, node.Config{})
		org, key, kid := h.newOrgKey("max") // enough calls for every case
		ctx := context.Background()
		count := func() int {
			n, err := h.db.CountQRCodes(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		// do sends a request and returns the status and decoded body,
		// checked against the schema of the answer.
		do := func(method, path, body string, schema string) (int, any) {
			t.Helper()
			resp := h.send(method, path, key, body)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return resp.StatusCode, nil
			}
			v, err := decodeJSONValue(raw)
			if err != nil {
				t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
			}
			if resp.StatusCode >= 400 {
				schema = "Problem"
			}
			if schema == "" {
				return resp.StatusCode, v
			}
			if errs := d.validate(d.schema(t, schema), v); len(errs) > 0 {
				t.Errorf("%s %s: the %d answer breaks the schema %s: %v\n%s", method, path, resp.StatusCode, schema, errs, short(v))
			}
			return resp.StatusCode, v
		}
		createSchema, updateSchema := d.schema(t, "QRCodeCreate"), d.schema(t, "QRCodeUpdate")
		logo := logoPNG(t)

		// The document's own create examples: the request body's, and
		// every QRCodeCreate… and content schema's.
		var creates []string
		root := d.root.(map[string]any)
		op := root["paths"].(map[string]any)["/api/v1/qr-codes"].(map[string]any)["post"].(map[string]any)
		exs := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["examples"].(map[string]any)
		for _, k := range sortedKeys(exs) {
			creates = append(creates, marshal(t, exs[k].(map[string]any)["value"]))
		}
		schemas := root["components"].(map[string]any)["schemas"].(map[string]any)
		payloads := map[string]string{} // the payload each QRCode… example shows for its content
		for _, name := range sortedKeys(schemas) {
			s := schemas[name].(map[string]any)
			for _, ex := range asSlice(s["examples"]) {
				switch {
				case strings.HasPrefix(name, "QRCodeCreate"):
					creates = append(creates, marshal(t, ex))
				case strings.HasSuffix(name, "Content") && name != "AnyContent":
					typ := strings.ToLower(strings.TrimSuffix(name, "Content"))
					creates = append(creates, qrBody(typ, marshal(t, ex)))
				case strings.HasPrefix(name, "QRCode") && d.validate(d.schema(t, "QRCode"), ex) == nil:
					m := ex.(map[string]any)
					payloads[m["type"].(string)+" "+marshal(t, m["content"])] = m["payload"].(string)
				}
			}
		}
		if len(creates) < 20 || len(payloads) != 7 {
			t.Fatalf("%d create examples, payload examples for %d types", len(creates), len(payloads))
		}
		for _, body := range creates {
			if errs := d.validate(createSchema, mustJSON(t, body)); len(errs) > 0 {
				t.Errorf("the document's example %s breaks its schema: %v", body, errs)
			}
			status, v := do("POST", "/api/v1/qr-codes", body, "QRCode")
			if status != 201 {
				t.Errorf("the document's example %s: %d %v", body, status, v)
				continue
			}
			got := v.(map[string]any)
			sent := mustJSON(t, body).(map[string]any)
			if got["type"] != sent["type"] || !jsonEqual(got["content"], sent["content"]) {
				t.Errorf("%s: answered type %v content %v", body, got["type"], got["content"])
			}
			if want, ok := payloads[got["type"].(string)+" "+marshal(t, sent["content"])]; ok && want != got["payload"] {
				t.Errorf("the document shows the payload %q for %s; the server makes %q", want, body, got["payload"])
			}
		}

		// The tables.
		for _, c := range createCases(logo) {
			checkCase(t, c)
			errs := d.validate(createSchema, mustJSON(t, c.body))
			if (len(errs) == 0) != c.schema {
				t.Errorf("create %q: the document's verdict is %v (%v), want %v", c.name, len(errs) == 0, errs, c.schema)
			}
			before := count()
			answer := "QRCode"
			if c.server && !c.schema {
				answer = "" // sent back as it came, beyond the document
			}
			status, v := do("POST", "/api/v1/qr-codes", c.body, answer)
			if c.server && !c.schema && status == 201 {
				// Out of the list, which is checked against the document below.
				if status, _ := do("DELETE", "/api/v1/qr-codes/"+v.(map[string]any)["id"].(string), "", ""); status != 204 {
					t.Errorf("delete %q: %d", c.name, status)
				}
			}
			switch {
			case c.server && status != 201:
				t.Errorf("create %q: %d %v, want 201", c.name, status, v)
			case !c.server && status != 400 && status != 422:
				t.Errorf("create %q: %d, want 400 or 422", c.name, status)
			case !c.server && count() != before:
				t.Errorf("create %q: refused, but a QR code was created", c.name)
			}
		}
		base := `{"name":"Base","type":"url","content":{"url":"https://example.com/base"}}`
		for _, c := range patchCases(logo) {
			checkCase(t, c)
			errs := d.validate(updateSchema, mustJSON(t, c.body))
			if (len(errs) == 0) != c.schema {
				t.Errorf("change %q: the document's verdict is %v (%v), want %v", c.name, len(errs) == 0, errs, c.schema)
			}
			b := base
			if c.base != "" {
				b = c.base
			}
			status, v := do("POST", "/api/v1/qr-codes", b, "QRCode")
			if status != 201 {
				t.Fatalf("the base of %q: %d %v", c.name, status, v)
			}
			path := "/api/v1/qr-codes/" + v.(map[string]any)["id"].(string)
			_, before := do("GET", path, "", "QRCode")
			status, v = do("PATCH", path, c.body, "QRCode")
			_, after := do("GET", path, "", "QRCode")
			switch {
			case c.server && status != 200:
				t.Errorf("change %q: %d %v, want 200", c.name, status, v)
			case !c.server && status != 400 && status != 422:
				t.Errorf("change %q: %d, want 400 or 422", c.name, status)
			case !c.server && !jsonEqual(before, after):
				t.Errorf("change %q: refused, but the code changed from %v to %v", c.name, before, after)
			}
		}

		// The document's change examples, each on a new URL code.
		var updates []string
		op = root["paths"].(map[string]any)["/api/v1/qr-codes/{id}"].(map[string]any)["patch"].(map[string]any)
		exs = op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["examples"].(map[string]any)
		for _, k := range sortedKeys(exs) {
			updates = append(updates, marshal(t, exs[k].(map[string]any)["value"]))
		}
		for _, name := range sortedKeys(schemas) {
			if strings.HasPrefix(name, "QRCodeUpdate") {
				for _, ex := range asSlice(schemas[name].(map[string]any)["examples"]) {
					updates = append(updates, marshal(t, ex))
				}
			}
		}
		for _, body := range updates {
			if errs := d.validate(updateSchema, mustJSON(t, body)); len(errs) > 0 {
				t.Errorf("the document's example %s breaks its schema: %v", body, errs)
			}
			_, v := do("POST", "/api/v1/qr-codes", base, "QRCode")
			if status, v := do("PATCH", "/api/v1/qr-codes/"+v.(map[string]any)["id"].(string), body, "QRCode"); status != 200 {
				t.Errorf("the document's example %s: %d %v", body, status, v)
			}
		}

		// Each content change's examples (UrlContentPatch, …), sent
		// without a type to a code of theirs made from the type's content
		// example: the code answered holds the stored content with the
		// change merged in.
		patches := 0
		for _, name := range sortedKeys(schemas) {
			typ, ok := strings.CutSuffix(name, "ContentPatch")
			if !ok || typ == "" {
				continue
			}
			stored := asSlice(schemas[typ+"Content"].(map[string]any)["examples"])[0]
			for _, ex := range asSlice(schemas[name].(map[string]any)["examples"]) {
				patches++
				body := `{"content":` + marshal(t, ex) + `}`
				if errs := d.validate(updateSchema, mustJSON(t, body)); len(errs) > 0 {
					t.Errorf("the document's example %s (%s) breaks its schema: %v", body, name, errs)
				}
				_, v := do("POST", "/api/v1/qr-codes", qrBody(strings.ToLower(typ), marshal(t, stored)), "QRCode")
				status, v := do("PATCH", "/api/v1/qr-codes/"+v.(map[string]any)["id"].(string), body, "QRCode")
				if status != 200 {
					t.Errorf("the document's example %s (%s): %d %v", body, name, status, v)
					continue
				}
				if got, want := v.(map[string]any)["content"], mergePatch(stored, ex); !jsonEqual(got, want) {
					t.Errorf("%s changed %s into %s; the merge is %s", body, marshal(t, stored), marshal(t, got), marshal(t, want))
				}
			}
		}
		if patches < 7 {
			t.Errorf("%d examples of content changes, want one per type at least", patches)
		}

		// The parameters' examples, on the list and on a code.
		var query []string
		listOp := root["paths"].(map[string]any)["/api/v1/qr-codes"].(map[string]any)["get"].(map[string]any)
		for _, prm := range asSlice(listOp["parameters"]) {
			p := prm.(map[string]any)
			v := url.Values{p["name"].(string): {fmt.Sprint(p["example"])}}
			query = append(query, v.Encode())
		}
		query = append(query, "createdByKey="+kid)
		for _, qs := range query {
			if status, v := do("GET", "/api/v1/qr-codes?"+qs, "", "QRCodeList"); status != 200 {
				t.Errorf("GET ?%s: %d %v", qs, status, v)
			}
		}
		_, v := do("POST", "/api/v1/qr-codes", base, "QRCode")
		getOp := root["paths"].(map[string]any)["/api/v1/qr-codes/{id}"].(map[string]any)["get"].(map[string]any)
		img, header := url.Values{}, http.Header{"Authorization": {"Bearer " + key}}
		for _, prm := range asSlice(getOp["parameters"]) {
			p := prm.(map[string]any)
			if p["in"] == "header" {
				if p["name"] == "If-Match" || p["name"] == "If-Unmodified-Since" {
					continue // a condition on another state than this code's: 412
				}
				header.Set(p["name"].(string), fmt.Sprint(p["example"]))
			} else {
				img.Set(p["name"].(string), fmt.Sprint(p["example"]))
			}
		}
		req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/qr-codes/"+v.(map[string]any)["id"].(string)+"?"+img.Encode(), nil)
		req.Header = header
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || resp.Header.Get("Content-Disposition") == "" {
			t.Errorf("GET ?%s: %d %s", img.Encode(), resp.StatusCode, resp.Header)
		}
		itemPrm := root["paths"].(map[string]any)["/api/v1/qr-codes/{id}"].(map[string]any)["parameters"].([]any)[0].(map[string]any)
		if status, _ := do("GET", "/api/v1/qr-codes/"+itemPrm["example"].(string), "", "QRCode"); status != 404 {
			t.Errorf("the example id: %d, want 404 (no such code)", status)
		}

		// Every code stored, of every type and shape above, read back
		// through the list, page by page, and each page checked.
		seen, cursor := 0, ""
		for page := 0; page < 100; page++ {
			path := "/api/v1/qr-codes?limit=100"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			status, v := do("GET", path, "", "QRCodeList")
			if status != 200 {
				t.Fatalf("GET %s: %d %v", path, status, v)
			}
			list := v.(map[string]any)
			seen += len(asSlice(list["data"]))
			for _, item := range asSlice(list["data"]) {
				// A list reads codes without their logo: it must still
				// tell the logo as a read of the code does.
				item := item.(map[string]any)
				if logo := item["design"].(map[string]any)["logo"]; logo != nil {
					_, got := do("GET", "/api/v1/qr-codes/"+item["id"].(string), "", "QRCode")
					if want := got.(map[string]any)["design"].(map[string]any)["logo"]; !jsonEqual(logo, want) {
						t.Errorf("the list tells the logo %v, a read of the code %v", logo, want)
					}
				}
			}
			next, _ := list["nextCursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if n := count(); seen != n || n < 100 {
			t.Errorf("the list gave %d QR codes; the database holds %d", seen, n)
		}
	})
}

// mergePatch is patch merged into target as RFC 7396 says, as the server
// merges a change's content into the stored content: a field of patch
// replaces target's (an object is merged in turn), null removes it.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, _ := target.(map[string]any)
	out := make(map[string]any, len(t)+len(p))
	for k, v := range t {
		out[k] = v
	}
	for k, v := range p {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = mergePatch(out[k], v)
		}
	}
	return out
}

// checkCase: a case where the document and the server differ says why.
func checkCase(t *testing.T, c exampleCase) {
	t.Helper()
	if (c.schema != c.server) != (c.why != "") {
		t.Fatalf("case %q: the document says %v and the server %v: a why is needed exactly when they differ", c.name, c.schema, c.server)
	}
}

func marshal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestOpenAPIContentPatches: each type's content change (UrlContentPatch,
// …, for a PATCH that keeps the type) takes exactly the fields of its
// content schema (UrlContent, …) under the same rules, none of them
// required, and ContentPatch, the content of such a change, is any of
// them, one per type.
func TestOpenAPIContentPatches(t *testing.T) {
	d := loadOpenAPI(t)
	schemas := d.root.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	var refs []any
	types := asSlice(schemas["QRType"].(map[string]any)["enum"])
	for _, v := range types {
		typ := strings.ToUpper(v.(string)[:1]) + v.(string)[1:]
		name := typ + "ContentPatch"
		refs = append(refs, map[string]any{"$ref": "#/components/schemas/" + name})
		patch, ok := schemas[name].(map[string]any)
		if !ok {
			t.Errorf("no schema %s for a change of %s content", name, v)
			continue
		}
		full := schemas[typ+"Content"].(map[string]any)
		if patch["required"] != nil || patch["additionalProperties"] != false {
			t.Errorf("%s: required %v, additionalProperties %v; want none and false", name, patch["required"], patch["additionalProperties"])
		}
		pp, fp := patch["properties"].(map[string]any), full["properties"].(map[string]any)
		if !slices.Equal(sortedKeys(pp), sortedKeys(fp)) {
			t.Errorf("%s has the fields %v, %sContent %v", name, sortedKeys(pp), typ, sortedKeys(fp))
			continue
		}
		for _, k := range sortedKeys(fp) {
			// The same rules; descriptions may say more of a change.
			p, f := maps.Clone(pp[k].(map[string]any)), maps.Clone(fp[k].(map[string]any))
			delete(p, "description")
			delete(f, "description")
			delete(p, "x-go-type")
			if !jsonEqual(p, f) {
				t.Errorf("%s.%s is %s; %sContent.%s is %s", name, k, marshal(t, p), typ, k, marshal(t, f))
			}
		}
	}
	if got := asSlice(schemas["ContentPatch"].(map[string]any)["anyOf"]); !jsonEqual(got, refs) {
		t.Errorf("ContentPatch is any of %s; want %s, one per type", marshal(t, got), marshal(t, refs))
	}
}

// A query string (or an Idempotency-Key) and whether the document and
// the server accept it.
type paramCase struct {
	op     string // list, get (sent as HEAD: no image drawn, no credit) or create
	query  string // create: the Idempotency-Key
	schema bool
	server bool
	why    string
}

// TestOpenAPIParameters: every parameter's rules (ranges, enums,
// patterns) are the server's: what the document allows is answered 200,
// what it refuses is answered 400.
func TestOpenAPIParameters(t *testing.T) {
	cursor := "MTc2MzIxMjAwMDAwMDpxcl84S2Q5M2pmTHEwWnRZdzJtTmM0UA"
	cases := []paramCase{
		{op: "list", query: "limit=1", schema: true, server: true},
		{op: "list", query: "limit=100", schema: true, server: true},
		{op: "list", query: "limit=0"},
		{op: "list", query: "limit=101"},
		{op: "list", query: "limit=-5"},
		{op: "list", query: "limit=ten"},
		{op: "list", query: "limit=2.5"},
		{op: "list", query: "type=vcard", schema: true, server: true},
		{op: "list", query: "type=VCARD"},
		{op: "list", query: "type=link"},
		{op: "list", query: "createdByKey=key_3vQb7Xk2LmN8pR4sT6wY", schema: true, server: true},
		{op: "list", query: "createdByKey=qr_live_0123456789abcdef0123456789abcdef"},
		{op: "list", query: "cursor=" + cursor, schema: true, server: true},
		{op: "list", query: "cursor=not+a+cursor%21"},
		{op: "list", query: "cursor=abc", schema: true,
			why: "a cursor must be one the API returned (its description says so); any base64url text fits the pattern"},
		{op: "get", query: "format=json", schema: true, server: true},
		{op: "get", query: "format=svg", schema: true, server: true},
		{op: "get", query: "format=png&size=64", schema: true, server: true},
		{op: "get", query: "format=png&size=4096&download=1", schema: true, server: true},
		{op: "get", query: "format=svg&download=true", schema: true, server: true},
		{op: "get", query: "format=gif"},
		{op: "get", query: "format=PNG"},
		{op: "get", query: "format=png&size=63"},
		{op: "get", query: "format=png&size=4097"},
		{op: "get", query: "format=png&size=big"},
		{op: "get", query: "format=svg&size=512", schema: true,
			why: "size applies to PNG only, a rule between two parameters (its description says so)"},
		{op: "get", query: "format=png&download=yes"},
		{op: "get", query: "download=1", schema: true,
			why: "download applies to images only, a rule between two parameters (its description says so)"},
		{op: "create", query: "7c0e2b1a-5f44-4d8e-9a1b-3f6d2c8e9b10", schema: true, server: true},
		{op: "create", query: strings.Repeat("k", 255), schema: true, server: true},
		{op: "create", query: strings.Repeat("k", 256)},
		{op: "create", query: "order 1042"},
		{op: "create", query: "ordre-é"},
	}
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		d := loadOpenAPI(t)
		h := newHarness(t, db, node.Config{})
		_, key, _ := h.newOrgKey("max")
		resp := h.send("POST", "/api/v1/qr-codes", key, `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`)
		id := readJSON(t, resp, 201)["id"].(string)
		paths := d.root.(map[string]any)["paths"].(map[string]any)
		params := map[string][]any{
			"list":   asSlice(paths["/api/v1/qr-codes"].(map[string]any)["get"].(map[string]any)["parameters"]),
			"get":    asSlice(paths["/api/v1/qr-codes/{id}"].(map[string]any)["get"].(map[string]any)["parameters"]),
			"create": asSlice(paths["/api/v1/qr-codes"].(map[string]any)["post"].(map[string]any)["parameters"]),
		}
		schemaOf := func(op, name string) any {
			for _, p := range params[op] {
				if p := p.(map[string]any); p["name"] == name {
					return p["schema"]
				}
			}
			t.Fatalf("%s has no parameter %s", op, name)
			return nil
		}
		for _, c := range cases {
			if (c.schema != c.server) != (c.why != "") {
				t.Fatalf("case %s %q: a why is needed exactly when the document and the server differ", c.op, c.query)
			}
			var errs []string
			var req *http.Request
			switch c.op {
			case "create":
				errs = d.validate(schemaOf("create", "Idempotency-Key"), c.query)
				req, _ = http.NewRequest("POST", h.srv.URL+"/api/v1/qr-codes", strings.NewReader(`{"name":"Once","type":"text","content":{"text":"once"}}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", c.query)
			default:
				values, err := url.ParseQuery(c.query)
				if err != nil {
					t.Fatal(err)
				}
				for name, vs := range values {
					s := schemaOf(c.op, name)
					var v any = vs[0]
					if ty, _ := s.(map[string]any)["type"].(string); ty == "integer" {
						if n, err := decodeJSONValue([]byte(vs[0])); err == nil {
							v = n // a number, as the document types it
						}
					}
					errs = append(errs, d.validate(s, v)...)
				}
				path := "/api/v1/qr-codes?" + c.query
				method := "GET"
				if c.op == "get" {
					path, method = "/api/v1/qr-codes/"+id+"?"+c.query, "HEAD"
				}
				req, _ = http.NewRequest(method, h.srv.URL+path, nil)
			}
			if (len(errs) == 0) != c.schema {
				t.Errorf("%s %q: the document's verdict is %v (%v), want %v", c.op, c.query, len(errs) == 0, errs, c.schema)
			}
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ok := resp.StatusCode == 200 || resp.StatusCode == 201
			if ok != c.server || !ok && resp.StatusCode != 400 {
				t.Errorf("%s %q: %d, want the server to accept it: %v (or 400)", c.op, c.query, resp.StatusCode, c.server)
			}
		}
	})
}
