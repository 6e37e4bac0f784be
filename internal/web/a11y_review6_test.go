package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// textOf is the text of an HTML fragment, hidden text included (what a
// screen reader reads), with its spaces collapsed.
func textOf(fragment string) string {
	s := html.UnescapeString(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(fragment, ""))
	return strings.Join(strings.Fields(s), " ")
}

// keyLinkName is the name of the link of key id in the API Keys list:
// its text, or the text of what its aria-labelledby names.
func keyLinkName(t *testing.T, body, id string) string {
	t.Helper()
	link := "key-link-" + id
	m := regexp.MustCompile(`<a id="` + link + `" href="[^"]*"(?: aria-labelledby="([^"]+)")?>(.*?)</a>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link of key %s:\n%s", id, snippet(body))
	}
	if m[1] == "" {
		return textOf(m[2])
	}
	var name []string
	for _, ref := range strings.Fields(m[1]) {
		if ref == link {
			name = append(name, textOf(m[2]))
			continue
		}
		by := regexp.MustCompile(`<span id="` + regexp.QuoteMeta(ref) + `"[^>]*>(.*?)</span>`).FindStringSubmatch(body)
		if by == nil {
			t.Fatalf("the link of key %s is labelled by %s, which is not on the page", id, ref)
		}
		name = append(name, textOf(by[1]))
	}
	return strings.Join(name, " ")
}

// TestRolledKeyLinksDiffer: after a roll the list shows the new key and,
// under it, the old one, both with the key's name; out of context (a
// screen reader's list of links) the old one's link says it is the old
// key, its prefix and until when it works (or, paused, when it is
// retired), and the new one's is the name alone.
func TestRolledKeyLinksDiffer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		billing, err := e.svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Billing"})
		if err != nil {
			t.Fatal(err)
		}
		rolled, err := e.svc.RollKey(ctx, snapglyph.Operator, billing.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		reports, err := e.svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Reports"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.PauseKeyWith(ctx, snapglyph.Operator, reports.ID, "", time.Time{}); err != nil {
			t.Fatal(err)
		}
		rolledReports, err := e.svc.RollKey(ctx, snapglyph.Operator, reports.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p := b.get("/settings/api")
		expectStatus(t, p, http.StatusOK)
		for _, tc := range []struct{ oldID, newID, name, oldName string }{
			{billing.ID, rolled.ID, "Billing", "Billing (old key " + billing.Prefix + "..., works until 16 Nov 2026, 12:00 UTC)"},
			{reports.ID, rolledReports.ID, "Reports", "Reports (old key " + reports.Prefix + "..., paused, retired on 15 Nov 2026, 13:00 UTC)"},
		} {
			if got := keyLinkName(t, p.Body, tc.newID); got != tc.name {
				t.Errorf("the new key's link is named %q, want %q", got, tc.name)
			}
			if got := keyLinkName(t, p.Body, tc.oldID); got != tc.oldName {
				t.Errorf("the old key's link is named %q, want %q", got, tc.oldName)
			}
		}
		for _, problem := range structureProblems(p.Body) {
			t.Errorf("the list: %s", problem)
		}
	})
}

var resultsHeading = regexp.MustCompile(`<h2 id="results" tabindex="-1">([^<]*)</h2>`)

// TestQRListHeadingSaysWhatItKnows: the QR list's heading, focused after
// a filter or a page link, says how many codes the list holds (unfiltered)
// or the filter matches, never this page's number as if it were all, and
// with more pages what this page shows.
func TestQRListHeadingSaysWhatItKnows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: ownerID(t, e, org), Name: email}
		create := func(name, typ, content string) {
			t.Helper()
			e.advance(time.Second)
			if _, err := e.svc.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: &name, Type: &typ, Content: json.RawMessage(content)}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 21 {
			create(fmt.Sprintf("Product %02d", i), "url", fmt.Sprintf(`{"url":"https://example.com/p/%d"}`, i))
		}
		create("Lobby", "wifi", `{"ssid":"Lobby","security":"none"}`)
		create("Office", "wifi", `{"ssid":"Office","security":"none"}`)

		heading := func(p *page) string {
			t.Helper()
			expectStatus(t, p, http.StatusOK)
			m := resultsHeading.FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("no results heading:\n%s", snippet(p.Body))
			}
			return html.UnescapeString(m[1])
		}
		next := func(p *page) string {
			t.Helper()
			m := regexp.MustCompile(`href="(/qr-codes\?[^"]*cursor=[^"]+)">Next page`).FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("no Next page:\n%s", snippet(p.Body))
			}
			return html.UnescapeString(m[1])
		}
		for _, tc := range []struct {
			what string
			p    *page
			want string
		}{
			{"one page", b.get("/qr-codes?type=wifi"), "2 QR codes, type Wi-Fi network"},
			{"filtered, first of two pages", b.get("/qr-codes?type=url"), "21 QR codes, type Website address: the newest 20 shown, more on the next page"},
			{"filtered, the last page", b.get(next(b.get("/qr-codes?type=url"))), "21 QR codes, type Website address: the oldest one shown here"},
			{"unfiltered, the last page", b.get(next(b.get("/qr-codes"))), "23 QR codes: the oldest 3 shown here"},
		} {
			if got := heading(tc.p); got != tc.want {
				t.Errorf("%s: the heading says %q, want %q", tc.what, got, tc.want)
			}
		}
	})
}

// TestInvitationDoneSaysPending: Done on a new invitation's link leads
// back to the Company page, focus on Invite Member as before, and the
// page says, in a status (not focused), that the invitation is pending
// and until when; only for a pending invitation of the organisation.
func TestInvitationDoneSaysPending(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		p := b.post("/settings/company/invitations", url.Values{"email": {"ada@acme.test"}, "role": {"member"}})
		expectStatus(t, p, http.StatusOK)
		done := regexp.MustCompile(`<a class="btn btn-primary" href="([^"]+)">Done</a>`).FindStringSubmatch(p.Body)
		if done == nil {
			t.Fatalf("no Done:\n%s", snippet(p.Body))
		}
		to, fragment, _ := strings.Cut(html.UnescapeString(done[1]), "#")
		if fragment != "invite-member" {
			t.Errorf("Done leads to #%s, want Invite Member", fragment)
		}
		p = b.get(to)
		expectStatus(t, p, http.StatusOK)
		status := regexp.MustCompile(`<div class="flash flash-success" id="invited" role="status" data-announce>(.*?)</div>`).FindStringSubmatch(p.Body)
		if status == nil {
			t.Fatalf("after Done the page says nothing of the invitation:\n%s", snippet(p.Body))
		}
		want := "The invitation for ada@acme.test is pending: its link works until 22 Nov 2026, 12:00 UTC. If you did not copy it, cancel the invitation below and invite again."
		if got := textOf(status[1]); got != want {
			t.Errorf("the status says %q, want %q", got, want)
		}
		expectNotContains(t, p, `id="flash"`, "autofocus")
		expectContains(t, p, `id="invite-member"`)
		for _, problem := range structureProblems(p.Body) {
			t.Errorf("the Company page after Done: %s", problem)
		}

		// Nothing for an id that names no pending invitation here.
		other, _ := e.org(snapglyph.PlanPro)
		theirs, err := e.svc.Invite(context.Background(), snapglyph.Operator, other.ID, "grace@acme.test", "member")
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{theirs.ID, "inv_nope", "<b>"} {
			p := b.get("/settings/company?invited=" + url.QueryEscape(id))
			expectStatus(t, p, http.StatusOK)
			expectNotContains(t, p, `id="invited"`, "grace@acme.test", "<b>")
		}
	})
}

var filterLink = regexp.MustCompile(`href="((?:/settings/logs|/qr-codes)\?[^"]*)"`)

// TestFilterLinksLandOnResults: every link to a filtered Logs or QR list
// (a key's Request logs, the list's Logs icons, a revoked key's requests,
// refused requests, a code's creator, a request's key and address, the
// Logs' suspicious ones, Back from a request) ends in #results, as the
// filter forms do, so focus lands on the results' heading, which says
// what is listed.
func TestFilterLinksLandOnResults(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		prod := b.createKey("Production-WebApp")
		leaked := b.createKey("Zapier-Integration")
		api := b.get("/settings/api").Body
		prodID, leakedID := keyID(t, api, "Production-WebApp"), keyID(t, api, "Zapier-Integration")
		apiSend(t, e, "POST", "/api/v1/qr-codes", prod, `{"name":"Spring Menu","type":"url","content":{"url":"https://example.com/menu"}}`, http.StatusCreated)
		reqID, _ := e.call("GET", "/api/v1/usage", prod, "curl/8")
		b.follow(b.post("/settings/api/keys/"+prodID+"/pause", url.Values{"return": {"key"}}))
		e.call("GET", "/api/v1/usage", prod, "curl/8") // refused: paused, and suspicious
		b.follow(b.post("/settings/api/keys/"+prodID+"/resume", url.Values{"return": {"key"}}))
		revoked := b.post("/settings/api/keys/"+leakedID+"/revoke", nil)
		e.call("GET", "/api/v1/usage", leaked, "curl/8") // refused: revoked
		e.waitLogged(org.ID, 4)
		e.node.Recorder.Flush(ctx)
		code := regexp.MustCompile(`<tr id="qr-(qr_[A-Za-z0-9]+)">`).FindStringSubmatch(b.get("/qr-codes").Body)
		if code == nil {
			t.Fatal("the code made over the API is not listed")
		}

		for _, tc := range []struct {
			path string
			min  int // filter links the page has at least
		}{
			{revoked.Header.Get("Location"), 4}, // Logs icon, Review its requests, Its requests, see requests
			{"/settings/api/keys/" + prodID, 3}, // Request logs, See these requests, All 1 in QR Codes
			{"/settings/api/keys/" + leakedID, 1},
			{"/qr-codes", 1},
			{"/qr-codes/" + code[1], 1},
			{"/settings/logs", 1},                         // Show only these
			{"/settings/logs/" + reqID + "?range=all", 3}, // Back, its key's, its address's
		} {
			p := b.get(tc.path)
			expectStatus(t, p, http.StatusOK)
			links := filterLink.FindAllStringSubmatch(p.Body, -1)
			if len(links) < tc.min {
				t.Errorf("%s: %d links to a filtered list, want %d at least", tc.path, len(links), tc.min)
			}
			for _, l := range links {
				if !strings.HasSuffix(l[1], "#results") {
					t.Errorf("%s: the link %s does not land on the results", tc.path, l[1])
				}
			}
		}
		// Back from a request's page keeps its filters.
		p := b.get("/settings/logs/" + reqID + "?key=" + prodID + "&range=all")
		expectContains(t, p, `<a href="/settings/logs?key=`+prodID+`&amp;range=all#results">Logs</a>`)
	})
}

// TestErrorPagesSayErrorInTitle: every page that answers an error (not
// found, forbidden, a refused filter or form) or shows one (a flash after
// a refused action) has a title that begins "Error: ", as the Logs page's
// did; other pages do not.
func TestErrorPagesSayErrorInTitle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		member := e.browser()
		member.signIn(e.member(org, snapglyph.RoleMember))
		b.createKey("Production-WebApp")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		title := regexp.MustCompile(`<title>([^<]*)</title>`)
		for _, tc := range []struct {
			what  string
			p     *page
			title string
		}{
			{"a key not found", b.get("/settings/api/keys/key_nope"), "Error: API key not found · SnapGlyph"},
			{"a QR code not found", b.get("/qr-codes/qr_nope"), "Error: QR code not found · SnapGlyph"},
			{"a page not found", b.get("/nowhere"), "Error: Page not found · SnapGlyph"},
			{"forbidden", member.get("/settings/api"), "Error: You don't have access to this page · SnapGlyph"},
			{"a refused Logs filter", b.get("/settings/logs?status=2xy"), "Error: Logs · SnapGlyph"},
			{"a refused create-key form", b.post("/settings/api/keys", url.Values{"name": {""}}), "Error: API Keys · SnapGlyph"},
			{"a refused rename", b.post("/settings/api/keys/"+id+"/rename", url.Values{"name": {""}}), "Error: Production-WebApp — API Key · SnapGlyph"},
			{"a refused QR-code form", b.postMultipart("/qr-codes/new", qrForm("", "url", "url.url", "https://example.com"), nil), "Error: Create QR Code · SnapGlyph"},
			{"a refused invitation", b.post("/settings/company/invitations", url.Values{"email": {"not an email"}, "role": {"member"}}), "Error: Invite Member · SnapGlyph"},
			{"a refused QR filter (its flash)", b.follow(b.get("/qr-codes?type=bogus")), "Error: QR Codes · SnapGlyph"},
			{"a refused pause (its flash)", b.follow(b.post("/settings/api/keys/"+id+"/resume", nil)), "Error: API Keys · SnapGlyph"},
			{"a refused sign-in", e.browser().post("/signin", url.Values{"email": {email}, "password": {"wrong"}}), "Error: Sign in · SnapGlyph"},
			{"the list", b.get("/settings/api"), "API Keys · SnapGlyph"},
			{"a done action (its flash)", b.follow(b.post("/settings/api/keys/"+id+"/pause", nil)), "API Keys · SnapGlyph"},
		} {
			m := title.FindStringSubmatch(tc.p.Body)
			if m == nil {
				t.Errorf("%s: no title (status %d)", tc.what, tc.p.StatusCode)
				continue
			}
			if got := html.UnescapeString(m[1]); got != tc.title {
				t.Errorf("%s (status %d): the title is %q, want %q", tc.what, tc.p.StatusCode, got, tc.title)
			}
		}
	})
}

// hiddenPunctuation matches hidden text that starts with punctuation:
// the browser reads hidden text (.sr-only is positioned) as a separate
// piece, with a space before it ("Open : title").
var hiddenPunctuation = regexp.MustCompile(`<span class="sr-only">[,.:;)]`)

// TestHiddenWordsReadWithoutStraySpace: a notification's Open button is
// named "Open notification: its title"; no hidden text that a name is
// made of starts with punctuation (the bell's and the menu's counts, a
// revoked key's requests).
func TestHiddenWordsReadWithoutStraySpace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		b.createKey("Zapier-Integration")
		id := keyID(t, b.get("/settings/api").Body, "Zapier-Integration")
		b.follow(b.post("/settings/api/keys/"+id+"/revoke", nil))
		e.deliver()
		p := b.get("/notices")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `Open<span class="sr-only"> notification: API key Zapier-Integration revoked</span></button>`)
		for _, p := range []*page{p, b.get("/settings/api")} {
			for _, m := range hiddenPunctuation.FindAllString(p.Body, -1) {
				t.Errorf("hidden text starts with punctuation: %s", m)
			}
		}
	})
}

// TestRevokeWayBackRefusesHostileInput: the revoke dialog's way back
// (from=, else Referer) with bytes that are not UTF-8, a NUL, 100 kB, or
// escapes that decode to those or to another site leads to the list:
// no redirect, no server error, nothing sent repeated. A from= that is
// not text is refused by the dashboard's input check, as any parameter
// is (422, naming the field, repeating nothing).
func TestRevokeWayBackRefusesHostileInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		reqID, _ := e.call("GET", "/api/v1/usage", secret, "curl/8")
		e.waitLogged(org.ID, 1)
		revoke := "/settings/api/keys/" + id + "/revoke"
		entry := "/settings/logs/" + reqID
		huge := strings.Repeat("a", 100<<10)
		toList := `<a class="btn" href="/settings/api#revoke-` + id + `" autofocus>Cancel</a>`

		check := func(t *testing.T, what string, p *page, sent ...string) {
			t.Helper()
			if p.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d, want the dialog over the list:\n%s", what, p.StatusCode, snippet(p.Body))
			}
			if !strings.Contains(p.Body, toList) || !strings.Contains(p.Body, `data-close="/settings/api#revoke-`+id+`"`) {
				t.Errorf("%s: the way back is not the list: %s", what, regexp.MustCompile(`data-close="[^"]{0,200}`).FindString(p.Body))
			}
			if !utf8.ValidString(p.Body) {
				t.Errorf("%s: the page is not UTF-8", what)
			}
			for _, s := range append(sent, "elsewhere", strings.Repeat("a", 1000)) {
				if strings.Contains(p.Body, s) {
					t.Errorf("%s: the page repeats %q", what, s)
				}
			}
		}
		t.Run("from", func(t *testing.T) {
			for _, from := range []string{
				entry + "?key=%FF",             // decodes to a byte that is not UTF-8
				entry + "?range=all&ip=%00",    // decodes to a NUL
				entry + "?ip=" + huge,          // 100 kB
				entry + "?range=" + huge,       // 100 kB, a range refused
				entry + "?range=all%26key%3Dx", // one range, "all&key=x", refused
				entry + "%2F..%2F..%2Fapi",
				entry + "%3Fkey%3D%FF",
				"%2F%2Felsewhere.example" + entry,
				"/%2Felsewhere.example" + entry,
				"/\\elsewhere.example" + entry,
				"\\\\elsewhere.example" + entry,
				"https:elsewhere.example" + entry,
				entry + "\r\nLocation: //elsewhere.example",
				"/settings/api/keys/" + id + "%2F..%2Fkey_other",
			} {
				check(t, "from="+from[:min(len(from), 80)], b.get(revoke+"?from="+url.QueryEscape(from)), "<script>", "%FF", "%00", "evil")
			}
			// Not text at all: the input check's 422, which names the
			// field and repeats nothing.
			for _, from := range []string{entry + "?key=\xff", entry + "\x00"} {
				p := b.get(revoke + "?from=" + url.QueryEscape(from))
				expectStatus(t, p, http.StatusUnprocessableEntity)
				expectContains(t, p, "<title>Error: Please check your input · SnapGlyph</title>", "The field “from”")
				if !utf8.ValidString(p.Body) || strings.Contains(p.Body, reqID+"?key") || p.Header.Get("Location") != "" {
					t.Errorf("from=%q: the refusal repeats what was sent, or redirects", from)
				}
			}
		})
		t.Run("Referer", func(t *testing.T) {
			for _, ref := range []string{
				e.srv.URL + entry + "?key=\xff",
				e.srv.URL + entry + "?key=%FF",
				e.srv.URL + entry + "?range=all&ip=%00",
				e.srv.URL + entry + "?ip=" + huge,
				e.srv.URL + "/%2F%2Felsewhere.example" + entry,
				e.srv.URL + "//elsewhere.example" + entry,
				e.srv.URL + entry + "%2F..%2F..%2Fapi",
			} {
				check(t, "Referer "+ref[:min(len(ref), 80)], b.getFrom(revoke, ref), "\xff", "<script>", "%FF", "%00", "evil")
			}
		})
		// What the Logs page links to still leads back, its filters kept
		// and nothing else.
		for _, p := range []*page{
			b.getFrom(revoke, e.srv.URL+entry+"?key="+id+"&range=all&status=2xx&evil=%3Cscript%3E"),
			b.get(revoke + "?from=" + url.QueryEscape(entry+"?key="+id+"&range=all&status=2xx&evil=%3Cscript%3E")),
		} {
			expectContains(t, p, `<a class="btn" href="`+entry+`?key=`+id+`&amp;range=all&amp;status=2xx#revoke-key" autofocus>Cancel</a>`)
			expectNotContains(t, p, "evil", "script%3E", "&lt;script")
		}
	})
}
