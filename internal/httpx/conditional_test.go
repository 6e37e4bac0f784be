package httpx

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

const tag = `"5d41402abc4b2a76"`

func request(method string, header string, values ...string) *http.Request {
	r := httptest.NewRequest(method, "/image", nil)
	for _, v := range values {
		r.Header.Add(header, v)
	}
	return r
}

// TestNoneMatch: weak comparison, lists over one or several lines, "*",
// and malformed fields, which match nothing.
func TestNoneMatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		values []string
		etag   string
		want   bool
	}{
		{"OK", []string{tag}, tag, true},
		{"Absent", nil, tag, false},
		{"Empty", []string{""}, tag, false},
		{"Other", []string{`"other"`}, tag, false},
		{"WeakRequest", []string{"W/" + tag}, tag, true},
		{"WeakRepresentation", []string{tag}, "W/" + tag, true},
		{"BothWeak", []string{"W/" + tag}, "W/" + tag, true},
		{"ListLast", []string{`"a", "b",` + tag}, tag, true},
		{"ListFirst", []string{tag + `,"a"`}, tag, true},
		{"ListNone", []string{`"a", W/"b"`}, tag, false},
		{"EmptyElements", []string{` , ,` + tag + `, ,`}, tag, true},
		{"Tabs", []string{"\t" + tag + "\t"}, tag, true},
		{"SeveralLines", []string{`"a"`, `"b", ` + tag}, tag, true},
		{"SeveralLinesNone", []string{`"a"`, `"b"`}, tag, false},
		{"Star", []string{"*"}, tag, true},
		{"StarSpaces", []string{"  *  "}, tag, true},
		{"StarNothingThere", []string{"*"}, "", false},
		{"QuotedStar", []string{`"*"`}, tag, false},
		{"StarInList", []string{`"a", *`}, tag, false},
		{"CommaInside", []string{`"a,b"`}, `"a,b"`, true},
		{"CommaInsideNotSplit", []string{`"a,b"`}, `"a"`, false},
		{"ObsText", []string{"\"caf\xe9\""}, "\"caf\xe9\"", true},
		{"Unquoted", []string{strings.Trim(tag, `"`)}, tag, false},
		{"LowerW", []string{"w/" + tag}, tag, false},
		{"Unterminated", []string{`"abc`}, `"abc"`, false},
		{"NoComma", []string{tag + ` "a"`}, tag, false},
		{"JunkAfterMatch", []string{tag + `, junk`}, tag, false},
		{"SpaceInside", []string{`"a b"`}, `"a b"`, false},
		{"DELInside", []string{"\"a\x7fb\""}, "\"a\x7fb\"", false},
		{"CaseMatters", []string{strings.ToUpper(tag)}, tag, false},
		{"Prefix", []string{tag[:len(tag)-2] + `"`}, tag, false},
		{"Huge", []string{strings.Repeat(`"x", `, 100000) + tag}, tag, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := NoneMatch(request("GET", "If-None-Match", c.values...), c.etag); got != c.want {
				t.Errorf("NoneMatch(%q, %q) = %v, want %v", c.values, c.etag, got, c.want)
			}
		})
	}
}

// TestMatchFails: strong comparison (a weak tag on either side never
// matches), "*", no field (no condition), a malformed field (fails).
func TestMatchFails(t *testing.T) {
	for _, c := range []struct {
		name   string
		values []string
		etag   string
		fails  bool
	}{
		{"OK", []string{tag}, tag, false},
		{"Absent", nil, tag, false},
		{"AbsentNothingThere", nil, "", false},
		{"Other", []string{`"other"`}, tag, true},
		{"WeakRequest", []string{"W/" + tag}, tag, true},
		{"WeakRepresentation", []string{tag}, "W/" + tag, true},
		{"BothWeak", []string{"W/" + tag}, "W/" + tag, true},
		{"List", []string{`"a", ` + tag}, tag, false},
		{"SeveralLines", []string{`"a"`, tag}, tag, false},
		{"Star", []string{"*"}, tag, false},
		{"StarNothingThere", []string{"*"}, "", true},
		{"TagNothingThere", []string{tag}, "", true},
		{"Empty", []string{""}, tag, false},
		{"Blank", []string{" \t"}, tag, false},
		{"EmptyList", []string{" , "}, tag, true},
		{"Malformed", []string{"abc"}, tag, true},
		{"MalformedAfterMatch", []string{tag + ", abc"}, tag, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := MatchFails(request("PATCH", "If-Match", c.values...), c.etag); got != c.fails {
				t.Errorf("MatchFails(%q, %q) = %v, want %v", c.values, c.etag, got, c.fails)
			}
		})
	}
}

// TestNotModified: 304 with the headers set before, for GET and HEAD
// only; nothing written otherwise.
func TestNotModified(t *testing.T) {
	for _, c := range []struct {
		method, inm string
		want        bool
	}{
		{"GET", tag, true},
		{"HEAD", "W/" + tag, true},
		{"GET", `"other"`, false},
		{"GET", "", false},
		{"POST", tag, false},
		{"PATCH", "*", false},
	} {
		r := request(c.method, "If-None-Match")
		if c.inm != "" {
			r.Header.Set("If-None-Match", c.inm)
		}
		w := httptest.NewRecorder()
		w.Header().Set("ETag", tag)
		w.Header().Set("Cache-Control", "private, no-cache")
		if got := NotModified(w, r, tag); got != c.want {
			t.Errorf("%s If-None-Match %q: %v, want %v", c.method, c.inm, got, c.want)
		}
		if c.want && (w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != tag || w.Header().Get("Cache-Control") == "") {
			t.Errorf("%s If-None-Match %q: %d, %d bytes, headers %v", c.method, c.inm, w.Code, w.Body.Len(), w.Header())
		}
		if !c.want && w.Body.Len() != 0 {
			t.Errorf("%s If-None-Match %q: wrote %q", c.method, c.inm, w.Body.String())
		}
	}
}

// TestAgainstServeContent compares the rule with net/http's own
// (http.ServeContent answers If-None-Match and If-Match too) on random
// well-formed lists, where RFC 9110 leaves no choice: 304 exactly when
// NoneMatch, 412 exactly when MatchFails.
func TestAgainstServeContent(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 110))
	opaque := []string{`""`, `"a"`, `"b"`, tag, `"a,b"`, `"!#~"`, "\"\x80\xff\""}
	randomTag := func() string {
		s := opaque[rng.IntN(len(opaque))]
		if rng.IntN(3) == 0 {
			s = "W/" + s
		}
		return s
	}
	ws := []string{"", " ", "\t", "  "}
	randomList := func() string {
		if rng.IntN(10) == 0 {
			return ws[rng.IntN(len(ws))] + "*" + ws[rng.IntN(len(ws))]
		}
		var parts []string
		for range 1 + rng.IntN(4) {
			p := ws[rng.IntN(len(ws))] + randomTag() + ws[rng.IntN(len(ws))]
			if rng.IntN(8) == 0 {
				p = ws[rng.IntN(len(ws))] // an empty element
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, ",")
	}
	serve := func(method, header, value, etag string) int {
		r := request(method, header, value)
		w := httptest.NewRecorder()
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "qr.svg", time.Time{}, strings.NewReader("<svg/>"))
		return w.Code
	}
	for i := range 3000 {
		etag, field := randomTag(), randomList()
		if blank(field) {
			// A server reading the request trims the field to "", which
			// net/http then treats as absent, as we do; a hand-made
			// header keeps its spaces.
			continue
		}
		if i%2 == 0 {
			etag = strings.TrimPrefix(etag, "W/") // ours are strong
		}
		method := []string{"GET", "HEAD"}[i%2]
		want304 := serve(method, "If-None-Match", field, etag) == http.StatusNotModified
		if got := NoneMatch(request(method, "If-None-Match", field), etag); got != want304 {
			t.Fatalf("If-None-Match %q, ETag %s: NoneMatch %v, net/http 304 %v", field, etag, got, want304)
		}
		want412 := serve(method, "If-Match", field, etag) == http.StatusPreconditionFailed
		if got := MatchFails(request(method, "If-Match", field), etag); got != want412 {
			t.Fatalf("If-Match %q, ETag %s: MatchFails %v, net/http 412 %v", field, etag, got, want412)
		}
	}
}

// parseTags splits a list of entity tags with nextTag; ok is false when
// the list is malformed.
func parseTags(field string) (tags []string, ok bool) {
	for s := field; ; {
		tag, rest, ok := nextTag(s)
		if !ok {
			return nil, false
		}
		if tag == "" {
			return tags, true
		}
		tags = append(tags, tag)
		s = rest
	}
}

// FuzzParseTags: any field is parsed without panicking, and what it
// accepts is a list of well-formed tags that parses again to the same
// list.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{tag, `W/"a", "b"`, ` , ,"a",`, `"a""b"`, `W/`, `"`, `*`, "\"\x80\"", `"a" , W/"b"  ,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		tags, ok := parseTags(field)
		if !ok {
			return
		}
		for _, tg := range tags {
			if s := strings.TrimPrefix(tg, "W/"); len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' || strings.ContainsFunc(s[1:len(s)-1], func(r rune) bool { return r == '"' }) {
				t.Fatalf("parseTags(%q) gave the malformed tag %q", field, tg)
			}
		}
		again, ok := parseTags(strings.Join(tags, ", "))
		if !ok || !slices.Equal(again, tags) {
			t.Fatalf("parseTags(%q) = %q, which parses again as %q, %v", field, tags, again, ok)
		}
		if len(tags) > 0 && !NoneMatch(request("GET", "If-None-Match", field), tags[0]) {
			t.Fatalf("If-None-Match %q does not match its own first tag %q", field, tags[0])
		}
	})
}

// BenchmarkNoneMatch: the cost of the rule on each conditional image
// request, for the one tag a browser sends and a list of three.
func BenchmarkNoneMatch(b *testing.B) {
	for _, c := range []struct{ name, field string }{{"one", tag}, {"list", `"a", W/"b", ` + tag}} {
		b.Run(c.name, func(b *testing.B) {
			r := request("GET", "If-None-Match", c.field)
			b.ReportAllocs()
			for b.Loop() {
				if !NoneMatch(r, tag) {
					b.Fatal("no match")
				}
			}
		})
	}
}

// TestLastModified: the end of the change's second once it has passed,
// its start within it, never later than the response; zero for zero.
func TestLastModified(t *testing.T) {
	s := time.Date(2026, 12, 2, 10, 0, 7, 0, time.UTC)
	for _, c := range []struct {
		modified, now, want time.Time
	}{
		{s.Add(300 * time.Millisecond), s.Add(400 * time.Millisecond), s},
		{s.Add(300 * time.Millisecond), s.Add(time.Second), s.Add(time.Second)},
		{s.Add(300 * time.Millisecond), s.Add(time.Hour), s.Add(time.Second)},
		{s, s, s}, // on the second, within it
		{s, s.Add(time.Second), s.Add(time.Second)},           // a change at .000 is not after the second's start
		{s.Add(999 * time.Millisecond), s.Add(-time.Hour), s}, // a clock behind the change: the start
		{time.Time{}, s, time.Time{}},
	} {
		if got := LastModified(c.modified, c.now); !got.Equal(c.want) {
			t.Errorf("LastModified(%s, %s) = %s, want %s", c.modified.Format(time.StampMilli), c.now.Format(time.StampMilli), got, c.want)
		}
		if !c.modified.IsZero() && LastModified(c.modified, c.now).After(c.now) && !c.now.Before(c.modified) {
			t.Errorf("LastModified(%s, %s) is after the response", c.modified, c.now)
		}
	}
}

// TestNotModifiedSince: 304 only for GET and HEAD, only when the change is
// strictly before one valid date, If-None-Match deciding when sent (also
// against the date), and nothing written otherwise.
func TestNotModifiedSince(t *testing.T) {
	s := time.Date(2026, 12, 2, 10, 0, 7, 0, time.UTC)
	modified := s.Add(300 * time.Millisecond)
	date := func(t time.Time) string { return t.Format(http.TimeFormat) }
	for _, c := range []struct {
		name    string
		method  string
		headers []string
		want    bool
	}{
		{"the end of the change's second", "GET", []string{"If-Modified-Since", date(s.Add(time.Second))}, true},
		{"HEAD", "HEAD", []string{"If-Modified-Since", date(s.Add(time.Second))}, true},
		{"later", "GET", []string{"If-Modified-Since", date(s.Add(time.Hour))}, true},
		{"the start of the change's second", "GET", []string{"If-Modified-Since", date(s)}, false},
		{"before", "GET", []string{"If-Modified-Since", date(s.Add(-time.Second))}, false},
		{"RFC 850 date", "GET", []string{"If-Modified-Since", s.Add(time.Second).Format(time.RFC850)}, true},
		{"asctime date", "GET", []string{"If-Modified-Since", s.Add(time.Second).Format(time.ANSIC)}, true},
		{"not a date", "GET", []string{"If-Modified-Since", "yesterday"}, false},
		{"two dates", "GET", []string{"If-Modified-Since", date(s.Add(time.Hour)), "If-Modified-Since", date(s.Add(time.Hour))}, false},
		{"blank", "GET", []string{"If-Modified-Since", " "}, false},
		{"POST", "POST", []string{"If-Modified-Since", date(s.Add(time.Hour))}, false},
		{"a matching tag wins over an old date", "GET", []string{"If-None-Match", tag, "If-Modified-Since", date(s)}, true},
		{"another tag wins over a current date", "GET", []string{"If-None-Match", `"other"`, "If-Modified-Since", date(s.Add(time.Hour))}, false},
		{"a blank If-None-Match is no condition", "GET", []string{"If-None-Match", " ", "If-Modified-Since", date(s.Add(time.Hour))}, true},
	} {
		r := httptest.NewRequest(c.method, "/x", nil)
		for i := 0; i+1 < len(c.headers); i += 2 {
			r.Header.Add(c.headers[i], c.headers[i+1])
		}
		w := httptest.NewRecorder()
		got := NotModifiedSince(w, r, tag, modified)
		if got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if wrote := w.Code == http.StatusNotModified; got != wrote || !got && w.Body.Len() > 0 {
			t.Errorf("%s: returned %v, status %d", c.name, got, w.Code)
		}
	}
	// A resource with no modification time has no date to compare.
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("If-Modified-Since", date(s.Add(time.Hour)))
	if NotModifiedSince(httptest.NewRecorder(), r, tag, time.Time{}) {
		t.Error("304 for a resource without a modification time")
	}
}
