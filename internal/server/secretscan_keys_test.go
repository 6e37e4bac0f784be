package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/server"
)

// TestScanKeysSlowReadBlocksNoReader: while the key list is being read
// again (slowly: GitHub is slow, or the network), a report signed with a
// key already known is verified at once, not after the read; a report
// naming an identifier not known yet waits for that read (no second
// read), and gets the key it brought.
func TestScanKeysSlowReadBlocksNoReader(t *testing.T) {
	old, cur := newSigner(t, "gh-1"), newSigner(t, "gh-2")
	var requests atomic.Int32
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if requests.Add(1) == 1 {
			w.Write(keyList(t, old))
			return
		}
		arrived <- struct{}{}
		select { // the second read is slow
		case <-release:
		case <-time.After(10 * time.Second):
		}
		w.Write(keyList(t, old, cur))
	}))
	defer ts.Close()
	keys, err := server.NewScanKeys(ts.URL+"/meta/public_keys/secret_scanning", ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	keys.MinRetry, keys.MaxAge = 0, 20*time.Millisecond
	ctx := context.Background()
	if err := keys.Load(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond) // the keys are old now: the next look reads again

	type result struct {
		id  string
		err error
	}
	done := make(chan result, 2)
	go func() { _, err := keys.Key(ctx, old.id); done <- result{"stale " + old.id, err} }()
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the keys were not read again")
	}
	// The read is under way and blocked: a known key is served at once.
	began := time.Now()
	pub, err := keys.Key(ctx, old.id)
	if err != nil || pub == nil || !pub.Equal(&old.key.PublicKey) {
		t.Fatalf("a known key during a read: %v %v", pub, err)
	}
	if took := time.Since(began); took > time.Second {
		t.Fatalf("a known key took %s during a slow read: the read blocks readers", took)
	}
	// A new identifier waits for the read under way.
	go func() { _, err := keys.Key(ctx, cur.id); done <- result{"new " + cur.id, err} }()
	select {
	case r := <-done:
		t.Fatalf("%s returned (%v) before the read ended", r.id, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	for range 2 {
		select {
		case r := <-done:
			if r.err != nil {
				t.Errorf("%s: %v", r.id, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a reader did not return after the read")
		}
	}
	if n := keys.Reads(); n != 2 || requests.Load() != 2 {
		t.Errorf("%d reads, %d requests; want 2 (one at a time, joined)", n, requests.Load())
	}
	if pub, err := keys.Key(ctx, cur.id); err != nil || !pub.Equal(&cur.key.PublicKey) {
		t.Errorf("the rotated key after the read: %v %v", pub, err)
	}
}
