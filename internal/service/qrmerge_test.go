package service

import (
	"encoding/json"
	"testing"
)

// TestMergeContent: a PATCH's content is a merge patch of the stored
// content (RFC 7396): the fields sent replace, the others are kept in
// their order, new ones follow, null removes, objects merge, arrays are
// replaced whole; a patch that is no object is passed on as sent.
func TestMergeContent(t *testing.T) {
	vcard := `{"firstName":"Ada","lastName":"Lovelace","emails":["a@b.c"],"phones":["+44 20 7946 0958"],"address":{"city":"London","country":"UK"}}`
	for _, c := range []struct{ stored, patch, want string }{
		{vcard, `{"firstName":"Ada","title":"Engineer"}`,
			`{"firstName":"Ada","lastName":"Lovelace","emails":["a@b.c"],"phones":["+44 20 7946 0958"],"address":{"city":"London","country":"UK"},"title":"Engineer"}`},
		{vcard, `{ "emails" : [ "x@y.z" , "q@r.s" ] }`,
			`{"firstName":"Ada","lastName":"Lovelace","emails":["x@y.z","q@r.s"],"phones":["+44 20 7946 0958"],"address":{"city":"London","country":"UK"}}`},
		{vcard, `{"lastName":null,"phones":null,"nothing":null}`,
			`{"firstName":"Ada","emails":["a@b.c"],"address":{"city":"London","country":"UK"}}`},
		{vcard, `{"address":{"city":"Paris","country":null,"street":"1 Rue"}}`,
			`{"firstName":"Ada","lastName":"Lovelace","emails":["a@b.c"],"phones":["+44 20 7946 0958"],"address":{"city":"Paris","street":"1 Rue"}}`},
		{`{"firstName":"Ada"}`, `{"address":{"city":"Paris","region":null}}`, `{"firstName":"Ada","address":{"city":"Paris"}}`},
		{`{"ssid":"Home","password":"correct horse","hidden":true}`, `{"ssid":"Home2","password":"battery staple"}`,
			`{"ssid":"Home2","password":"battery staple","hidden":true}`},
		{`{"security":"WPA","ssid":"Cafe"}`, `{"ssid":"Cafe","security":"WPA"}`, `{"security":"WPA","ssid":"Cafe"}`},
		{`{"text":"a"}`, `{}`, `{"text":"a"}`},
		{`{"text":"a"}`, `{"t\u0065xt":"b"}`, `{"text":"b"}`},
		{`{"text":"a"}`, `{"te\"xt":"b"}`, `{"text":"a","te\"xt":"b"}`},
		{`{"text":"a"}`, `"b"`, `"b"`},
		{`{"text":"a"}`, `["b"]`, `["b"]`},
	} {
		got := string(mergeContent(json.RawMessage(c.stored), json.RawMessage(c.patch)))
		if got != c.want {
			t.Errorf("merge %s into %s:\n got %s\nwant %s", c.patch, c.stored, got, c.want)
		}
		if c.want[0] == '{' && !json.Valid([]byte(got)) {
			t.Errorf("merge %s: not JSON: %s", c.patch, got)
		}
	}
}
