package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

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

		// Racing retries of a new key make exactly one code, and every one
		// answers as the request that made it did, byte for byte (the
		// answer is recorded with the key, in the create's transaction),
		// also once the code is renamed.
		var wg sync.WaitGroup
		bodies := make([]string, 8)
		for i := range bodies {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				resp := post("order-5678", body)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Errorf("racing retry: %d %s", resp.StatusCode, b)
					return
				}
				bodies[i] = string(b)
			}(i)
		}
		wg.Wait()
		for _, got := range bodies[1:] {
			if got != bodies[0] {
				t.Fatalf("racing retries answered differently:\n%s", strings.Join(bodies, "\n"))
			}
		}
		var raced map[string]any
		if err := json.Unmarshal([]byte(bodies[0]), &raced); err != nil {
			t.Fatal(err)
		}
		readJSON(t, h.send("PATCH", "/api/v1/qr-codes/"+raced["id"].(string), h.key, `{"name":"Renamed"}`), 200)
		if resp := post("order-5678", body); func() string { b, _ := io.ReadAll(resp.Body); resp.Body.Close(); return string(b) }() != bodies[0] {
			t.Error("after a rename the raced key's retry answers the code as it is now, not as first answered")
		}
		// Without a key, each request creates its own code.
		readJSON(t, post("", body), 201)
		if n := h.countQR(); n != 3 {
			t.Fatalf("%d QR codes stored, want 3 (order-1234, order-5678, and the one without a key)", n)
		}
	})
}

// TestIdempotentReplayIsTheFirstResponse: for 24 hours a retry gets the
// first answer byte for byte, even after the code was renamed or deleted.
func TestIdempotentReplayIsTheFirstResponse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		post := func() (*http.Response, string) {
			req, _ := http.NewRequest("POST", h.srv.URL+"/api/v1/qr-codes", strings.NewReader(`{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`))
			req.Header.Set("Authorization", "Bearer "+h.key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "order-42")
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(b)
		}
		resp, first := post()
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, first)
		}
		loc := resp.Header.Get("Location")
		readJSON(t, h.send("PATCH", loc, h.key, `{"name":"Renamed"}`), 200)
		resp, again := post()
		if resp.StatusCode != 201 || again != first || resp.Header.Get("Location") != loc || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("after a rename the retry answered %d %q (Location %q), want the first answer %q", resp.StatusCode, again, resp.Header.Get("Location"), first)
		}
		d := h.send("DELETE", loc, h.key, "")
		d.Body.Close()
		if resp, again = post(); resp.StatusCode != 201 || again != first {
			t.Fatalf("after a delete the retry answered %d %q", resp.StatusCode, again)
		}
		if n := h.countQR(); n != 0 {
			t.Fatalf("the retries created %d codes", n)
		}
		// Past the 24 hours the key is forgotten: the same request creates anew.
		h.clock.Set(h.clock.Now().Add(25 * time.Hour))
		if resp, again = post(); resp.StatusCode != 201 || again == first || resp.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("after 25 hours: %d %q", resp.StatusCode, again)
		}
	})
}
