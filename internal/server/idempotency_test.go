package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestIdempotencyKey: a create retried with the same Idempotency-Key
// returns the first code instead of a second one, also when the retries
// race; the same key with another body is refused.
func TestIdempotencyKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		post := func(key, body string) *http.Response {
			req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/qr-codes", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+h.key)
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Idempotency-Key", key)
			}
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		body := `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		first := post("order-1234", body)
		replayedHeader := first.Header.Get("Idempotent-Replayed")
		id := readJSON(t, first, 201)["id"].(string)
		if replayedHeader != "" {
			t.Error("the first request says it was replayed")
		}
		again := post("order-1234", body)
		if again.Header.Get("Idempotent-Replayed") != "true" {
			t.Error("no Idempotent-Replayed header on the retry")
		}
		if got := readJSON(t, again, 201)["id"]; got != id {
			t.Fatalf("retry created %v, want the first code %s", got, id)
		}
		expectProblem(t, post("order-1234", `{"name":"Other","type":"text","content":{"text":"x"}}`), 422, "idempotency_key_reused")
		expectProblem(t, post("bad key with spaces", body), 400, "invalid_request")

		// Racing retries of a new key make exactly one code.
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				resp := post("order-5678", body)
				if resp.StatusCode != 201 {
					t.Errorf("racing retry: %d", resp.StatusCode)
					resp.Body.Close()
					return
				}
				ids[i] = readJSON(t, resp, 201)["id"].(string)
			}(i)
		}
		wg.Wait()
		for _, got := range ids[1:] {
			if got != ids[0] {
				t.Fatalf("racing retries created %v", ids)
			}
		}
		// Without a key, each request creates its own code.
		readJSON(t, post("", body), 201)
		if n := h.countQR(); n != 3 {
			t.Fatalf("%d QR codes stored, want 3 (order-1234, order-5678, and the one without a key)", n)
		}
	})
}
