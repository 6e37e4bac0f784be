package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSQLiteCommandsBesideServe: on SQLite, management commands run beside
// a serving node while it answers traffic, as the README's quick start
// does, and the node answers every request. The node had dropped its lock
// on the database's -shm file (see store.DB.mapWALHeader), so a command
// took itself for the only user and rebuilt the wal-index under the
// node: a few of 1,500 requests beside 25 pause/resume pairs failed with
// 503 "disk I/O error", in two runs of three.
func TestSQLiteCommandsBesideServe(t *testing.T) {
	d := testdb.Fresh(t, "sqlite") // not held open here: the node and the commands are its only users
	out, _ := cli(t, d.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "max", "--json")
	org := decode(t, out)["id"].(string)
	out, _ = cli(t, d.DSN, 0, "key", "create", "--org", org, "--name", "Production-WebApp", "--json")
	key := decode(t, out)["key"].(string)
	out, _ = cli(t, d.DSN, 0, "key", "create", "--org", org, "--name", "Billing-Worker", "--json")
	other := decode(t, out)["id"].(string)
	p := startProcess(t, d.DSN, nil)

	statuses := map[int]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 10 * time.Second}
		for range 1500 {
			req, _ := http.NewRequest("GET", p.url+"/api/v1/usage", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := client.Do(req)
			if err != nil {
				statuses[0]++
				continue
			}
			resp.Body.Close()
			statuses[resp.StatusCode]++
		}
	}()
	for range 25 {
		cli(t, d.DSN, 0, "key", "pause", other)
		cli(t, d.DSN, 0, "key", "resume", other)
	}
	wg.Wait()
	if statuses[200] != 1500 {
		t.Errorf("answers %v to 1,500 requests beside 50 commands, want 1,500 × 200", statuses)
	}
	p.stop(t)
	if logs := p.logs.String(); strings.Contains(logs, "disk I/O") || strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("the node logged errors:\n%s", logs)
	}
}
