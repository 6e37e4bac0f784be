package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// upload is a file sent in a multipart form.
type upload struct {
	name string
	data []byte
}

// postMultipart sends a form as the QR-code form does
// (multipart/form-data), with an optional logo file.
func (b *browser) postMultipart(path string, form url.Values, logo *upload) *page {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	if logo != nil {
		fw, _ := mw.CreateFormFile("logo", logo.name)
		fw.Write(logo.data)
	} else {
		mw.CreateFormFile("logo", "") // what a browser sends with no file chosen
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// qrForm is a create form of the type with its fields ("wifi.ssid") and
// the default design.
func qrForm(name, typ string, fields ...string) url.Values {
	v := url.Values{"name": {name}, "type": {typ}, "foreground": {"#000000"}, "background": {"#ffffff"}, "errorCorrection": {"M"}, "margin": {"4"}}
	for i := 0; i+1 < len(fields); i += 2 {
		v.Set(fields[i], fields[i+1])
	}
	return v
}

var qrLocation = regexp.MustCompile(`^/qr-codes/(qr_[A-Za-z0-9]+)$`)

// createQR posts the create form and returns the new code's id.
func (b *browser) createQR(form url.Values, logo *upload) string {
	b.t.Helper()
	p := b.postMultipart("/qr-codes/new", form, logo)
	if p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("create %s: status %d\n%s", form.Get("name"), p.StatusCode, snippet(p.Body))
	}
	m := qrLocation.FindStringSubmatch(p.Header.Get("Location"))
	if m == nil {
		b.t.Fatalf("create: Location %q", p.Header.Get("Location"))
	}
	return m[1]
}

// pngLogo is a small PNG file.
func pngLogo(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 48, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 48; x++ {
			img.Set(x, y, color.RGBA{200, byte(x * 5), byte(y * 5), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// expectNoUsage checks that nothing was metered: no API call or image
// credit stored, reserved or waiting to be flushed.
func expectNoUsage(t *testing.T, e *env, org *snapglyph.Org) {
	t.Helper()
	period, _ := snapglyph.Period(e.clock.Now())
	u, err := e.db.Usage(context.Background(), org.ID, period)
	if err != nil {
		t.Fatal(err)
	}
	pending := e.node.Recorder.Pending(org.ID, period)
	if u.Used != (snapglyph.Counts{}) || u.Reserved != (snapglyph.Counts{}) || pending != (snapglyph.Counts{}) {
		t.Errorf("dashboard actions were metered: used %+v, reserved %+v, pending %+v", u.Used, u.Reserved, pending)
	}
}

var inlineCode = regexp.MustCompile(`(?i)<script(\s[^>]*)?>[^<]|<script>|\sstyle=|<style|\son[a-z]+=|javascript:`)

func expectNoInline(t *testing.T, p *page) {
	t.Helper()
	if m := inlineCode.FindString(p.Body); m != "" {
		t.Errorf("inline script or style %q", m)
	}
	if p.Header.Get("Content-Security-Policy") != csp {
		t.Errorf("CSP %q", p.Header.Get("Content-Security-Policy"))
	}
}

// TestQRCreateEveryType: each type's fields become the content the API
// would store, created by the user; the detail page shows the payload.
func TestQRCreateEveryType(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)

		p := b.get("/qr-codes/new")
		expectStatus(t, p, http.StatusOK)
		expectNoInline(t, p)
		expectContains(t, p, `enctype="multipart/form-data"`, `id="type-url" name="type" value="url" checked`, `id="f-wifi-ssid"`, `id="f-vcard-address-city"`, `name="logo" type="file"`)
		expectContains(t, b.get("/qr-codes/new?type=wifi"), `id="type-wifi" name="type" value="wifi" checked`)

		for _, c := range []struct {
			typ         string
			fields      []string
			wantContent string
			wantPayload string
		}{
			{"url", []string{"url.url", " https://example.com/p/1 "}, `{"url":"https://example.com/p/1"}`, "https://example.com/p/1"},
			{"text", []string{"text.text", "Hello,\r\nworld"}, `{"text":"Hello,\nworld"}`, "Hello,\nworld"},
			{"email", []string{"email.to", "hello@example.com", "email.subject", "Hi there", "email.body", ""},
				`{"to":"hello@example.com","subject":"Hi there"}`, "mailto:hello@example.com?subject=Hi%20there"},
			{"phone", []string{"phone.number", "+1 (555) 123-4567"}, `{"number":"+1 (555) 123-4567"}`, "tel:+15551234567"},
			{"sms", []string{"sms.number", "+15551234567", "sms.message", "On my way"}, `{"number":"+15551234567","message":"On my way"}`, "SMSTO:+15551234567:On my way"},
			{"wifi", []string{"wifi.ssid", "Cafe; Guest", "wifi.security", "WPA", "wifi.password", "espresso123", "wifi.hidden", "on"},
				`{"ssid":"Cafe; Guest","security":"WPA","password":"espresso123","hidden":true}`, `WIFI:T:WPA;S:Cafe\; Guest;P:espresso123;H:true;;`},
			{"vcard", []string{"vcard.firstName", "Ada", "vcard.lastName", "Lovelace", "vcard.organization", "Analytical Engines",
				"vcard.phones", "+44 20 7946 0000\r\n\r\n+44 7700 900000\r\n", "vcard.emails", "ada@engines.test", "vcard.website", "https://engines.test",
				"vcard.address.city", "London", "vcard.address.country", "UK"},
				`{"firstName":"Ada","lastName":"Lovelace","organization":"Analytical Engines","phones":["+44 20 7946 0000","+44 7700 900000"],"emails":["ada@engines.test"],"website":"https://engines.test","address":{"city":"London","country":"UK"}}`,
				"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\nORG:Analytical Engines\r\nTEL:+442079460000\r\nTEL:+447700900000\r\nEMAIL:ada@engines.test\r\nURL:https://engines.test\r\nADR:;;;London;;;UK\r\nEND:VCARD"},
		} {
			t.Run(c.typ, func(t *testing.T) {
				// Fields of other types are sent too (without JavaScript
				// they are all in the form) and ignored.
				form := qrForm("Code "+c.typ, c.typ, append(c.fields, "url.url", "https://other.example", "text.text", "ignored")...)
				if c.typ == "url" || c.typ == "text" {
					form = qrForm("Code "+c.typ, c.typ, c.fields...)
				}
				id := b.createQR(form, nil)
				q, err := db.QRCode(ctx, org.ID, id)
				if err != nil {
					t.Fatal(err)
				}
				if string(q.Content) != c.wantContent || q.Payload != c.wantPayload || q.Type != c.typ {
					t.Errorf("stored %s %s %q; want %s %q", q.Type, q.Content, q.Payload, c.wantContent, c.wantPayload)
				}
				if q.CreatedBy.Type != snapglyph.CreatorUser || q.CreatedBy.Name != email || q.CreatedBy.ID == "" {
					t.Errorf("created by %+v", q.CreatedBy)
				}
				p := b.get("/qr-codes/" + id)
				expectStatus(t, p, http.StatusOK)
				expectNoInline(t, p)
				expectContains(t, p, "Code "+c.typ, "Download PNG", "Download SVG", `href="/qr-codes/`+id+`/image.svg?download=1"`, email+" (dashboard)")

				// The edit form is filled with the saved content.
				p = b.get("/qr-codes/" + id + "/edit")
				expectStatus(t, p, http.StatusOK)
				expectNoInline(t, p)
				expectContains(t, p, `id="type-`+c.typ+`" name="type" value="`+c.typ+`" checked`, `value="Code `+c.typ+`"`)
				if c.typ == "vcard" {
					expectContains(t, p, "&#43;44 20 7946 0000\n&#43;44 7700 900000</textarea>", `name="vcard.address.city" type="text" value="London"`)
				}
				if c.typ == "wifi" {
					expectContains(t, p, `name="wifi.hidden" value="on" checked`, `<option value="WPA" selected>`)
				}
			})
		}
		p = b.follow(b.postMultipart("/qr-codes/new", qrForm("Flash", "url", "url.url", "https://example.com"), nil))
		expectContains(t, p, "Flash was created.")
		expectNoUsage(t, e, org)
	})
}

// TestQRFieldErrors: every problem the service finds is shown next to
// its field and in a summary; the input is kept and nothing is stored.
func TestQRFieldErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)

		for _, c := range []struct {
			name string
			form url.Values
			want []string
		}{
			{"wifi", qrForm("", "wifi", "wifi.ssid", "", "wifi.security", "WPA", "wifi.password", "short"),
				[]string{`id="f-name-error">Name must not be empty.`, `id="f-wifi-ssid-error">Network name (SSID) is required.`,
					`id="f-wifi-password-error">A WPA passphrase must be 8 to 63`, `value="short"`, "3 things need fixing", `href="#f-wifi-ssid"`}},
			{"design", qrForm("Pale", "url", "url.url", "https://example.com", "foreground", "#dddddd", "background", "#ffffff", "margin", "lots"),
				[]string{`id="f-foreground-error">Foreground colour contrast with the background is`, `id="f-margin-error">Margin must be a whole number.`,
					`value="lots"`, `name="foreground" type="color" value="#dddddd"`, `value="Pale"`, `value="https://example.com"`}},
			{"url", qrForm("Bad link", "url", "url.url", "example.com/menu"),
				[]string{`id="f-url-url-error">`, `value="example.com/menu"`}},
			{"vcard", qrForm("Nobody", "vcard", "vcard.phones", "+1 555 123 4567\nabc", "vcard.emails", "not-an-email"),
				[]string{`id="f-vcard-firstName-error">Enter a first name, a last name or an organisation.`,
					`id="f-vcard-phones-error">Phone numbers, line 2`, `id="f-vcard-emails-error">`, "&#43;1 555 123 4567\nabc</textarea>"}},
			{"too long", qrForm("Essay", "text", "text.text", strings.Repeat("x", 1300), "errorCorrection", "H"),
				[]string{`id="f-content"`, "The content needs 1300 bytes, but a QR code with error correction H holds at most 1273", "choose a lower level"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := b.postMultipart("/qr-codes/new", c.form, nil)
				expectStatus(t, p, http.StatusUnprocessableEntity)
				expectNoInline(t, p)
				expectContains(t, p, c.want...)
				expectContains(t, p, `data-preview-now`, `class="error-summary"`)
			})
		}
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 0 {
			t.Errorf("%d QR codes stored by refused forms", n)
		}
	})
}

// TestQRLogo: a logo is uploaded as a file, needs H, is carried across a
// refused form, is refused when too large or not an image, has no SVG,
// and can be removed.
func TestQRLogo(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		logo := pngLogo(t)

		// Without H: refused, the logo is kept for the next attempt.
		p := b.postMultipart("/qr-codes/new", qrForm("Menu", "url", "url.url", "https://example.com/menu"), &upload{"brand.png", logo})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `id="f-errorCorrection-error">A logo needs error correction`, "Your new logo brand.png", `name="logoData"`, `src="data:image/png;base64,`)
		data := regexp.MustCompile(`name="logoData" value="([^"]+)"`).FindStringSubmatch(p.Body)
		if data == nil {
			t.Fatal("no carried logo")
		}
		// The user picks H and sends the form again, without choosing the file again.
		form := qrForm("Menu", "url", "url.url", "https://example.com/menu", "errorCorrection", "H", "logoData", html.UnescapeString(data[1]), "logoName", "brand.png")
		id := b.createQR(form, nil)
		q, err := db.QRCode(ctx, org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(q.Logo, logo) || q.LogoType != "image/png" || q.Design.ErrorCorrection != "H" {
			t.Fatalf("stored logo %d bytes %q, level %s", len(q.Logo), q.LogoType, q.Design.ErrorCorrection)
		}

		// A code with a logo: no SVG download, a PNG image, and why.
		p = b.get("/qr-codes/" + id)
		expectContains(t, p, "logos are drawn in PNG images only, so there is no SVG download", `src="/qr-codes/`+id+`/image.png?size=512"`)
		expectNotContains(t, p, "Download SVG")
		p = b.get("/qr-codes/" + id + "/image.svg")
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, "Logos are drawn in PNG images only")
		p = b.get("/qr-codes/" + id + "/image.png?size=256")
		expectStatus(t, p, http.StatusOK)
		if _, err := png.Decode(strings.NewReader(p.Body)); err != nil {
			t.Errorf("PNG with logo: %v", err)
		}
		// Served again, and at another size (the decoded logo is cached):
		// the code is read without its logo.
		reads := db.LogoReads()
		for _, size := range []int{256, 256, 300} {
			again := b.get(fmt.Sprintf("/qr-codes/%s/image.png?size=%d", id, size))
			expectStatus(t, again, http.StatusOK)
			if size == 256 && again.Body != p.Body {
				t.Error("the same image request got other bytes")
			}
		}
		expectStatus(t, b.get("/qr-codes/"+id+"/image.svg"), http.StatusUnprocessableEntity)
		if n := db.LogoReads() - reads; n != 0 {
			t.Errorf("cached dashboard logo images read the logo %d times, want 0", n)
		}

		// Too large: the real size is reported, nothing is stored, the rest is kept.
		big := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 600<<10)...)
		p = b.postMultipart("/qr-codes/new", qrForm("Big", "url", "url.url", "https://example.com/big", "errorCorrection", "H"), &upload{"big.png", big})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `id="f-logo-error">The file is 614 KB; a logo can be at most 256 KiB.`, `value="https://example.com/big"`)
		expectNotContains(t, p, `name="logoData"`)
		// Not an image (an SVG file, for one).
		p = b.postMultipart("/qr-codes/new", qrForm("Vector", "url", "url.url", "https://example.com", "errorCorrection", "H"),
			&upload{"logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `id="f-logo-error">Logo must be a PNG or JPEG image.`)
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 1 {
			t.Errorf("%d QR codes, want 1", n)
		}

		// Editing keeps the logo unless it is removed.
		p = b.get("/qr-codes/" + id + "/edit")
		expectContains(t, p, "The saved logo (PNG,", `name="removeLogo"`)
		edit := qrForm("Menu (new)", "url", "url.url", "https://example.com/menu2", "errorCorrection", "H")
		expectStatus(t, b.postMultipart("/qr-codes/"+id+"/edit", edit, nil), http.StatusSeeOther)
		if q, _ := db.QRCode(ctx, org.ID, id); !bytes.Equal(q.Logo, logo) || q.Name != "Menu (new)" {
			t.Errorf("after an edit without a file: logo %d bytes, name %q", len(q.Logo), q.Name)
		}
		edit.Set("removeLogo", "1")
		edit.Set("errorCorrection", "M")
		p = b.follow(b.postMultipart("/qr-codes/"+id+"/edit", edit, nil))
		expectContains(t, p, "Menu (new) was saved.", "Download SVG")
		if q, _ := db.QRCode(ctx, org.ID, id); q.Logo != nil || q.LogoType != "" || q.Design.ErrorCorrection != "M" {
			t.Errorf("after removing: logo %d bytes %q, level %s", len(q.Logo), q.LogoType, q.Design.ErrorCorrection)
		}
		// A carried logo is dropped with "Remove the logo" too.
		form.Set("removeLogo", "1")
		if q, _ := db.QRCode(ctx, org.ID, b.createQR(form, nil)); q.Logo != nil {
			t.Errorf("a removed carried logo was stored (%d bytes)", len(q.Logo))
		}
		expectNoUsage(t, e, org)
	})
}

// TestQRList: newest first, pages, filters by type and by key (revoked
// keys too); "Created by" names the user or the key and its prefix.
func TestQRList(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		owner, member := e.browser(), e.browser()
		owner.signIn(email)
		member.signIn(e.member(org, snapglyph.RoleMember))

		p := owner.get("/qr-codes")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "No QR codes yet", `href="/qr-codes/new"`)
		expectNotContains(t, p, "QR codes on the Starter plan")

		prod, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		old, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Old-Integration")
		if err != nil {
			t.Fatal(err)
		}
		byKey := func(k *service.NewKey) snapglyph.Creator {
			return snapglyph.Creator{Type: snapglyph.CreatorAPIKey, ID: k.ID, Name: k.Name, Prefix: k.Prefix}
		}
		create := func(by snapglyph.Creator, name, typ, content string) {
			t.Helper()
			e.advance(1e9)
			if _, err := e.svc.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: &name, Type: &typ, Content: json.RawMessage(content)}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 21 {
			create(byKey(prod), fmt.Sprintf("Product %02d", i), "url", fmt.Sprintf(`{"url":"https://example.com/p/%d"}`, i))
		}
		create(byKey(old), "Old Wi-Fi", "wifi", `{"ssid":"Office","security":"none"}`)
		if _, err := e.svc.RevokeKey(ctx, snapglyph.Operator, old.ID); err != nil {
			t.Fatal(err)
		}
		user := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: ownerID(t, e, org), Name: email}
		create(user, "Team note", "text", `{"text":"hello"}`)

		p = owner.get("/qr-codes")
		expectStatus(t, p, http.StatusOK)
		expectNoInline(t, p)
		names := regexp.MustCompile(`<span class="qr-title-name">([^<]+)</span>`).FindAllStringSubmatch(p.Body, -1)
		if len(names) != 20 || names[0][1] != "Team note" || names[1][1] != "Old Wi-Fi" || names[2][1] != "Product 20" {
			t.Fatalf("first page: %d rows, starting %v", len(names), names[:min(3, len(names))])
		}
		expectContains(t, p, email, `Production-WebApp</a> <code class="prefix">`+prod.Prefix+`...</code>`,
			`aria-label="Delete Team note"`, `aria-label="Download Team note as PNG"`, `aria-label="Edit Team note"`,
			`<option value="`+prod.ID+`">Production-WebApp (`+prod.Prefix+`...)</option>`,
			`<option value="`+old.ID+`">Old-Integration (`+old.Prefix+`...) · revoked</option>`)
		next := regexp.MustCompile(`href="(/qr-codes\?cursor=[^"]+)">Next page`).FindStringSubmatch(p.Body)
		if next == nil {
			t.Fatal("no Next page link")
		}
		p = owner.get(strings.ReplaceAll(next[1], "&amp;", "&"))
		expectStatus(t, p, http.StatusOK)
		names = regexp.MustCompile(`<span class="qr-title-name">([^<]+)</span>`).FindAllStringSubmatch(p.Body, -1)
		if len(names) != 3 || names[0][1] != "Product 02" || names[2][1] != "Product 00" {
			t.Errorf("second page: %v", names)
		}
		expectContains(t, p, "Back to the newest")
		expectNotContains(t, p, "Next page")

		// What did the revoked key create?
		p = owner.get("/qr-codes?createdByKey=" + old.ID)
		expectContains(t, p, "Old Wi-Fi", `<option value="`+old.ID+`" selected>`, "Clear filters")
		expectNotContains(t, p, "Product 20", "Team note")
		// By type, over pages.
		p = owner.get("/qr-codes?type=url&createdByKey=" + prod.ID)
		if n := strings.Count(p.Body, `class="qr-title-name"`); n != 20 {
			t.Errorf("url codes by Production-WebApp: %d rows on the first page", n)
		}
		next = regexp.MustCompile(`href="(/qr-codes\?[^"]+)">Next page`).FindStringSubmatch(p.Body)
		if next == nil || !strings.Contains(next[1], "type=url") || !strings.Contains(next[1], "createdByKey="+prod.ID) {
			t.Fatalf("next link %v keeps no filters", next)
		}
		p = owner.get("/qr-codes?type=text")
		expectContains(t, p, "Team note", `<option value="text" selected>`)
		expectNotContains(t, p, "Old Wi-Fi")
		p = owner.get("/qr-codes?type=vcard")
		expectContains(t, p, "No QR codes match these filters")
		expectStatus(t, owner.get("/qr-codes?type=bogus"), http.StatusSeeOther)
		p = owner.get("/qr-codes?cursor=bogus")
		expectStatus(t, p, http.StatusSeeOther)

		// A Member sees every code but may not list keys: no key select,
		// but the "Created by" link filters, and the page names the key.
		p = member.get("/qr-codes")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Team note", `href="/qr-codes?createdByKey=`+prod.ID+`#results"`)
		expectNotContains(t, p, `name="createdByKey"`, "Old-Integration (")
		p = member.get("/qr-codes?createdByKey=" + old.ID)
		expectContains(t, p, "Old Wi-Fi", "Created by API key <strong>Old-Integration ("+old.Prefix+"...)</strong>", `type="hidden" name="createdByKey" value="`+old.ID+`"`)
		expectNotContains(t, p, "Team note")
		expectNoUsage(t, e, org)
	})
}

// ownerID is the id of the organisation's Owner.
func ownerID(t *testing.T, e *env, org *snapglyph.Org) string {
	t.Helper()
	ms, err := e.db.Members(context.Background(), org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Role == snapglyph.RoleOwner {
			return m.ID
		}
	}
	t.Fatal("no owner")
	return ""
}

// TestQREditDelete: a Member edits (type too) and deletes through the
// confirmation.
func TestQREditDelete(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, _ := e.org(snapglyph.PlanPro)
		b := e.browser()
		memberEmail := e.member(org, snapglyph.RoleMember)
		b.signIn(memberEmail)

		id := b.createQR(qrForm("Product Page", "url", "url.url", "https://example.com/p/1"), nil)
		p := b.get("/qr-codes/" + id + "/edit")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `action="/qr-codes/`+id+`/edit"`, `name="id" value="`+id+`"`, `src="/qr-codes/`+id+`/image.svg"`, "Save changes")

		// A refused edit keeps the input and changes nothing.
		p = b.postMultipart("/qr-codes/"+id+"/edit", qrForm("Product Page", "phone", "phone.number", "12"), nil)
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `id="f-phone-number-error">`, `value="12"`, `id="type-phone" name="type" value="phone" checked`)
		if q, _ := db.QRCode(ctx, org.ID, id); q.Type != "url" {
			t.Errorf("a refused edit changed the type to %s", q.Type)
		}
		p = b.follow(b.postMultipart("/qr-codes/"+id+"/edit", qrForm("Support line", "phone", "phone.number", "+1 555 000 1111", "foreground", "#1e3a8a", "margin", "2"), nil))
		expectContains(t, p, "Support line was saved.", "tel:&#43;15550001111", "<code>#1E3A8A</code>")
		q, _ := db.QRCode(ctx, org.ID, id)
		if q.Type != "phone" || q.Name != "Support line" || q.Design.Margin != 2 || q.Design.Foreground != "#1E3A8A" {
			t.Errorf("after the edit: %+v", q)
		}

		// Delete: a confirmation naming the code, then the post.
		p = b.get("/qr-codes/" + id + "/delete")
		expectStatus(t, p, http.StatusOK)
		expectNoInline(t, p)
		expectContains(t, p, `role="alertdialog"`, "Delete Support line?", `action="/qr-codes/`+id+`/delete"`, "cannot be undone")
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 1 {
			t.Fatal("the confirmation page deleted the code")
		}
		p = b.post("/qr-codes/"+id+"/delete", nil)
		expectStatus(t, p, http.StatusSeeOther)
		if p.Header.Get("Location") != "/qr-codes" {
			t.Errorf("after delete: Location %q", p.Header.Get("Location"))
		}
		p = b.follow(p)
		expectContains(t, p, "Support line was deleted.", "No QR codes yet")
		for _, path := range []string{"/qr-codes/" + id, "/qr-codes/" + id + "/edit", "/qr-codes/" + id + "/delete", "/qr-codes/" + id + "/image.svg"} {
			p := b.get(path)
			expectStatus(t, p, http.StatusNotFound)
			expectContains(t, p, "QR code not found")
		}
		expectStatus(t, b.post("/qr-codes/"+id+"/delete", nil), http.StatusNotFound)
		expectNoUsage(t, e, org)
	})
}

// TestQRDownloads: SVG and PNG images for the pages and as downloads,
// with no credit spent.
func TestQRDownloads(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	org, email := e.org(snapglyph.PlanPro)
	b := e.browser()
	b.signIn(email)
	id := b.createQR(qrForm("Product Page", "url", "url.url", "https://example.com/p/1"), nil)

	p := b.get("/qr-codes/" + id + "/image.svg")
	expectStatus(t, p, http.StatusOK)
	if ct := p.Header.Get("Content-Type"); ct != "image/svg+xml" || p.Header.Get("Content-Disposition") != "" || !strings.HasPrefix(p.Body, "<svg") {
		t.Errorf("SVG: Content-Type %q, Content-Disposition %q, body %.40q", ct, p.Header.Get("Content-Disposition"), p.Body)
	}
	etag := p.Header.Get("ETag")
	req, _ := http.NewRequest("GET", e.srv.URL+"/qr-codes/"+id+"/image.svg", nil)
	req.Header.Set("If-None-Match", etag)
	if p := b.do(req); p.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", p.StatusCode)
	}
	p = b.get("/qr-codes/" + id + "/image.svg?download=1")
	if cd := p.Header.Get("Content-Disposition"); cd != `attachment; filename="product-page.svg"; filename*=UTF-8''Product%20Page.svg` {
		t.Errorf("SVG download: Content-Disposition %q", cd)
	}
	for _, size := range []int{256, 512, 1024, 2048} {
		p = b.get(fmt.Sprintf("/qr-codes/%s/image.png?size=%d&download=1", id, size))
		expectStatus(t, p, http.StatusOK)
		if ct, cd := p.Header.Get("Content-Type"), p.Header.Get("Content-Disposition"); ct != "image/png" || !strings.HasPrefix(cd, `attachment; filename="product-page.png"`) {
			t.Errorf("PNG %d: Content-Type %q, Content-Disposition %q", size, ct, cd)
		}
		img, err := png.Decode(strings.NewReader(p.Body))
		if err != nil {
			t.Fatalf("PNG %d: %v", size, err)
		}
		if w := img.Bounds().Dx(); w > size || w < size*3/4 || img.Bounds().Dy() != w {
			t.Errorf("PNG %d: %v", size, img.Bounds())
		}
	}
	expectStatus(t, b.get("/qr-codes/"+id+"/image.png?size=9000"), http.StatusBadRequest)
	p = b.get("/qr-codes/" + id)
	expectContains(t, p, `action="/qr-codes/`+id+`/image.png"`, `name="download" value="1"`, `<option value="1024" selected>`, "no API calls or image credits")
	expectNoUsage(t, e, org)
}

// TestQRStarterLimit: a Starter organisation holds 5 QR codes; the page
// says how many are used and the create button is off at 5.
func TestQRStarterLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanStarter)
		b := e.browser()
		b.signIn(email)
		for i := range 5 {
			if i == 4 {
				expectContains(t, b.get("/qr-codes"), "<strong>4</strong> of 5 QR codes used", `<a class="btn btn-primary" href="/qr-codes/new">`)
				expectContains(t, b.get("/qr-codes/new"), "4 of 5 QR codes used on the Starter plan")
			}
			b.createQR(qrForm(fmt.Sprintf("Code %d", i), "url", "url.url", "https://example.com"), nil)
		}
		p := b.get("/qr-codes")
		expectContains(t, p, "<strong>5</strong> of 5 QR codes used", `type="button" disabled`, "upgrade to Pro", `href="/settings/subscription"`)
		expectNotContains(t, p, `<a class="btn btn-primary" href="/qr-codes/new">`)
		p = b.get("/qr-codes/new")
		expectStatus(t, p, http.StatusSeeOther)
		expectContains(t, b.follow(p), "Your Starter plan holds 5 QR codes and all are used")
		p = b.postMultipart("/qr-codes/new", qrForm("Sixth", "url", "url.url", "https://example.com/6"), nil)
		expectStatus(t, p, http.StatusForbidden)
		expectContains(t, p, "Your Starter plan holds 5 QR codes and all are used", `value="Sixth"`, `value="https://example.com/6"`)
		if n, _ := db.CountQRCodes(context.Background(), org.ID); n != 5 {
			t.Errorf("%d QR codes on Starter", n)
		}
	})
}

// TestQRIsolation: another organisation's code is "not found" on every
// route; a signed-out visitor is sent to sign in.
func TestQRIsolation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		orgA, emailA := e.org(snapglyph.PlanPro)
		_, emailB := e.org(snapglyph.PlanPro)
		a, other := e.browser(), e.browser()
		a.signIn(emailA)
		other.signIn(emailB)
		id := a.createQR(qrForm("Secret", "text", "text.text", "for A only"), nil)

		for _, path := range []string{"/qr-codes/" + id, "/qr-codes/" + id + "/edit", "/qr-codes/" + id + "/delete",
			"/qr-codes/" + id + "/image.svg", "/qr-codes/" + id + "/image.png"} {
			p := other.get(path)
			expectStatus(t, p, http.StatusNotFound)
			expectNotContains(t, p, "for A only")
		}
		expectStatus(t, other.postMultipart("/qr-codes/"+id+"/edit", qrForm("Mine", "text", "text.text", "taken"), nil), http.StatusNotFound)
		expectStatus(t, other.post("/qr-codes/"+id+"/delete", nil), http.StatusNotFound)
		expectStatus(t, other.get("/qr-codes/preview?type=text&text.text=x&id="+id), http.StatusNotFound)
		expectNotContains(t, other.get("/qr-codes"), "Secret")
		if q, err := db.QRCode(ctx, orgA.ID, id); err != nil || q.Name != "Secret" {
			t.Errorf("the code after another organisation's attempts: %v %v", q, err)
		}

		anon := e.browser()
		for _, path := range []string{"/qr-codes", "/qr-codes/new", "/qr-codes/" + id, "/qr-codes/" + id + "/image.svg", "/qr-codes/preview?type=url&url.url=https://example.com"} {
			p := anon.get(path)
			if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
				t.Errorf("signed out, GET %s: %d %s", path, p.StatusCode, p.Header.Get("Location"))
			}
		}
	})
}

// TestQRCrossSite: the QR-code posts are refused from another site.
func TestQRCrossSite(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	ctx := context.Background()
	org, email := e.org(snapglyph.PlanPro)
	b := e.browser()
	b.signIn(email)
	id := b.createQR(qrForm("Product Page", "url", "url.url", "https://example.com/p/1"), nil)
	for _, path := range []string{"/qr-codes/new", "/qr-codes/" + id + "/edit", "/qr-codes/" + id + "/delete", "/qr-codes/preview"} {
		form := qrForm("Evil", "url", "url.url", "https://evil.example")
		req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		p := b.do(req)
		expectStatus(t, p, http.StatusForbidden)
		expectContains(t, p, "Request refused")
	}
	n, _ := e.db.CountQRCodes(ctx, org.ID)
	q, _ := e.db.QRCode(ctx, org.ID, id)
	if n != 1 || q == nil || q.Name != "Product Page" {
		t.Errorf("after cross-site posts: %d codes, %+v", n, q)
	}
}

// TestQRPreview: the preview draws the form's values (SVG, or PNG with a
// logo), reports problems as text, and stores nothing.
func TestQRPreview(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)

		p := b.postMultipart("/qr-codes/preview", qrForm("", "wifi", "wifi.ssid", "Office", "wifi.security", "none", "foreground", "#1e3a8a"), nil)
		expectStatus(t, p, http.StatusOK)
		if ct := p.Header.Get("Content-Type"); ct != "image/svg+xml" || !strings.HasPrefix(p.Body, "<svg") || !strings.Contains(p.Body, "#1E3A8A") {
			t.Errorf("preview: %q %.80q", ct, p.Body)
		}
		// The same with GET.
		p = b.get("/qr-codes/preview?type=url&url.url=" + url.QueryEscape("https://example.com"))
		expectStatus(t, p, http.StatusOK)
		if p.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("GET preview: %q", p.Header.Get("Content-Type"))
		}
		// Problems, as text lines.
		p = b.postMultipart("/qr-codes/preview", qrForm("", "wifi", "wifi.ssid", "", "wifi.security", "WPA", "wifi.password", "short", "background", "#000000"), nil)
		expectStatus(t, p, http.StatusUnprocessableEntity)
		if !strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") || strings.Count(p.Body, "\n") != 2 ||
			!strings.Contains(p.Body, "Network name (SSID) is required.") || !strings.Contains(p.Body, "A WPA passphrase") || !strings.Contains(p.Body, "Foreground colour") {
			t.Errorf("preview problems: %q %q", p.Header.Get("Content-Type"), p.Body)
		}
		p = b.postMultipart("/qr-codes/preview", qrForm("", "text", "text.text", strings.Repeat("y", 1400), "errorCorrection", "H"), nil)
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, "The content needs 1400 bytes")
		// A logo: PNG.
		p = b.postMultipart("/qr-codes/preview", qrForm("", "url", "url.url", "https://example.com", "errorCorrection", "H"), &upload{"l.png", pngLogo(t)})
		expectStatus(t, p, http.StatusOK)
		if p.Header.Get("Content-Type") != "image/png" {
			t.Errorf("preview with a logo: %q", p.Header.Get("Content-Type"))
		} else if _, err := png.Decode(strings.NewReader(p.Body)); err != nil {
			t.Error(err)
		}
		// On the edit page: the saved logo is used unless removed.
		id := b.createQR(qrForm("Logo", "url", "url.url", "https://example.com", "errorCorrection", "H"), &upload{"l.png", pngLogo(t)})
		form := qrForm("", "url", "url.url", "https://example.com/2", "errorCorrection", "H", "id", id)
		if p := b.postMultipart("/qr-codes/preview", form, nil); p.Header.Get("Content-Type") != "image/png" {
			t.Errorf("edit preview with the saved logo: %d %q", p.StatusCode, p.Header.Get("Content-Type"))
		}
		form.Set("removeLogo", "1")
		if p := b.postMultipart("/qr-codes/preview", form, nil); p.Header.Get("Content-Type") != "image/svg+xml" {
			t.Errorf("edit preview with the logo removed: %d %q", p.StatusCode, p.Header.Get("Content-Type"))
		}
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 1 {
			t.Errorf("%d QR codes after previews, want the 1 created", n)
		}
		if q, _ := db.QRCode(ctx, org.ID, id); q.Payload != "https://example.com" {
			t.Errorf("a preview changed the saved code: %q", q.Payload)
		}
		expectNoUsage(t, e, org)
	})
}
