package apiclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"

	"github.com/snapglyph/snapglyph/client"
	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// genericStatuses are the error answers the document gives operations for
// what is wrong with a request rather than for what the operation does.
// Each has probes that provoke it on any operation declaring it; an
// operation that does not declare it must not answer its probes with it.
var genericStatuses = []int{400, 401, 405, 413, 414, 415, 422, 503}

// undecided lists answers that break the document today, keyed by
// "operationId: probe name", with what there is to decide. Each is logged
// instead of failed; once the answer agrees with the document, the test
// fails until the entry is removed.
var undecided = map[string]string{}

// A probe is a request wrong in one way, and the status an operation
// that declares it answers it with.
type probe struct {
	name   string             // what is wrong, for messages and undecided
	status int                // the answer where the operation declares it
	code   client.ProblemCode // the problem's code then; "" for any
	method string             // "" for the operation's own
	path   map[string]string  // raw values of path parameters; others name a fresh QR code
	qr     string             // that code's JSON; "" for a URL code
	query  string             // raw query
	header map[string]string  // set after the key and Content-Type; "" removes
	body   string             // sent as application/json unless header says otherwise
	noKey  bool
	// ofBody: what is wrong is the body. An operation without a request
	// body ignores it, so does not answer status, declared or not.
	ofBody bool
	// hold, if set, runs just before the request is sent, and the
	// function it returns just after.
	hold func() (release func())
}

// operation is one operation of the document.
type operation struct {
	path   string
	method string
	item   *openapi3.PathItem
	*openapi3.Operation
}

// operations lists the document's operations by path, then method.
func operations(doc *openapi3.T) []operation {
	var ops []operation
	for _, path := range slices.Sorted(maps.Keys(doc.Paths.Map())) {
		item := doc.Paths.Value(path)
		for _, method := range slices.Sorted(maps.Keys(item.Operations())) {
			ops = append(ops, operation{path: path, method: method, item: item, Operation: item.GetOperation(method)})
		}
	}
	return ops
}

// declares reports whether the operation declares status.
func (op operation) declares(status int) bool { return op.Responses.Status(status) != nil }

// needsKey reports whether the operation's security asks for a key.
func (op operation) needsKey(doc *openapi3.T) bool {
	sec := doc.Security
	if op.Security != nil {
		sec = *op.Security
	}
	return len(sec) > 0 && !slices.ContainsFunc(sec, func(r openapi3.SecurityRequirement) bool { return len(r) == 0 })
}

// example is the first (by name) example of the operation's JSON request
// body, "" when it has none.
func (op operation) example(t *testing.T) string {
	if op.RequestBody == nil || op.RequestBody.Value == nil {
		return ""
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil {
		t.Fatalf("%s: a request body that is not JSON: add probes for it", op.OperationID)
	}
	for _, name := range slices.Sorted(maps.Keys(mt.Examples)) {
		b, err := json.Marshal(mt.Examples[name].Value.Value)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Fatalf("%s: the request body has no example to send", op.OperationID)
	return ""
}

// params are the operation's parameters, its path's included.
func (op operation) params() []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, ps := range []openapi3.Parameters{op.item.Parameters, op.Parameters} {
		for _, p := range ps {
			out = append(out, p.Value)
		}
	}
	return out
}

// prober sends probes to a node and judges the answers by the document.
type prober struct {
	s    *testserver.Server
	doc  *openapi3.T
	key  string // every permission, in an organisation with room to spare
	http *http.Client

	provoked  map[string]map[int]bool // operationId → declared statuses answered to their probes
	refused   map[string]map[int]bool // operationId → undeclared statuses not answered to theirs
	undecided map[string]map[int]bool // operationId → statuses of probes in undecided
	met       map[string]bool         // entries of undecided met
	sent      int                     // probes sent
}

// probesFor returns the probes of the generic statuses for op, built from
// the document (its body, path, methods and parameters), and those of
// specific.
func (pr *prober) probesFor(t *testing.T, op operation) []probe {
	ex := op.example(t)
	some := ex // a body to send even where the operation takes none
	if some == "" {
		some = `{"name":"Menu"}`
	}
	ps := []probe{
		{name: "no Authorization header", status: 401, code: client.ProblemCodeMissingApiKey, body: ex, noKey: true},
		{name: "Basic credentials", status: 401, code: client.ProblemCodeMalformedAuthorization, body: ex,
			header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}},
		{name: "a malformed key", status: 401, code: client.ProblemCodeMalformedApiKey, body: ex,
			header: map[string]string{"Authorization": "Bearer qr_live_short"}},
		{name: "an unknown key", status: 401, code: client.ProblemCodeInvalidApiKey, body: ex,
			header: map[string]string{"Authorization": "Bearer " + snapglyph.GenerateKey()}},
		// The bounds are the document's: 8 KiB of path and query, 512 KiB of body.
		{name: "a URI over 8 KiB", status: 414, code: client.ProblemCodeUriTooLong, body: ex, query: "pad=" + strings.Repeat("a", 9<<10)},
		{name: "a body over 512 KiB", status: 413, code: client.ProblemCodeRequestTooLarge, body: `{"name":"` + strings.Repeat("a", 600<<10) + `"}`, ofBody: true},
		{name: "a text/plain body", status: 415, code: client.ProblemCodeUnsupportedMediaType, body: some,
			header: map[string]string{"Content-Type": "text/plain"}, ofBody: true},
		{name: "a body without Content-Type", status: 415, code: client.ProblemCodeUnsupportedMediaType, body: some,
			header: map[string]string{"Content-Type": ""}, ofBody: true},
		{name: "a NUL in a query parameter", status: 400, code: client.ProblemCodeInvalidRequest, body: ex, query: "x=%00"},
		{name: "bytes that are not UTF-8 in a query parameter", status: 400, code: client.ProblemCodeInvalidRequest, body: ex, query: "x=%ff"},
		{name: "malformed JSON", status: 400, code: client.ProblemCodeInvalidJson, body: "{", ofBody: true},
		{name: "a JSON array for the body", status: 400, code: client.ProblemCodeInvalidJson, body: "[]", ofBody: true},
		{name: "an unknown field in the body", status: 400, code: client.ProblemCodeInvalidRequest, body: `{"unknownField":1}`, ofBody: true},
		{name: "bytes that are not UTF-8 in the body", status: 400, code: client.ProblemCodeInvalidJson, body: "{\"name\":\"\xff\"}", ofBody: true},
	}
	served := op.item.Operations()
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if served[m] == nil {
			ps = append(ps, probe{name: m + ", not served at the path, without a key", status: 405, code: client.ProblemCodeMethodNotAllowed, method: m, noKey: true})
		}
	}
	for _, p := range op.params() {
		switch p.In {
		case openapi3.ParameterInPath:
			ps = append(ps, probe{name: "a NUL in the path parameter " + p.Name, status: 400, code: client.ProblemCodeInvalidRequest,
				body: ex, path: map[string]string{p.Name: "%00"}})
		case openapi3.ParameterInQuery, openapi3.ParameterInHeader:
			if p.Schema == nil || p.Schema.Value == nil {
				continue
			}
			for _, v := range badValues(p.Schema.Value) {
				b := probe{name: fmt.Sprintf("%s %s=%q", p.In, p.Name, shorten(v)), status: 400, code: client.ProblemCodeInvalidRequest, body: ex}
				if p.In == openapi3.ParameterInQuery {
					b.query = url.Values{p.Name: {v}}.Encode()
				} else {
					b.header = map[string]string{p.Name: v}
				}
				ps = append(ps, b)
			}
		}
	}
	return append(ps, specific(t, pr.s.Node.Service)[op.OperationID]...)
}

// badValues returns values that break schema: of another type, outside
// its bounds, its enum or its pattern, or too long.
func badValues(s *openapi3.Schema) []string {
	var out []string
	switch {
	case s.Type.Is("integer"), s.Type.Is("number"):
		out = append(out, "zz")
		if s.Min != nil {
			out = append(out, strconv.FormatFloat(*s.Min-1, 'f', -1, 64))
		}
		if s.Max != nil {
			out = append(out, strconv.FormatFloat(*s.Max+1, 'f', -1, 64))
		}
	case s.Type.Is("boolean"):
		out = append(out, "zz")
	case s.Type.Is("string"):
		if len(s.Enum) > 0 {
			out = append(out, "zz")
		}
		if s.Pattern != "" {
			re, err := regexp.Compile(s.Pattern)
			if err == nil {
				for _, v := range []string{"a b", "zz", "é"} {
					if !re.MatchString(v) {
						out = append(out, v)
						break
					}
				}
			}
		}
		if s.MaxLength != nil {
			out = append(out, strings.Repeat("a", int(*s.MaxLength)+1))
		}
	}
	return out
}

func shorten(s string) string {
	if len(s) > 20 {
		return fmt.Sprintf("%s…(%d bytes)", s[:8], len(s))
	}
	return s
}

// specific are the probes of answers declared for what an operation
// does, by operationId. An operation that declares 422 needs one here.
func specific(t *testing.T, svc *service.Service) map[string][]probe {
	long := strings.Repeat("x", 2000) // more than a QR code holds at errorCorrection H
	logo := `{"name":"Brand","type":"url","content":{"url":"https://example.com/brand"},"design":{"errorCorrection":"H","logo":"` + logoPNG(t) + `"}}`
	return map[string][]probe{
		"createQRCode": {{name: "content too long for a QR code", status: 422, code: client.ProblemCodeContentTooLong,
			body: `{"name":"Long","type":"text","content":{"text":"` + long + `"},"design":{"errorCorrection":"H"}}`}},
		"updateQRCode": {{name: "content too long for a QR code", status: 422, code: client.ProblemCodeContentTooLong,
			body: `{"type":"text","content":{"text":"` + long + `"},"design":{"errorCorrection":"H"}}`}},
		"getQRCode": {
			{name: "an SVG of a code with a logo", status: 422, code: client.ProblemCodeLogoRequiresPng, qr: logo, query: "format=svg"},
			// Every render slot taken: a PNG not drawn yet cannot be drawn.
			{name: "a PNG while every render slot is taken", status: 503, code: client.ProblemCodeRenderBusy, query: "format=png",
				hold: holdRenders(t, svc)},
		},
	}
}

// logoPNG is a small PNG logo, in base64.
func logoPNG(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	for y := range 48 {
		for x := range 48 {
			img.Set(x, y, color.RGBA{200, 30, 30, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// newCode creates a QR code from its JSON ("" for a URL code) and returns
// its id.
func (pr *prober) newCode(t *testing.T, body string) string {
	t.Helper()
	if body == "" {
		body = `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
	}
	req, _ := http.NewRequest("POST", pr.s.URL+"/api/v1/qr-codes", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+pr.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := pr.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var q struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create a QR code: %d %v", resp.StatusCode, err)
	}
	return q.ID
}

// send sends p to op and judges the answer: the declared status with a
// problem of the document, or, where the operation does not declare it,
// another status that it declares. Either way the answer is validated
// against the document (validator.check).
func (pr *prober) send(t *testing.T, op operation, p probe) {
	t.Helper()
	params := map[string]string{}
	path := op.path
	for _, prm := range op.params() {
		if prm.In != openapi3.ParameterInPath {
			continue
		}
		v, ok := p.path[prm.Name]
		switch {
		case ok:
		case prm.Name == "id":
			v = pr.newCode(t, p.qr) // fresh: a probe may change or delete it
		default:
			t.Fatalf("%s: no value for the path parameter %s: teach send one", op.OperationID, prm.Name)
		}
		params[prm.Name] = v
		path = strings.Replace(path, "{"+prm.Name+"}", v, 1)
	}
	target := pr.s.URL + path
	if p.query != "" {
		target += "?" + p.query
	}
	method := op.method
	if p.method != "" {
		method = p.method
	}
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if !p.noKey {
		req.Header.Set("Authorization", "Bearer "+pr.key)
	}
	if p.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range p.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if p.hold != nil {
		release := p.hold()
		defer release()
	}
	resp, err := pr.http.Do(req)
	if err != nil {
		t.Errorf("%s, %s: %v", op.OperationID, p.name, err)
		return
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Errorf("%s, %s: %v", op.OperationID, p.name, err)
		return
	}

	declared, answered := op.declares(p.status), resp.StatusCode == p.status
	// A body sent to an operation that takes none is refused with 400
	// whatever it holds; the body's other statuses (413, 415) are then
	// not reached.
	want := declared && (!p.ofBody || op.RequestBody != nil || p.status == http.StatusBadRequest)
	entry := op.OperationID + ": " + p.name
	pr.sent++
	if reason, ok := undecided[entry]; ok {
		pr.met[entry] = true
		mark(pr.undecided, op.OperationID, p.status)
		if want != answered {
			t.Logf("undecided, %s: %d where the document says %s; %s", entry, resp.StatusCode, expectation(want, p.status), reason)
			return
		}
		t.Errorf("%s: answered %d, as the document says; remove it from undecided", entry, resp.StatusCode)
	}
	switch {
	case want && !answered:
		t.Errorf("%s %s, %s: %d, want %d, which %s declares: %.300s", method, op.path, p.name, resp.StatusCode, p.status, op.OperationID, raw)
	case !declared && answered:
		t.Errorf("%s %s, %s: %d, which %s does not declare: %.300s", method, op.path, p.name, resp.StatusCode, op.OperationID, raw)
	case !want && answered:
		t.Errorf("%s %s, %s: %d, though %s takes no body: %.300s", method, op.path, p.name, resp.StatusCode, op.OperationID, raw)
	}
	route := &routers.Route{Spec: pr.doc, Server: pr.doc.Servers[0], Path: op.path, PathItem: op.item, Method: op.method, Operation: op.Operation}
	v := &validator{t: t, seen: map[string]map[int]bool{}}
	v.check(req, resp, raw, route, params)
	switch {
	case want && answered:
		mark(pr.provoked, op.OperationID, p.status)
		pr.checkProblem(t, op, p, resp, raw)
	case !declared && !answered:
		mark(pr.refused, op.OperationID, p.status)
	}
}

func mark(m map[string]map[int]bool, id string, status int) {
	if m[id] == nil {
		m[id] = map[int]bool{}
	}
	m[id][status] = true
}

func expectation(want bool, status int) string {
	if want {
		return strconv.Itoa(status)
	}
	return "not " + strconv.Itoa(status)
}

// checkProblem checks what the document says of a problem beyond its
// schema (which validator.check holds it to): its status, its code, and
// the header its status calls for.
func (pr *prober) checkProblem(t *testing.T, op operation, p probe, resp *http.Response, raw []byte) {
	t.Helper()
	where := fmt.Sprintf("%s, %s → %d", op.OperationID, p.name, resp.StatusCode)
	var prob client.Problem
	if err := json.Unmarshal(raw, &prob); err != nil {
		t.Errorf("%s: not a problem: %v: %.300s", where, err, raw)
		return
	}
	if prob.Status != resp.StatusCode {
		t.Errorf("%s: the problem's status is %d", where, prob.Status)
	}
	code := p.code
	if p.ofBody && op.RequestBody == nil {
		code = "invalid_request" // any body, where the operation takes none
	}
	if code != "" && prob.Code != code {
		t.Errorf("%s: problem %q, want %q: %s", where, prob.Code, code, prob.Detail)
	}
	switch resp.StatusCode {
	case 401:
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("%s: WWW-Authenticate %q", where, resp.Header.Get("WWW-Authenticate"))
		}
	case 405:
		var allow []string
		for _, m := range strings.Split(resp.Header.Get("Allow"), ",") {
			if m = strings.TrimSpace(m); m != "HEAD" && m != "OPTIONS" {
				allow = append(allow, m)
			}
		}
		slices.Sort(allow)
		if want := slices.Sorted(maps.Keys(op.item.Operations())); !slices.Equal(allow, want) {
			t.Errorf("%s: Allow %q, want the methods of the path in the document, %v", where, resp.Header.Get("Allow"), want)
		}
	case 503:
		if _, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil {
			t.Errorf("%s: Retry-After %q", where, resp.Header.Get("Retry-After"))
		}
	}
}

// TestDeclaredErrors drives, for every operation of the document (read
// from it, so a new one is covered), the errors it declares for what is
// wrong with a request (genericStatuses): it provokes each declared one
// and checks the problem, its schema and its headers against the
// document; and it sends the same probes to operations that do not
// declare the status, which must answer something they do declare. 503
// is provoked by a busy renderer where that is declared, and, on
// PostgreSQL, by cutting the node off its database.
func TestDeclaredErrors(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			s, proxy, uncut := startNode(t, dialect)
			ctx := context.Background()
			svc := s.Node.Service
			org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: "max"})
			if err != nil {
				t.Fatal(err)
			}
			k, err := svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Full"})
			if err != nil {
				t.Fatal(err)
			}
			pr := &prober{s: s, doc: loadDocument(t, s.URL), key: k.Secret, http: &http.Client{},
				provoked: map[string]map[int]bool{}, refused: map[string]map[int]bool{}, undecided: map[string]map[int]bool{}, met: map[string]bool{}}
			ops := operations(pr.doc)

			// The node's database is up: every probe but the database's.
			for _, op := range ops {
				if op.needsKey(pr.doc) && !op.declares(401) {
					t.Errorf("%s needs a key but declares no 401", op.OperationID)
				}
				for _, p := range pr.probesFor(t, op) {
					pr.send(t, op, p)
				}
			}

			// The database is down: 503 service_unavailable where declared;
			// an operation that declares none (the document) answers as ever.
			t.Run("database unreachable", func(t *testing.T) {
				if proxy == nil {
					t.Skip(uncut)
				}
				ps := make([]probe, len(ops))
				for i, op := range ops {
					ps[i] = probe{name: "the database unreachable", status: 503, code: client.ProblemCodeServiceUnavailable, body: op.example(t)}
					if strings.Contains(op.path, "{id}") {
						// Made now: nothing can be made once it is cut.
						ps[i].path = map[string]string{"id": pr.newCode(t, "")}
					}
				}
				proxy.cut()
				t.Cleanup(proxy.restore)
				// The change listener's loss makes the node stop trusting
				// its caches: from then on every request reads the database.
				waitFor(t, "the change listener to notice", func() bool { return !s.Node.Watcher.Ready() })
				for i, op := range ops {
					pr.send(t, op, ps[i])
				}
				proxy.restore()
				waitFor(t, "the change listener to reconnect", s.Node.Watcher.Ready)

				// Each refused request is the key's in its request log, though
				// the key could not be read: whoever looks into a leaked key
				// sees the attempts an outage turned away too.
				waitFor(t, "the request log to be written", func() bool { return s.Node.RequestLog.Flush(ctx) == nil })
				entries, _, err := svc.RequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{Status: "503", Limit: 500})
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]int{}
				for _, op := range ops {
					if op.needsKey(pr.doc) {
						want[op.path]++
					}
				}
				got := map[string]int{}
				for _, e := range entries {
					if e.KeyID == k.ID && e.KeyPrefix == k.Prefix && e.Code == "service_unavailable" {
						got[e.Route]++
					}
				}
				if !maps.Equal(got, want) {
					t.Errorf("503 entries of the key by route %v, want one for each operation that takes a key %v", got, want)
				}
			})

			// Every generic status an operation declares was provoked, and
			// every entry of undecided met.
			for _, op := range ops {
				var provoked, refused, open []int
				for _, st := range genericStatuses {
					switch {
					case pr.provoked[op.OperationID][st]:
						provoked = append(provoked, st)
					case pr.undecided[op.OperationID][st]:
						open = append(open, st)
					case pr.refused[op.OperationID][st]:
						refused = append(refused, st)
					case st == 503 && proxy == nil && op.declares(503):
						// Skipped above, with the reason.
					case op.declares(st):
						t.Errorf("%s declares %d, and no probe provoked it: add one (probesFor, specific)", op.OperationID, st)
					}
				}
				t.Logf("%s %s (%s): provoked %v; shown not to answer %v; undecided %v", op.method, op.path, op.OperationID, provoked, refused, open)
			}
			for _, entry := range slices.Sorted(maps.Keys(undecided)) {
				if !pr.met[entry] {
					t.Errorf("undecided lists %q, which no probe is: remove it", entry)
				}
			}
			t.Logf("%d probes of %d operations", pr.sent, len(ops))
		})
	}
}

// holdRenders returns a hold that takes the node's every render slot.
func holdRenders(t *testing.T, svc *service.Service) func() func() {
	return func() func() {
		svc.SetImageOptions(service.ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: 1, RenderWait: 0})
		release, err := svc.AcquireRender()
		if err != nil {
			t.Fatal(err)
		}
		return func() {
			release()
			svc.SetImageOptions(service.DefaultImageOptions())
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15 s for %s", what)
		}
	}
}

// startNode starts a node on a new database of the dialect. On PostgreSQL
// named by a URL, the node reaches the database through a proxy the test
// can cut; otherwise the proxy is nil, and uncut says why.
func startNode(t *testing.T, dialect string) (s *testserver.Server, proxy *dbProxy, uncut string) {
	if dialect == "sqlite" {
		// Closing the store (db.DB.Close) gives 503 today, but only
		// because the SQLite change watcher reports any error as the
		// database unreachable; the node cannot have its database back,
		// and its shutdown then retries its last usage flush for 10 s.
		return testserver.Start(t, testdb.Open(t, dialect), node.Config{}), nil,
			"SQLite is a file the node holds open: no test helper makes it unreachable, and reachable again, " +
				"without changes to the product, so 503 service_unavailable is provoked on PostgreSQL only"
	}
	d := testdb.Fresh(t, dialect) // skips without PostgreSQL
	if u, err := url.Parse(d.DSN); err != nil || u.Host == "" {
		uncut = "the node is cut off its database by a TCP proxy: name PostgreSQL by a URL with a host in " + testdb.PostgresEnv
	} else {
		proxy = newDBProxy(t, u.Host)
		u.Host = proxy.addr()
		d.DSN = u.String()
	}
	var err error
	if d.DB, err = store.Open(d.DSN); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.DB.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return testserver.Start(t, d, node.Config{}), proxy, uncut
}

// dbProxy forwards TCP connections to a database until it is cut: then it
// closes every connection it carries and every new one, as a database
// that went away.
type dbProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool
}

func newDBProxy(t *testing.T, target string) *dbProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *dbProxy) addr() string { return p.ln.Addr().String() }

func (p *dbProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.pipe(c)
		}()
	}
}

// pipe carries one connection to the database and back.
func (p *dbProxy) pipe(c net.Conn) {
	defer c.Close()
	if !p.track(c) {
		return
	}
	defer p.untrack(c)
	db, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer db.Close()
	if !p.track(db) {
		return
	}
	defer p.untrack(db)
	done := make(chan struct{}, 2)
	go func() { io.Copy(db, c); done <- struct{}{} }()
	go func() { io.Copy(c, db); done <- struct{}{} }()
	<-done
	c.Close()
	db.Close()
	<-done
}

func (p *dbProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *dbProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// cut closes every connection and refuses new ones until restore.
func (p *dbProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *dbProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *dbProxy) close() {
	p.ln.Close()
	p.cut()
	p.wg.Wait()
}
