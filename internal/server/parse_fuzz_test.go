package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

var fullKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// acceptedBearer is an oracle for bearerKey written from the README: the
// scheme "Bearer" in any case, exactly one space, and a key of at least one
// byte with no space, tab, control character or quote.
func acceptedBearer(h string) (string, bool) {
	if len(h) <= len("Bearer ") || !strings.EqualFold(h[:len("Bearer ")], "Bearer ") {
		return "", false
	}
	key := h[len("Bearer "):]
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= 0x20 || c == 0x7f || c == '"' || c == '\'' {
			return "", false
		}
	}
	return key, true
}

// FuzzBearerKey checks the Authorization parser against the oracle on any
// header value: it never panics, takes exactly what the oracle takes, and
// its refusals are malformed_authorization with a short message that never
// repeats a key.
func FuzzBearerKey(f *testing.F) {
	key := snapglyph.GenerateKey()
	for _, s := range []string{
		"Bearer " + key, "bearer " + key, "BEARER " + key, "Bearer  " + key, "Bearer\t" + key,
		"Bearer " + key + " ", "Bearer " + key + "\r\n", "Bearer \"" + key + "\"", "Bearer 'x'",
		key, "Basic dXNlcjpwYXNz", "Token " + key, "Bearer", "bearer ", "", " ", "Bearer qr_live_\x00",
		"Bearer qr_live_\xff\xfe", "Bearer a b", "Bearer \x7f", strings.Repeat("A", 10<<10),
		"Bearer " + strings.Repeat("k", 10<<10), "qr_" + key + " Bearer", "\xffBearer " + key,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, err := bearerKey(h)
		want, ok := acceptedBearer(h)
		if (err == nil) != ok || got != want {
			t.Fatalf("bearerKey(%q) = %q, %v; the oracle says %q, %v", h, got, err, want, ok)
		}
		if err == nil {
			return
		}
		if snapglyph.ErrorCode(err) != "malformed_authorization" || snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
			t.Fatalf("bearerKey(%q): %v, want an EUNAUTHORIZED malformed_authorization", h, err)
		}
		msg := err.Error()
		if !utf8.ValidString(msg) || len(msg) > 300 || fullKey.MatchString(msg) {
			t.Fatalf("bearerKey(%q): the message is invalid UTF-8, long, or shows a key: %q", h, msg)
		}
	})
}

// knownField reports whether a key of the body is a field of qrRequest:
// the API takes exactly the documented names (checkJSONKeys), not the
// other cases encoding/json would match.
func knownField(k string) bool {
	switch k {
	case "name", "type", "content", "design":
		return true
	}
	return false
}

// FuzzDecodeJSON feeds any body to the API's JSON decoder: it never
// panics, refuses with an EINVALID error (invalid_json or invalid_request
// naming the field), and accepts only one JSON object of known fields,
// each named exactly and once.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"Menu","type":"url","content":{"url":"https://example.com"}}`,
		`{"name":"Menu","type":"text","content":{"text":"hé"},"design":{"margin":2}}`,
		`{}`, `null`, `[]`, `"x"`, `1`, `{"name":1}`, `{"name":"a"}{"name":"b"}`, `{"name":"a"} x`,
		`{"nAmE":"a","NAME":"b"}`, `{"name":"a","name":"b"}`, `{"design":{"ForeGround":"#112233"}}`, `{"unknown":true}`, `{"name":"\ud800"}`, "{\"name\":\"\xff\"}",
		`{"content":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
		`{"design":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `}`,
		`{"name":"` + strings.Repeat("x", 100<<10) + `"}`, "{\"name\x00\":1}", `{"name":"a",}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req qrRequest
		err := decodeJSON(body, &req)
		if err != nil {
			var e *snapglyph.Error
			if !errorAs(err, &e) || e.Kind != snapglyph.EINVALID || (e.Code != "invalid_json" && e.Code != "invalid_request") {
				t.Fatalf("decodeJSON(%q) = %v, want an EINVALID invalid_json or invalid_request", body, err)
			}
			if e.Code == "invalid_request" && len(e.Fields) == 0 {
				t.Fatalf("decodeJSON(%q): invalid_request without the field: %v", body, err)
			}
			return
		}
		var m map[string]json.RawMessage
		if uerr := json.Unmarshal(body, &m); uerr != nil || m == nil {
			t.Fatalf("decodeJSON accepted %q, which is not one JSON object: %v", body, uerr)
		}
		for k := range m {
			if !knownField(k) {
				t.Fatalf("decodeJSON accepted %q with the unknown field %q", body, k)
			}
		}
		if n := topLevelKeys(body); n != len(m) {
			t.Fatalf("decodeJSON accepted %q, which has %d keys for %d fields: a duplicate", body, n, len(m))
		}
		// What the service receives is JSON, or absent.
		in := req.input()
		for _, raw := range []json.RawMessage{in.Content, in.Design} {
			if raw != nil && !json.Valid(raw) {
				t.Fatalf("decodeJSON(%q) passed on invalid JSON %q", body, raw)
			}
		}
	})
}

// topLevelKeys counts the keys of the JSON object in body, equal ones
// included (a map keeps one of them).
func topLevelKeys(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return 0
	}
	n := 0
	for dec.More() {
		var value json.RawMessage
		if _, err := dec.Token(); err != nil || dec.Decode(&value) != nil {
			return n
		}
		n++
	}
	return n
}

func errorAs(err error, target **snapglyph.Error) bool { return errors.As(err, target) }
