package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// testNode is one node over its own connection pool, served on 127.0.0.1.
type testNode struct {
	*node.Node
	db   *store.DB
	srv  *httptest.Server
	logs *testdb.Buffer
	app  string // PostgreSQL application_name of its connections
	once sync.Once
}

// startNode starts a node on the test database with its own pool (as a
// separate process would have); Close runs at the test's end if the test
// did not call it.
func startNode(t *testing.T, db *testdb.DB, cfg node.Config) *testNode {
	t.Helper()
	tn := &testNode{logs: &testdb.Buffer{}}
	dsn := db.DSN
	if db.Dialect == "postgres" {
		tn.app = strings.ToLower(snapglyph.NewID("core")[:16])
		dsn += "&application_name=" + tn.app
	}
	var err error
	if tn.db, err = store.Open(dsn); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(tn.logs, nil))
	if tn.Node, err = node.New(context.Background(), tn.db, cfg, log); err != nil {
		t.Fatal(err)
	}
	tn.Start()
	tn.srv = httptest.NewServer(tn.Handler())
	t.Cleanup(tn.close)
	deadline := time.Now().Add(5 * time.Second)
	for !tn.Watcher.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the change watcher did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if db.Dialect == "postgres" {
		// Ready means listed as listening: a management command made
		// from now on waits for this node.
		var listening bool
		if err := db.SQL().QueryRow(`SELECT listening FROM nodes WHERE id = $1`, tn.ID).Scan(&listening); err != nil || !listening {
			t.Fatalf("node %s is ready but not listed as listening (%v, %v)", tn.ID, listening, err)
		}
	}
	return tn
}

func (tn *testNode) close() {
	tn.once.Do(func() {
		tn.srv.Close()
		tn.Close()
		tn.db.Close()
	})
}

// cli is the operator's process: a pool and a service of its own.
func cli(t *testing.T, db *testdb.DB) *service.Service {
	t.Helper()
	other, err := store.Open(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return service.New(other)
}

// newOrgKey creates an organisation on the Max plan with the limits, and a key.
func newOrgKey(t *testing.T, svc *service.Service, calls, credits int64) (*snapglyph.Org, string) {
	t.Helper()
	ctx := context.Background()
	org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: "max"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetLimits(ctx, snapglyph.Operator, org.ID, &calls, &credits); err != nil {
		t.Fatal(err)
	}
	k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
	if err != nil {
		t.Fatal(err)
	}
	return org, k.Secret
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// get sends GET path with the key and returns the status and body.
func get(t *testing.T, base, path, key string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// reserved reads the organisation's stored counters.
func stored(t *testing.T, db *testdb.DB, orgID string) snapglyph.StoredUsage {
	t.Helper()
	period, _ := snapglyph.Period(time.Now())
	u, err := db.Usage(context.Background(), orgID, period)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// dropListener ends the node's LISTEN connection from the server side, as
// a failover or a network cut would.
func dropListener(t *testing.T, db *testdb.DB, app string) int {
	t.Helper()
	var n int
	err := db.SQL().QueryRowContext(context.Background(),
		`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLimitChangeUnderLoad is the reported crash: the operator changes one
// organisation's limits again and again (to new figures and back to its
// plan's) while another organisation sends
// API traffic with a large allowance (so leases ahead of need are in
// flight all the time), and on PostgreSQL the listener is cut and comes
// back in the middle. The node must answer every request, and once it has
// stopped, the database must hold exactly the calls answered: no lease
// lost, none returned twice.
func TestLimitChangeUnderLoad(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		op := cli(t, db)
		a, keyA := newOrgKey(t, op, 100000, 20000)
		b, keyB := newOrgKey(t, op, 50000, 10000)
		n := startNode(t, db, node.Config{LeaseBlock: 200, FlushInterval: 50 * time.Millisecond})

		const workers, perWorker = 6, 400
		var okA, okB atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					if code, body, _ := get(t, n.srv.URL, "/api/v1/usage", keyA); code != 200 {
						t.Errorf("org A: %d %s", code, body)
						return
					}
					okA.Add(1)
				}
			}()
		}
		stop := make(chan struct{})
		var ops sync.WaitGroup
		ops.Add(1)
		go func() { // the operator, and org B's own traffic
			defer ops.Done()
			ctx := context.Background()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Every other change returns the calls to the plan's
				// limit (org set-limits --api-calls plan), and every
				// third the image credits.
				limit, credits := 40000+i, 10000+i
				if i%2 == 1 {
					limit = service.PlanLimit
				}
				if i%3 == 2 {
					credits = service.PlanLimit
				}
				if err := op.SetLimits(ctx, snapglyph.Operator, b.ID, &limit, &credits); err != nil {
					t.Error(err)
					return
				}
				if code, body, _ := get(t, n.srv.URL, "/api/v1/usage", keyB); code != 200 {
					t.Errorf("org B: %d %s", code, body)
					return
				}
				okB.Add(1)
			}
		}()
		if db.Dialect == "postgres" {
			// Cut the listener twice while the traffic runs.
			for cut := 0; cut < 2; cut++ {
				deadline := time.Now().Add(5 * time.Second)
				for okA.Load() < int64((cut+1)*workers*perWorker/3) && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				dropListener(t, db, n.app)
				deadline = time.Now().Add(5 * time.Second)
				for n.Watcher.Ready() && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				for !n.Watcher.Ready() && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
		}
		wg.Wait()
		close(stop)
		ops.Wait()
		// Every call answered is flushed within the flush interval.
		deadline := time.Now().Add(5 * time.Second)
		for stored(t, db, a.ID).Used.APICalls != okA.Load() || stored(t, db, b.ID).Used.APICalls != okB.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("stored usage %d and %d, answered %d and %d", stored(t, db, a.ID).Used.APICalls,
					stored(t, db, b.ID).Used.APICalls, okA.Load(), okB.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
		n.close()

		if okA.Load() != workers*perWorker {
			t.Fatalf("org A: %d answered, want %d", okA.Load(), workers*perWorker)
		}
		for _, c := range []struct {
			org  string
			want int64
		}{{a.ID, okA.Load()}, {b.ID, okB.Load()}} {
			u := stored(t, db, c.org)
			if u.Used.APICalls != c.want || u.Reserved.APICalls != c.want {
				t.Errorf("%s: used %d, reserved %d after the node stopped; %d calls answered\n%s\n%s",
					c.org, u.Used.APICalls, u.Reserved.APICalls, c.want, metric(t, n, "snapglyph_http_requests_total"), n.logs.String())
			}
		}
		errs := metric(t, n, "snapglyph_background_errors_total")
		if !strings.Contains(errs, `task="close"} 0`) {
			t.Errorf("the background errors' series are not there from the start: %s", errs)
		}
		for _, l := range strings.Split(errs, "\n") {
			if !strings.HasSuffix(l, "} 0") {
				t.Errorf("background errors: %s", l)
			}
		}
	})
}

// metric returns the lines of /metrics for the family, without comments.
func metric(t *testing.T, n *testNode, family string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	n.Server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var out []string
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, family) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestUnconfirmedChange: a node that hears a change but cannot write its
// progress (its database pool is gone; its listener still works) does not
// confirm the change. The operator's call still succeeds (the change is
// committed) but reports the node, logs it and counts it; the node's own
// failure to give back its leases is logged and counted too.
func TestUnconfirmedChange(t *testing.T) {
	db := testdb.Open(t, "postgres")
	op := cli(t, db)
	var logs testdb.Buffer
	op.Log = slog.New(slog.NewTextHandler(&logs, nil))
	var reports []service.Unconfirmed
	op.Unconfirmed = func(u service.Unconfirmed) { reports = append(reports, u) }
	org, key := newOrgKey(t, op, 20000, 2000)
	n := startNode(t, db, node.Config{})
	if code, body, _ := get(t, n.srv.URL, "/api/v1/usage", key); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// Confirmed while the node is healthy.
	calls := int64(19000)
	if err := op.SetLimits(context.Background(), snapglyph.Operator, org.ID, &calls, nil); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 0 {
		t.Fatalf("a healthy node did not confirm: %+v", reports)
	}
	// Wait for the node's lease to be back (the forget task), then lease
	// again, and break the node's pool.
	if code, body, _ := get(t, n.srv.URL, "/api/v1/usage", key); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	n.db.SQL().Close()
	calls = 18000
	if err := op.SetLimits(context.Background(), snapglyph.Operator, org.ID, &calls, nil); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || len(reports[0].Nodes) != 1 || reports[0].Nodes[0] != n.ID {
		t.Fatalf("reports %+v, want one naming %s", reports, n.ID)
	}
	if op.UnconfirmedChanges.Load() != 1 {
		t.Errorf("UnconfirmedChanges = %d", op.UnconfirmedChanges.Load())
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, n.ID) {
		t.Errorf("no warning naming the node in the log: %s", l)
	}
	// The node heard the change and failed to give back its lease.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(metric(t, n, "snapglyph_background_errors_total"), `task="forget"} 1`) {
		if time.Now().After(deadline) {
			t.Fatalf("forget failure not counted: %q\nlog: %s", metric(t, n, "snapglyph_background_errors_total"), n.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(n.logs.String(), "task=forget") {
		t.Errorf("forget failure not logged: %s", n.logs.String())
	}
}

// usageReport is the body of GET /api/v1/usage.
type usageReport struct {
	APICalls, ImageCredits struct{ Used, Limit, Remaining int64 }
}

// send makes a request with the key and returns the status and body.
func send(t *testing.T, method, url, key, body string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// askAll asks every node for the usage at the same moment.
func askAll(t *testing.T, nodes []*testNode, key string) []usageReport {
	t.Helper()
	out := make([]usageReport, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, h := get(t, n.srv.URL, "/api/v1/usage", key)
			if code != 200 {
				t.Errorf("node %d: usage %d %s", i, code, body)
				return
			}
			if err := json.Unmarshal(body, &out[i]); err != nil {
				t.Errorf("node %d: %v in %s", i, err, body)
				return
			}
			r := out[i]
			if h.Get("X-RateLimit-Remaining") != strconv.FormatInt(r.APICalls.Remaining, 10) ||
				h.Get("X-Image-Credits-Remaining") != strconv.FormatInt(r.ImageCredits.Remaining, 10) {
				t.Errorf("node %d: headers %v and %v disagree with the body %s", i,
					h.Get("X-RateLimit-Remaining"), h.Get("X-Image-Credits-Remaining"), body)
			}
			for _, m := range []struct{ Used, Limit, Remaining int64 }{r.APICalls, r.ImageCredits} {
				if m.Remaining != max(m.Limit-m.Used, 0) {
					t.Errorf("node %d: remaining %d, limit %d, used %d", i, m.Remaining, m.Limit, m.Used)
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// TestUsageSameOnEveryNode: three PostgreSQL nodes serve one
// organisation's traffic (calls and images). Asked at the same moment,
// every node reports the calls and credits really spent, counted by the
// test, within a flush interval: not the allowance leased by other nodes.
// Then the allowance runs out under concurrent traffic on every node and
// admission stays exact.
func TestUsageSameOnEveryNode(t *testing.T) {
	db := testdb.Open(t, "postgres")
	op := cli(t, db)
	const calls, credits = 20000, 5000
	org, key := newOrgKey(t, op, calls, credits)
	var nodes []*testNode
	for i := 0; i < 3; i++ {
		nodes = append(nodes, startNode(t, db, node.Config{FlushInterval: 100 * time.Millisecond}))
	}

	// Traffic: each node creates codes, fetches them as JSON, SVG (1
	// credit) and PNG (10 credits), and reads the usage.
	var spentCalls, spentCredits atomic.Int64
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 6; j++ {
				code, body, _ := send(t, "POST", n.srv.URL+"/api/v1/qr-codes", key,
					fmt.Sprintf(`{"name":"Code %d-%d","type":"text","content":{"text":"hello %d %d"}}`, i, j, i, j))
				spentCalls.Add(1)
				if code != 201 {
					t.Errorf("create: %d %s", code, body)
					return
				}
				var q struct{ ID string }
				json.Unmarshal(body, &q)
				for _, f := range []struct {
					query  string
					credit int64
				}{{"", 0}, {"?format=svg", 1}, {"?format=png&size=128", 10}, {"?format=svg", 1}} {
					code, body, _ := send(t, "GET", n.srv.URL+"/api/v1/qr-codes/"+q.ID+f.query, key, "")
					spentCalls.Add(1)
					if code != 200 {
						t.Errorf("get %s: %d %s", f.query, code, body)
						return
					}
					spentCredits.Add(f.credit)
				}
				get(t, n.srv.URL, "/api/v1/usage", key)
				spentCalls.Add(1)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if spentCalls.Load() != 108 || spentCredits.Load() != 216 {
		t.Fatalf("the test spent %d calls and %d credits, want 108 and 216", spentCalls.Load(), spentCredits.Load())
	}

	// Within a flush interval (and this node's cache of it), asked at
	// the same moment, every node reports the same: what was spent before
	// plus its own usage call.
	deadline := time.Now().Add(5 * time.Second)
	for round := 0; ; round++ {
		before := spentCalls.Load()
		got := askAll(t, nodes, key)
		spentCalls.Add(int64(len(nodes)))
		same := true
		for _, r := range got {
			same = same && r.APICalls.Used == before+1 && r.ImageCredits.Used == spentCredits.Load() &&
				r.APICalls.Limit == calls && r.ImageCredits.Limit == credits
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("round %d: %d calls and %d credits spent before; the nodes report %+v", round, before, spentCredits.Load(), got)
		}
		time.Sleep(150 * time.Millisecond) // poll: let the other nodes flush
	}

	// Admission stays exact: 100 calls left, 150 requests at once over the
	// three nodes.
	deadline = time.Now().Add(5 * time.Second)
	for stored(t, db, org.ID).Used.APICalls != spentCalls.Load() {
		if time.Now().After(deadline) {
			t.Fatalf("stored %d, spent %d", stored(t, db, org.ID).Used.APICalls, spentCalls.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	limit := spentCalls.Load() + 100
	if err := op.SetLimits(context.Background(), snapglyph.Operator, org.ID, &limit, nil); err != nil {
		t.Fatal(err)
	}
	var ok, refused atomic.Int64
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body, _ := get(t, nodes[i%3].srv.URL, "/api/v1/usage", key)
			switch code {
			case 200:
				ok.Add(1)
			case 429:
				refused.Add(1)
			default:
				t.Errorf("%d %s", code, body)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 100 || refused.Load() != 50 {
		var logs []string
		for _, n := range nodes {
			logs = append(logs, n.logs.String())
		}
		t.Fatalf("%d answered and %d refused with 100 calls left; want 100 and 50\nnode logs:\n%s", ok.Load(), refused.Load(), strings.Join(logs, "\n"))
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body, h := get(t, nodes[0].srv.URL, "/api/v1/usage", key)
		var r usageReport
		json.Unmarshal(body, &r)
		if code == 429 && h.Get("X-RateLimit-Remaining") == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the allowance ran out: %d %s", code, body)
		}
	}
}

// TestNodePrunes: the node's own background task deletes change-log
// entries past the retention (beyond the newest ChangeKeepLast) and
// idempotency keys past their window, on both stores.
func TestNodePrunes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		op := cli(t, db)
		org, _ := newOrgKey(t, op, 1000, 100)
		old := time.Now().Add(-48 * time.Hour).UnixMilli()
		// Old entries: more than ChangeKeepLast of them, so the oldest go.
		const extra = 50
		count := func(table string) int {
			var n int
			if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		recent := count("changes") // the key's creation and the limit change
		if _, err := db.SQL().ExecContext(ctx, fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)
			INSERT INTO changes (kind, ref_id, at) SELECT 'org', '%s', %d FROM n`, store.ChangeKeepLast+extra, org.ID, old)); err != nil {
			t.Fatal(err)
		}
		for i, at := range []int64{old, time.Now().UnixMilli()} {
			if _, err := db.SQL().ExecContext(ctx, fmt.Sprintf(
				`INSERT INTO idempotency_keys (org_id, idem_key, request_hash, qr_id, created_at) VALUES ('%s', 'k%d', 'h', 'qr_x', %d)`, org.ID, i, at)); err != nil {
				t.Fatal(err)
			}
		}
		before := count("changes")
		if before != store.ChangeKeepLast+extra+recent {
			t.Fatalf("%d changes logged", before)
		}
		startNode(t, db, node.Config{PruneInterval: 50 * time.Millisecond})
		deadline := time.Now().Add(10 * time.Second)
		// The organisation's own changes are recent: they stay too.
		for count("idempotency_keys") != 1 || count("changes") != store.ChangeKeepLast+recent {
			if time.Now().After(deadline) {
				t.Fatalf("%d changes (of %d) and %d idempotency keys left; want %d and 1",
					count("changes"), before, count("idempotency_keys"), store.ChangeKeepLast+recent)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestConcurrentReclaimsJoin: requests at an organisation's last units on
// one node ask the other nodes for their leases at the same moment. They
// share one reclaim: a second one used to take the first's place, so the
// first got no answer and waited the whole timeout, logging that a node
// did not answer although every node had.
func TestConcurrentReclaimsJoin(t *testing.T) {
	db := testdb.Open(t, "postgres")
	a := startNode(t, db, node.Config{})
	startNode(t, db, node.Config{}) // the other node, which answers
	org, _ := newOrgKey(t, cli(t, db), 1000, 1000)
	for round := range 5 {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { a.Meter.Reclaim(org.ID) })
		}
		wg.Wait()
		if strings.Contains(a.logs.String(), "not every node returned its leases") {
			t.Fatalf("round %d: a reclaim went unanswered:\n%s", round, a.logs.String())
		}
	}
}

// TestRefusedImagesCostNothingAcrossNodes: an image request takes its API
// call first and gives it back when the image credits are not there; the
// node short of credits asks the other node for its leases back, which
// releases that node's account while its own image requests hold calls.
// Their refunds used to be dropped: after bursts of refused images over
// two nodes, calls stayed reserved with nobody holding them — the
// dashboard said 5 left while the API refused every call for the month.
func TestRefusedImagesCostNothingAcrossNodes(t *testing.T) {
	db := testdb.Open(t, "postgres")
	a := startNode(t, db, node.Config{})
	b := startNode(t, db, node.Config{})
	org, key := newOrgKey(t, cli(t, db), 1000, 5) // a PNG costs more than 5 credits
	st, body, _ := send(t, "POST", a.srv.URL+"/api/v1/qr-codes", key, `{"name":"Menu","type":"text","content":{"text":"x"}}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	var code struct{ ID string }
	json.Unmarshal(body, &code)
	path := "/api/v1/qr-codes/" + code.ID + "?format=png"
	refused := map[string]int{}
	var mu sync.Mutex
	for range 3 {
		var wg sync.WaitGroup
		for i := range 60 {
			base := a.srv.URL
			if i%2 == 1 {
				base = b.srv.URL
			}
			wg.Go(func() {
				st, body, _ := get(t, base, path, key)
				var p struct{ Code string }
				json.Unmarshal(body, &p)
				mu.Lock()
				refused[strconv.Itoa(st)+" "+p.Code]++
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	if refused["429 image_credit_limit_reached"] != 180 {
		t.Errorf("answers %v, want 180 × 429 image_credit_limit_reached", refused)
	}
	a.close()
	b.close()
	// Both nodes stopped: every lease is back, and only the create was
	// a call.
	if u := stored(t, db, org.ID); u.Used.APICalls != 1 || u.Reserved.APICalls != 1 {
		t.Errorf("stored: %d calls used, %d reserved; want 1 and 1", u.Used.APICalls, u.Reserved.APICalls)
	}
}

// TestRemainingNearTheLimitOnEveryNode: the last units of an allowance
// are counted down as they really go on every node, though the nodes
// that spent the rest have not written their usage yet (a flush interval
// longer than the test): with 10,000 image credits, two nodes spend 9,900
// on PNGs, then a third node's SVGs (a credit each) are told what is
// truly left after each — never more, the last one admitted 0 — and
// exactly the 100 left are admitted. Told from the recorded usage alone,
// the third node said 9,999 left.
func TestRemainingNearTheLimitOnEveryNode(t *testing.T) {
	db := testdb.Open(t, "postgres")
	cfg := node.Config{FlushInterval: time.Hour}
	nodes := []*testNode{startNode(t, db, cfg), startNode(t, db, cfg), startNode(t, db, cfg)}
	const credits = 10_000
	_, key := newOrgKey(t, cli(t, db), 100_000, credits)
	st, body, _ := send(t, "POST", nodes[0].srv.URL+"/api/v1/qr-codes", key, `{"name":"Menu","type":"text","content":{"text":"near the limit"}}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, body)
	}
	var code struct{ ID string }
	json.Unmarshal(body, &code)
	path := "/api/v1/qr-codes/" + code.ID

	// 990 PNGs (10 credits each) over the first two nodes, 8 at a time
	// each. Near the end a PNG may be refused while the other node holds
	// the credits it needs (a node asks for them back at most every
	// 100 ms): it is sent again, as a client would after its 429.
	var wg sync.WaitGroup
	var spent atomic.Int64
	for w := range 16 {
		base := nodes[1+w%2].srv.URL
		wg.Go(func() {
			for i := w; i < 990; i += 16 {
				for try := 0; ; try++ {
					st, body, _ := get(t, base, path+"?format=png&size=128", key)
					if st == 200 {
						break
					}
					if st != 429 || try == 100 {
						t.Errorf("PNG %d: %d %s", i, st, body)
						return
					}
					time.Sleep(10 * time.Millisecond) // the other node gives its credits back
				}
				spent.Add(10)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	left := credits - spent.Load() // 100

	// The third node, one SVG at a time.
	admitted := int64(0)
	for range 150 {
		st, body, h := get(t, nodes[0].srv.URL, path+"?format=svg", key)
		if st == 429 {
			break
		}
		if st != 200 {
			t.Fatalf("SVG: %d %s", st, body)
		}
		admitted++
		truly := left - admitted
		said, err := strconv.ParseInt(h.Get("X-Image-Credits-Remaining"), 10, 64)
		if err != nil || said > truly {
			t.Fatalf("SVG %d: X-Image-Credits-Remaining %q, but %d are left", admitted, h.Get("X-Image-Credits-Remaining"), truly)
		}
	}
	if admitted != left {
		t.Fatalf("%d SVGs admitted with %d credits left", admitted, left)
	}
	if _, _, h := get(t, nodes[0].srv.URL, "/api/v1/usage", key); h.Get("X-Image-Credits-Remaining") != "0" {
		t.Errorf("after the last credit, X-Image-Credits-Remaining %q, want 0", h.Get("X-Image-Credits-Remaining"))
	}
}
