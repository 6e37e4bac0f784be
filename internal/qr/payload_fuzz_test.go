package qr

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var telPayload = regexp.MustCompile(`^tel:\+?[0-9]{3,15}$`)

// wifiFields splits a WIFI: payload on its unescaped semicolons and returns
// each field unescaped, by its one-letter name. It fails on a duplicate or
// unknown name: an SSID or password that escaped its field.
func wifiFields(t *testing.T, payload string) map[string]string {
	t.Helper()
	body, ok := strings.CutPrefix(payload, "WIFI:")
	if !ok || !strings.HasSuffix(body, ";;") {
		t.Fatalf("wifi payload %q is not WIFI:…;;", payload)
	}
	fields := map[string]string{}
	for len(body) > 1 { // the final ";" closes the list
		name, rest, ok := strings.Cut(body, ":")
		if !ok || (name != "T" && name != "S" && name != "P" && name != "H") {
			t.Fatalf("wifi payload %q has a stray field at %q", payload, body)
		}
		if _, dup := fields[name]; dup {
			t.Fatalf("wifi payload %q repeats the field %s", payload, name)
		}
		var value strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != ';'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			value.WriteByte(rest[i])
		}
		if i == len(rest) {
			t.Fatalf("wifi payload %q: the field %s is not closed", payload, name)
		}
		fields[name] = value.String()
		body = rest[i+1:]
	}
	if body != ";" {
		t.Fatalf("wifi payload %q does not end with ;;", payload)
	}
	return fields
}

// FuzzPayload feeds any type and content to the payload builders: they
// never panic, answer the same twice, either report field errors under
// "type" or "content" or build a payload of the type's shape in which no
// field escapes its place (WIFI fields, vCard lines), and every payload
// either encodes or is reported as too long.
func FuzzPayload(f *testing.F) {
	seeds := []struct{ typ, content string }{
		{"url", `{"url":"https://example.com/p/1?a=b#c"}`},
		{"url", `{"url":"javascript:alert(1)"}`},
		{"text", `{"text":"héllo 世界 🎉"}`},
		{"text", `{"text":"` + strings.Repeat("x", 3000) + `"}`},
		{"email", `{"to":"a@example.com","subject":"Hi & bye?","body":"line1\nline2"}`},
		{"phone", `{"number":"+1 (555) 123-4567"}`},
		{"sms", `{"number":"112","message":"on my way"}`},
		{"wifi", `{"ssid":"Café;\\:,\"","password":"pa;ss:word","security":"WPA","hidden":true}`},
		{"wifi", `{"ssid":"Open","security":"none"}`},
		{"vcard", `{"firstName":"Ada","lastName":"Lovelace","organization":"A; B","phones":["+44 20 1234"],"emails":["ada@example.com"],"website":"https://ada.example","address":{"street":"1 Main St","city":"London","country":"UK"}}`},
		{"vcard", "{\"firstName\":\"x\\r\\nEND:VCARD\"}"},
		{"url", `null`}, {"text", `[]`}, {"nope", `{}`}, {"", ""}, {"wifi", `{"ssid":1,"hidden":"yes"}`},
		{"vcard", `{"phones":` + strings.Repeat("[", 5000) + `}`}, {"text", "{\"text\":\"\xff\xfe\"}"},
	}
	for _, s := range seeds {
		f.Add(s.typ, []byte(s.content))
	}
	f.Fuzz(func(t *testing.T, typ string, content []byte) {
		payload, errs := Payload(typ, content)
		p2, errs2 := Payload(typ, content)
		if payload != p2 || len(errs) != len(errs2) {
			t.Fatalf("Payload(%q, %q) differs between two calls", typ, content)
		}
		if len(errs) > 0 {
			if payload != "" {
				t.Fatalf("Payload(%q, %q) returned both %q and errors %v", typ, content, payload, errs)
			}
			for _, e := range errs {
				if (e.Field != "type" && e.Field != "content" && !strings.HasPrefix(e.Field, "content.")) || e.Message == "" {
					t.Fatalf("Payload(%q, %q): field error %+v", typ, content, e)
				}
			}
			return
		}
		if payload == "" || !utf8.ValidString(payload) {
			t.Fatalf("Payload(%q, %q) = %q: empty or not UTF-8", typ, content, payload)
		}
		var c map[string]any
		if err := json.Unmarshal(content, &c); err != nil {
			t.Fatalf("Payload accepted content %q that is not a JSON object: %v", content, err)
		}
		checkShape(t, typ, c, payload)
		m, err := Encode(payload, "L")
		switch {
		case errors.Is(err, ErrTooLong):
		case err != nil:
			t.Fatalf("Encode(%q): %v", payload, err)
		case m.Size != 17+4*m.Version() || m.Version() < 1 || m.Version() > 40:
			t.Fatalf("Encode(%q): size %d at version %d", payload, m.Size, m.Version())
		}
	})
}

// checkShape checks a built payload against its type's format.
func checkShape(t *testing.T, typ string, c map[string]any, payload string) {
	t.Helper()
	switch typ {
	case "url":
		if payload != c["url"] {
			t.Fatalf("url payload %q is not the URL %q", payload, c["url"])
		}
	case "text":
		if payload != c["text"] {
			t.Fatalf("text payload %q is not the text %q", payload, c["text"])
		}
	case "phone":
		if !telPayload.MatchString(payload) {
			t.Fatalf("phone payload %q", payload)
		}
	case "sms":
		if !strings.HasPrefix(payload, "SMSTO:") {
			t.Fatalf("sms payload %q", payload)
		}
	case "email":
		if !strings.HasPrefix(payload, "mailto:") || strings.ContainsAny(payload, " \r\n") {
			t.Fatalf("email payload %q is not a mailto: URI without spaces or line breaks", payload)
		}
	case "wifi":
		fields := wifiFields(t, payload)
		if fields["S"] != c["ssid"] {
			t.Fatalf("wifi payload %q: SSID %q, sent %q", payload, fields["S"], c["ssid"])
		}
		if pw, _ := c["password"].(string); c["security"] != "none" && fields["P"] != pw {
			t.Fatalf("wifi payload %q: password %q, sent %q", payload, fields["P"], pw)
		}
	case "vcard":
		lines := strings.Split(strings.TrimSuffix(payload, "\r\n"), "\r\n")
		if lines[0] != "BEGIN:VCARD" || lines[len(lines)-1] != "END:VCARD" {
			t.Fatalf("vcard payload %q is not BEGIN:VCARD … END:VCARD", payload)
		}
		for _, l := range lines[1 : len(lines)-1] {
			if strings.ContainsAny(l, "\r\n") || l == "BEGIN:VCARD" || l == "END:VCARD" || !strings.Contains(l, ":") {
				t.Fatalf("vcard payload %q has the stray line %q", payload, l)
			}
		}
	default:
		t.Fatalf("Payload accepted the type %q", typ)
	}
}

// FuzzCheckURLMatchesSchema: every URL checkURL accepts matches the API
// document's URL patterns, so a stored URL code or vCard website is
// returned in a body that passes the document's schema; and checkURL
// refuses no URL the patterns allow, but for serverRefusesMore.
func FuzzCheckURLMatchesSchema(f *testing.F) {
	schemas := loadURLSchemas(f)
	for _, s := range []string{
		"https://example.com/p/1?a=b#c", "http://>", "https://<", "http://]", "http://[fe80::1%25eth0]/",
		"http://[2001:db8::1]:8080/", "http://user:pa%20ss@b%C3%BCcher.example:/a%2F?q=%zz#x#y",
		"HTTP://192.0.2.1:99999", "http://a%25b/", "http://ex%41mple.com/", "http://a:b:80/", "https://bücher.example/straße",
		"http://example.com:65535/", "http://example.com:000080", "http://1.2.3", "http://256.1.1.1/", "http://01.2.3.4/",
		"http://192.0.2.1./", "http://1.2.3.example/", "http://0x7f/", "http://example.0xg/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		compareWithSchema(t, schemas, s)
	})
}
