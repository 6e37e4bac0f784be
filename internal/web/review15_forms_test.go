package web_test

import (
	"bytes"
	"context"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

// review15Unknown is a field no dashboard form has.
const review15Unknown = "colour"

// TestEveryPostRefusesUnknownFields: every POST route of the dashboard
// (from its own mux, so a new one is covered) refuses a form with a field
// it does not have, with 400 naming the field, before it acts: the QR-code
// editor and its preview, and the forms that are only a button (sign out,
// delete a QR code, cancel an invitation, remove a member, open a notice,
// mark all as read) as the forms read through readForm do. A multipart
// body, of which an urlencoded form's reader would read nothing, is
// refused with 415 but by the QR-code forms.
func TestEveryPostRefusesUnknownFields(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		qrID := b.createQR(qrForm("Menu", "url", "url.url", "https://example.com/menu"), nil)
		patterns, err := web.RoutePatterns(web.Deps{Service: e.svc})
		if err != nil {
			t.Fatal(err)
		}
		// Sign out last: were it not refused, the rest would be sent signed out.
		if i := slices.Index(patterns, "POST /signout"); i >= 0 {
			patterns = append(slices.Delete(patterns, i, i+1), "POST /signout")
		}
		says := regexp.MustCompile(`This form has no field (&#34;|")` + review15Unknown + `(&#34;|")`)
		tested := 0
		for _, route := range patterns {
			path, ok := strings.CutPrefix(route, "POST ")
			if !ok {
				continue
			}
			path = wildcard.ReplaceAllStringFunc(path, func(string) string {
				if strings.HasPrefix(path, "/qr-codes/") {
					return qrID
				}
				return "x_1"
			})
			form := url.Values{review15Unknown: {"red"}}
			if p := b.post(path, form); p.StatusCode != http.StatusBadRequest || !says.MatchString(p.Body) {
				t.Errorf("%s with the field %q: status %d, want 400 naming it: %s", route, review15Unknown, p.StatusCode, snippet(p.Body))
			}
			// Sent as multipart, the QR-code forms read it and refuse the
			// field; the others, urlencoded forms, refuse the body (415),
			// of which they would read nothing.
			p := b.postMultipart(path, form, nil)
			if strings.HasPrefix(route, "POST /qr-codes/") && !strings.HasSuffix(route, "/delete") {
				if p.StatusCode != http.StatusBadRequest || !says.MatchString(p.Body) {
					t.Errorf("%s, multipart, with the field %q: status %d, want 400 naming it: %s", route, review15Unknown, p.StatusCode, snippet(p.Body))
				}
			} else if p.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("%s, multipart: status %d, want 415: %s", route, p.StatusCode, snippet(p.Body))
			}
			tested++
			if p := b.get("/qr-codes"); p.StatusCode != http.StatusOK {
				t.Fatalf("after %s: signed out (%d)", route, p.StatusCode)
			}
		}
		if tested < 30 {
			t.Errorf("%d POST routes tested; the dashboard has more", tested)
		}
		// Nothing was done: still signed in, the code is there and unchanged.
		expectStatus(t, b.get("/qr-codes"), http.StatusOK)
		q, err := db.QRCode(ctx, org.ID, qrID)
		if err != nil || q.Name != "Menu" || q.Version != 1 {
			t.Errorf("the QR code after refused posts: %+v, %v", q, err)
		}
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 1 {
			t.Errorf("%d QR codes after refused posts, want 1", n)
		}
	})
}

// TestQRFormRefusesWhatItDoesNotHave: the QR-code editor (create and
// edit, multipart and urlencoded) and its preview (POST and GET) refuse a
// field the form does not have, one sent twice, a file under another
// name than "logo", and "id" on the create form (which has none), with
// 400 naming the field; nothing is stored.
func TestQRFormRefusesWhatItDoesNotHave(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		id := b.createQR(qrForm("Menu", "url", "url.url", "https://example.com/menu"), nil)
		good := func() url.Values { return qrForm("Menu 2", "url", "url.url", "https://example.com/2") }
		with := func(v url.Values, kv ...string) url.Values {
			for i := 0; i+1 < len(kv); i += 2 {
				v.Add(kv[i], kv[i+1])
			}
			return v
		}
		for _, c := range []struct {
			what  string
			form  url.Values
			field string
			twice bool
		}{
			{"a field of no type", with(good(), "url.title", "Menu"), "url.title", false},
			{"a type's field misspelt", with(good(), "wifi.SSID", "Office"), "wifi.SSID", false},
			{"a design field the form lacks", with(good(), "colour", "#ff0000"), "colour", false},
			{"a JSON field name", with(good(), "content", `{"url":"https://evil.test"}`), "content", false},
			{"the name twice", with(good(), "name", "Other"), "name", true},
			{"the content twice", with(good(), "url.url", "https://evil.test"), "url.url", true},
		} {
			msg := "This form has no field &#34;" + c.field + "&#34;; send only its own fields."
			if c.twice {
				msg = "The form sends the field &#34;" + c.field + "&#34; more than once; send it once."
			}
			for _, path := range []string{"/qr-codes/new", "/qr-codes/" + id + "/edit"} {
				form := c.form
				if strings.HasSuffix(path, "/edit") {
					form = with(url.Values{}, "id", id)
					for k, vs := range c.form {
						form[k] = vs
					}
				}
				p := b.postMultipart(path, form, nil)
				if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.Body, msg) {
					t.Errorf("%s, multipart to %s: status %d, want 400 saying %q: %s", c.what, path, p.StatusCode, msg, snippet(p.Body))
				}
				p = b.post(path, form)
				if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.Body, msg) {
					t.Errorf("%s, urlencoded to %s: status %d, want 400 saying %q: %s", c.what, path, p.StatusCode, msg, snippet(p.Body))
				}
			}
			plain := html.UnescapeString(msg)
			for _, p := range []*page{b.postMultipart("/qr-codes/preview", c.form, nil), b.get("/qr-codes/preview?" + c.form.Encode())} {
				if p.StatusCode != http.StatusBadRequest || p.Body != plain {
					t.Errorf("%s, preview: %d %q, want 400 %q", c.what, p.StatusCode, p.Body, plain)
				}
			}
		}

		// A file under another name than "logo".
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, vs := range good() {
			mw.WriteField(k, vs[0])
		}
		fw, _ := mw.CreateFormFile("attachment", "a.png")
		fw.Write(pngLogo(t))
		mw.Close()
		req, _ := http.NewRequest("POST", e.srv.URL+"/qr-codes/new", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", e.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		p := b.do(req)
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "This form has no field &#34;attachment&#34;")

		// The create form has no id; the edit form and the preview take it.
		p = b.postMultipart("/qr-codes/new", with(good(), "id", id), nil)
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "This form has no field &#34;id&#34;")
		expectStatus(t, b.postMultipart("/qr-codes/preview", with(good(), "id", id), nil), http.StatusOK)

		if n, _ := db.CountQRCodes(ctx, org.ID); n != 1 {
			t.Errorf("%d QR codes after refused forms, want 1", n)
		}
		if q, _ := db.QRCode(ctx, org.ID, id); q.Name != "Menu" || q.Version != 1 {
			t.Errorf("a refused edit changed the code: %q version %d", q.Name, q.Version)
		}
	})
}

var qrEditorForm = regexp.MustCompile(`(?s)<form class="qr-editor".*?</form>`)
var fieldName = regexp.MustCompile(`\sname="([^"]+)"`)

// formNames returns the names of the QR-code editor's fields on a page.
func formNames(t *testing.T, p *page) []string {
	t.Helper()
	form := qrEditorForm.FindString(p.Body)
	if form == "" {
		t.Fatalf("no QR-code form:\n%s", snippet(p.Body))
	}
	var names []string
	for _, m := range fieldName.FindAllStringSubmatch(form, -1) {
		if n := html.UnescapeString(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// TestQRFormTakesWhatItsPagesSend: every field the QR-code editor's pages
// draw (the new form, the edit form of a code with a logo, a refused form
// that carries its logo: removeLogo, logoData, logoName) is taken. Sent
// all together, as a browser without scripts sends them (every type's
// fields, the others empty, and an empty file part), each type's form is
// saved, edited and previewed.
func TestQRFormTakesWhatItsPagesSend(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		logo := &upload{"l.png", pngLogo(t)}
		withLogo := b.createQR(qrForm("Logo", "url", "url.url", "https://example.com/l", "errorCorrection", "H"), logo)

		names := formNames(t, b.get("/qr-codes/new"))
		edit := formNames(t, b.get("/qr-codes/"+withLogo+"/edit"))
		refused := b.postMultipart("/qr-codes/new", qrForm("", "url", "url.url", "https://example.com/l", "errorCorrection", "H"), logo)
		expectStatus(t, refused, http.StatusUnprocessableEntity)
		carried := formNames(t, refused)
		for _, want := range []struct {
			names []string
			field string
		}{{edit, "id"}, {edit, "removeLogo"}, {carried, "logoData"}, {carried, "logoName"}, {names, "wifi.hidden"}, {names, "vcard.address.city"}} {
			if !slices.Contains(want.names, want.field) {
				t.Errorf("the page has no field %q: %v", want.field, want.names)
			}
		}
		all := slices.Concat(names, edit, carried)
		slices.Sort(all)
		all = slices.Compact(all)

		content := map[string][]string{
			"url":   {"url.url", "https://example.com/menu"},
			"text":  {"text.text", "hello"},
			"email": {"email.to", "hello@example.com"},
			"phone": {"phone.number", "+1 555 123 4567"},
			"sms":   {"sms.number", "+1 555 123 4567"},
			"wifi":  {"wifi.ssid", "Office", "wifi.security", "none"},
			"vcard": {"vcard.firstName", "Ada"},
		}
		form := func(typ, id string) url.Values {
			v := url.Values{}
			for _, n := range all {
				if n != "logo" && (n != "id" || id != "") {
					v.Set(n, "")
				}
			}
			for k, x := range qrForm("Every field "+typ, typ, content[typ]...) {
				v[k] = x
			}
			if id != "" {
				v.Set("id", id)
			}
			return v
		}
		for typ := range content {
			p := b.postMultipart("/qr-codes/new", form(typ, ""), nil)
			expectStatus(t, p, http.StatusSeeOther)
			id := qrLocation.FindStringSubmatch(p.Header.Get("Location"))[1]
			expectStatus(t, b.postMultipart("/qr-codes/"+id+"/edit", form(typ, id), nil), http.StatusSeeOther)
			if p := b.postMultipart("/qr-codes/preview", form(typ, id), nil); p.StatusCode != http.StatusOK {
				t.Errorf("%s: preview %d %s", typ, p.StatusCode, p.Body)
			}
		}
	})
}
