package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/snapglyph/snapglyph/client"
	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// requestChecker is a generated client's HTTP doer that validates each
// request against the document (validateRequest) before next sends it.
type requestChecker struct {
	t      *testing.T
	router routers.Router
	next   client.HttpRequestDoer
}

func (rc requestChecker) Do(req *http.Request) (*http.Response, error) {
	if err := validateRequest(req, rc.router); err != nil {
		rc.t.Errorf("%s %s: the request breaks the document: %v", req.Method, req.URL.Path, err)
	}
	return rc.next.Do(req)
}

// validateRequest checks req against the operation of the document it is
// sent to, with openapi3filter: parameters and body (read, and put back
// for the send). The key is not checked here: the server does that.
func validateRequest(req *http.Request, router routers.Router) error {
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return err
	}
	probe := req.Clone(req.Context())
	probe.Body = io.NopCloser(bytes.NewReader(body))
	return openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
		Request: probe, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, SkipSettingDefaults: true, MultiError: true},
	})
}

// TestPatchContent: a PATCH that keeps the type sends only the content
// fields it changes, through the generated client's types (ContentPatch
// and a …ContentPatch per type), the document takes such a body, and the
// server keeps the fields left out. With a type, the document still asks
// for complete content.
func TestPatchContent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		s := testserver.Start(t, db, node.Config{})
		ctx := context.Background()
		svc := s.Node.Service
		doc := loadDocument(t, s.URL)
		router, err := legacy.NewRouter(doc)
		if err != nil {
			t.Fatal(err)
		}
		v := &validator{t: t, http: &http.Client{}, router: router, doc: doc, seen: map[string]map[int]bool{}}
		org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Patch", OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		k, err := svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Patch"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := client.NewClientWithResponses(s.URL, client.WithHTTPClient(requestChecker{t: t, router: router, next: v}), client.WithAPIKey(k.Secret))
		if err != nil {
			t.Fatal(err)
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		str := func(s string) *string { return &s }
		// patch sends content alone (the type kept) to the code id, and
		// checks the content the answer and a read of the code hold.
		patch := func(what, id string, content client.ContentPatch, want string) {
			t.Helper()
			var body client.QRCodeUpdate
			must(body.FromQRCodeUpdateKeepType(client.QRCodeUpdateKeepType{Content: &content}))
			r, err := c.UpdateQRCodeWithResponse(ctx, id, nil, body)
			must(err)
			if r.StatusCode() != 200 || r.JSON200 == nil {
				t.Fatalf("%s: %d %s", what, r.StatusCode(), r.Body)
			}
			g, err := c.GetQRCodeWithResponse(ctx, id, nil)
			must(err)
			for _, raw := range [][]byte{r.Body, g.Body} {
				var got struct{ Content any }
				must(json.Unmarshal(raw, &got))
				var w any
				must(json.Unmarshal([]byte(want), &w))
				if !reflect.DeepEqual(got.Content, w) {
					t.Errorf("%s: the content is %s, want %s", what, mustMarshal(t, got.Content), want)
				}
			}
		}

		// A vCard's title alone: its names, phones, e-mails and address stay.
		var card client.QRCodeCreate
		must(card.FromQRCodeCreateVcard(client.QRCodeCreateVcard{Name: "Ada's card", Content: client.VcardContent{
			FirstName: str("Ada"), LastName: str("Lovelace"), Title: str("Engineer"),
			Phones: &[]string{"+44 20 7946 0958"}, Emails: &[]string{"ada@example.com"},
			Address: &client.VcardAddress{City: str("London"), Country: str("United Kingdom")},
		}}))
		cr, err := c.CreateQRCodeWithResponse(ctx, nil, card)
		must(err)
		if cr.JSON201 == nil {
			t.Fatalf("create a vCard: %d %s", cr.StatusCode(), cr.Body)
		}
		vc, err := cr.JSON201.AsQRCodeVcard()
		must(err)
		var title client.ContentPatch
		must(title.FromVcardContentPatch(client.VcardContentPatch{Title: str("Dr")}))
		patch("a vCard's title", vc.Id, title, `{"firstName":"Ada","lastName":"Lovelace","title":"Dr",`+
			`"phones":["+44 20 7946 0958"],"emails":["ada@example.com"],"address":{"city":"London","country":"United Kingdom"}}`)
		var city client.ContentPatch
		must(city.FromVcardContentPatch(client.VcardContentPatch{Address: &client.VcardAddress{PostalCode: str("SW1A 1AA")}}))
		patch("a vCard's postal code", vc.Id, city, `{"firstName":"Ada","lastName":"Lovelace","title":"Dr",`+
			`"phones":["+44 20 7946 0958"],"emails":["ada@example.com"],"address":{"city":"London","country":"United Kingdom","postalCode":"SW1A 1AA"}}`)

		// A Wi-Fi's password alone: its name and hidden flag stay.
		var wifi client.QRCodeCreate
		hidden := true
		must(wifi.FromQRCodeCreateWifi(client.QRCodeCreateWifi{Name: "Guest Wi-Fi", Content: client.WifiContent{
			Ssid: "Cafe Guest", Password: str("correct horse battery"), Hidden: &hidden,
		}}))
		wr, err := c.CreateQRCodeWithResponse(ctx, nil, wifi)
		must(err)
		if wr.JSON201 == nil {
			t.Fatalf("create a Wi-Fi: %d %s", wr.StatusCode(), wr.Body)
		}
		wc, err := wr.JSON201.AsQRCodeWifi()
		must(err)
		var password client.ContentPatch
		must(password.FromWifiContentPatch(client.WifiContentPatch{Password: str("new horse battery staple")}))
		patch("a Wi-Fi's password", wc.Id, password, `{"ssid":"Cafe Guest","password":"new horse battery staple","hidden":true}`)
		wpa := client.WPA
		var security client.ContentPatch
		must(security.FromWifiContentPatch(client.WifiContentPatch{Security: &wpa}))
		patch("a Wi-Fi's security", wc.Id, security, `{"ssid":"Cafe Guest","password":"new horse battery staple","hidden":true,"security":"WPA"}`)

		// The document itself, on bodies sent as JSON: content alone is
		// a change of the current type's fields, null removes one that
		// may be absent; with a type, the content is complete.
		for _, b := range []struct {
			body  string
			valid bool
		}{
			{`{"content":{"title":"Dr"}}`, true},
			{`{"content":{"password":"new horse battery staple"}}`, true},
			{`{"content":{"title":null,"address":{"city":null}}}`, true},
			{`{"content":{"ssid":null}}`, false},
			{`{"content":{"title":"Dr","colour":"red"}}`, false},
			{`{"type":"vcard","content":{"title":"Dr"}}`, false},
			{`{"type":"wifi","content":{"password":"new horse battery staple"}}`, false},
			{`{"type":"wifi","content":{"ssid":"Cafe Guest","password":"new horse battery staple"}}`, true},
		} {
			req, err := http.NewRequestWithContext(ctx, "PATCH", s.URL+"/api/v1/qr-codes/"+vc.Id, strings.NewReader(b.body))
			must(err)
			req.Header.Set("Content-Type", "application/json")
			if err := validateRequest(req, router); (err == nil) != b.valid {
				t.Errorf("PATCH %s: the document's verdict is %v (%v), want %v", b.body, err == nil, err, b.valid)
			}
		}
	})
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
