package server_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestImageOrderOfWork checks that an image request spends nothing it need
// not: with every render slot taken (so any render would be refused),
// If-None-Match is answered, a request without enough credits is refused
// with 429, and a request that would render is refused with 503
// render_busy, Retry-After: 1, and neither a call nor a credit charged.
func TestImageOrderOfWork(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Brand","type":"url","content":{"url":"https://example.com/busy"},"design":{"errorCorrection":"H","logo":"`+logoPNG(t)+`"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string) + "?format=png&size=2048"
		svc := h.node.Service
		svc.SetImageOptions(service.ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: 2, RenderWait: 0})
		var held []func()
		for range 2 {
			release, err := svc.AcquireRender()
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, release)
		}
		get := func(inm string) *http.Response {
			req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+h.key)
			if inm != "" {
				req.Header.Set("If-None-Match", inm)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		calls0, credits0 := h.credits()

		resp := get("*")
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 304 || etag == "" {
			t.Fatalf("If-None-Match: * while busy: %d, ETag %q; want 304 without rendering", resp.StatusCode, etag)
		}
		resp = get(`"other", ` + etag)
		resp.Body.Close()
		if resp.StatusCode != 304 {
			t.Fatalf("If-None-Match with the tag: %d, want 304", resp.StatusCode)
		}

		resp = get(`"stale"`)
		if ra := resp.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After %q, want 1", ra)
		}
		if rem := resp.Header.Get("X-Image-Credits-Remaining"); rem != "200" {
			t.Errorf("X-Image-Credits-Remaining %q after a refused render, want 200", rem)
		}
		expectProblem(t, resp, 503, "render_busy")
		calls, credits := h.credits()
		if calls-calls0 != 2 || credits != credits0 {
			t.Errorf("spent %d calls and %d credits; want 2 calls (the 304s) and no credit", calls-calls0, credits-credits0)
		}

		// Credits are decided before rendering: too few is 429, busy or not.
		limit := int64(5)
		if err := h.cli.SetLimits(context.Background(), snapglyph.Operator, h.org.ID, nil, &limit); err != nil {
			t.Fatal(err)
		}
		expectProblem(t, get(""), 429, "image_credit_limit_reached")
		limit = 200
		if err := h.cli.SetLimits(context.Background(), snapglyph.Operator, h.org.ID, nil, &limit); err != nil {
			t.Fatal(err)
		}

		for _, release := range held {
			release()
		}
		resp = get("")
		if _, err := png.Decode(resp.Body); err != nil || resp.StatusCode != 200 {
			t.Fatalf("after the slots are free: %d %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		if resp.Header.Get("ETag") != etag {
			t.Errorf("rendered ETag %s, the 304 said %s", resp.Header.Get("ETag"), etag)
		}
		if rem := resp.Header.Get("X-Image-Credits-Remaining"); rem != "190" {
			t.Errorf("X-Image-Credits-Remaining %q, want 190", rem)
		}
		// Cached now: served even while every slot is taken again.
		for range 2 {
			release, err := svc.AcquireRender()
			if err != nil {
				t.Fatal(err)
			}
			defer release()
		}
		resp = get("")
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("cached image while busy: %d", resp.StatusCode)
		}
		// The usage of a response is recorded after its last byte is
		// written, so the client may read it first: poll, at most 5 s.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			calls, credits = h.credits()
			if calls-calls0 == 4 && credits-credits0 == 20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("spent %d calls and %d credits; want 4 (the 304s and the PNGs; the 503 and the 429 are free) and 20", calls-calls0, credits-credits0)
			}
		}
	})
}

// TestLogoImageReadsLogoOnlyToDraw checks that a logo PNG request reads
// the code without its logo: repeated requests, new sizes drawn with the
// cached decoded logo, and conditional requests read no logo; a render
// with nothing cached reads it once; a cached image is served even after
// the logo bytes vanish behind the cache's back; and a row stored before
// logo_sha256 existed gets the same ETag and image. Both stores.
func TestLogoImageReadsLogoOnlyToDraw(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Brand","type":"url","content":{"url":"https://example.com/logo-reads"},"design":{"errorCorrection":"H","logo":"`+logoPNG(t)+`"}}`), 201)
		id := q["id"].(string)
		path := "/api/v1/qr-codes/" + id + "?format=png&size=300"
		credits := int64(100_000)
		if err := h.cli.SetLimits(context.Background(), snapglyph.Operator, h.org.ID, nil, &credits); err != nil {
			t.Fatal(err)
		}
		svc := h.node.Service
		full, err := db.QRCode(context.Background(), h.org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if full.LogoSHA256 != snapglyph.LogoSHA256(full.Logo) || full.LogoSHA256 == "" {
			t.Fatalf("stored logo_sha256 %q, want the logo's %q", full.LogoSHA256, snapglyph.LogoSHA256(full.Logo))
		}
		want, err := svc.ImageTag(&snapglyph.QRCode{Payload: full.Payload, Design: full.Design, Logo: full.Logo}, "png", 300)
		if err != nil {
			t.Fatal(err)
		}
		get := func(p, inm string, status int) (body []byte, etag string) {
			t.Helper()
			req, _ := http.NewRequest("GET", h.srv.URL+p, nil)
			req.Header.Set("Authorization", "Bearer "+h.key)
			if inm != "" {
				req.Header.Set("If-None-Match", inm)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ = io.ReadAll(resp.Body)
			if resp.StatusCode != status {
				t.Fatalf("GET %s: %d, want %d: %s", p, resp.StatusCode, status, body)
			}
			return body, resp.Header.Get("ETag")
		}

		// Nothing cached on the node: the first request reads the logo once.
		svc.SetImageOptions(service.DefaultImageOptions())
		reads := db.LogoReads()
		img, etag := get(path, "", 200)
		if etag != want {
			t.Errorf("ETag %s, want %s (the tag of the code with its logo)", etag, want)
		}
		if _, err := png.Decode(bytes.NewReader(img)); err != nil {
			t.Fatal(err)
		}
		if n := db.LogoReads() - reads; n != 1 {
			t.Errorf("an uncached logo image read the logo %d times, want 1", n)
		}
		// Repeats, 304s and another size (the decoded logo is cached) read none.
		reads = db.LogoReads()
		for range 50 {
			if b, _ := get(path, "", 200); !bytes.Equal(b, img) {
				t.Fatal("a repeated request got other bytes")
			}
		}
		get(path, etag, 304)
		other, _ := get("/api/v1/qr-codes/"+id+"?format=png&size=512", "", 200)
		if bytes.Equal(other, img) {
			t.Error("size 512 gave the size-300 image")
		}
		if n := db.LogoReads() - reads; n != 0 {
			t.Errorf("cached logo images read the logo %d times, want 0", n)
		}

		// The cache serves the image without the logo bytes at all.
		if _, err := db.SQL().Exec(`UPDATE qr_codes SET logo = NULL WHERE id = '` + id + `'`); err != nil {
			t.Fatal(err)
		}
		if b, tag := get(path, "", 200); !bytes.Equal(b, img) || tag != etag {
			t.Fatalf("after the logo bytes vanished: %d bytes, tag %s; want the cached image", len(b), tag)
		}

		// A row from before logo_sha256: the hash is computed when read,
		// and the tag and image are the same.
		if _, err := db.SQL().Exec(`UPDATE qr_codes SET logo = (SELECT logo FROM qr_codes WHERE id = 'none'), logo_sha256 = '' WHERE id = '` + id + `'`); err != nil {
			t.Fatal(err)
		}
		restore, err := db.SQL().Prepare(map[bool]string{true: `UPDATE qr_codes SET logo = $1 WHERE id = $2`, false: `UPDATE qr_codes SET logo = ? WHERE id = ?`}[db.Dialect == "postgres"])
		if err != nil {
			t.Fatal(err)
		}
		defer restore.Close()
		if _, err := restore.Exec(full.Logo, id); err != nil {
			t.Fatal(err)
		}
		svc.SetImageOptions(service.DefaultImageOptions())
		get(path, etag, 304)
		if b, tag := get(path, "", 200); !bytes.Equal(b, img) || tag != etag {
			t.Fatalf("a row without logo_sha256: %d bytes, tag %s; want the same image and tag %s", len(b), tag, etag)
		}
		readJSON(t, h.send("GET", "/api/v1/qr-codes/"+id, h.key, ""), 200)
		// Saving the code stores the hash: image requests stop reading the logo.
		readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"name":"Brand 2"}`), 200)
		reads = db.LogoReads()
		if b, tag := get(path, "", 200); !bytes.Equal(b, img) || tag != etag {
			t.Fatalf("after saving: %d bytes, tag %s", len(b), tag)
		}
		if n := db.LogoReads() - reads; n != 0 {
			t.Errorf("after saving, a cached image read the logo %d times", n)
		}
	})
}

// TestQRJSONReadsNoLogo checks that GET of a QR code as JSON reads no
// logo bytes from the store, for a code with logo_sha256 and for one
// stored before it, and still reports the logo's type and exact size.
// Both stores.
func TestQRJSONReadsNoLogo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Brand","type":"url","content":{"url":"https://example.com/json-logo"},"design":{"errorCorrection":"H","logo":"`+logoPNG(t)+`"}}`), 201)
		id := q["id"].(string)
		full, err := db.QRCode(context.Background(), h.org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		check := func(label string) {
			t.Helper()
			reads := db.LogoReads()
			got := readJSON(t, h.send("GET", "/api/v1/qr-codes/"+id, h.key, ""), 200)
			if n := db.LogoReads() - reads; n != 0 {
				t.Errorf("%s: GET as JSON read the logo %d times, want 0", label, n)
			}
			logo, _ := got["design"].(map[string]any)["logo"].(map[string]any)
			if logo == nil || logo["contentType"] != "image/png" || logo["bytes"] != float64(len(full.Logo)) {
				t.Errorf("%s: design.logo %v, want image/png and %d bytes", label, logo, len(full.Logo))
			}
		}
		check("a code with logo_sha256")
		if _, err := db.SQL().Exec(`UPDATE qr_codes SET logo_sha256 = '' WHERE id = '` + id + `'`); err != nil {
			t.Fatal(err)
		}
		check("a code stored before logo_sha256")
	})
}

// TestImageHeadAsGet: a HEAD of an image answers the status and headers
// of the GET (but Content-Length, which only drawing tells), the file
// name of a download included; it costs an API call and no image credit;
// and without enough credits it is refused as the GET is, 429 with the
// same headers.
func TestImageHeadAsGet(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"url","content":{"url":"https://example.com/head"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string) + "?format=png&size=300&download=1"
		usage := func() (calls, credits float64) {
			u := expectOK(t, h.get("/api/v1/usage", h.key))
			return u["apiCalls"].(map[string]any)["used"].(float64), u["imageCredits"].(map[string]any)["used"].(float64)
		}
		// settled polls the usage until it counts the n requests sent
		// since calls0 was read (a response's usage is recorded after its
		// last byte), and returns the image credits used then.
		settled := func(calls0 float64, n int) float64 {
			t.Helper()
			deadline := time.Now().Add(5 * time.Second)
			for k := 1; ; k++ {
				calls, credits := usage()
				if calls == calls0+float64(n+k) {
					return credits
				}
				if time.Now().After(deadline) {
					t.Fatalf("usage counts %v calls, want %v", calls, calls0+float64(n+k))
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		send := func(method string) (*http.Response, []byte) {
			t.Helper()
			resp := h.send(method, path, h.key, "")
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, body
		}
		// same reports how HEAD's headers differ from GET's, but for the
		// ones named in vary (compared by name only) and ignore.
		same := func(get, head http.Header, vary, ignore []string) {
			t.Helper()
			for k := range get {
				if _, ok := head[k]; !ok && !slices.Contains(ignore, k) {
					t.Errorf("GET has %s: %q, HEAD has not", k, get[k])
				}
			}
			for k, v := range head {
				if _, ok := get[k]; !ok {
					t.Errorf("HEAD has %s: %q, GET has not", k, v)
				} else if !slices.Contains(vary, k) && !slices.Equal(v, get[k]) {
					t.Errorf("%s: HEAD %q, GET %q", k, v, get[k])
				}
			}
		}
		vary := []string{"Date", "X-Request-Id"}

		calls0, credits0 := usage()
		var head *http.Response
		for range 2 {
			resp, body := send("HEAD")
			if resp.StatusCode != 200 || len(body) != 0 {
				t.Fatalf("HEAD: %d with %d bytes, want 200 and none", resp.StatusCode, len(body))
			}
			head = resp
		}
		if cd, want := head.Header.Get("Content-Disposition"), service.Attachment("Menu", "png"); cd != want {
			t.Errorf("HEAD with download=1: Content-Disposition %q, want %q", cd, want)
		}
		if used := settled(calls0, 2); used != credits0 {
			t.Errorf("two HEADs used %v image credits, want none", used-credits0)
		}
		calls0, credits0 = usage()
		get, body := send("GET")
		if get.StatusCode != 200 || len(body) == 0 || get.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
			t.Fatalf("GET: %d with %d bytes, Content-Length %q", get.StatusCode, len(body), get.Header.Get("Content-Length"))
		}
		// The credits left differ: the GET was charged 10 of them.
		same(get.Header, head.Header, append(vary, "X-Image-Credits-Remaining", "X-Ratelimit-Remaining", "Ratelimit"), []string{"Content-Length"})
		if used := settled(calls0, 1); used != credits0+10 {
			t.Errorf("the GET used %v image credits, want 10", used-credits0)
		}

		// Every credit spent: GET and HEAD are refused alike.
		limit := int64(credits0 + 10)
		if err := h.cli.SetLimits(context.Background(), snapglyph.Operator, h.org.ID, nil, &limit); err != nil {
			t.Fatal(err)
		}
		get, _ = send("GET")
		head, body = send("HEAD")
		if get.StatusCode != 429 || head.StatusCode != 429 || len(body) != 0 {
			t.Fatalf("without credits: GET %d, HEAD %d with %d bytes; want 429 twice, no body", get.StatusCode, head.StatusCode, len(body))
		}
		if get.Header.Get("X-Image-Credits-Remaining") != "0" || get.Header.Get("Retry-After") == "" || get.Header.Get("Content-Disposition") != "" {
			t.Errorf("GET without credits: %v", get.Header)
		}
		same(get.Header, head.Header, vary, nil)
	})
}

// TestImageForAClientGoneIsFree: a client that leaves while its image is
// drawn (a time-out of its own) is sent nothing and pays nothing, neither
// the call nor the ten credits of a PNG — credits are charged when the
// image is sent — and its request is logged as 499; a client that stays
// pays for the same image. Both stores.
func TestImageForAClientGoneIsFree(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"url","content":{"url":"https://example.com/gone"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string) + "?format=png&size=600"
		used := func() (calls, credits float64) {
			t.Helper()
			u := readJSON(t, h.send("GET", "/api/v1/usage", h.key, ""), 200)
			return u["apiCalls"].(map[string]any)["used"].(float64), u["imageCredits"].(map[string]any)["used"].(float64)
		}
		calls0, credits0 := used()

		// A listener of the test's own before the node, to learn when the
		// node sees the client leave; the render waits for the test.
		node, seen := h.node.Handler(), make(chan context.Context, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/api/v1/qr-codes/") {
				seen <- r.Context()
			}
			node.ServeHTTP(w, r)
		}))
		defer srv.Close()
		drawing, release := make(chan struct{}), make(chan struct{})
		h.node.Service.OnDraw(func() { close(drawing); <-release })
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+h.key)
		done := make(chan error, 1)
		go func() {
			resp, err := srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		wait := func(c <-chan struct{}, what string) {
			t.Helper()
			select {
			case <-c:
			case <-time.After(10 * time.Second):
				t.Fatal(what)
			}
		}
		var server context.Context
		select {
		case server = <-seen:
		case <-time.After(10 * time.Second):
			t.Fatal("the request did not reach the node")
		}
		wait(drawing, "the image was not drawn")
		cancel() // the client's time-out, while its credits are spent and its image drawn
		if err := <-done; err == nil {
			t.Fatal("the cancelled request was answered")
		}
		wait(server.Done(), "the node did not see the client leave")
		close(release)
		h.node.Service.OnDraw(nil)
		eventually(t, 10*time.Second, func() error {
			if !strings.Contains(h.logs.String(), "status=499") {
				return fmt.Errorf("no request logged as 499:\n%s", h.logs.String())
			}
			return nil
		})
		if calls, credits := used(); calls != calls0+1 || credits != credits0 {
			t.Errorf("after an image whose client left and a usage read: %v calls and %v credits used, %v and %v before: want one call (the read) and no credit",
				calls, credits, calls0, credits0)
		}
		images := 0
		for _, e := range logOf(t, h.cli, h.org.ID, 4) { // the create, two usage reads and the image
			if e.Method == "GET" && e.Route != "/api/v1/usage" {
				images++
				if e.Status != 499 || e.Code != "client_closed_request" || e.Calls != 0 || e.Credits != 0 {
					t.Errorf("the image's log entry: %d %s, %d calls, %d credits; want 499 client_closed_request, free", e.Status, e.Code, e.Calls, e.Credits)
				}
			}
		}
		if images != 1 {
			t.Errorf("%d images in the log, want 1", images)
		}

		// A client that stays gets the image (drawn for the one that left)
		// and pays for it.
		resp := h.get(path, h.key)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if calls, credits := used(); calls != calls0+3 || credits != credits0+10 {
			t.Errorf("after a PNG sent: %v calls and %v credits used, %v and %v before: want 3 more calls and 10 credits", calls, credits, calls0, credits0)
		}
	})
}
