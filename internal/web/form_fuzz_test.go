package web

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/qr"
)

// Ways the QR-code form arrives in FuzzQRForm.
const (
	formURLEncoded = iota
	formMultipart
	formQuery
	formKinds
)

// FuzzQRForm feeds any body to the dashboard's QR-code form reader, as
// an urlencoded post, a multipart post (boundary "B") or a GET query: it
// never panics, keeps no more than the limits, and what it builds for the
// service is always JSON objects the payload and design decoders take
// without panicking.
func FuzzQRForm(f *testing.F) {
	f.Add(uint8(formURLEncoded), []byte("name=Menu&type=url&url.url=https%3A%2F%2Fexample.com&foreground=%23000000&margin=4"))
	f.Add(uint8(formURLEncoded), []byte("type=vcard&vcard.phones=%2B1+555%0D%0A%0D%0A112&vcard.address.city=Paris&margin=x"))
	f.Add(uint8(formURLEncoded), []byte("type=wifi&wifi.ssid=a%3Bb&wifi.hidden=on&logoData=iVBORw0KGgo%3D&logoName=%00.png"))
	f.Add(uint8(formURLEncoded), []byte("name=%ff%fe&type=text&text.text=%00&margin=99999999999999999999&removeLogo=1"))
	f.Add(uint8(formURLEncoded), []byte("%zz=1&&&=&type"))
	f.Add(uint8(formQuery), []byte("type=email&email.to=a%40example.com&email.body=hi%0A"))
	f.Add(uint8(formMultipart), multipartSeed(f))
	f.Add(uint8(formMultipart), []byte("--B\r\nContent-Disposition: form-data; name=\"logo\"; filename=\"../../x\"\r\n\r\n\x89PNG\r\n--B--\r\n"))
	f.Add(uint8(formMultipart), []byte("--B\r\nContent-Disposition: form-data\r\n\r\nnameless\r\n--B\r\n\r\n--B--"))
	f.Add(uint8(formMultipart), []byte("--B\r\n"+strings.Repeat("X-H: v\r\n", 2000)+"\r\n--B--\r\n"))
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		var r *http.Request
		switch kind % formKinds {
		case formURLEncoded:
			r = httptest.NewRequest("POST", "/qr-codes", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		case formMultipart:
			r = httptest.NewRequest("POST", "/qr-codes", bytes.NewReader(body))
			r.Header.Set("Content-Type", "multipart/form-data; boundary=B")
		default:
			r = httptest.NewRequest("GET", "/qr-codes/preview", nil)
			r.URL.RawQuery = string(body)
		}
		w := httptest.NewRecorder()
		form, err := readQRForm(w, r, withID)
		if err != nil {
			return // answered by formFailed as 400 or 413
		}
		if len(form.Logo) > qr.MaxLogoBytes+1 {
			t.Fatalf("kept a logo of %d bytes", len(form.Logo))
		}
		if form.Logo != nil && form.RemoveLogo {
			t.Fatal("a new logo and removeLogo together")
		}
		in := form.input()
		for what, raw := range map[string]json.RawMessage{"content": in.Content, "design": in.Design} {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("the form built a %s that is not a JSON object: %q: %v", what, raw, err)
			}
		}
		if *in.Type != form.typ() || *in.Name != form.Values.Get("name") {
			t.Fatalf("the form's name or type changed on the way: %q %q", *in.Name, *in.Type)
		}
		qr.Payload(*in.Type, in.Content)
		d := qr.DefaultDesign()
		if json.Unmarshal(in.Design, &d) == nil {
			d.Validate()
		}
	})
}

// multipartSeed is a well-formed multipart form with a logo file.
func multipartSeed(f *testing.F) []byte {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("B"); err != nil {
		f.Fatal(err)
	}
	for k, v := range map[string]string{"name": "Menu", "type": "url", "url.url": "https://example.com", "errorCorrection": "H"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("logo", "logo.png")
	fw.Write([]byte("\x89PNG\r\n\x1a\nnot really"))
	mw.Close()
	return b.Bytes()
}
