package server

import (
	"strings"
	"testing"
)

// benchBodies are create bodies as clients send them: the typical one,
// a full vCard (8 content fields, arrays, an address), and one with a
// logo, whose long base64 string is most of the bytes to scan.
var benchBodies = []struct{ name, body string }{
	{"create", createBody},
	{"vcard", `{"name":"Ada's card","type":"vcard","content":{"firstName":"Ada","lastName":"Lovelace","organization":"Analytical Engines Ltd","title":"Programmer","phones":["+44 20 7946 0000","+44 7700 900000"],"emails":["ada@example.com"],"website":"https://example.com/ada","address":{"street":"12 St James's Square","city":"London","region":"","postalCode":"SW1Y 4JH","country":"UK"}},"design":{"foreground":"#1A237E","background":"#FFFFFF","errorCorrection":"M","margin":2}}`},
	{"logo", `{"name":"Brand","type":"url","content":{"url":"https://example.com/brand"},"design":{"errorCorrection":"H","logo":"` + strings.Repeat("iVBORw0KGgoAAAANSUhEUgAAADAAAAAw", 128) + `"}}`},
}

// BenchmarkCheckJSONKeys is the cost of the key check of a create
// body, which every POST and PATCH pays before decoding: "bytes" is
// checkJSONKeys, "token" the json.Decoder walk it replaced.
func BenchmarkCheckJSONKeys(b *testing.B) {
	for _, bb := range benchBodies {
		body := []byte(bb.body)
		var req qrRequest // outside the loop: only the check's allocations count
		for _, impl := range []struct {
			name  string
			check func([]byte, any) error
		}{{"bytes", checkJSONKeys}, {"token", checkJSONKeysToken}} {
			b.Run(bb.name+"/"+impl.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				for b.Loop() {
					if err := impl.check(body, &req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
