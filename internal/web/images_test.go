package web_test

import (
	"net/http"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestDashboardImagesShareTheRenderBound: the dashboard's images and
// previews take the same render slots as the API. With every slot taken
// they answer 503 with Retry-After: 1, except what needs no render (a
// matching If-None-Match, an image or preview already cached).
func TestDashboardImagesShareTheRenderBound(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	_, email := e.org(snapglyph.PlanPro)
	b := e.browser()
	b.signIn(email)
	form := qrForm("Logo", "url", "url.url", "https://example.com/dash", "errorCorrection", "H")
	id := b.createQR(form, &upload{"l.png", pngLogo(t)})
	previewForm := qrForm("", "url", "url.url", "https://example.com/preview", "errorCorrection", "H")
	expectStatus(t, b.postMultipart("/qr-codes/preview", previewForm, &upload{"l.png", pngLogo(t)}), http.StatusOK)
	p := b.get("/qr-codes/" + id + "/image.png?size=300")
	expectStatus(t, p, http.StatusOK)
	cachedTag := p.Header.Get("ETag")

	e.svc.SetImageOptions(service.ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: 1, RenderWait: 0})
	release, err := e.svc.AcquireRender()
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	// New caches: nothing is cached any more, and the one slot is taken.
	p = b.get("/qr-codes/" + id + "/image.png?size=300")
	expectStatus(t, p, http.StatusServiceUnavailable)
	if p.Header.Get("Retry-After") != "1" || p.Header.Get("ETag") != "" {
		t.Errorf("busy image: Retry-After %q, ETag %q", p.Header.Get("Retry-After"), p.Header.Get("ETag"))
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/qr-codes/"+id+"/image.png?size=300", nil)
	req.Header.Set("If-None-Match", cachedTag)
	if p := b.do(req); p.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match while busy: %d, want 304 (the tag needs no render)", p.StatusCode)
	}
	p = b.postMultipart("/qr-codes/preview", previewForm, &upload{"l.png", pngLogo(t)})
	expectStatus(t, p, http.StatusServiceUnavailable)
	if p.Header.Get("Retry-After") != "1" {
		t.Errorf("busy preview: Retry-After %q", p.Header.Get("Retry-After"))
	}

	release()
	expectStatus(t, b.postMultipart("/qr-codes/preview", previewForm, &upload{"l.png", pngLogo(t)}), http.StatusOK)
	// Cached now: the same preview is drawn while the slot is taken.
	again, err := e.svc.AcquireRender()
	if err != nil {
		t.Fatal(err)
	}
	defer again()
	expectStatus(t, b.postMultipart("/qr-codes/preview", previewForm, &upload{"l.png", pngLogo(t)}), http.StatusOK)
}
