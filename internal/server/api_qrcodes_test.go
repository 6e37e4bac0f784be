package server_test

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
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// send makes a request with the harness key and a JSON body.
func (h *harness) send(method, path, key, body string) *http.Response {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func readJSON(t *testing.T, resp *http.Response, status int) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	var v map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("not JSON: %q", body)
		}
	}
	return v
}

func (h *harness) credits() (calls, credits int64) {
	h.t.Helper()
	h.node.Recorder.Flush(context.Background())
	u, err := h.db.Usage(context.Background(), h.org.ID, "2026-11")
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Used.APICalls, u.Used.ImageCredits
}

func (h *harness) countQR() int {
	n, err := h.db.CountQRCodes(context.Background(), h.org.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func logoPNG(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 48; x++ {
			img.Set(x, y, color.RGBA{200, 30, 30, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestQRCodeLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		resp := h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Product Page","type":"url","content":{"url":"https://example.com/p/1"}}`)
		loc := resp.Header.Get("Location")
		q := readJSON(t, resp, 201)
		id := q["id"].(string)
		if !strings.HasPrefix(id, "qr_") || loc != "/api/v1/qr-codes/"+id {
			t.Fatalf("id %q Location %q", id, loc)
		}
		if q["payload"] != "https://example.com/p/1" || q["name"] != "Product Page" || q["type"] != "url" {
			t.Errorf("created %v", q)
		}
		d := q["design"].(map[string]any)
		if d["foreground"] != "#000000" || d["background"] != "#FFFFFF" || d["errorCorrection"] != "M" || d["margin"] != 4.0 || d["logo"] != nil {
			t.Errorf("default design %v", d)
		}
		by := q["createdBy"].(map[string]any)
		if by["type"] != "apiKey" || by["id"] != h.kid || by["name"] != "Production-WebApp" || by["prefix"] != h.key[:12] {
			t.Errorf("createdBy %v", by)
		}

		got := readJSON(t, h.send("GET", "/api/v1/qr-codes/"+id, h.key, ""), 200)
		if got["payload"] != q["payload"] || got["createdAt"] != q["createdAt"] {
			t.Errorf("get %v", got)
		}
		// A name is kept on one line with single spaces and accented
		// letters in one form: "Landing page" as the list shows it.
		upd := readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"name":" Landing\n\t page\u2028","design":{"foreground":"#1a237e","errorCorrection":"q"}}`), 200)
		if upd["name"] != "Landing page" || upd["payload"] != "https://example.com/p/1" {
			t.Errorf("patched %v", upd)
		}
		upd = readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"name":"Lande\u0301d"}`), 200)
		if upd["name"] != "Land\u00e9d" {
			t.Errorf("patched name %q, want NFC", upd["name"])
		}
		upd = readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"name":"Landing"}`), 200)
		if upd["name"] != "Landing" || upd["payload"] != "https://example.com/p/1" {
			t.Errorf("patched %v", upd)
		}
		if d := upd["design"].(map[string]any); d["foreground"] != "#1A237E" || d["errorCorrection"] != "Q" || d["margin"] != 4.0 {
			t.Errorf("patched design %v", d)
		}
		upd = readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"type":"text","content":{"text":"héllo 世界 🎉"}}`), 200)
		if upd["payload"] != "héllo 世界 🎉" || upd["type"] != "text" {
			t.Errorf("patched content %v", upd)
		}
		p := readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"type":"wifi"}`), 400)
		if !strings.Contains(p["detail"].(string), "content") {
			t.Errorf("type change without content: %v", p)
		}
		resp = h.send("DELETE", "/api/v1/qr-codes/"+id, h.key, "")
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Fatalf("delete: %d", resp.StatusCode)
		}
		expectProblem(t, h.send("GET", "/api/v1/qr-codes/"+id, h.key, ""), 404, "not_found")
		expectProblem(t, h.send("DELETE", "/api/v1/qr-codes/"+id, h.key, ""), 404, "not_found")
	})
}

func TestQRCodeValidation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		tests := []struct {
			name, ctype, body string
			status            int
			code              string
			fields            []string
		}{
			{"every bad field", "application/json", `{"name":"","type":"wifi","content":{"security":"WPA3","hidden":"yes","extra":1},"design":{"foreground":"red","margin":40}}`,
				400, "invalid_request", []string{"name", "content.ssid", "content.security", "content.hidden", "content.extra", "design.foreground", "design.margin"}},
			{"missing fields", "application/json", `{}`, 400, "invalid_request", []string{"name", "type", "content"}},
			{"unknown type", "application/json", `{"name":"x","type":"barcode","content":{}}`, 400, "invalid_request", []string{"type"}},
			{"unknown top-level field", "application/json", `{"name":"x","type":"url","content":{"url":"https://a.example"},"colour":"red"}`, 400, "invalid_request", []string{"colour"}},
			{"name with a right-to-left override", "application/json", `{"name":"menu\u202Etxt.exe","type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_request", []string{"name"}},
			{"name with a zero-width space", "application/json", `{"name":"Pro\u200Bmo","type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_request", []string{"name"}},
			{"name with an escape sequence", "application/json", `{"name":"\u001b[31mRed","type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_request", []string{"name"}},
			{"name with a tag character", "application/json", `{"name":"a\udb40\udc41b","type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_request", []string{"name"}},
			{"name with a NUL", "application/json", `{"name":"a\u0000b","type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_request", []string{"name"}},
			{"wrong type", "application/json", `{"name":5,"type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_request", []string{"name"}},
			{"logo without H", "application/json", `{"name":"x","type":"url","content":{"url":"https://a.example"},"design":{"logo":"` + logoPNG(t) + `"}}`, 400, "invalid_request", []string{"design.errorCorrection"}},
			{"logo not an image", "application/json", `{"name":"x","type":"url","content":{"url":"https://a.example"},"design":{"errorCorrection":"H","logo":"aGVsbG8="}}`, 400, "invalid_request", []string{"design.logo"}},
			{"low contrast", "application/json", `{"name":"x","type":"url","content":{"url":"https://a.example"},"design":{"foreground":"#777777","background":"#888888"}}`, 400, "invalid_request", []string{"design.foreground"}},
			{"inverted", "application/json", `{"name":"x","type":"url","content":{"url":"https://a.example"},"design":{"foreground":"#FFFFFF","background":"#000000"}}`, 400, "invalid_request", []string{"design.foreground"}},
			{"malformed JSON", "application/json", `{"name":`, 400, "invalid_json", nil},
			{"trailing data", "application/json", `{"name":"x"} {}`, 400, "invalid_json", nil},
			{"empty body", "application/json", ``, 400, "invalid_json", nil},
			{"white space only", "application/json", " \n\t ", 400, "invalid_json", nil},
			{"body in UTF-16 by its charset", "application/json; charset=UTF-16", `{"name":"x","type":"url","content":{"url":"https://a.example"}}`, 415, "unsupported_media_type", nil},
			{"body in Latin-1 by its charset", "application/json;charset=latin1", `{"name":"x","type":"url","content":{"url":"https://a.example"}}`, 415, "unsupported_media_type", nil},
			{"byte-order mark", "application/json", "\ufeff" + `{"name":"x","type":"url","content":{"url":"https://a.example"}}`, 400, "invalid_json", nil},
			{"two Content-Type headers", "application/json\napplication/json", `{"name":"x","type":"url","content":{"url":"https://a.example"}}`, 415, "unsupported_media_type", nil},
			{"wrong content type", "text/plain", `{"name":"x","type":"url","content":{"url":"https://a.example"}}`, 415, "unsupported_media_type", nil},
			{"too large", "application/json", `{"name":"` + strings.Repeat("x", 600<<10) + `"}`, 413, "request_too_large", nil},
			{"too long for L", "application/json", `{"name":"x","type":"email","content":{"to":"a@example.com","body":"` + strings.Repeat("é", 900) + `"},"design":{"errorCorrection":"L"}}`, 422, "content_too_long", []string{"content"}},
			{"too long for H", "application/json", `{"name":"x","type":"text","content":{"text":"` + strings.Repeat("a", 1500) + `"},"design":{"errorCorrection":"H"}}`, 422, "content_too_long", []string{"content"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/qr-codes", strings.NewReader(tt.body))
				req.Header.Set("Authorization", "Bearer "+h.key)
				for ct := range strings.SplitSeq(tt.ctype, "\n") {
					req.Header.Add("Content-Type", ct)
				}
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				p := expectProblem(t, resp, tt.status, tt.code)
				var fields []string
				errs, _ := p["errors"].([]any)
				for _, e := range errs {
					fields = append(fields, e.(map[string]any)["field"].(string))
				}
				sort.Strings(fields)
				want := slices.Clone(tt.fields)
				sort.Strings(want)
				if !slices.Equal(slices.Compact(fields), want) {
					t.Errorf("fields %v, want %v (detail %v)", fields, want, p["detail"])
				}
				if want := map[string]string{"byte-order mark": "byte-order mark", "body in UTF-16 by its charset": `charset "UTF-16"`,
					"empty body": "the body is empty: send a JSON object", "white space only": "the body is empty: send a JSON object",
					"malformed JSON": "the body ends inside its JSON object", "two Content-Type headers": "exactly one Content-Type header"}[tt.name]; want != "" && !strings.Contains(p["detail"].(string), want) {
					t.Errorf("detail %q does not say %s", p["detail"], want)
				}
				if tt.name == "too long for L" && strings.Contains(p["detail"].(string), "lower level") {
					t.Errorf("detail %q offers a level lower than L", p["detail"])
				}
				if tt.name == "too long for H" && !strings.Contains(p["detail"].(string), "at most 1273") {
					t.Errorf("detail %q does not give the maximum", p["detail"])
				}
			})
		}
		if n := h.countQR(); n != 0 {
			t.Fatalf("%d QR codes stored by refused requests", n)
		}
		if _, credits := h.credits(); credits != 0 {
			t.Fatalf("refused requests spent %d credits", credits)
		}
	})
}

func TestQRCodeImagesAndCredits(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Café Menü","type":"url","content":{"url":"https://example.com/menu"}}`), 201)
		id := q["id"].(string)
		path := "/api/v1/qr-codes/" + id
		calls0, _ := h.credits()

		resp := h.send("GET", path+"?format=svg&download=1", h.key, "")
		svg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.Contains(svg, []byte("<svg")) {
			t.Fatalf("svg: %d %s %.80s", resp.StatusCode, resp.Header.Get("Content-Type"), svg)
		}
		if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="caf-men.svg"; filename*=UTF-8''Caf%C3%A9%20Men%C3%BC.svg` {
			t.Errorf("Content-Disposition %q", cd)
		}
		if resp.Header.Get("Cache-Control") == "" || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "private") {
			t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		if got := resp.Header.Get("X-Image-Credits-Remaining"); got != "199" {
			t.Errorf("credits remaining %s after SVG, want 199", got)
		}

		resp = h.send("GET", path+"?format=png&size=300", h.key, "")
		etag := resp.Header.Get("ETag")
		img, err := png.Decode(resp.Body)
		resp.Body.Close()
		if err != nil || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("png: %v %s", err, resp.Header.Get("Content-Type"))
		}
		if b := img.Bounds(); b.Dx() != b.Dy() || b.Dx() > 300 || b.Dx() < 250 {
			t.Errorf("PNG is %v for size=300", b)
		}
		if resp.Header.Get("X-Image-Credits-Remaining") != "189" || etag == "" {
			t.Errorf("after PNG: credits %s etag %q", resp.Header.Get("X-Image-Credits-Remaining"), etag)
		}
		resp = h.send("GET", path+"?format=png&size=300", h.key, "")
		resp.Body.Close()
		if resp.Header.Get("ETag") != etag {
			t.Error("the same request gave another ETag")
		}
		req, _ := http.NewRequest("GET", h.srv.URL+path+"?format=png&size=300", nil)
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("If-None-Match", etag)
		resp, _ = h.srv.Client().Do(req)
		resp.Body.Close()
		if resp.StatusCode != 304 {
			t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
		}
		calls, credits := h.credits()
		if calls-calls0 != 4 || credits != 21 {
			t.Errorf("spent %d calls and %d credits, want 4 and 21 (the 304 costs a call, no credit)", calls-calls0, credits)
		}

		for _, bad := range []string{"?format=gif", "?format=png&size=63", "?format=png&size=4097", "?format=svg&size=100"} {
			expectProblem(t, h.send("GET", path+bad, h.key, ""), 400, "invalid_request")
		}

		// 9 credits left: PNG is refused (no call counted), SVG and JSON work.
		limit := int64(30)
		if err := h.cli.SetLimits(context.Background(), snapglyph.Operator, h.org.ID, nil, &limit); err != nil {
			t.Fatal(err)
		}
		calls0, _ = h.credits()
		resp = h.send("GET", path+"?format=png", h.key, "")
		if resp.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		p := expectProblem(t, resp, 429, "image_credit_limit_reached")
		if !strings.Contains(p["detail"].(string), "9 of its 30") {
			t.Errorf("detail %q", p["detail"])
		}
		resp = h.send("GET", path+"?format=svg", h.key, "")
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Image-Credits-Remaining") != "8" {
			t.Errorf("SVG with 9 credits: %d, remaining %s", resp.StatusCode, resp.Header.Get("X-Image-Credits-Remaining"))
		}
		readJSON(t, h.send("GET", path, h.key, ""), 200)
		calls, credits = h.credits()
		if calls-calls0 != 2 || credits != 22 {
			t.Errorf("spent %d calls, %d credits; want 2 (the 429 is free) and 22", calls-calls0, credits)
		}
	})
}

func TestQRCodeLogo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Brand","type":"url","content":{"url":"https://example.com"},"design":{"errorCorrection":"H","logo":"`+logoPNG(t)+`"}}`), 201)
		if l := q["design"].(map[string]any)["logo"].(map[string]any); l["contentType"] != "image/png" {
			t.Errorf("logo %v", l)
		}
		path := "/api/v1/qr-codes/" + q["id"].(string)
		calls0, _ := h.credits()
		expectProblem(t, h.send("GET", path+"?format=svg", h.key, ""), 422, "logo_requires_png")
		resp := h.send("GET", path+"?format=png", h.key, "")
		if _, err := png.Decode(resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("PNG with logo: %d %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		calls, credits := h.credits()
		if calls-calls0 != 2 || credits != 10 {
			t.Errorf("spent %d calls, %d credits; want 2 (the 422 counts) and 10 (none for the 422)", calls-calls0, credits)
		}
		upd := readJSON(t, h.send("PATCH", path, h.key, `{"design":{"logo":null}}`), 200)
		if upd["design"].(map[string]any)["logo"] != nil {
			t.Error("logo not removed")
		}
		resp = h.send("GET", path+"?format=svg", h.key, "")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("SVG after removing the logo: %d", resp.StatusCode)
		}
		// The base64 tool's output, wrapped every 76 characters, is
		// taken as the document says; a logo without its padding is not.
		logo := logoPNG(t)
		var wrapped strings.Builder
		for i := 0; i < len(logo); i += 76 {
			wrapped.WriteString(logo[i:min(i+76, len(logo))] + `\n`)
		}
		upd = readJSON(t, h.send("PATCH", path, h.key, `{"design":{"errorCorrection":"H","logo":"`+wrapped.String()+`"}}`), 200)
		if l, _ := upd["design"].(map[string]any)["logo"].(map[string]any); l == nil || l["contentType"] != "image/png" {
			t.Errorf("a wrapped logo: %v", upd["design"])
		}
		if trimmed := strings.TrimRight(logo, "="); trimmed != logo {
			expectProblem(t, h.send("PATCH", path, h.key, `{"design":{"errorCorrection":"H","logo":"`+trimmed+`"}}`), 400, "invalid_request")
		}
	})
}

func TestQRCodeListAndTenancy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		other, err := h.cli.CreateKey(ctx, snapglyph.Operator, h.org.ID, "Zapier-Integration")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i, c := range []struct{ key, body string }{
			{h.key, `{"name":"a","type":"url","content":{"url":"https://example.com/a"}}`},
			{other.Secret, `{"name":"b","type":"text","content":{"text":"b"}}`},
			{h.key, `{"name":"c","type":"phone","content":{"number":"+1 555 123 4567"}}`},
			{other.Secret, `{"name":"d","type":"url","content":{"url":"https://example.com/d"}}`},
			{h.key, `{"name":"e","type":"url","content":{"url":"https://example.com/e"}}`},
		} {
			h.clock.Set(start.Add(timeSecond(i)))
			ids = append(ids, readJSON(t, h.send("POST", "/api/v1/qr-codes", c.key, c.body), 201)["id"].(string))
		}
		h.clock.Set(start)
		list := func(query string) ([]string, string) {
			v := readJSON(t, h.send("GET", "/api/v1/qr-codes"+query, h.key, ""), 200)
			var got []string
			for _, q := range v["data"].([]any) {
				got = append(got, q.(map[string]any)["id"].(string))
			}
			next, _ := v["nextCursor"].(string)
			return got, next
		}
		page1, next := list("?limit=2")
		page2, next2 := list("?limit=2&cursor=" + next)
		page3, next3 := list("?limit=2&cursor=" + next2)
		all := append(append(page1, page2...), page3...)
		if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(all, want) || next3 != "" {
			t.Errorf("pages %v %v %v (next %q), want newest first %v", page1, page2, page3, next3, want)
		}
		if got, _ := list("?createdByKey=" + other.ID); !slices.Equal(got, []string{ids[3], ids[1]}) {
			t.Errorf("createdByKey: %v", got)
		}
		if got, _ := list("?type=url"); !slices.Equal(got, []string{ids[4], ids[3], ids[0]}) {
			t.Errorf("type=url: %v", got)
		}
		for _, bad := range []string{"?limit=0", "?limit=101", "?cursor=nonsense", "?type=barcode", "?createdByKey=" + h.key} {
			expectProblem(t, h.send("GET", "/api/v1/qr-codes"+bad, h.key, ""), 400, "invalid_request")
		}

		// Another organisation sees none of it, by any method.
		_, stranger, _ := h.newOrgKey("pro")
		for _, m := range []struct{ method, body string }{{"GET", ""}, {"PATCH", `{"name":"mine"}`}, {"DELETE", ""}} {
			expectProblem(t, h.send(m.method, "/api/v1/qr-codes/"+ids[0], stranger, m.body), 404, "not_found")
		}
		expectProblem(t, h.send("GET", "/api/v1/qr-codes/"+ids[0]+"?format=png", stranger, ""), 404, "not_found")
		v := readJSON(t, h.send("GET", "/api/v1/qr-codes", stranger, ""), 200)
		if len(v["data"].([]any)) != 0 {
			t.Errorf("a stranger lists %v", v["data"])
		}
		if q, _ := h.db.QRCode(ctx, h.org.ID, ids[0]); q.Name != "a" {
			t.Error("a stranger's PATCH changed the QR code")
		}
	})
}

// TestQRCodesSurviveRestart: acknowledged QR codes are there after the
// node stops and a new one starts on the same database.
func TestQRCodesSurviveRestart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		id := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Keep","type":"email","content":{"to":"hi@example.com","subject":"Hello there"}}`), 201)["id"].(string)
		h.srv.Close()
		h.node.Close()
		h2 := newHarness(t, db, node.Config{})
		q := readJSON(t, h2.send("GET", "/api/v1/qr-codes/"+id, h.key, ""), 200)
		if q["payload"] != "mailto:hi@example.com?subject=Hello%20there" {
			t.Errorf("after restart: %v", q)
		}
	})
}

// TestOpenAPIMatchesRoutes: every route served is described, and every
// operation described is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	resp, err := http.Get(h.srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %d %v %q", resp.StatusCode, err, doc.OpenAPI)
	}
	var described []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			described = append(described, strings.ToUpper(method)+" "+path)
			if !bytes.Contains(op, []byte(`"responses"`)) {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	served := h.node.Server.APIRoutes()
	sort.Strings(described)
	sort.Strings(served)
	if !slices.Equal(described, served) {
		t.Errorf("described %v\nserved    %v", described, served)
	}
	// Every error code the server can send is in the Problem schema.
	raw, _ := os.ReadFile("openapi.json")
	for _, code := range []string{"missing_api_key", "malformed_authorization", "malformed_api_key", "invalid_api_key", "api_key_paused",
		"api_key_revoked", "api_not_in_plan", "api_call_limit_reached", "image_credit_limit_reached", "invalid_request", "invalid_json",
		"not_found", "request_too_large", "unsupported_media_type", "content_too_long", "logo_requires_png", "idempotency_key_reused", "service_unavailable",
		"method_not_allowed", "cors_not_allowed", "render_busy",
		"authentication_throttled", "uri_too_long"} {
		if !bytes.Contains(raw, []byte(`"`+code+`"`)) {
			t.Errorf("openapi.json does not list the code %s", code)
		}
	}
}

// A PATCH that sends only some fields changes exactly those, and each one
// is read back from a fresh GET (not only from the PATCH's answer).
func TestQRCodePatchEachField(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"url","content":{"url":"https://example.com/old"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string)
		stored := func() map[string]any { return readJSON(t, h.send("GET", path, h.key, ""), 200) }

		// Content alone: the type stays, the payload follows the content.
		readJSON(t, h.send("PATCH", path, h.key, `{"content":{"url":"https://example.com/new"}}`), 200)
		if got := stored(); got["payload"] != "https://example.com/new" || got["type"] != "url" ||
			got["content"].(map[string]any)["url"] != "https://example.com/new" || got["name"] != "Menu" {
			t.Fatalf("after a content-only PATCH: %v", got)
		}
		// Content of another type without the type: refused, nothing changes.
		p := readJSON(t, h.send("PATCH", path, h.key, `{"content":{"text":"hello"}}`), 400)
		if !strings.Contains(fmt.Sprint(p["errors"]), "content") {
			t.Errorf("content of the wrong type: %v", p)
		}
		if got := stored(); got["payload"] != "https://example.com/new" {
			t.Errorf("a refused PATCH changed the code: %v", got)
		}
		// The same type repeated without content keeps the content.
		readJSON(t, h.send("PATCH", path, h.key, `{"type":"url","name":"Menu 2"}`), 200)
		if got := stored(); got["payload"] != "https://example.com/new" || got["name"] != "Menu 2" {
			t.Errorf("same type, no content: %v", got)
		}
		// Type and content together.
		readJSON(t, h.send("PATCH", path, h.key, `{"type":"phone","content":{"number":"+15551234567"}}`), 200)
		if got := stored(); got["payload"] != "tel:+15551234567" || got["type"] != "phone" {
			t.Errorf("type and content: %v", got)
		}
		// Each design field on its own.
		for field, value := range map[string]string{"foreground": `"#102030"`, "background": `"#FAFAFA"`, "errorCorrection": `"H"`, "margin": `7`} {
			readJSON(t, h.send("PATCH", path, h.key, `{"design":{"`+field+`":`+value+`}}`), 200)
			got := fmt.Sprint(stored()["design"].(map[string]any)[field])
			if want := strings.Trim(value, `"`); got != want {
				t.Errorf("design.%s: stored %s, want %s", field, got, want)
			}
		}
	})
}

// The document names the server clients should call: the public URL when
// the node has one, else the host that served it (a relative server).
func TestOpenAPIServer(t *testing.T) {
	for _, c := range []struct{ public, want string }{{"", "/"}, {"https://qr.example.com/", "https://qr.example.com"}} {
		// A database each: a harness sets the database's clock.
		h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{PublicURL: c.public})
		resp, err := http.Get(h.srv.URL + "/api/v1/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Servers []struct{ URL string } `json:"servers"`
			Paths   map[string]any         `json:"paths"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || len(doc.Servers) != 1 || doc.Servers[0].URL != c.want || len(doc.Paths) == 0 {
			t.Errorf("public URL %q: servers %+v, %v", c.public, doc.Servers, err)
		}
	}
}

// TestQueryErrorsTogether: a request's bad query parameters are refused
// together, each named, as a body's bad fields are — each refusal costs
// a call, so fixing them one at a time cost the client one call each.
func TestQueryErrorsTogether(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	h := newHarness(t, db, node.Config{})
	q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"text","content":{"text":"x"}}`), 201)
	for _, tt := range []struct {
		path   string
		fields []string
	}{
		{"/api/v1/qr-codes?limit=0&type=bogus&createdByKey=qr_live_x&cursor=abc", []string{"limit", "type", "createdByKey", "cursor"}},
		{"/api/v1/qr-codes?cursor=abc", []string{"cursor"}},
		{"/api/v1/qr-codes/" + q["id"].(string) + "?format=bad&size=x&download=x", []string{"format", "download", "size"}},
	} {
		p := expectProblem(t, h.send("GET", tt.path, h.key, ""), 400, "invalid_request")
		var fields []string
		for _, e := range p["errors"].([]any) {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
		if !slices.Equal(fields, tt.fields) {
			t.Errorf("%s: fields %v, want %v (%v)", tt.path, fields, tt.fields, p["detail"])
		}
	}
}
