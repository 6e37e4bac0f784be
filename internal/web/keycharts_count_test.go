package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestKeyChartsCount: every usage figure on a key's page (each day's bar
// in the calls chart and in the credits chart, by its title and by its
// height, the top of each axis, the charts' descriptions, the table by
// day, the month's totals and the calls from the key's address) equals
// what the test counted itself from the answers its clients received,
// by the metering rules (DESIGN.md §5): every request that passes the
// key and plan checks is one call whatever its outcome, a refusal
// (401, 403, 429) is none, and an image sent costs 1 credit (SVG) or 10
// (PNG). A key of the same organisation and a key of another one send
// traffic the same days, which must not show; a week of a few thousand
// calls runs through the real server, with the test clock moved from day
// to day (requests on both sides of midnight), the key paused,
// restricted and fenced by an allowlist for a while, the organisation's
// credits and then calls running out, and the month turning.
func TestKeyChartsCount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanMax)
		other, otherEmail := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(email)
		newKey := func(orgID, name string) kcKey {
			k, err := e.svc.CreateKey(ctx, snapglyph.Operator, orgID, name)
			if err != nil {
				t.Fatal(err)
			}
			return kcKey{id: k.ID, secret: k.Secret, org: orgID}
		}
		a := newKey(org.ID, "Production-WebApp")
		b := newKey(org.ID, "Billing-Worker")
		c := newKey(other.ID, "Their-WebApp")
		// Two small keys of the other organisation for the words around
		// the figures: one with a tie for its busiest day and a single
		// credit, one never used.
		tied := newKey(other.ID, "Their-Reporting")
		unused := newKey(other.ID, "Their-Spare")
		tally := newKCTally()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: kcWorkers}}
		t.Cleanup(client.CloseIdleConnections)
		rng := rand.New(rand.NewPCG(20261115, 2))

		// 15 Nov, 12:00: each key creates its QR codes (A's images are
		// asked for by A, B's by B, C's by C), then the first day's mix.
		codes := map[string]*kcCodes{}
		for _, k := range []kcKey{a, a, a, b, c} {
			ans := kcRun(t, e, client, tally, []kcCall{{k, kcCreate}})[0]
			if ans.status != http.StatusCreated || ans.id == "" {
				t.Fatalf("creating a QR code: %d %s", ans.status, ans.code)
			}
			if codes[k.id] == nil {
				codes[k.id] = &kcCodes{}
			}
			codes[k.id].ids = append(codes[k.id].ids, ans.id)
		}
		for _, k := range []kcKey{a, b, c} {
			ans := kcRun(t, e, client, tally, []kcCall{{k, kcReq{method: "GET", path: "/api/v1/qr-codes/" + codes[k.id].ids[0] + "?format=svg", image: "svg"}}})[0]
			if ans.status != http.StatusOK || ans.etag == "" {
				t.Fatalf("an SVG: %d %s, ETag %q", ans.status, ans.code, ans.etag)
			}
			codes[k.id].etag = ans.etag
		}
		mix := func(k kcKey, n int) []kcCall { return kcMix(rng, k, codes[k.id], n) }
		day := func(d int, hour, minute, second int) {
			e.clock.Set(time.Date(2026, 11, 15+d, hour, minute, second, 0, time.UTC))
		}
		kcRun(t, e, client, tally, kcJoin(mix(a, 1150), mix(b, 120), mix(c, 100)))
		usage := kcReq{method: "GET", path: "/api/v1/usage"}
		kcRun(t, e, client, tally, []kcCall{{tied, usage}, {tied, usage}, {tied, usage}})
		// Malformed Authorization headers with A's key are refused and
		// name no key that could be charged.
		for range 5 {
			kcRun(t, e, client, tally, []kcCall{{kcKey{id: a.id, secret: `"` + a.secret + `"`, org: a.org}, kcReq{method: "GET", path: "/api/v1/usage"}}})
		}

		// 16 Nov: the day's traffic, and more just before midnight.
		day(1, 9, 0, 0)
		kcRun(t, e, client, tally, kcJoin(mix(a, 700), mix(b, 60), mix(c, 60)))
		kcRun(t, e, client, tally, []kcCall{{tied, usage}, {tied, usage},
			{tied, kcReq{method: "GET", path: "/api/v1/qr-codes/" + codes[c.id].ids[0] + "?format=svg", image: "svg"}}})
		if d15, d16 := tally.day(tied.id, "2026-11-15"), tally.day(tied.id, "2026-11-16"); d15 != (kcCount{3, 0}) || d16 != (kcCount{3, 1}) {
			t.Fatalf("the tied key's days: %+v and %+v, want 3 calls, then 3 calls and 1 credit", d15, d16)
		}
		e.clock.Set(time.Date(2026, 11, 16, 23, 59, 59, 999_000_000, time.UTC))
		kcRun(t, e, client, tally, kcJoin(mix(a, 40), mix(b, 5)))
		// 17 Nov: just after midnight; then A is paused for a while.
		day(2, 0, 0, 0)
		kcRun(t, e, client, tally, mix(a, 30))
		day(2, 10, 0, 0)
		owner.signIn(email)
		kcForm(t, owner, "/settings/api/keys/"+a.id+"/pause", url.Values{"reason": {"suspicious traffic"}, "return": {"key"}})
		kcRun(t, e, client, tally, mix(a, 20))
		kcForm(t, owner, "/settings/api/keys/"+a.id+"/resume", url.Values{"return": {"key"}})
		kcRun(t, e, client, tally, mix(a, 150))
		// 18 Nov: A rests; the others do not. The page half way.
		day(3, 14, 0, 0)
		kcRun(t, e, client, tally, kcJoin(mix(b, 40), mix(c, 40)))
		owner.signIn(email)
		kcCheckPage(t, e, owner, a, tally, "A on 18 Nov")

		// 19 Nov: A restricted to usage:read, then fenced to an address
		// it is not called from, then given full access again.
		day(4, 8, 0, 0)
		owner.signIn(email)
		kcForm(t, owner, "/settings/api/keys/"+a.id+"/restrict", url.Values{"access": {"restricted"}, "scope": {"usage:read"}, "allowed_ips": {""}})
		kcRun(t, e, client, tally, mix(a, 60))
		kcForm(t, owner, "/settings/api/keys/"+a.id+"/restrict", url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.0/24"}})
		kcRun(t, e, client, tally, mix(a, 20))
		kcForm(t, owner, "/settings/api/keys/"+a.id+"/restrict", url.Values{"access": {"full"}, "allowed_ips": {""}})
		kcRun(t, e, client, tally, kcJoin(mix(a, 500), mix(b, 60), mix(c, 60)))

		// 20 Nov: the organisation has 25 credits left; images beyond
		// them are refused. 21 Nov: 300 calls left.
		day(5, 11, 0, 0)
		left := tally.org(org.ID, "2026-11").credits + 25
		if err := e.svc.SetLimits(ctx, snapglyph.Operator, org.ID, nil, &left); err != nil {
			t.Fatal(err)
		}
		kcRun(t, e, client, tally, kcJoin(mix(a, 400), mix(b, 40)))
		day(6, 16, 30, 0)
		left = tally.org(org.ID, "2026-11").calls + 300
		if err := e.svc.SetLimits(ctx, snapglyph.Operator, org.ID, &left, nil); err != nil {
			t.Fatal(err)
		}
		kcRun(t, e, client, tally, kcJoin(mix(a, 600), mix(b, 40), mix(c, 40)))

		// The week's pages, before and after the node writes what it
		// holds: A's and B's to A's Owner, C's to its own.
		owner.signIn(email)
		kcCheckPage(t, e, owner, a, tally, "A on 21 Nov")
		e.node.Recorder.Flush(ctx)
		kcCheckPage(t, e, owner, a, tally, "A on 21 Nov, flushed")
		kcCheckPage(t, e, owner, b, tally, "B on 21 Nov")
		theirs := e.browser()
		theirs.signIn(otherEmail)
		kcCheckPage(t, e, theirs, c, tally, "C on 21 Nov")
		kcCheckPage(t, e, theirs, tied, tally, "the tied key on 21 Nov")
		kcCheckPage(t, e, theirs, unused, tally, "the unused key on 21 Nov")
		if n, d := tally.month(a.id, "2026-11").calls, tally.day(a.id, "2026-11-15").calls; n < 3000 || d < 1000 {
			t.Errorf("A made %d calls in the week, %d on 15 Nov; want a few thousand, and a day of more than 1,000", n, d)
		}

		// The month turns: November's calls, spent since 21 Nov, are
		// refused on the 30th; the allowance renews at 00:00 UTC on
		// 1 Dec, and the page shows December only.
		e.clock.Set(time.Date(2026, 11, 30, 23, 0, 0, 0, time.UTC))
		kcRun(t, e, client, tally, kcJoin(mix(a, 50), mix(b, 10)))
		e.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		kcRun(t, e, client, tally, kcJoin(mix(a, 300), mix(b, 30), mix(c, 30)))
		owner.signIn(email)
		kcCheckPage(t, e, owner, a, tally, "A on 1 Dec")
		kcCheckPage(t, e, owner, b, tally, "B on 1 Dec")

		// Every kind of refusal happened (and was counted as nothing).
		for _, code := range []string{"malformed_authorization", "api_key_paused", "insufficient_scope", "ip_not_allowed",
			"image_credit_limit_reached", "api_call_limit_reached"} {
			if tally.refused[code] == 0 {
				t.Errorf("no request was refused with %s: %v", code, tally.refused)
			}
		}
		t.Logf("A: %d calls and %d credits in November, %d calls refused in all; refusals %v",
			tally.month(a.id, "2026-11").calls, tally.month(a.id, "2026-11").credits, tally.refusedOf[a.id], tally.refused)
	})
}

// kcWorkers is how many requests the test sends at once.
const kcWorkers = 8

// kcKey is an API key as its client holds it.
type kcKey struct{ id, secret, org string }

// kcCodes are a key's QR codes and the ETag of the first one's SVG.
type kcCodes struct {
	ids  []string
	etag string
}

// kcReq is one API request; image names the format of an image request.
type kcReq struct {
	method, path, body string
	ifNoneMatch        string
	image              string // "svg", "png" or ""
}

type kcCall struct {
	key kcKey
	req kcReq
}

// kcAnswer is what a client learnt from an answer.
type kcAnswer struct {
	status   int
	code, id string
	etag     string
}

var kcCreate = kcReq{method: "POST", path: "/api/v1/qr-codes", body: `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`}

// kcMix is n requests of a key as a client makes them: mostly usage and
// lists, SVGs and some PNGs, HEADs and conditional GETs of images (no
// image sent), QR codes that do not exist (404), bodies that are wrong
// and new QR codes.
func kcMix(rng *rand.Rand, k kcKey, codes *kcCodes, n int) []kcCall {
	out := make([]kcCall, 0, n)
	for range n {
		id := codes.ids[rng.IntN(len(codes.ids))]
		var q kcReq
		switch r := rng.IntN(100); {
		case r < 32:
			q = kcReq{method: "GET", path: "/api/v1/usage"}
		case r < 46:
			q = kcReq{method: "GET", path: "/api/v1/qr-codes?limit=5"}
		case r < 56:
			q = kcReq{method: "GET", path: "/api/v1/qr-codes/" + id}
		case r < 76:
			q = kcReq{method: "GET", path: "/api/v1/qr-codes/" + id + "?format=svg", image: "svg"}
		case r < 79:
			q = kcReq{method: "GET", path: "/api/v1/qr-codes/" + id + "?format=png&size=256", image: "png"}
		case r < 82:
			q = kcReq{method: "HEAD", path: "/api/v1/qr-codes/" + id + "?format=png", image: "png"}
		case r < 87:
			q = kcReq{method: "GET", path: "/api/v1/qr-codes/" + codes.ids[0] + "?format=svg", image: "svg", ifNoneMatch: codes.etag}
		case r < 93:
			q = kcReq{method: "GET", path: "/api/v1/qr-codes/qr_0000000000000000000000"}
		case r < 97:
			q = kcReq{method: "POST", path: "/api/v1/qr-codes", body: `{"name":"","type":"url"}`}
		default:
			q = kcCreate
		}
		out = append(out, kcCall{k, q})
	}
	return out
}

// kcJoin interleaves the keys' requests, as their clients send them at
// the same time.
func kcJoin(lists ...[]kcCall) []kcCall {
	var out []kcCall
	for i := 0; ; i++ {
		more := false
		for _, l := range lists {
			if i < len(l) {
				out = append(out, l[i])
				more = true
			}
		}
		if !more {
			return out
		}
	}
}

// kcTally counts what each key's page must show: its calls and credits
// per UTC day, from the answers received.
type kcTally struct {
	mu        sync.Mutex
	days      map[string]map[string]kcCount // key id → "2006-01-02" → counts
	orgOf     map[string]string             // key id → organisation id
	refused   map[string]int                // problem code → requests refused with it
	refusedOf map[string]int                // key id → its requests refused
}

type kcCount struct{ calls, credits int64 }

func newKCTally() *kcTally {
	return &kcTally{days: map[string]map[string]kcCount{}, orgOf: map[string]string{}, refused: map[string]int{}, refusedOf: map[string]int{}}
}

// add counts one answer to a request sent at at, by the metering rules;
// an answer no rule covers (a server error) is an error.
func (t *kcTally) add(k kcKey, at time.Time, q kcReq, a kcAnswer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case a.status >= 500:
		return fmt.Errorf("%s %s: %d %s", q.method, q.path, a.status, a.code)
	case a.status == http.StatusUnauthorized || a.status == http.StatusForbidden || a.status == http.StatusTooManyRequests:
		code := a.code
		switch {
		case code == "" && q.method == "HEAD": // a HEAD's answer has no body to name it
			code = "HEAD " + strconv.Itoa(a.status)
		case code == "":
			return fmt.Errorf("%s %s: %d without a code", q.method, q.path, a.status)
		}
		t.refused[code]++
		t.refusedOf[k.id]++
		return nil
	}
	c := kcCount{calls: 1}
	if q.method == "GET" && a.status == http.StatusOK {
		switch q.image {
		case "svg":
			c.credits = 1
		case "png":
			c.credits = 10
		}
	}
	day := at.UTC().Format("2006-01-02")
	if t.days[k.id] == nil {
		t.days[k.id] = map[string]kcCount{}
	}
	d := t.days[k.id][day]
	d.calls += c.calls
	d.credits += c.credits
	t.days[k.id][day] = d
	t.orgOf[k.id] = k.org
	return nil
}

// day is a key's count of a day ("2006-01-02").
func (t *kcTally) day(keyID, day string) kcCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.days[keyID][day]
}

// month is a key's count of a month ("2006-01").
func (t *kcTally) month(keyID, month string) kcCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out kcCount
	for d, c := range t.days[keyID] {
		if strings.HasPrefix(d, month+"-") {
			out.calls += c.calls
			out.credits += c.credits
		}
	}
	return out
}

// org is what an organisation's keys spent in a month.
func (t *kcTally) org(orgID, month string) kcCount {
	t.mu.Lock()
	var keys []string
	for k, o := range t.orgOf {
		if o == orgID {
			keys = append(keys, k)
		}
	}
	t.mu.Unlock()
	var out kcCount
	for _, k := range keys {
		c := t.month(k, month)
		out.calls += c.calls
		out.credits += c.credits
	}
	return out
}

// ever is every call a key made.
func (t *kcTally) ever(keyID string) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n int64
	for _, c := range t.days[keyID] {
		n += c.calls
	}
	return n
}

// kcRun sends the calls, kcWorkers at a time, at the test clock's time
// (which stays put meanwhile), counts their answers and returns them in
// the calls' order.
func kcRun(t *testing.T, e *env, client *http.Client, tally *kcTally, calls []kcCall) []kcAnswer {
	t.Helper()
	at := e.clock.Now()
	answers := make([]kcAnswer, len(calls))
	errs := make([]error, len(calls))
	next := make(chan int)
	var wg sync.WaitGroup
	for range kcWorkers {
		wg.Go(func() {
			for i := range next {
				answers[i], errs[i] = kcSend(client, e.srv.URL, calls[i])
				if errs[i] == nil {
					errs[i] = tally.add(calls[i].key, at, calls[i].req, answers[i])
				}
			}
		})
	}
	for i := range calls {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if !e.clock.Now().Equal(at) {
		t.Fatal("the clock moved while requests were sent")
	}
	return answers
}

// kcSend sends one request, within 30 seconds.
func kcSend(client *http.Client, base string, c kcCall) (kcAnswer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var body io.Reader
	if c.req.body != "" {
		body = strings.NewReader(c.req.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.req.method, base+c.req.path, body)
	if err != nil {
		return kcAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key.secret)
	if c.req.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.req.ifNoneMatch != "" {
		req.Header.Set("If-None-Match", c.req.ifNoneMatch)
	}
	resp, err := client.Do(req)
	if err != nil {
		return kcAnswer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return kcAnswer{}, err
	}
	a := kcAnswer{status: resp.StatusCode, etag: resp.Header.Get("ETag")}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		var v struct{ Code, ID string }
		json.Unmarshal(raw, &v)
		a.code, a.id = v.Code, v.ID
	}
	return a, nil
}

// kcForm posts a dashboard form that must succeed.
func kcForm(t *testing.T, b *browser, path string, form url.Values) {
	t.Helper()
	p := b.post(path, form)
	if p.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s: %d\n%s", path, p.StatusCode, snippet(p.Body))
	}
	if p = b.follow(p); strings.Contains(p.Body, "flash-error") {
		t.Fatalf("POST %s: %s", path, snippet(p.Body))
	}
}

var (
	kcFigure   = regexp.MustCompile(`(?s)<figure class="key-chart">(.*?)</figure>`)
	kcYMax     = regexp.MustCompile(`<span class="y-tick y-max" aria-hidden="true">([\d,]+)</span>`)
	kcRect     = regexp.MustCompile(`<rect class="([^"]+)" x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)"/>`)
	kcByDay    = regexp.MustCompile(`(?s)<table class="table compact by-day">.*?<tbody>(.*?)</tbody>`)
	kcDayRow   = regexp.MustCompile(`<tr><th scope="row">([^<]+)</th><td>([\d,]+)</td><td>([\d,]+)</td></tr>`)
	kcAddrCall = regexp.MustCompile(`(?s)<th scope="row" data-label="IP address"><code>127\.0\.0\.1</code></th>.*?<td data-label="Calls">([\d,]+)</td>`)
)

// kcNumber reads a figure as the page writes it ("1,234").
func kcNumber(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
	if err != nil {
		t.Fatalf("%q is not a figure", s)
	}
	return n
}

// kcCheckPage reads the key's page and compares each usage figure on it
// with the tally of this month's days, from the 1st to today (UTC).
func kcCheckPage(t *testing.T, e *env, b *browser, k kcKey, tally *kcTally, what string) {
	t.Helper()
	p := b.get("/settings/api/keys/" + k.id)
	expectStatus(t, p, http.StatusOK)
	now := e.clock.Now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var days []time.Time
	for d := first; !d.After(now); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	want := make([]kcCount, len(days))
	for i, d := range days {
		want[i] = tally.day(k.id, d.Format("2006-01-02"))
	}
	month := tally.month(k.id, now.Format("2006-01"))

	figures := kcFigure.FindAllStringSubmatch(p.Body, -1)
	if len(figures) != 2 {
		t.Fatalf("%s: %d charts, want 2 (calls, credits)", what, len(figures))
	}
	for i, s := range []struct {
		id, class, one, many string
		count                func(kcCount) int64
	}{
		{"calls", "bar-calls", "API call", "API calls", func(c kcCount) int64 { return c.calls }},
		{"credits", "bar-credits", "image credit", "image credits", func(c kcCount) int64 { return c.credits }},
	} {
		fig := figures[i][1]
		var total, most int64
		busiest := -1
		for j, c := range want {
			n := s.count(c)
			total += n
			if n > most {
				most, busiest = n, j
			}
		}
		if total != s.count(month) {
			t.Fatalf("%s: the tally's days add up to %d %s, its month to %d", what, total, s.many, s.count(month))
		}
		// The figure beside the chart's name: the month's total.
		m := regexp.MustCompile(`<strong id="key-` + s.id + `">([\d,]+)</strong>`).FindStringSubmatch(fig)
		if m == nil {
			t.Fatalf("%s: no total of %s:\n%s", what, s.many, fig)
		}
		if got := kcNumber(t, m[1]); got != total {
			t.Errorf("%s: the page says %d %s this month, want %d", what, got, s.many, total)
		}
		// The days drawn.
		span := days[0].Format("2 Jan") + " to " + days[len(days)-1].Format("2 Jan 2006")
		title := strings.ToUpper(s.many[:1]) + s.many[1:] + " per day, " + span
		if !strings.Contains(fig, `<title id="`+s.id+`-chart-title">`+title+`</title>`) {
			t.Errorf("%s: the %s chart is not titled %q", what, s.many, title)
		}
		// The description: the total, and the busiest day (the first on
		// a tie) with its figure.
		m = regexp.MustCompile(`<desc id="` + s.id + `-chart-desc">([\d,]+) (` + s.one + `s?) in all(?:, most on ([^()<]+) \(([\d,]+)\))?\.</desc>`).FindStringSubmatch(fig)
		if m == nil {
			t.Fatalf("%s: the %s chart has no description of its figures:\n%s", what, s.many, fig)
		}
		noun := s.many
		if total == 1 {
			noun = s.one
		}
		if got := kcNumber(t, m[1]); got != total || m[2] != noun {
			t.Errorf("%s: the %s chart's description says %s %s in all, want %d %s", what, s.many, m[1], m[2], total, noun)
		}
		switch {
		case busiest < 0 && m[3] != "":
			t.Errorf("%s: the %s chart's description names a busiest day, %s, of a month without any", what, s.many, m[3])
		case busiest >= 0 && (m[3] != days[busiest].Format("2 Jan") || m[4] == "" || kcNumber(t, m[4]) != most):
			t.Errorf("%s: the %s chart's description says most on %q (%s), want %s (%d)", what, s.many, m[3], m[4], days[busiest].Format("2 Jan"), most)
		}
		// The top of the count axis is the busiest day's figure.
		m = kcYMax.FindStringSubmatch(fig)
		switch {
		case most == 0 && m != nil:
			t.Errorf("%s: the %s axis tops at %s, want no top (nothing this month)", what, s.many, m[1])
		case most > 0 && (m == nil || kcNumber(t, m[1]) != most):
			t.Errorf("%s: the %s axis tops at %v, want %d", what, s.many, m, most)
		}
		// One bar a day, in order: its title's figure is the day's, and
		// its height is in proportion to it, every bar standing on the
		// axis.
		bars := regexp.MustCompile(`(?s)<g class="bar"><title>([^<:]+): ([\d,]+) `+s.many+`</title>(.*?)</g>`).FindAllStringSubmatch(fig, -1)
		if len(bars) != len(days) {
			t.Fatalf("%s: %d bars of %s, want %d (%s)", what, len(bars), s.many, len(days), span)
		}
		var top, base float64
		for j, bar := range bars {
			label, n := bar[1], kcNumber(t, bar[2])
			if label != days[j].Format("2 Jan") || n != s.count(want[j]) {
				t.Errorf("%s: bar %d of %s reads %s: %d, want %s: %d", what, j+1, s.many, label, n, days[j].Format("2 Jan"), s.count(want[j]))
			}
			rects := kcRect.FindAllStringSubmatch(bar[3], -1)
			if n == 0 {
				if len(rects) != 0 {
					t.Errorf("%s: %s's bar of %s has no figure but is drawn: %s", what, label, s.many, bar[3])
				}
				continue
			}
			if len(rects) != 1 || rects[0][1] != s.class {
				t.Errorf("%s: %s's bar of %s is drawn as %q, want one %s", what, label, s.many, bar[3], s.class)
				continue
			}
			y, err1 := strconv.ParseFloat(rects[0][2], 64)
			h, err2 := strconv.ParseFloat(rects[0][3], 64)
			if err1 != nil || err2 != nil || h <= 0 {
				t.Errorf("%s: %s's bar of %s: y %q, height %q", what, label, s.many, rects[0][2], rects[0][3])
				continue
			}
			if top == 0 {
				top, base = h*float64(most)/float64(n), y+h
			}
			if want := top * float64(n) / float64(most); math.Abs(h-want) > 1e-6*top {
				t.Errorf("%s: %s's bar of %s (%d) is %g high, want %g (the tallest, %d, is %g)", what, label, s.many, n, h, want, most, top)
			}
			if math.Abs(y+h-base) > 1e-6*top {
				t.Errorf("%s: %s's bar of %s ends at %g, the others at %g", what, label, s.many, y+h, base)
			}
		}
	}

	// The table by day, for those who cannot see the bars.
	tbl := kcByDay.FindStringSubmatch(p.Body)
	if tbl == nil {
		t.Fatalf("%s: no table by day", what)
	}
	rows := kcDayRow.FindAllStringSubmatch(tbl[1], -1)
	if len(rows) != len(days) {
		t.Fatalf("%s: %d rows by day, want %d", what, len(rows), len(days))
	}
	for j, r := range rows {
		if r[1] != days[j].Format("2 Jan 2006") || kcNumber(t, r[2]) != want[j].calls || kcNumber(t, r[3]) != want[j].credits {
			t.Errorf("%s: the table's row %d reads %s: %s calls, %s credits; want %s: %d, %d", what, j+1, r[1], r[2], r[3],
				days[j].Format("2 Jan 2006"), want[j].calls, want[j].credits)
		}
	}

	// The address every call came from, with every call the key made
	// (the list of addresses is not one month's).
	if tally.ever(k.id) == 0 {
		if !strings.Contains(p.Body, `<p class="empty-line">No requests yet.</p>`) {
			t.Errorf("%s: a key never charged does not say it has no requests:\n%s", what, snippet(p.Body))
		}
		return
	}
	m := kcAddrCall.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("%s: 127.0.0.1 is not among the addresses:\n%s", what, snippet(p.Body))
	}
	if got, want := kcNumber(t, m[1]), tally.ever(k.id); got != want {
		t.Errorf("%s: 127.0.0.1 made %d calls, want %d", what, got, want)
	}
}
