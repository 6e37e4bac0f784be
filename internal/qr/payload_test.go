package qr

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestPayloadValid(t *testing.T) {
	tests := []struct {
		name, typ, content, want string
	}{
		{"url", "url", `{"url":"https://example.com/a?b=c#d"}`, "https://example.com/a?b=c#d"},
		{"url http upper scheme", "url", `{"url":"HTTP://Example.com"}`, "HTTP://Example.com"},
		{"url idn kept as given", "url", `{"url":"https://bücher.example/straße"}`, "https://bücher.example/straße"},
		{"text", "text", `{"text":"hello world"}`, "hello world"},
		{"text multiline utf8", "text", `{"text":"Grüße\n😀 日本語\ttab"}`, "Grüße\n😀 日本語\ttab"},
		{"email to only", "email", `{"to":"a@example.com"}`, "mailto:a@example.com"},
		{"email subject body", "email", `{"to":"a.b+tag@example.com","subject":"Hi there & more","body":"a=b\nc?d"}`,
			"mailto:a.b%2Btag@example.com?subject=Hi%20there%20%26%20more&body=a%3Db%0D%0Ac%3Fd"},
		{"email body only", "email", `{"to":"a@example.com","body":"x y"}`, "mailto:a@example.com?body=x%20y"},
		{"email utf8 and crlf", "email", `{"to":"a@example.com","subject":"Café","body":"1\r\n2\r3"}`,
			"mailto:a@example.com?subject=Caf%C3%A9&body=1%0D%0A2%0D%0A3"},
		{"email null fields", "email", `{"to":"a@example.com","subject":null,"body":null}`, "mailto:a@example.com"},
		{"phone", "phone", `{"number":"+1 (555) 123-4567"}`, "tel:+15551234567"},
		{"phone dots local", "phone", `{"number":"030.1234.567"}`, "tel:0301234567"},
		{"phone short", "phone", `{"number":"112"}`, "tel:112"},
		{"phone leading space plus", "phone", `{"number":" +44 20 7946 0958"}`, "tel:+442079460958"},
		{"sms", "sms", `{"number":"+1 555 123 4567","message":"See you: at 5; ok?"}`, "SMSTO:+15551234567:See you: at 5; ok?"},
		{"sms no message", "sms", `{"number":"5551234"}`, "SMSTO:5551234:"},
		{"wifi wpa", "wifi", `{"ssid":"Home","password":"secret123","security":"WPA"}`, "WIFI:T:WPA;S:Home;P:secret123;;"},
		{"wifi hidden escaped", "wifi", `{"ssid":"My;Net,\"x\":\\","password":"p;a,s:s\"\\word","security":"WPA","hidden":true}`,
			`WIFI:T:WPA;S:My\;Net\,\"x\"\:\\;P:p\;a\,s\:s\"\\word;H:true;;`},
		{"wifi hidden false", "wifi", `{"ssid":"Home","password":"secret123","security":"WPA","hidden":false}`, "WIFI:T:WPA;S:Home;P:secret123;;"},
		{"wifi wpa hex", "wifi", `{"ssid":"H","password":"` + strings.Repeat("aB", 32) + `","security":"WPA"}`, "WIFI:T:WPA;S:H;P:" + strings.Repeat("aB", 32) + ";;"},
		{"wifi wep", "wifi", `{"ssid":"Old","password":"12345","security":"WEP"}`, "WIFI:T:WEP;S:Old;P:12345;;"},
		{"wifi security defaults to WPA", "wifi", `{"ssid":"Home","password":"secret123"}`, "WIFI:T:WPA;S:Home;P:secret123;;"},
		{"wifi wep hex", "wifi", `{"ssid":"Old","password":"0123456789","security":"WEP"}`, "WIFI:T:WEP;S:Old;P:0123456789;;"},
		{"wifi none", "wifi", `{"ssid":"Café Libre","security":"none"}`, "WIFI:T:nopass;S:Café Libre;;"},
		{"wifi none hidden", "wifi", `{"ssid":"x","security":"none","password":"","hidden":true}`, "WIFI:T:nopass;S:x;H:true;;"},
		{"vcard minimal first", "vcard", `{"firstName":"Ann"}`, "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;Ann;;;\r\nFN:Ann\r\nEND:VCARD"},
		{"vcard org only", "vcard", `{"organization":"ACME, Inc.; Ltd"}`,
			"BEGIN:VCARD\r\nVERSION:3.0\r\nN:;;;;\r\nFN:ACME\\, Inc.\\; Ltd\r\nORG:ACME\\, Inc.\\; Ltd\r\nEND:VCARD"},
		{"vcard full", "vcard", `{"firstName":"Zoë","lastName":"O'Brien; Jr","organization":"A\\B","title":"CTO, R&D",
			"phones":["+1 555 123 4567","030 123456"],"emails":["zoe@example.com","z@example.org"],"website":"https://example.com/a,b",
			"address":{"street":"1 Main St\nApt 2","city":"Springfield","region":"IL","postalCode":"62701","country":"USA"}}`,
			"BEGIN:VCARD\r\nVERSION:3.0\r\nN:O'Brien\\; Jr;Zoë;;;\r\nFN:Zoë O'Brien\\; Jr\r\nORG:A\\\\B\r\nTITLE:CTO\\, R&D\r\n" +
				"TEL:+15551234567\r\nTEL:030123456\r\nEMAIL:zoe@example.com\r\nEMAIL:z@example.org\r\nURL:https://example.com/a,b\r\n" +
				"ADR:;;1 Main St\\nApt 2;Springfield;IL;62701;USA\r\nEND:VCARD"},
		{"vcard partial address", "vcard", `{"lastName":"Li","address":{"city":"北京"}}`,
			"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Li;;;;\r\nFN:Li\r\nADR:;;;北京;;;\r\nEND:VCARD"},
		{"vcard empty address and lists", "vcard", `{"lastName":"Li","address":{},"phones":[],"emails":null}`,
			"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Li;;;;\r\nFN:Li\r\nEND:VCARD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Payload(tt.typ, json.RawMessage(tt.content))
			if len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if got != tt.want {
				t.Errorf("payload\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestPayloadErrors checks the exact set of field paths reported (in order)
// and a fragment of each message.
func TestPayloadErrors(t *testing.T) {
	type fe = FieldError
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, typ, content string
		want               []fe // Message is a substring to find
	}{
		{"unknown type", "fax", `{}`, []fe{{"type", "must be one of url, text"}}},
		{"content not object", "url", `"https://x"`, []fe{{"content", "JSON object"}}},
		{"content null", "text", `null`, []fe{{"content", "JSON object"}}},
		{"content empty", "text", ``, []fe{{"content", "JSON object"}}},
		{"content array", "text", `[]`, []fe{{"content", "JSON object"}}},
		{"content broken json", "text", `{"text":`, []fe{{"content", "JSON object"}}},

		{"url missing", "url", `{}`, []fe{{"content.url", "required"}}},
		{"url null", "url", `{"url":null}`, []fe{{"content.url", "required"}}},
		{"url not string", "url", `{"url":5}`, []fe{{"content.url", "must be a string"}}},
		{"url relative", "url", `{"url":"/path"}`, []fe{{"content.url", "absolute http"}}},
		{"url ftp", "url", `{"url":"ftp://example.com/"}`, []fe{{"content.url", "absolute http"}}},
		{"url javascript", "url", `{"url":"javascript:alert(1)"}`, []fe{{"content.url", "absolute http"}}},
		{"url no host", "url", `{"url":"https:///path"}`, []fe{{"content.url", "absolute http"}}},
		{"url opaque", "url", `{"url":"http:example.com"}`, []fe{{"content.url", "absolute http"}}},
		{"url space", "url", `{"url":"https://example.com/a b"}`, []fe{{"content.url", "spaces"}}},
		{"url leading space", "url", `{"url":" https://example.com"}`, []fe{{"content.url", "spaces"}}},
		{"url newline", "url", `{"url":"https://example.com/\n"}`, []fe{{"content.url", "control"}}},
		{"url too long", "url", `{"url":"https://example.com/` + long(2100) + `"}`, []fe{{"content.url", "at most 2048"}}},
		{"url unknown fields sorted", "url", `{"url":"https://example.com","zeta":1,"alpha":2}`,
			[]fe{{"content.alpha", "unknown field"}, {"content.zeta", "unknown field"}}},
		{"url field name is case sensitive", "url", `{"URL":"https://example.com"}`,
			[]fe{{"content.URL", "unknown field"}, {"content.url", "required"}}},

		{"text missing", "text", `{}`, []fe{{"content.text", "is required"}}},
		{"text empty", "text", `{"text":""}`, []fe{{"content.text", "is required"}}},
		{"text blank", "text", `{"text":" \n\t "}`, []fe{{"content.text", "must not be blank (only white space)"}}},
		{"text wrong type", "text", `{"text":["a"]}`, []fe{{"content.text", "must be a string"}}},
		{"text control", "text", `{"text":"a\u0000b"}`, []fe{{"content.text", "control"}}},
		{"text too long", "text", `{"text":"` + long(2954) + `"}`, []fe{{"content.text", "at most 2953"}}},

		{"email all wrong", "email", `{"to":"Bob <bob@example.com>","subject":"a\nb","body":"x\u0007","cc":"c@example.com"}`,
			[]fe{{"content.cc", "unknown field"}, {"content.to", "valid e-mail"}, {"content.subject", "line breaks"}, {"content.body", "control"}}},
		{"email missing to", "email", `{"subject":"x"}`, []fe{{"content.to", "required"}}},
		{"email bad to", "email", `{"to":"not-an-address"}`, []fe{{"content.to", "valid e-mail"}}},
		{"email to with spaces", "email", `{"to":" a@example.com"}`, []fe{{"content.to", "valid e-mail"}}},
		{"email to too long", "email", `{"to":"` + long(250) + `@example.com"}`, []fe{{"content.to", "at most 254"}}},
		{"email types", "email", `{"to":1,"subject":true,"body":{}}`,
			[]fe{{"content.to", "must be a string"}, {"content.subject", "must be a string"}, {"content.body", "must be a string"}}},
		{"email subject too long", "email", `{"to":"a@example.com","subject":"` + long(3000) + `"}`, []fe{{"content.subject", "at most 2953"}}},

		{"phone missing", "phone", `{}`, []fe{{"content.number", "required"}}},
		{"phone letters", "phone", `{"number":"555-CALL-NOW"}`, []fe{{"content.number", "only digits"}}},
		{"phone inner plus", "phone", `{"number":"1+555123"}`, []fe{{"content.number", "only digits"}}},
		{"phone double plus", "phone", `{"number":"++1555123"}`, []fe{{"content.number", "only digits"}}},
		{"phone too short", "phone", `{"number":"+1 2"}`, []fe{{"content.number", "3 to 15 digits"}}},
		{"phone too long", "phone", `{"number":"1234567890123456"}`, []fe{{"content.number", "3 to 15 digits"}}},
		{"phone number type", "phone", `{"number":15551234567}`, []fe{{"content.number", "must be a string"}}},
		{"phone extra", "phone", `{"number":"112","ext":"1"}`, []fe{{"content.ext", "unknown field"}}},

		{"sms missing number", "sms", `{"message":"hi"}`, []fe{{"content.number", "required"}}},
		{"sms bad both", "sms", `{"number":"abc","message":"\u0001"}`,
			[]fe{{"content.number", "only digits"}, {"content.message", "control"}}},
		{"sms message too long", "sms", `{"number":"112","message":"` + long(2954) + `"}`, []fe{{"content.message", "at most 2953"}}},

		{"wifi empty", "wifi", `{}`, []fe{{"content.ssid", "required"}, {"content.password", "required"}}},
		{"wifi default WPA short", "wifi", `{"ssid":"x","password":"short"}`, []fe{{"content.password", "8 to 63"}}},
		{"wifi bad security", "wifi", `{"ssid":"x","security":"wpa2"}`, []fe{{"content.security", `"WPA", "WEP" or "none"`}}},
		{"wifi security type", "wifi", `{"ssid":"x","security":1}`, []fe{{"content.security", "must be a string"}}},
		{"wifi wpa no password", "wifi", `{"ssid":"x","security":"WPA"}`, []fe{{"content.password", "required"}}},
		{"wifi wpa short", "wifi", `{"ssid":"x","security":"WPA","password":"1234567"}`, []fe{{"content.password", "8 to 63"}}},
		{"wifi wpa long", "wifi", `{"ssid":"x","security":"WPA","password":"` + strings.Repeat("z", 64) + `"}`, []fe{{"content.password", "8 to 63"}}},
		{"wifi wpa non ascii", "wifi", `{"ssid":"x","security":"WPA","password":"pässwörter"}`, []fe{{"content.password", "printable ASCII"}}},
		{"wifi wep no password", "wifi", `{"ssid":"x","security":"WEP"}`, []fe{{"content.password", "required"}}},
		{"wifi wep bad", "wifi", `{"ssid":"x","security":"WEP","password":"123456"}`, []fe{{"content.password", "WEP key"}}},
		{"wifi wep bad hex", "wifi", `{"ssid":"x","security":"WEP","password":"012345678g"}`, []fe{{"content.password", "WEP key"}}},
		{"wifi none with password", "wifi", `{"ssid":"x","security":"none","password":"secret123"}`, []fe{{"content.password", "must be empty"}}},
		{"wifi ssid too long", "wifi", `{"ssid":"` + long(33) + `","security":"none"}`, []fe{{"content.ssid", "at most 32"}}},
		{"wifi ssid newline", "wifi", `{"ssid":"a\nb","security":"none"}`, []fe{{"content.ssid", "line breaks"}}},
		{"wifi hidden type", "wifi", `{"ssid":"x","security":"none","hidden":"yes"}`, []fe{{"content.hidden", "true or false"}}},

		{"vcard no name", "vcard", `{"title":"CEO"}`, []fe{{"content.firstName", "at least one of firstName, lastName or organization"}}},
		{"vcard blank names", "vcard", `{"firstName":" ","lastName":"","organization":"  "}`, []fe{{"content.firstName", "at least one of"}}},
		{"vcard bad entries", "vcard", `{"firstName":"A","phones":["+1 555 1234","x",7],"emails":["ok@example.com","bad"],"website":"ftp://x"}`,
			[]fe{{"content.website", "absolute http"}, {"content.phones[1]", "only digits"}, {"content.phones[2]", "must be a string"}, {"content.emails[1]", "valid e-mail"}}},
		{"vcard list not array", "vcard", `{"firstName":"A","phones":"555","emails":{}}`,
			[]fe{{"content.phones", "array of strings"}, {"content.emails", "array of strings"}}},
		{"vcard too many phones", "vcard", `{"firstName":"A","phones":["111","222","333","444","555","666"]}`, []fe{{"content.phones", "at most 5"}}},
		{"vcard address errors", "vcard", `{"firstName":"A","address":{"city":"a\nb","zip":"1","street":"x\u0002"}}`,
			[]fe{{"content.address.zip", "unknown field"}, {"content.address.street", "control"}, {"content.address.city", "line breaks"}}},
		{"vcard address not object", "vcard", `{"firstName":"A","address":"Main St"}`, []fe{{"content.address", "JSON object"}}},
		{"vcard name too long and newline", "vcard", `{"firstName":"` + long(257) + `","lastName":"a\nb","nickname":"x"}`,
			[]fe{{"content.nickname", "unknown field"}, {"content.firstName", "at most 256"}, {"content.lastName", "line breaks"}}},
		{"vcard name type", "vcard", `{"firstName":1}`, []fe{{"content.firstName", "must be a string"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Payload(tt.typ, json.RawMessage(tt.content))
			if got != "" {
				t.Errorf("payload = %q, want empty on error", got)
			}
			var gotFields, wantFields []string
			for _, e := range errs {
				gotFields = append(gotFields, e.Field)
			}
			for _, e := range tt.want {
				wantFields = append(wantFields, e.Field)
			}
			if !reflect.DeepEqual(gotFields, wantFields) {
				t.Fatalf("fields = %q, want %q (errors %v)", gotFields, wantFields, errs)
			}
			for i, e := range errs {
				if !strings.Contains(e.Message, tt.want[i].Message) {
					t.Errorf("%s: message %q does not contain %q", e.Field, e.Message, tt.want[i].Message)
				}
			}
		})
	}
}

func TestTypesAllHandled(t *testing.T) {
	for _, typ := range Types {
		_, errs := Payload(typ, json.RawMessage(`{"__x":1}`))
		for _, e := range errs {
			if e.Field == "type" {
				t.Errorf("type %q not handled", typ)
			}
		}
		if len(fieldsOf[typ]) == 0 {
			t.Errorf("type %q has no field list", typ)
		}
	}
}

func TestFieldErrorString(t *testing.T) {
	if got := (FieldError{"content.url", "is required"}).Error(); got != "content.url: is required" {
		t.Errorf("Error() = %q", got)
	}
}
