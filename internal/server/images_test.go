package server_test

import (
	"context"
	"image/png"
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
