package qr

import (
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// urlSchema is what the API document asks of one URL field: a string that
// matches pattern, of at most maxLength characters.
type urlSchema struct {
	where     string
	pattern   *regexp.Regexp
	maxLength int
}

// urlPatternStart marks the patterns of URL fields in openapi.json.
const urlPatternStart = "[Hh][Tt][Tt][Pp][Ss]?://"

// loadURLSchemas reads from the API document every string schema whose
// pattern is an http(s) URL: a URL code's content.url and a vCard's
// website. The document's patterns are read by JavaScript as well as by
// Go: they keep to the syntax both read alike (no lookaround, no
// backreferences, no \d or \w), so Go's regexp decides as the document's
// other readers do.
func loadURLSchemas(tb testing.TB) []urlSchema {
	tb.Helper()
	raw, err := os.ReadFile("../server/openapi.json")
	if err != nil {
		tb.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatalf("openapi.json: %v", err)
	}
	var found []urlSchema
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if p, ok := v["pattern"].(string); ok && strings.Contains(p, urlPatternStart) {
				re, err := regexp.Compile(p)
				if err != nil {
					tb.Fatalf("%s: the pattern is not one Go's regexp reads: %v", where, err)
				}
				max, ok := v["maxLength"].(float64)
				if !ok {
					tb.Fatalf("%s: a URL field without maxLength", where)
				}
				found = append(found, urlSchema{where, re, int(max)})
			}
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(v[k], where+"/"+k)
			}
		case []any:
			for _, e := range v {
				walk(e, where+"/[]")
			}
		}
	}
	walk(doc, "#")
	var url, website bool
	for _, s := range found {
		url = url || s.where == "#/components/schemas/UrlContent/properties/url"
		website = website || strings.HasSuffix(s.where, "/properties/website")
	}
	if !url || !website {
		tb.Fatalf("openapi.json: no URL pattern found for UrlContent.url (%v) or the vCard website (%v)", url, website)
	}
	return found
}

// schemaVerdict is the document's verdict on a non-empty URL: true when
// every URL field's schema allows it. It fails when two URL fields differ,
// since checkURL stands for all of them.
func schemaVerdict(tb testing.TB, schemas []urlSchema, s string) bool {
	tb.Helper()
	verdict := false
	for i, sc := range schemas {
		ok := sc.pattern.MatchString(s) && utf8.RuneCountInString(s) <= sc.maxLength
		if i > 0 && ok != verdict {
			tb.Fatalf("%q: %s says %v and %s says %v", s, schemas[0].where, verdict, sc.where, ok)
		}
		verdict = ok
	}
	return verdict
}

// serverRefusesMore lists in one place the URLs that the document allows
// and checkURL refuses, and why. The difference may only go this way: a
// URL the server accepts is stored and sent back, and must then pass the
// document's schema.
func serverRefusesMore(s string) string {
	if len(s) > MaxURLLen {
		return "the limit is 2048 bytes of UTF-8, and maxLength counts characters"
	}
	for _, r := range s {
		if r > 0xffff && snapglyph.Hidden(r) {
			return "invisible characters beyond the Basic Multilingual Plane (tag characters), which a pattern read as UTF-16 cannot list"
		}
	}
	return ""
}

// compareWithSchema reports a URL that checkURL and the document judge
// differently, beyond serverRefusesMore.
func compareWithSchema(tb testing.TB, schemas []urlSchema, s string) {
	tb.Helper()
	if s == "" {
		return // a missing URL is checked before checkURL, and a website may be empty
	}
	msg := checkURL(s)
	schema := schemaVerdict(tb, schemas, s)
	switch {
	case msg == "" && !schema:
		tb.Errorf("checkURL accepts %q, which the document refuses", s)
	case msg != "" && schema && serverRefusesMore(s) == "":
		tb.Errorf("checkURL refuses %q (%s), which the document allows", s, msg)
	}
}

// urlCorpus builds tricky URLs: each host, userinfo, port and tail alone
// and in combination, and every byte (and a few runes) in each part.
func urlCorpus() []string {
	hosts := []string{
		"example.com", "EXAMPLE.COM", "a", "a-b.c_d~e", "!$&'()*+,;=", "a,b", "-", ".", "..", "_", "~",
		"192.0.2.1", "999.999.999.999", "1.2.3", "0x7f.1", "xn--bcher-kva.example",
		// Numbers: a browser reads a host whose last label is a number as
		// an IPv4 address, and refuses or rewrites one that is not four
		// decimal numbers from 0 to 255.
		"0.0.0.0", "255.255.255.255", "256.1.1.1", "256.0.0.1", "1.2.3.256", "01.2.3.4", "1.2.3.04", "1.2.3.4.5",
		"1.2.3.4.", "1.2.3.", "1.2.3.4..", "1", "0", "08", "1.2.3.example", "example.123a", "123abc", "example.123",
		"example.1.", "example..1", "a.1", "1..2.3", "0x7f", "0X7F", "0x", "example.0x1F", "example.0xg", "00x1",
		"0xé", "1é", "0x1%C3%A9", "é.1", "1.2.3.4%C3%A9", "1.2.3.4_", "1.2.3.-4", "1.2.3.x", "1.2.3.A",
		"bücher.example", "日本.example", "🎉.example", "ｅｘａｍｐｌｅ.com", "é", "a\u200bb", "a\u00a0b", "a\u3000b", "a\u2028b", "a\u0085b",
		"b%C3%BCcher.example", "%C3%BC", "%C3", "%FF", "%80", "%8", "%", "%zz", "%25", "a%25b", "%2525",
		"ex%41mple.com", "%2F", "%2E", "%7F", "%00", "%3A", "%5B%5D", "%3C",
		">", "<", "]", "[", "\"", "a>b", "a<b", "a]b", "a[b", "]]", "[[::1]]", "a{b}", "a|b", "a\\b", "a^b", "a`b",
		"[::1]", "[::]", "[2001:db8::1]", "[2001:DB8::A]", "[::ffff:192.0.2.1]", "[::192.0.2.1]", "[1:2:3:4:5:6:7:8]",
		"[1:2:3:4:5:6:7::]", "[1:2:3:4:5:6:7::8]", "[1:2:3:4:5:6:1.2.3.4]", "[::1.2.3.04]", "[::1.2.3]", "[12345::]",
		"[192.0.2.1]", "[1::2::3]", "[1:2:3:4:5:6:7:8:9]", "[fe80::1%25eth0]", "[fe80::1%eth0]", "[fe80::1%25]",
		"[fe80::1%2525]", "[v1.fe80::a]", "[::%31]", "[%3A%3A1]", "[::1", "::1]", "[]", "[::1]]", "[::1]x", "a[::1]",
		"", "a:b", "a b", "a\tb", "a\x00b", "a\x7fb", "a\ufffdb", "a\xffb", "@", "a@b", "?", "/", "#",
		strings.Repeat("a", 63) + ".com", strings.Repeat("a", 255), strings.Repeat("a.", 1020) + "com", strings.Repeat("é", 1100),
	}
	userinfos := []string{"", "@", "user@", "user:pass@", "u%20s@", "u%zz@", "a@b@", "ü@", "u ser@", "u<@", ":@", "u:p:q@", "[::1]@", "%@", "u!$&'()*+,;=~@"}
	ports := []string{"", ":", ":0", ":80", ":8080", ":65535", ":65536", ":99999", ":000080", ":123456", ":99999999999999999999",
		":-1", ":80a", ":+80", ": 80", "::80", ":8:0", ":٣", ":%38"}
	// The edges of the port's range, with each host but fewer tails.
	portNumbers := []string{":00000", ":00080", ":6553", ":59999", ":60000", ":64999", ":65000", ":65499", ":65500", ":65529",
		":65530", ":65539", ":65540", ":65599", ":65600", ":65999", ":66000", ":69999", ":70000", ":100000"}
	tails := []string{"", "/", "/a/b", "/a b", "/%zz", "/%2F", "/ä", "?q=1", "?%zz", "?a#b", "#frag", "#%zz", "#a#b", "/\\", "/<>[]", "?", "#", "/?#", "/a\x00", "/\ufffd", "?\x7f"}
	schemes := []string{"http://", "https://", "HTTP://", "hTtPs://", "ftp://", "http:/", "http:", "", "http:///", "javascript://", "http//", " http://", "httpx://"}

	var corpus []string
	for _, h := range hosts {
		for _, p := range ports {
			for _, t := range tails {
				corpus = append(corpus, "http://"+h+p+t)
			}
		}
		for _, p := range portNumbers {
			corpus = append(corpus, "http://"+h+p, "https://"+h+p+"/?#")
		}
		for _, u := range userinfos {
			corpus = append(corpus, "https://"+u+h+"/")
		}
		for _, sc := range schemes {
			corpus = append(corpus, sc+h)
		}
	}
	var chars []string
	for c := 0; c < 0x100; c++ {
		chars = append(chars, string([]byte{byte(c)}))
	}
	chars = append(chars, "é", "\u00a0", "\u0085", "\u2028", "\ufffd", "\ufeff", "\u200b", "\u202e", "\u3164", "\u00ad", "\U000E0041", "🎉", "%", "%2", "%41", "%25", "%C3%A9", "%FF")
	for _, c := range chars {
		corpus = append(corpus,
			"http://a"+c+"b/", "http://"+c+"/", "http://"+c, "http://a"+c, // host
			"http://a"+c+"b@c/", "http://"+c+"@c/", // userinfo
			"http://a:8"+c+"/", "http://[::1]"+c+"/", "http://[::1"+c+"]/", // port and IPv6
			"http://a/"+c, "http://a/?"+c, "http://a/#"+c, // path, query, fragment
			c+"http://a/", "http"+c+"://a/", "http:"+c+"//a/")
	}
	return corpus
}

// TestCheckURLMatchesSchema: checkURL accepts exactly the URLs the API
// document's URL patterns allow, but for serverRefusesMore.
func TestCheckURLMatchesSchema(t *testing.T) {
	schemas := loadURLSchemas(t)
	corpus := urlCorpus()
	accepted := 0
	for _, s := range corpus {
		compareWithSchema(t, schemas, s)
		if checkURL(s) == "" {
			accepted++
		}
	}
	// The corpus must exercise both verdicts, and the one known difference.
	long := "https://example.com/" + strings.Repeat("é", MaxURLLen-len("https://example.com/"))
	if serverRefusesMore(long) == "" || checkURL(long) == "" || !schemaVerdict(t, schemas, long) {
		t.Errorf("a URL of 2048 characters but more bytes: checkURL %q, schema %v", checkURL(long), schemaVerdict(t, schemas, long))
	}
	if accepted < len(corpus)/10 || accepted > len(corpus)*9/10 {
		t.Errorf("checkURL accepts %d of %d URLs: the corpus does not test both sides", accepted, len(corpus))
	}
}

// TestCheckURLHosts: the host is a name, an IPv4 address or a bracketed
// IPv6 address without a zone, and the port a number a browser opens; the
// document judges each URL alike.
func TestCheckURLHosts(t *testing.T) {
	const (
		hostMsg = "must have a valid host"
		portMsg = "must have a port from 0 to 65535"
	)
	schemas := loadURLSchemas(t)
	tests := []struct{ url, want string }{
		{"https://example.com/", ""},
		{"http://a_b~c-d.e:8080", ""},
		{"http://a,b;c=d!$&'()*+/", ""},
		{"http://192.0.2.1:80/", ""},
		{"http://[2001:db8::1]:8080/", ""},
		{"http://[::ffff:192.0.2.1]/", ""},
		{"https://bücher.example/", ""},
		{"https://b%C3%BCcher.example/", ""},
		{"https://user:p%40ss@example.com/", ""},
		{"http://>", hostMsg},
		{"https://<", hostMsg},
		{"http://]", hostMsg},
		{`http://"/`, hostMsg},
		{"http://a<b>.example/", hostMsg},
		{"http://a]b/", hostMsg},
		{"http://u@>/", hostMsg},
		{"http://>:80/", hostMsg},
		{"http://[fe80::1%25eth0]/", hostMsg},
		{"http://[fe80::1%25en0]:8080/", hostMsg},
		{"http://ex%41mple.com/", "absolute http"},
		{"http://[192.0.2.1]/", "absolute http"},
		{"http://a:b:80/", "absolute http"},
		{"http://:80/", "absolute http"},
		{"http://a b/", "spaces"},

		// A last label of digits (or 0x and hex digits) makes the host
		// an IPv4 address to a browser: it must be one as written.
		{"http://0.0.0.0/", ""},
		{"http://255.255.255.255:8080/", ""},
		{"http://192.0.2.1./", ""},
		{"http://1.2.3.example/", ""},
		{"http://example.123a/", ""},
		{"http://123abc/", ""},
		{"http://example.0xg/", ""},
		{"http://00x1/", ""},
		{"http://example.1../", ""},
		{"http://999.999.999.999/", hostMsg},
		{"http://1.2.3/", hostMsg},
		{"http://1.2.3./", hostMsg},
		{"http://256.1.1.1/", hostMsg},
		{"http://256.0.0.1/", hostMsg},
		{"http://1.2.3.256/", hostMsg},
		{"http://01.2.3.4/", hostMsg},
		{"http://1.2.3.4.5/", hostMsg},
		{"http://example.123/", hostMsg},
		{"http://1/", hostMsg},
		{"http://0x7f/", hostMsg},
		{"http://0X7F.0.0.1/", hostMsg},
		{"http://example.0x1F/", hostMsg},
		{"http://0x/", hostMsg},
		{"http://1.2.3:99999/", hostMsg},

		// A port is at most five digits, up to 65535; "a:" has none.
		{"http://example.com:/", ""},
		{"http://example.com:0/", ""},
		{"http://example.com:00080/", ""},
		{"http://example.com:65535/", ""},
		{"http://example.com:65536/", portMsg},
		{"http://example.com:99999/", portMsg},
		{"http://example.com:000080/", portMsg},
		{"http://example.com:123456/", portMsg},
		{"http://192.0.2.1:70000/", portMsg},
		{"http://[2001:db8::1]:65536/", portMsg},
		{"https://u:p@example.com:99999?q", portMsg},
	}
	for _, tt := range tests {
		compareWithSchema(t, schemas, tt.url)
		got := checkURL(tt.url)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("checkURL(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
