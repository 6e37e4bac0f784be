package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestFailedRequestsCostNothing: a request the server could not carry
// out costs no API call — a client told to retry after a 503 pays once,
// for the attempt that works — and one whose client gave up while it
// waited on the database is recorded as 499, not as the server's 500,
// and costs nothing either. Both used to be charged, so an outage spent
// a limited allowance, and a client's own time-outs showed as "Internal
// error" on its Logs page.
func TestFailedRequestsCostNothing(t *testing.T) {
	db := testdb.Open(t, "postgres")
	h := newHarness(t, db, node.Config{})
	used := func() float64 {
		t.Helper()
		u := readJSON(t, h.send("GET", "/api/v1/usage", h.key, ""), 200)
		return u["apiCalls"].(map[string]any)["used"].(float64)
	}
	// hold locks the QR codes' table, calls during while a request waits
	// for it, and lets go.
	hold := func(during func()) {
		t.Helper()
		ctx := context.Background()
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.Exec(`LOCK TABLE qr_codes IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		during()
	}
	// waiting returns the backends that wait for the lock.
	waiting := func() []int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var pids []int
			rows, err := db.SQL().Query(`SELECT pid FROM pg_locks WHERE relation = 'qr_codes'::regclass AND NOT granted`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var pid int
				rows.Scan(&pid)
				pids = append(pids, pid)
			}
			rows.Close()
			if len(pids) > 0 {
				return pids
			}
			if time.Now().After(deadline) {
				t.Fatal("no request waits for the lock")
			}
			time.Sleep(10 * time.Millisecond) // polling PostgreSQL's view
		}
	}
	const create = `{"name":"Menu","type":"text","content":{"text":"x"}}`

	before := used()
	// The database connection is lost under the request: 503, to retry.
	hold(func() {
		done := make(chan *http.Response, 1)
		go func() { done <- h.send("POST", "/api/v1/qr-codes", h.key, create) }()
		for _, pid := range waiting() {
			db.SQL().Exec(`SELECT pg_terminate_backend($1)`, pid)
		}
		expectProblem(t, <-done, 503, "service_unavailable")
	})
	if got := used(); got != before+1 {
		t.Errorf("%v calls used after a 503 and a usage read, %v before", got, before)
	}

	// The client gives up while its request waits.
	before = used()
	hold(func() {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", h.srv.URL+"/api/v1/qr-codes", strings.NewReader(create))
		req.Header.Set("Authorization", "Bearer "+h.key)
		req.Header.Set("Content-Type", "application/json")
		done := make(chan error, 1)
		go func() {
			resp, err := h.srv.Client().Do(req)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		waiting()
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the cancelled request was answered")
		}
		// The server notices, and its query stops waiting.
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(h.logs.String(), "status=499") {
			if time.Now().After(deadline) {
				t.Fatalf("no request logged as 499:\n%s", h.logs.String())
			}
			time.Sleep(10 * time.Millisecond) // waiting for the server's log line
		}
	})
	if got := used(); got != before+1 {
		t.Errorf("%v calls used after a cancelled request and a usage read, %v before", got, before)
	}
	if strings.Contains(h.logs.String(), "internal error") {
		t.Errorf("a client's time-out logged as the server's error:\n%s", h.logs.String())
	}
}
