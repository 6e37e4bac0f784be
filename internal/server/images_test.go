package server_test

import (
	"bytes"
	"context"
	"image/png"
	"io"
	"net/http"
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
