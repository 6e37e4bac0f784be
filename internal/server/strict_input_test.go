package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestStrictInput: what a client sends either takes effect or is refused
// with an error that says why — a lone UTF-16 surrogate escape (stored
// as sent, it made a body strict JSON readers refuse), a download value
// other than 1 or true, an empty or repeated Idempotency-Key, a
// compressed body. Nothing refused is stored.
func TestStrictInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		create := func(body string, headers ...string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/qr-codes", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+h.key)
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Add(headers[i], headers[i+1])
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		for _, tc := range []struct{ body, code, detail string }{
			{`{"name":"a\udc00b","type":"text","content":{"text":"x"}}`, "invalid_json", "at byte 10"},
			{`{"name":"Menu","type":"text","content":{"text":"a\udc00b"}}`, "invalid_json", "surrogate"},
			{`{"name":"Menu","type":"text","content":{"text":"a\ud83d"}}`, "invalid_json", "surrogate"},
			{`{"name":"Menu","type":"text","content":{"text":"\ud83d\u0041"}}`, "invalid_json", "surrogate"},
			{`{"name":"Menu","type":"text","content":{"text":"\ude00\ud83d"}}`, "invalid_json", "surrogate"},
			{`{"name":"Menu","type":"url","content":{"url":"https://example.com"},"design":{"foreground":"\udfff"}}`, "invalid_json", "surrogate"},
		} {
			p := expectProblem(t, create(tc.body), http.StatusBadRequest, tc.code)
			if d, _ := p["detail"].(string); !strings.Contains(d, tc.detail) {
				t.Errorf("%s: detail %q, want %q", tc.body, d, tc.detail)
			}
		}
		// A pair, and a backslash followed by "u" as text, are taken.
		got := readJSON(t, create(`{"name":"Smile \ud83d\ude00","type":"text","content":{"text":"C:\\udc00 \ud83d\ude00"}}`), 201)
		if got["name"] != "Smile 😀" || got["content"].(map[string]any)["text"] != `C:\udc00 😀` {
			t.Errorf("stored %v / %v", got["name"], got["content"])
		}
		id := got["id"].(string)

		p := expectProblem(t, create(`{"name":"Zip","type":"text","content":{"text":"x"}}`, "Content-Encoding", "gzip"), http.StatusUnsupportedMediaType, "unsupported_media_type")
		if d, _ := p["detail"].(string); !strings.Contains(d, `Content-Encoding "gzip"`) {
			t.Errorf("detail %q does not name the encoding", d)
		}
		readJSON(t, create(`{"name":"Plain","type":"text","content":{"text":"x"}}`, "Content-Encoding", "identity"), 201)

		for _, tc := range []struct {
			headers []string
			message string
		}{
			{[]string{"Idempotency-Key", ""}, "is empty"},
			{[]string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, "more than once"},
			{[]string{"Idempotency-Key", "a, b"}, "without spaces"},
			{[]string{"Idempotency-Key", "commande-n°42"}, "ASCII characters"},  // UTF-8
			{[]string{"Idempotency-Key", "order-\xff\xfe"}, "ASCII characters"}, // not UTF-8
			{[]string{"Idempotency-Key", strings.Repeat("k", 256)}, "1 to 255"},
		} {
			p := expectProblem(t, create(`{"name":"Once","type":"text","content":{"text":"x"}}`, tc.headers...), http.StatusBadRequest, "invalid_request")
			if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["field"] != "Idempotency-Key" || !strings.Contains(errs[0].(map[string]any)["message"].(string), tc.message) {
				t.Errorf("%v: errors %v, want %q", tc.headers, p["errors"], tc.message)
			}
		}

		for _, tc := range []struct{ query, message string }{
			{"?format=svg&download=zz", "must be 1 or true"},
			{"?format=svg&download=0", "must be 1 or true"},
			{"?download=1", "applies to format=svg or format=png only"},
			{"?format=json&download=true", "applies to format=svg or format=png only"},
		} {
			p := expectProblem(t, h.get("/api/v1/qr-codes/"+id+tc.query, h.key), http.StatusBadRequest, "invalid_request")
			if errs, _ := p["errors"].([]any); len(errs) != 1 || !strings.Contains(errs[0].(map[string]any)["message"].(string), tc.message) {
				t.Errorf("%s: errors %v, want download: %q", tc.query, p["errors"], tc.message)
			}
		}
		resp := h.get("/api/v1/qr-codes/"+id+"?format=svg&download=true", h.key)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("download=true: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
		}
		resp.Body.Close()

		p = expectProblem(t, h.get("/api/v1/qr-codes?createdByKey=production", h.key), http.StatusBadRequest, "invalid_request")
		if strings.Contains(p["detail"].(string)+p["errors"].([]any)[0].(map[string]any)["message"].(string), "not the key itself") {
			t.Errorf("a createdByKey that is no key is told it is the key itself: %v", p)
		}

		list := readJSON(t, h.get("/api/v1/qr-codes", h.key), 200)
		if n := len(list["data"].([]any)); n != 2 {
			t.Errorf("%d codes stored, want 2 (the refused requests stored nothing)", n)
		}
	})
}

// TestAnswersEqualReads: the ETag is strong (equal tags, equal bytes), so
// the code a create or a change answers is byte for byte what a GET of it
// then gives — times included, which are kept to the millisecond (the
// answers had the clock's nanoseconds, the reads milliseconds).
func TestAnswersEqualReads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		h.clock.Set(start.Add(123456789 * time.Nanosecond))
		read := func(resp *http.Response, status int) (string, string) {
			t.Helper()
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
			}
			return resp.Header.Get("ETag"), string(body)
		}
		tag, created := read(h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"text","content":{"text":"x"}}`), 201)
		var q map[string]any
		json.Unmarshal([]byte(created), &q)
		id := q["id"].(string)
		if getTag, got := read(h.get("/api/v1/qr-codes/"+id, h.key), 200); getTag != tag || got != created {
			t.Errorf("created %s %s\nread    %s %s", tag, created, getTag, got)
		}
		h.clock.Set(start.Add(time.Second + 987654321*time.Nanosecond))
		tag, changed := read(h.send("PATCH", "/api/v1/qr-codes/"+id, h.key, `{"name":"Menu 2"}`), 200)
		if getTag, got := read(h.get("/api/v1/qr-codes/"+id, h.key), 200); getTag != tag || got != changed {
			t.Errorf("changed %s %s\nread    %s %s", tag, changed, getTag, got)
		}
	})
}
