package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
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

func init() {
	// Images are strings of bytes to the document (type string with a
	// contentMediaType): read them as such.
	openapi3filter.RegisterBodyDecoder("image/png", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.FileBodyDecoder)
}

// checkedHeaders are the response headers a client may act on: each one a
// response carries must be declared for its status in the document.
var checkedHeaders = []string{"X-Request-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
	"RateLimit", "RateLimit-Policy", "X-Image-Credits-Limit", "X-Image-Credits-Remaining", "ETag", "Last-Modified",
	"Cache-Control", "Retry-After", "Location", "Idempotent-Replayed", "WWW-Authenticate", "Allow", "Content-Disposition"}

// validator is the generated client's HTTP doer: it sends each request to
// the node, validates the response against the document with
// openapi3filter, and records which operation answered which status.
type validator struct {
	t      *testing.T
	http   *http.Client
	router routers.Router
	doc    *openapi3.T

	mu   sync.Mutex
	seen map[string]map[int]bool // operationId → statuses
}

func (v *validator) Do(req *http.Request) (*http.Response, error) {
	v.t.Helper()
	type match struct {
		route  *routers.Route
		params map[string]string
	}
	var matches []match
	route, params, err := v.router.FindRoute(req)
	if err == nil {
		matches = append(matches, match{route, params})
	} else if !slices.Contains([]string{"GET", "POST", "PATCH", "DELETE"}, req.Method) {
		// A method the path is not served with: the answer (405) is
		// documented on each operation of the path; check it against all.
		for _, m := range []string{"GET", "POST", "PATCH", "DELETE"} {
			probe := req.Clone(req.Context())
			probe.Method = m
			if route, params, err := v.router.FindRoute(probe); err == nil {
				matches = append(matches, match{route, params})
			}
		}
	}
	if len(matches) == 0 {
		v.t.Errorf("%s %s: no operation of the document: %v", req.Method, req.URL.Path, err)
		return nil, err
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	for _, m := range matches {
		v.check(req, resp, body, m.route, m.params)
	}
	return resp, nil
}

// check validates one response against one operation and records it.
func (v *validator) check(req *http.Request, resp *http.Response, body []byte, route *routers.Route, params map[string]string) {
	v.t.Helper()
	where := fmt.Sprintf("%s %s → %d (%s)", req.Method, req.URL.RequestURI(), resp.StatusCode, route.Operation.OperationID)
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		v.t.Errorf("%s: the response breaks the document: %v\nbody: %.400s", where, err, body)
	}
	// What openapi3filter leaves alone: statuses it never validates (304),
	// headers the document does not declare, and bodies where none is.
	r := route.Operation.Responses.Status(resp.StatusCode)
	if r == nil || r.Value == nil {
		v.t.Errorf("%s: the status is not in the document", where)
	} else {
		for _, name := range checkedHeaders {
			if resp.Header.Get(name) == "" {
				continue
			}
			if _, ok := r.Value.Headers[name]; !ok {
				v.t.Errorf("%s: carries %s, which the document does not declare for it", where, name)
			}
		}
		if len(r.Value.Content) == 0 && len(body) > 0 {
			v.t.Errorf("%s: a body (%d bytes) where the document has none", where, len(body))
		}
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
		v.t.Errorf("%s: an error that is not a problem (%s)", where, resp.Header.Get("Content-Type"))
	}
	v.mu.Lock()
	if v.seen[route.Operation.OperationID] == nil {
		v.seen[route.Operation.OperationID] = map[int]bool{}
	}
	v.seen[route.Operation.OperationID][resp.StatusCode] = true
	v.mu.Unlock()
}

// loadDocument loads, with kin-openapi, the document as the node at url
// serves it, and names the node as its server.
func loadDocument(t *testing.T, url string) *openapi3.T {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		t.Fatalf("kin-openapi cannot load the document: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("kin-openapi finds the document invalid: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: url}} // "/" as served: this node
	return doc
}

// TestAPIClient drives every operation of the document through the
// generated client, in success and error cases, on a real node, and
// validates every answer against the document (see validator). It fails
// if an operation of the document was not driven, or missed a status it
// is meant to reach.
func TestAPIClient(t *testing.T) {
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

		// Organisations and keys: full access, restricted keys, and
		// organisations whose API calls or image credits are spent.
		newOrg := func(name string) string {
			org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: name, OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: "pro"})
			if err != nil {
				t.Fatal(err)
			}
			return org.ID
		}
		newKey := func(org string, scopes snapglyph.Scopes) *client.ClientWithResponses {
			k, err := svc.CreateKeyWith(ctx, snapglyph.Operator, org, service.KeySpec{Name: "Key-" + snapglyph.NewID("k"), Scopes: scopes})
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.NewClientWithResponses(s.URL, client.WithHTTPClient(v), client.WithAPIKey(k.Secret))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		acme := newOrg("Acme")
		full := newKey(acme, 0)
		usageOnly := newKey(acme, snapglyph.Scopes(snapglyph.ScopeUsageRead))
		readOnly := newKey(acme, snapglyph.Scopes(snapglyph.ScopeQRRead))
		zero := int64(0)
		spent := newOrg("Spent")
		if err := svc.SetLimits(ctx, snapglyph.Operator, spent, &zero, nil); err != nil {
			t.Fatal(err)
		}
		noCalls := newKey(spent, 0)
		poor := newOrg("Poor")
		if err := svc.SetLimits(ctx, snapglyph.Operator, poor, nil, &zero); err != nil {
			t.Fatal(err)
		}
		noCredits := newKey(poor, 0)
		anon, err := client.NewClientWithResponses(s.URL, client.WithHTTPClient(v))
		if err != nil {
			t.Fatal(err)
		}

		expect := func(what string, status int, r interface {
			StatusCode() int
		}, body []byte, code client.ProblemCode) {
			t.Helper()
			if r.StatusCode() != status {
				t.Errorf("%s: %d, want %d: %.300s", what, r.StatusCode(), status, body)
				return
			}
			if code == "" {
				return
			}
			var p client.Problem
			if err := json.Unmarshal(body, &p); err != nil || p.Code != code {
				t.Errorf("%s: problem %q, want %q (%v)", what, p.Code, code, err)
			}
		}
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		unknown := "qr_00000000000000000000"

		// getOpenAPI
		oa, err := anon.GetOpenAPIWithResponse(ctx)
		must(err)
		expect("getOpenAPI", 200, oa, oa.Body, "")

		// createQRCode
		var create client.QRCodeCreate
		must(create.FromQRCodeCreateUrl(client.QRCodeCreateUrl{Name: "Menu", Content: client.UrlContent{Url: "https://example.com/menu"}}))
		idem := "order-1234"
		cr, err := full.CreateQRCodeWithResponse(ctx, &client.CreateQRCodeParams{IdempotencyKey: &idem}, create)
		must(err)
		expect("create", 201, cr, cr.Body, "")
		if cr.JSON201 == nil {
			t.Fatalf("create: no QR code: %s", cr.Body)
		}
		code, err := cr.JSON201.AsQRCodeUrl()
		must(err)
		if d, _ := cr.JSON201.Discriminator(); d != "url" || code.Content.Url != "https://example.com/menu" || cr.Headers201 == nil || cr.Headers201.ETag == nil {
			t.Errorf("create: %+v %+v", code, cr.Headers201)
		}
		replay, err := full.CreateQRCodeWithResponse(ctx, &client.CreateQRCodeParams{IdempotencyKey: &idem}, create)
		must(err)
		expect("create replayed", 201, replay, replay.Body, "")
		if replay.Headers201 == nil || replay.Headers201.IdempotentReplayed == nil {
			t.Errorf("replay: no Idempotent-Replayed: %+v", replay.Headers201)
		}
		var other client.QRCodeCreate
		must(other.FromQRCodeCreatePhone(client.QRCodeCreatePhone{Name: "Call us", Content: client.PhoneContent{Number: "+1 555 123 4567"}}))
		r422, err := full.CreateQRCodeWithResponse(ctx, &client.CreateQRCodeParams{IdempotencyKey: &idem}, other)
		must(err)
		expect("create: the idempotency key again with another body", 422, r422, r422.Body, "idempotency_key_reused")
		var long client.QRCodeCreate
		h := client.DesignInputErrorCorrectionH
		must(long.FromQRCodeCreateText(client.QRCodeCreateText{Name: "Long", Content: client.TextContent{Text: strings.Repeat("x", 2000)},
			Design: &client.DesignInput{ErrorCorrection: &h}}))
		tooLong, err := full.CreateQRCodeWithResponse(ctx, nil, long)
		must(err)
		expect("create: content too long", 422, tooLong, tooLong.Body, "content_too_long")
		var bad client.QRCodeCreate
		must(bad.FromQRCodeCreateUrl(client.QRCodeCreateUrl{Name: "Bad", Content: client.UrlContent{Url: "ftp://example.com/"}}))
		r400, err := full.CreateQRCodeWithResponse(ctx, nil, bad)
		must(err)
		expect("create: bad URL", 400, r400, r400.Body, "invalid_request")
		r415, err := full.CreateQRCodeWithBodyWithResponse(ctx, nil, "text/plain", strings.NewReader("menu"))
		must(err)
		expect("create: text/plain", 415, r415, r415.Body, "unsupported_media_type")
		r413, err := full.CreateQRCodeWithBodyWithResponse(ctx, nil, "application/json", strings.NewReader(`{"name":"`+strings.Repeat("x", 600<<10)+`"}`))
		must(err)
		expect("create: 600 KiB", 413, r413, r413.Body, "request_too_large")
		r401, err := anon.CreateQRCodeWithResponse(ctx, nil, create)
		must(err)
		expect("create without a key", 401, r401, r401.Body, "missing_api_key")
		r403, err := readOnly.CreateQRCodeWithResponse(ctx, nil, create)
		must(err)
		expect("create with a read-only key", 403, r403, r403.Body, "insufficient_scope")
		r429, err := noCalls.CreateQRCodeWithResponse(ctx, nil, create)
		must(err)
		expect("create with no calls left", 429, r429, r429.Body, "api_call_limit_reached")

		// listQRCodes
		urlType := client.QRTypeUrl
		limit := 10
		list, err := full.ListQRCodesWithResponse(ctx, &client.ListQRCodesParams{Limit: &limit, Type: &urlType})
		must(err)
		expect("list", 200, list, list.Body, "")
		if list.JSON200 == nil || len(list.JSON200.Data) != 1 {
			t.Errorf("list: %s", list.Body)
		}
		zeroLimit := 0
		l400, err := full.ListQRCodesWithResponse(ctx, &client.ListQRCodesParams{Limit: &zeroLimit})
		must(err)
		expect("list: limit 0", 400, l400, l400.Body, "invalid_request")
		l401, err := anon.ListQRCodesWithResponse(ctx, nil)
		must(err)
		expect("list without a key", 401, l401, l401.Body, "missing_api_key")
		l403, err := usageOnly.ListQRCodesWithResponse(ctx, nil)
		must(err)
		expect("list with a usage key", 403, l403, l403.Body, "insufficient_scope")
		l429, err := noCalls.ListQRCodesWithResponse(ctx, nil)
		must(err)
		expect("list with no calls left", 429, l429, l429.Body, "api_call_limit_reached")

		// getQRCode: JSON, images, conditional, errors.
		g, err := full.GetQRCodeWithResponse(ctx, code.Id, nil)
		must(err)
		expect("get", 200, g, g.Body, "")
		if g.Headers200 == nil || g.Headers200.ETag == nil {
			t.Fatalf("get: no ETag: %+v", g.Headers200)
		}
		etag := *g.Headers200.ETag
		g304, err := full.GetQRCodeWithResponse(ctx, code.Id, &client.GetQRCodeParams{IfNoneMatch: &etag})
		must(err)
		expect("get If-None-Match", 304, g304, g304.Body, "")
		for _, f := range []client.GetQRCodeParamsFormat{client.Svg, client.Png} {
			dl := client.N1
			img, err := full.GetQRCodeWithResponse(ctx, code.Id, &client.GetQRCodeParams{Format: &f, Download: &dl})
			must(err)
			expect("get "+string(f), 200, img, img.Body, "")
			if ct := img.HTTPResponse.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/") || len(img.Body) == 0 {
				t.Errorf("get %s: %s, %d bytes", f, ct, len(img.Body))
			}
		}
		svg, size := client.Svg, 128
		g400, err := full.GetQRCodeWithResponse(ctx, code.Id, &client.GetQRCodeParams{Format: &svg, Size: &size})
		must(err)
		expect("get svg with a size", 400, g400, g400.Body, "invalid_request")
		g404, err := full.GetQRCodeWithResponse(ctx, unknown, nil)
		must(err)
		expect("get an unknown code", 404, g404, g404.Body, "not_found")
		g401, err := anon.GetQRCodeWithResponse(ctx, code.Id, nil)
		must(err)
		expect("get without a key", 401, g401, g401.Body, "missing_api_key")
		png := client.Png
		g403, err := readOnly.GetQRCodeWithResponse(ctx, code.Id, &client.GetQRCodeParams{Format: &png})
		must(err)
		expect("get a PNG without images:read", 403, g403, g403.Body, "insufficient_scope")
		var poorCreate client.QRCodeCreate
		must(poorCreate.FromQRCodeCreateText(client.QRCodeCreateText{Name: "Poor", Content: client.TextContent{Text: "hello"}}))
		pc, err := noCredits.CreateQRCodeWithResponse(ctx, nil, poorCreate)
		must(err)
		expect("create in an organisation without credits", 201, pc, pc.Body, "")
		if pc.JSON201 != nil {
			pt, err := pc.JSON201.AsQRCodeText()
			must(err)
			g429, err := noCredits.GetQRCodeWithResponse(ctx, pt.Id, &client.GetQRCodeParams{Format: &png})
			must(err)
			expect("get a PNG without credits", 429, g429, g429.Body, "image_credit_limit_reached")
		}
		gCalls, err := noCalls.GetQRCodeWithResponse(ctx, unknown, nil)
		must(err)
		expect("get with no calls left", 429, gCalls, gCalls.Body, "api_call_limit_reached")

		// updateQRCode: keep the type, change it, conditional, errors.
		var rename client.QRCodeUpdate
		newName := "Spring menu"
		must(rename.FromQRCodeUpdateKeepType(client.QRCodeUpdateKeepType{Name: &newName}))
		u, err := full.UpdateQRCodeWithResponse(ctx, code.Id, &client.UpdateQRCodeParams{IfMatch: &etag}, rename)
		must(err)
		expect("update with If-Match", 200, u, u.Body, "")
		u412, err := full.UpdateQRCodeWithResponse(ctx, code.Id, &client.UpdateQRCodeParams{IfMatch: &etag}, rename)
		must(err)
		expect("update with a stale If-Match", 412, u412, u412.Body, "precondition_failed")
		var toPhone client.QRCodeUpdate
		var withType client.QRCodeUpdateWithType
		must(withType.FromQRCodeUpdatePhone(client.QRCodeUpdatePhone{Content: &client.PhoneContent{Number: "+1 555 123 4567"}}))
		must(toPhone.FromQRCodeUpdateWithType(withType))
		up, err := full.UpdateQRCodeWithResponse(ctx, code.Id, nil, toPhone)
		must(err)
		expect("update to phone", 200, up, up.Body, "")
		if up.JSON200 != nil {
			if ph, err := up.JSON200.AsQRCodePhone(); err != nil || ph.Payload != "tel:+15551234567" {
				t.Errorf("update to phone: %+v %v", ph, err)
			}
		}
		var badName client.QRCodeUpdate
		empty := ""
		must(badName.FromQRCodeUpdateKeepType(client.QRCodeUpdateKeepType{Name: &empty}))
		u400, err := full.UpdateQRCodeWithResponse(ctx, code.Id, nil, badName)
		must(err)
		expect("update to an empty name", 400, u400, u400.Body, "invalid_request")
		u404, err := full.UpdateQRCodeWithResponse(ctx, unknown, nil, rename)
		must(err)
		expect("update an unknown code", 404, u404, u404.Body, "not_found")
		u401, err := anon.UpdateQRCodeWithResponse(ctx, code.Id, nil, rename)
		must(err)
		expect("update without a key", 401, u401, u401.Body, "missing_api_key")
		u403, err := readOnly.UpdateQRCodeWithResponse(ctx, code.Id, nil, rename)
		must(err)
		expect("update with a read-only key", 403, u403, u403.Body, "insufficient_scope")
		u429, err := noCalls.UpdateQRCodeWithResponse(ctx, unknown, nil, rename)
		must(err)
		expect("update with no calls left", 429, u429, u429.Body, "api_call_limit_reached")

		// getUsage
		us, err := full.GetUsageWithResponse(ctx)
		must(err)
		expect("usage", 200, us, us.Body, "")
		if us.JSON200 == nil || us.JSON200.ApiCalls.Used == 0 || us.JSON200.ImageCredits.Used != 11 {
			t.Errorf("usage: %s", us.Body)
		}
		us401, err := anon.GetUsageWithResponse(ctx)
		must(err)
		expect("usage without a key", 401, us401, us401.Body, "missing_api_key")
		us403, err := readOnly.GetUsageWithResponse(ctx)
		must(err)
		expect("usage with a read-only key", 403, us403, us403.Body, "insufficient_scope")
		us429, err := noCalls.GetUsageWithResponse(ctx)
		must(err)
		expect("usage with no calls left", 429, us429, us429.Body, "api_call_limit_reached")

		// deleteQRCode, the code's last: errors first.
		stale := `"v1"`
		d412, err := full.DeleteQRCodeWithResponse(ctx, code.Id, &client.DeleteQRCodeParams{IfMatch: &stale})
		must(err)
		expect("delete with a stale If-Match", 412, d412, d412.Body, "precondition_failed")
		d401, err := anon.DeleteQRCodeWithResponse(ctx, code.Id, nil)
		must(err)
		expect("delete without a key", 401, d401, d401.Body, "missing_api_key")
		d403, err := readOnly.DeleteQRCodeWithResponse(ctx, code.Id, nil)
		must(err)
		expect("delete with a read-only key", 403, d403, d403.Body, "insufficient_scope")
		d429, err := noCalls.DeleteQRCodeWithResponse(ctx, unknown, nil)
		must(err)
		expect("delete with no calls left", 429, d429, d429.Body, "api_call_limit_reached")
		d, err := full.DeleteQRCodeWithResponse(ctx, code.Id, nil)
		must(err)
		expect("delete", 204, d, d.Body, "")
		d404, err := full.DeleteQRCodeWithResponse(ctx, code.Id, nil)
		must(err)
		expect("delete again", 404, d404, d404.Body, "not_found")

		// 405 at every path: a method the generated client has no call
		// for, sent through the same validating doer.
		for _, p := range doc.Paths.InMatchingOrder() {
			path := strings.Replace(p, "{id}", unknown, 1)
			req, _ := http.NewRequestWithContext(ctx, "PUT", s.URL+path, nil)
			resp, err := v.Do(req)
			must(err)
			resp.Body.Close()
			if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
				t.Errorf("PUT %s: %d, Allow %q; want 405 with Allow", path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}

		// Every operation of the document was driven, to the statuses it
		// is meant to reach.
		want := map[string][]int{
			"getOpenAPI":   {200, 405},
			"getUsage":     {200, 401, 403, 405, 429},
			"createQRCode": {201, 400, 401, 403, 405, 413, 415, 422, 429},
			"listQRCodes":  {200, 400, 401, 403, 405, 429},
			"getQRCode":    {200, 304, 400, 401, 403, 404, 405, 429},
			"updateQRCode": {200, 400, 401, 403, 404, 405, 412, 429},
			"deleteQRCode": {204, 401, 403, 404, 405, 412, 429},
		}
		var ops []string
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				ops = append(ops, op.OperationID)
			}
		}
		sort.Strings(ops)
		for _, id := range ops {
			statuses := v.seen[id]
			if len(statuses) == 0 {
				t.Errorf("the operation %s of the document was not driven", id)
				continue
			}
			if want[id] == nil {
				t.Errorf("the operation %s has no list of statuses to reach in this test: add one", id)
			}
			for _, st := range want[id] {
				if !statuses[st] {
					t.Errorf("%s: no call reached %d", id, st)
				}
			}
			var got []int
			for st := range statuses {
				got = append(got, st)
			}
			slices.Sort(got)
			t.Logf("covered %s: %v", id, got)
		}
	})
}
