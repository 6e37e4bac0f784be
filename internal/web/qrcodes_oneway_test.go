package web_test

// The dashboard's QR pages do what the API does, by the same code: the
// preview reports what saving the form would, the images are the API's
// images (same bytes, same ETag), and If-None-Match is answered by one
// rule on both.

import (
	"bytes"
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var (
	summaryList = regexp.MustCompile(`(?s)<div class="error-summary"[^>]*>.*?<ul>(.*?)</ul>`)
	listItem    = regexp.MustCompile(`(?s)<li>(.*?)</li>`)
	anyTag      = regexp.MustCompile(`<[^>]+>`)
)

// summaryProblems returns the problems a refused form lists on top, as
// text.
func summaryProblems(t *testing.T, p *page) []string {
	t.Helper()
	m := summaryList.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no problem summary on the page:\n%s", snippet(p.Body))
	}
	var out []string
	for _, li := range listItem.FindAllStringSubmatch(m[1], -1) {
		out = append(out, html.UnescapeString(anyTag.ReplaceAllString(li[1], "")))
	}
	return out
}

// TestQRPreviewSaysWhatSavingSays: for forms with every kind of problem,
// new and edited, the preview's problem lines are the problems the saved
// form lists, but for the name, which is not drawn. A form whose only
// problem is its name previews.
func TestQRPreviewSaysWhatSavingSays(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		big := bytes.Repeat(pngLogo(t), 300<<10/len(pngLogo(t))+1)
		id := b.createQR(qrForm("Logo", "url", "url.url", "https://example.com/logo", "errorCorrection", "H"), &upload{"l.png", pngLogo(t)})

		for _, c := range []struct {
			name, edit string // edit: the id of the code the form edits
			form       func() url.Values
			logo       *upload
		}{
			{name: "wifi", form: func() url.Values {
				return qrForm("", "wifi", "wifi.ssid", "", "wifi.security", "WPA", "wifi.password", "short", "background", "#000000")
			}},
			{name: "design", form: func() url.Values {
				return qrForm("Pale", "url", "url.url", "https://example.com", "foreground", "#dddddd", "margin", "lots", "errorCorrection", "X")
			}},
			{name: "url", form: func() url.Values { return qrForm("Bad link", "url", "url.url", "example.com/menu") }},
			{name: "vcard", form: func() url.Values {
				return qrForm("Nobody", "vcard", "vcard.phones", "+1 555 123 4567\nabc", "vcard.emails", "not-an-email")
			}},
			{name: "type", form: func() url.Values { return qrForm("Odd", "gif") }},
			{name: "too long", form: func() url.Values {
				return qrForm("Essay", "text", "text.text", strings.Repeat("x", 1300), "errorCorrection", "H")
			}},
			{name: "not an image", logo: &upload{"l.png", []byte("GIF89a, not a PNG")}, form: func() url.Values {
				return qrForm("Logo", "url", "url.url", "https://example.com", "errorCorrection", "H")
			}},
			{name: "logo too large", logo: &upload{"big.png", big}, form: func() url.Values {
				return qrForm(strings.Repeat("n", 101), "url", "url.url", "https://example.com", "errorCorrection", "H")
			}},
			{name: "logo needs H", logo: &upload{"l.png", pngLogo(t)}, form: func() url.Values {
				return qrForm("Logo", "text", "text.text", "hello", "errorCorrection", "Q")
			}},
			{name: "name only", form: func() url.Values {
				return qrForm(strings.Repeat("n", 101), "text", "text.text", "hello")
			}},
			// Edits: the saved logo stays unless replaced or removed.
			{name: "edit keeps the logo", edit: id, form: func() url.Values {
				return qrForm("Logo", "url", "url.url", "https://example.com/2", "errorCorrection", "M")
			}},
			{name: "edit type", edit: id, form: func() url.Values {
				return qrForm("", "phone", "phone.number", "call me", "errorCorrection", "H")
			}},
			{name: "edit name only", edit: id, form: func() url.Values {
				return qrForm("", "url", "url.url", "https://example.com/3", "errorCorrection", "H")
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				action := "/qr-codes/new"
				form := c.form()
				if c.edit != "" {
					action = "/qr-codes/" + c.edit + "/edit"
					form["id"] = []string{c.edit}
				}
				saved := b.postMultipart(action, form, c.logo)
				expectStatus(t, saved, http.StatusUnprocessableEntity)
				var want []string
				for _, p := range summaryProblems(t, saved) {
					if !strings.HasPrefix(p, "Name ") {
						want = append(want, p)
					}
				}
				preview := b.postMultipart("/qr-codes/preview", form, c.logo)
				if len(want) == 0 {
					expectStatus(t, preview, http.StatusOK)
					if ct := preview.Header.Get("Content-Type"); !strings.HasPrefix(ct, "image/") {
						t.Errorf("preview of a form with only a bad name: %q", ct)
					}
					return
				}
				expectStatus(t, preview, http.StatusUnprocessableEntity)
				if got := strings.Split(preview.Body, "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("the preview says\n\t%q\nsaving says\n\t%q", got, want)
				}
			})
		}
		if n, err := db.CountQRCodes(ctx, org.ID); err != nil || n != 1 {
			t.Errorf("%d QR codes (%v) after refused forms and previews, want the 1 created", n, err)
		}
		if q, _ := db.QRCode(ctx, org.ID, id); q.Payload != "https://example.com/logo" || q.Design.ErrorCorrection != "H" {
			t.Errorf("a refused edit or a preview changed the saved code: %q %q", q.Payload, q.Design.ErrorCorrection)
		}
	})
}

// TestQRImagesAreTheAPIs: the dashboard serves a code's images with the
// API's bytes and ETag; both answer If-None-Match by the one rule (weak
// comparison, lists over several lines, "*"; a malformed field matches
// nothing), with the ETag and Cache-Control of the full response; and a
// HEAD is answered without drawing.
func TestQRImagesAreTheAPIs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		key, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Images")
		if err != nil {
			t.Fatal(err)
		}
		plain := b.createQR(qrForm("Plain", "url", "url.url", "https://example.com/plain"), nil)
		logo := b.createQR(qrForm("Logo", "url", "url.url", "https://example.com/logo", "errorCorrection", "H"), &upload{"l.png", pngLogo(t)})

		type answer struct {
			status                      int
			etag, cache, ctype, payload string
		}
		send := func(method, path, bearer string, inm ...string) answer {
			t.Helper()
			req, _ := http.NewRequest(method, e.srv.URL+path, nil)
			for _, v := range inm {
				req.Header.Add("If-None-Match", v)
			}
			var resp *http.Response
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
				resp, err = e.srv.Client().Do(req)
			} else {
				resp, err = b.client.Do(req)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return answer{resp.StatusCode, resp.Header.Get("ETag"), resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"), string(body)}
		}
		images := []struct{ dash, api string }{
			{"/qr-codes/" + plain + "/image.svg", "/api/v1/qr-codes/" + plain + "?format=svg"},
			{"/qr-codes/" + plain + "/image.png?size=300", "/api/v1/qr-codes/" + plain + "?format=png&size=300"},
			{"/qr-codes/" + logo + "/image.png?size=512", "/api/v1/qr-codes/" + logo + "?format=png&size=512"},
		}
		for _, img := range images {
			dash, api := send("GET", img.dash, ""), send("GET", img.api, key.Secret)
			if dash.status != 200 || api.status != 200 || dash.etag == "" || dash.etag != api.etag || dash.payload != api.payload || dash.ctype != api.ctype {
				t.Fatalf("%s: dashboard %d %s %s (%d bytes), API %d %s %s (%d bytes); want the same image",
					img.dash, dash.status, dash.etag, dash.ctype, len(dash.payload), api.status, api.etag, api.ctype, len(api.payload))
			}
			tag := dash.etag
			for _, c := range []struct {
				name string
				inm  []string
				want int
			}{
				{"Exact", []string{tag}, 304},
				{"Weak", []string{"W/" + tag}, 304},
				{"List", []string{`"a", ` + tag + `, "b"`}, 304},
				{"TwoLines", []string{`"a"`, tag}, 304},
				{"Star", []string{"*"}, 304},
				{"Other", []string{`"a", W/"b"`}, 200},
				{"LowerW", []string{"w/" + tag}, 200},
				{"Unquoted", []string{strings.Trim(tag, `"`)}, 200},
				{"Junk", []string{tag + " junk"}, 200},
			} {
				for _, surface := range []struct{ path, bearer string }{{img.dash, ""}, {img.api, key.Secret}} {
					got := send("GET", surface.path, surface.bearer, c.inm...)
					if got.status != c.want {
						t.Errorf("%s with If-None-Match %q: %d, want %d", surface.path, c.inm, got.status, c.want)
					}
					if got.etag != tag || got.cache != "private, no-cache" || c.want == 304 && got.payload != "" || c.want == 200 && got.payload != dash.payload {
						t.Errorf("%s with If-None-Match %q: ETag %s, Cache-Control %q, %d bytes", surface.path, c.inm, got.etag, got.cache, len(got.payload))
					}
				}
			}
		}

		// Nothing cached and no render slot: a GET would have to draw and
		// is refused; a HEAD and a 304 draw nothing.
		e.svc.SetImageOptions(service.ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: 1, RenderWait: 0})
		release, err := e.svc.AcquireRender()
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		path := "/qr-codes/" + logo + "/image.png?size=1024"
		if got := send("GET", path, ""); got.status != http.StatusServiceUnavailable || got.etag != "" || got.cache != "no-store" {
			t.Errorf("GET with no render slot: %d, ETag %q, Cache-Control %q; want 503 without an ETag, not stored", got.status, got.etag, got.cache)
		}
		head := send("HEAD", path, "")
		if head.status != 200 || head.ctype != "image/png" || head.etag == "" || head.cache != "private, no-cache" || head.payload != "" {
			t.Errorf("HEAD: %+v; want 200 with the image's headers", head)
		}
		if got := send("GET", path, "", head.etag); got.status != http.StatusNotModified {
			t.Errorf("If-None-Match with the HEAD's tag: %d, want 304", got.status)
		}
		release()
		if got := send("GET", path, ""); got.status != 200 || got.etag != head.etag {
			t.Errorf("GET: %d, ETag %s; the HEAD said %s", got.status, got.etag, head.etag)
		}
		// Only the API's requests were metered: one call each, and the
		// credits of the images it sent (SVG 1, PNG 10; a 304 none).
		want := snapglyph.Counts{APICalls: 3 * 10, ImageCredits: 5*1 + 5*10 + 5*10}
		period, _ := snapglyph.Period(e.clock.Now())
		var got snapglyph.Counts
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			u, err := db.Usage(ctx, org.ID, period)
			if err != nil {
				t.Fatal(err)
			}
			pending := e.node.Recorder.Pending(org.ID, period)
			got = snapglyph.Counts{APICalls: u.Used.APICalls + pending.APICalls, ImageCredits: u.Used.ImageCredits + pending.ImageCredits}
			if got == want || time.Now().After(deadline) {
				break
			}
		}
		if got != want {
			t.Errorf("usage %+v, want %+v: the API's requests only", got, want)
		}
	})
}
