package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var nextPage = regexp.MustCompile(`href="(/qr-codes\?[^"]*cursor=[^"]+)">Next page`)

// TestQRListCountsTheFilter: a filtered QR list's heading, which takes
// focus after Filter or a page link, says how many codes the filter
// matches on every page ("130 QR codes, type …", "1 QR code, …"), not
// only that there are more than this page. 130 codes of every type, made
// by two keys and a person, are counted here as they are made; for each
// filter (each type, each creator, a type and a creator) the heading on
// every page has that number, and the pages list that many codes.
func TestQRListCountsTheFilter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		prod, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		batch, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Batch-Import")
		if err != nil {
			t.Fatal(err)
		}
		creators := []snapglyph.Creator{
			{Type: snapglyph.CreatorAPIKey, ID: prod.ID, Name: prod.Name, Prefix: prod.Prefix},
			{Type: snapglyph.CreatorAPIKey, ID: batch.ID, Name: batch.Name, Prefix: batch.Prefix},
			{Type: snapglyph.CreatorUser, ID: ownerID(t, e, org), Name: email},
		}
		content := map[string]string{
			"url":   `{"url":"https://example.com/p/%d"}`,
			"text":  `{"text":"note %d"}`,
			"email": `{"to":"desk%d@example.com"}`,
			"phone": `{"number":"+1 555 000 %04d"}`,
			"sms":   `{"number":"+1 555 100 %04d"}`,
			"wifi":  `{"ssid":"Floor %d","security":"none"}`,
			"vcard": `{"firstName":"Ada %d"}`,
		}
		// Uneven shares, so no count is another's by chance: url gets
		// most, vcard one (made by the batch key).
		types := []string{"url", "url", "url", "text", "url", "email", "phone", "url", "sms", "wifi", "url", "text"}
		byType, byKey, byBoth := map[string]int{}, map[string]int{}, map[[2]string]int{}
		create := func(i int, typ string, by snapglyph.Creator) {
			t.Helper()
			e.advance(time.Millisecond * time.Duration(1+i%3)) // some share a millisecond
			name := fmt.Sprintf("%s code %03d", strings.ToUpper(typ[:1])+typ[1:], i)
			c := json.RawMessage(fmt.Sprintf(content[typ], i))
			if _, err := e.svc.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: &name, Type: &typ, Content: c}); err != nil {
				t.Fatal(err)
			}
			byType[typ]++
			byKey[by.ID]++
			byBoth[[2]string{typ, by.ID}]++
		}
		for i := range 129 {
			create(i, types[i%len(types)], creators[i%len(creators)])
		}
		create(129, "vcard", creators[1])
		total := 0
		for _, n := range byType {
			total += n
		}
		if total != 130 {
			t.Fatalf("%d made", total)
		}

		// heading is the focused results heading, "" when the page has
		// none (the unfiltered first page).
		heading := func(p *page) string {
			t.Helper()
			expectStatus(t, p, http.StatusOK)
			if m := resultsHeading.FindStringSubmatch(p.Body); m != nil {
				return html.UnescapeString(m[1])
			}
			return ""
		}
		// walk reads every page of a filter; it returns the headings and
		// how many codes the pages list.
		walk := func(filter url.Values) (headings []string, listed int) {
			t.Helper()
			p := b.get("/qr-codes?" + filter.Encode())
			for pages := 0; ; pages++ {
				headings = append(headings, heading(p))
				listed += strings.Count(p.Body, `<span class="qr-title-name">`)
				m := nextPage.FindStringSubmatch(p.Body)
				if m == nil || pages > 20 {
					return headings, listed
				}
				p = b.get(html.UnescapeString(m[1]))
			}
		}
		count := func(n int) string {
			if n == 1 {
				return "1 QR code, "
			}
			return strconv.Itoa(n) + " QR codes, "
		}
		type filterCase struct {
			filter url.Values
			want   int
		}
		var cases []filterCase
		for typ, n := range byType {
			cases = append(cases, filterCase{url.Values{"type": {typ}}, n})
		}
		for _, c := range creators[:2] {
			cases = append(cases, filterCase{url.Values{"createdByKey": {c.ID}}, byKey[c.ID]})
		}
		for _, typ := range []string{"url", "text", "vcard"} {
			for _, c := range creators[:2] {
				cases = append(cases, filterCase{url.Values{"type": {typ}, "createdByKey": {c.ID}}, byBoth[[2]string{typ, c.ID}]})
			}
		}
		cases = append(cases, filterCase{url.Values{"createdByKey": {"key_unknown"}}, 0})
		paged, single := 0, false
		for _, c := range cases {
			headings, listed := walk(c.filter)
			if listed != c.want {
				t.Errorf("?%s: the pages list %d codes, %d were made", c.filter.Encode(), listed, c.want)
			}
			for i, h := range headings {
				if !strings.HasPrefix(h, count(c.want)) {
					t.Errorf("?%s, page %d of %d: the heading says %q, want it to begin %q", c.filter.Encode(), i+1, len(headings), h, count(c.want))
				}
			}
			if len(headings) > 1 {
				paged++
			}
			single = single || c.want == 1
		}
		if paged < 3 || !single {
			t.Errorf("%d filters over several pages, one matching one code: %v; the test needs both", paged, single)
		}
		// Unfiltered, later pages count the whole list, as before.
		headings, listed := walk(url.Values{})
		if listed != total || len(headings) != 7 || !strings.HasPrefix(headings[1], "130 QR codes: ") {
			t.Errorf("unfiltered: %d listed on %d pages, headings %q", listed, len(headings), headings)
		}
	})
}
