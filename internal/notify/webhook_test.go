package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// receiver is a webhook endpoint on 127.0.0.1 that checks every request's
// signature with its secret, and answers with fail's status while fail
// returns one (0: 200).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	fail   func(n int) int
	calls  int
	got    []received // the requests answered 2xx
	byID   map[string]int
}

type received struct {
	event, delivery string
	body            map[string]any
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	r := &receiver{t: t, fail: fail, byID: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	m := hmac.New(sha256.New, []byte(r.secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" ||
		!hmac.Equal([]byte(req.Header.Get("X-Snapglyph-Signature")), []byte(want)) {
		r.t.Errorf("request %d: %s, content type %q, signature %q, want %q", r.calls, req.Method, req.Header.Get("Content-Type"), req.Header.Get("X-Snapglyph-Signature"), want)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.fail != nil {
		if code := r.fail(r.calls); code != 0 {
			w.WriteHeader(code)
			fmt.Fprintf(w, "failing on purpose, call %d: %s", r.calls, strings.Repeat("x", 300))
			return
		}
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		r.t.Errorf("body %q: %v", body, err)
	}
	rc := received{event: req.Header.Get("X-Snapglyph-Event"), delivery: req.Header.Get("X-Snapglyph-Delivery"), body: v}
	r.got = append(r.got, rc)
	r.byID[rc.delivery]++
	fmt.Fprint(w, "ok")
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// maxFixture is the notifier's fixture on the Max plan, with a service
// that permits loopback endpoints.
func maxFixture(t *testing.T, db *testdb.DB) *fixture {
	f := newFixture(t, db, smtptest.Config{})
	if err := db.SetPlan(context.Background(), f.org.ID, snapglyph.PlanMax, snapglyph.Operator); err != nil {
		t.Fatal(err)
	}
	f.svc.Webhooks.AllowInsecureLocal = true
	return f
}

// hookDeliverer delivers notices and webhooks (loopback allowed when
// local) from node name over db (f.db if nil).
func (f *fixture) hookDeliverer(name string, db *store.DB, local bool) *notify.Deliverer {
	d := f.deliverer(name, db, nil)
	d.Sinks = append(d.Sinks, &notify.WebhookSink{DB: d.DB, AllowInsecureLocal: local, Log: slog.New(slog.NewTextHandler(f.logs, nil))})
	return d
}

func (f *fixture) createQR(name string) *snapglyph.QRCode {
	f.t.Helper()
	typ := "url"
	q, err := f.svc.CreateQRCode(context.Background(), snapglyph.Creator{Type: snapglyph.CreatorUser, ID: f.owner.ID, Name: f.owner.Email}, f.org.ID,
		service.QRInput{Name: &name, Type: &typ, Content: json.RawMessage(`{"url":"https://example.com/p/1"}`)})
	if err != nil {
		f.t.Fatal(err)
	}
	return q
}

func (f *fixture) attempts(id string) []*snapglyph.WebhookAttempt {
	f.t.Helper()
	as, err := f.db.WebhookAttempts(context.Background(), id, 0, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return as
}

// TestWebhookSignedDelivery: the events an endpoint chose reach it once,
// signed with its secret, with the event and delivery headers and the
// {"event","timestamp","data"} body; events it did not choose do not, and
// QR-code events nobody wants are not written at all.
func TestWebhookSignedDelivery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		f.createQR("before any endpoint")
		if evs, _ := db.Events(ctx, f.org.ID, snapglyph.EventQRCreated, 10); len(evs) != 0 {
			t.Fatalf("a QR code event nobody wants was written: %+v", evs)
		}
		r := newReceiver(t, nil)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.admin), f.org.ID, r.srv.URL+"/hook?token=abc", []string{"qr.created,api_key.created", " qr.deleted "})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(w.Secret, "whsec_") || len(w.Secret) < 40 || strings.Join(w.Events, ",") != "qr.created,qr.deleted,api_key.created" {
			t.Fatalf("endpoint %+v", w)
		}
		r.secret = w.Secret
		q := f.createQR("Product Page")
		name := "Renamed"
		if _, err := f.svc.UpdateQRCode(ctx, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: f.owner.ID}, f.org.ID, q.ID, service.QRInput{Name: &name}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteQRCode(ctx, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: f.owner.ID}, f.org.ID, q.ID); err != nil {
			t.Fatal(err)
		}
		f.drain(f.hookDeliverer("n1", nil, true))
		got := r.received()
		var kinds []string
		for _, g := range got {
			kinds = append(kinds, g.event)
			if g.body["event"] != g.event || !strings.HasPrefix(g.delivery, "del_") {
				t.Errorf("delivery %+v", g)
			}
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(g.body["timestamp"])); err != nil {
				t.Errorf("timestamp: %v", err)
			}
		}
		if strings.Join(kinds, ",") != "qr.created,api_key.created,qr.deleted" {
			t.Fatalf("received %v", kinds)
		}
		data := got[0].body["data"].(map[string]any)
		if data["qrCodeId"] != q.ID || data["qrCodeName"] != "Product Page" || data["destinationUrl"] != "https://example.com/p/1" {
			t.Errorf("qr.created data %v", data)
		}
		if d := got[2].body["data"].(map[string]any); d["qrCodeName"] != "Renamed" {
			t.Errorf("qr.deleted data %v", d)
		}
		as := f.attempts(w.ID)
		if len(as) != 3 || !as[0].OK() || as[0].Status != 200 || as[0].Response != "ok" || as[0].Attempt != 1 {
			t.Fatalf("delivery log %+v", as[0])
		}
		// Nothing is due any more; the people were not told of QR codes.
		if n := f.drain(f.hookDeliverer("n1", nil, true)); n != 0 {
			t.Fatalf("%d more deliveries", n)
		}
		for _, n := range f.notices(f.owner) {
			if strings.HasPrefix(n.Kind, "qr.") {
				t.Errorf("a notice of %s", n.Kind)
			}
		}
	})
}

// TestWebhookRetryLandsOnce: a receiver that fails twice and then
// recovers gets the event exactly once more, after backoff; the log shows
// the three attempts.
func TestWebhookRetryLandsOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		r := newReceiver(t, func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return 0
		})
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		r.secret = w.Secret
		f.createQR("Menu")
		d := f.hookDeliverer("n1", nil, true)
		for i := 0; i < 6; i++ {
			f.drain(d)
			f.clock.Set(f.clock.Now().Add(15 * time.Minute))
		}
		if got := r.received(); len(got) != 1 || r.calls != 3 {
			t.Fatalf("%d received, %d calls; want 1 and 3", len(got), r.calls)
		}
		as := f.attempts(w.ID)
		if len(as) != 3 || as[2].Status != 500 || as[1].Status != 500 || !as[0].OK() || as[0].Attempt != 3 {
			t.Fatalf("log %+v %+v %+v", as[0], as[1], as[2])
		}
		if len(as[2].Response) != snapglyph.WebhookResponseKept || !strings.HasPrefix(as[2].Response, "failing on purpose") {
			t.Errorf("kept response %q", as[2].Response)
		}
		f.clock.Set(f.clock.Now().Add(4 * 24 * time.Hour))
		f.drain(d)
		if r.calls != 3 {
			t.Fatalf("%d calls after success", r.calls)
		}
	})
}

// TestWebhookDisabledAfterThreeDays: an endpoint failing for 3 days is
// disabled and its Owner (not the Admin) told; events then skip it, until
// it is enabled again; a delivery can be resent from the log.
func TestWebhookDisabledAfterThreeDays(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		down := true
		var mu sync.Mutex
		r := newReceiver(t, func(int) int {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return http.StatusServiceUnavailable
			}
			return 0
		})
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		r.secret = w.Secret
		f.createQR("One")
		start := f.clock.Now()
		d := f.hookDeliverer("n1", nil, true)
		for i := 0; i < 200 && f.clock.Now().Sub(start) < 4*24*time.Hour; i++ {
			f.drain(d)
			f.clock.Set(f.clock.Now().Add(time.Hour))
		}
		got, err := db.Webhook(ctx, w.ID)
		if err != nil || got.Enabled() || !strings.Contains(got.DisabledReason, "failed for 3 days") {
			t.Fatalf("endpoint after 4 days: %+v %v", got, err)
		}
		as := f.attempts(w.ID)
		if n := len(as); n < 10 || n > 20 {
			t.Errorf("%d attempts in 3 days", n)
		}
		if last := as[0].At.Sub(start); last < 71*time.Hour || last > 73*time.Hour {
			t.Errorf("last attempt %s after the first", last)
		}
		f.drain(d)
		if ns := f.notices(f.owner); len(ns) == 0 || ns[0].Kind != snapglyph.EventWebhookDisabled || !strings.Contains(ns[0].Body, r.srv.URL) {
			t.Fatalf("owner's notices %+v", ns)
		}
		for _, n := range f.notices(f.admin) {
			if n.Kind == snapglyph.EventWebhookDisabled {
				t.Errorf("the Admin was told")
			}
		}
		calls := r.calls
		f.createQR("Two")
		f.drain(d)
		if r.calls != calls {
			t.Fatal("a disabled endpoint was called")
		}
		if err := f.svc.ResendWebhook(ctx, f.actor(f.owner), f.org.ID, w.ID, as[0].EventID); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Fatalf("resend to a disabled endpoint: %v", err)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		if _, err := f.svc.EnableWebhook(ctx, f.actor(f.admin), f.org.ID, w.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.EnableWebhook(ctx, f.actor(f.admin), f.org.ID, w.ID); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Fatalf("enable twice: %v", err)
		}
		f.createQR("Three")
		if err := f.svc.ResendWebhook(ctx, f.actor(f.owner), f.org.ID, w.ID, as[0].EventID); err != nil {
			t.Fatal(err)
		}
		f.drain(d)
		var names []string
		for _, g := range r.received() {
			names = append(names, fmt.Sprint(g.body["data"].(map[string]any)["qrCodeName"]))
		}
		if strings.Join(names, ",") != "One,Three" && strings.Join(names, ",") != "Three,One" {
			t.Fatalf("received %v, want One (resent) and Three", names)
		}
		if err := f.svc.ResendWebhook(ctx, f.actor(f.owner), f.org.ID, w.ID, 1<<40); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("resend of an unknown event: %v", err)
		}
	})
}

// TestWebhookResendRules: a resend goes to an endpoint only with an event
// of a kind it receives (another event of the organisation, or one of no
// webhook's kinds, is refused: it is not its to read), and never while a
// node is sending the delivery (refused, so it is neither sent twice at
// once nor closed by the running attempt's end); once the attempt has
// ended it is sent again.
func TestWebhookResendRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		arrived, release := make(chan struct{}, 8), make(chan struct{})
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			arrived <- struct{}{}
			<-release
		}))
		t.Cleanup(srv.Close)
		released := false
		t.Cleanup(func() {
			if !released {
				close(release)
			}
		})
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("One")
		k, err := f.svc.CreateKey(ctx, f.actor(f.owner), f.org.ID, "Billing-Worker")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PauseKey(ctx, f.actor(f.owner), k.ID); err != nil {
			t.Fatal(err)
		}
		event := func(kind string) int64 {
			var id int64
			if err := db.SQL().QueryRow(`SELECT id FROM outbox_events WHERE org_id = $1 AND kind = $2`, f.org.ID, kind).Scan(&id); err != nil {
				t.Fatalf("the %s event: %v", kind, err)
			}
			return id
		}
		created, paused := event(snapglyph.EventQRCreated), event(snapglyph.EventKeyPaused)

		d := f.hookDeliverer("n1", nil, true)
		done := make(chan error, 1)
		go func() {
			_, err := d.RunOnce(ctx)
			done <- err
		}()
		<-arrived // the delivery is being sent
		err = f.svc.ResendWebhook(ctx, f.actor(f.owner), f.org.ID, w.ID, created)
		// The attempt's number is the one its line in the log will have.
		if snapglyph.ErrorKind(err) != snapglyph.ECONFLICT || !strings.Contains(err.Error(), "being sent") || !strings.Contains(err.Error(), "(attempt 1)") {
			t.Fatalf("resend during the attempt: %v, want a conflict saying its attempt 1 is being sent", err)
		}
		err = f.svc.ResendWebhook(ctx, f.actor(f.owner), f.org.ID, w.ID, paused)
		if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(err.Error(), "api_key.paused") {
			t.Fatalf("resend of an event the endpoint does not receive: %v", err)
		}
		close(release)
		released = true
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ResendWebhook(ctx, f.actor(f.owner), f.org.ID, w.ID, created); err != nil {
			t.Fatalf("resend after the attempt: %v", err)
		}
		f.drain(d)
		if n := calls.Load(); n != 2 {
			t.Fatalf("the endpoint was called %d times, want 2 (the delivery, then the resend)", n)
		}
		as := f.attempts(w.ID)
		for _, a := range as {
			if a.EventID != created {
				t.Errorf("an attempt of event %d (%s) reached the endpoint", a.EventID, a.Event)
			}
		}
		if len(as) != 2 || as[1].Attempt != 1 {
			t.Errorf("log %+v, want the attempt the resend was refused during as attempt 1", as)
		}
	})
}

// TestWebhookTwoNodesOnce: two nodes' deliverers racing over the same
// events deliver each to each endpoint once.
func TestWebhookTwoNodesOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		r1, r2 := newReceiver(t, nil), newReceiver(t, nil)
		for _, r := range []*receiver{r1, r2} {
			w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL, []string{"qr.created", "api_key.paused", "api_key.resumed"})
			if err != nil {
				t.Fatal(err)
			}
			r.secret = w.Secret
		}
		k, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		const rounds = 10
		for i := 0; i < rounds; i++ {
			f.createQR(fmt.Sprintf("code %d", i))
			if _, err := f.svc.PauseKey(ctx, snapglyph.Operator, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.ResumeKey(ctx, snapglyph.Operator, k.ID); err != nil {
				t.Fatal(err)
			}
		}
		nodes := f.nodes(2)
		for _, d := range nodes {
			d.Batch = 2
		}
		deliverTogether(t, nodes)
		for _, r := range []*receiver{r1, r2} {
			if got := r.received(); len(got) != 3*rounds || len(r.byID) != 3*rounds {
				t.Fatalf("%d received with %d delivery ids, want %d", len(got), len(r.byID), 3*rounds)
			}
			for id, n := range r.byID {
				if n != 1 {
					t.Errorf("%s delivered %d times", id, n)
				}
			}
		}
	})
}

// nodes returns n deliverers of notices and webhooks (loopback allowed),
// each over its own connection to the fixture's database, as n nodes.
func (f *fixture) nodes(n int) []*notify.Deliverer {
	f.t.Helper()
	var ds []*notify.Deliverer
	for i := range n {
		h, err := store.Open(f.db.DSN)
		if err != nil {
			f.t.Fatal(err)
		}
		f.t.Cleanup(func() { h.Close() })
		h.Now = f.clock.Now
		ds = append(ds, f.hookDeliverer(fmt.Sprintf("node%d", i), h, true))
	}
	return ds
}

// deliverTogether runs the deliverers at once, each until it finds nothing
// due (at most 1,000 batches).
func deliverTogether(t *testing.T, nodes []*notify.Deliverer) {
	var wg sync.WaitGroup
	for _, d := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				n, err := d.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// fakeResolve answers every name with the address.
func fakeResolve(addr string) func(context.Context, string) ([]netip.Addr, error) {
	return func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr(addr)}, nil
	}
}

// TestWebhookSSRF: endpoints on private, loopback, link-local and other
// special addresses are refused when made, by address or by a name
// resolving there; a name that resolves elsewhere at delivery time is
// refused when the connection is made; redirects are not followed.
func TestWebhookSSRF(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		f.svc.Webhooks = service.WebhookPolicy{Resolve: fakeResolve("127.0.0.1")}
		for _, u := range []string{
			"http://hooks.example.com/x", "https://127.0.0.1/x", "https://10.1.2.3/x", "https://[::1]:8443/x",
			"https://169.254.169.254/latest/meta-data", "https://[fd00::1]/x", "https://0.0.0.0/x", "https://224.0.0.1/x",
			"https://[::ffff:192.168.1.1]/x", "https://100.64.0.1/x", "https://rebind.example.com/x",
			// IPv4 inside IPv6: compatible (::/96) and translated (::ffff:0:0:0/96).
			"https://[::127.0.0.1]/x", "https://[::7f00:1]/x", "https://[::ffff:0:7f00:1]/x", "https://[::a01:203]/x",
			// Characters that cannot be seen (a right-to-left override).
			"https://hooks.example.com/\u202egnp.x", "https://hooks.example.com/a\u200bb",
		} {
			_, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, u, []string{"qr.created"})
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID {
				t.Errorf("%s: %v, want EINVALID", u, err)
			}
		}
		if _, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, "https://rebind.example.com/x", []string{"qr.created"}); !strings.Contains(fmt.Sprint(err), `"rebind.example.com" resolves to 127.0.0.1, which is a loopback address; webhooks go only to public addresses`) {
			t.Errorf("a name resolving to loopback: %v", err)
		}
		// A name that resolved to a public address when it was made and
		// to 127.0.0.1 at delivery (localhost, really resolved then).
		r := newReceiver(t, nil)
		port := r.srv.URL[strings.LastIndex(r.srv.URL, ":")+1:]
		f.svc.Webhooks = service.WebhookPolicy{Resolve: fakeResolve("93.184.216.34")}
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, "https://localhost:"+port+"/hook", []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		r.secret = w.Secret
		// An endpoint on http:// made while loopback was allowed, and
		// delivered by a node where it no longer is.
		f.svc.Webhooks = service.WebhookPolicy{AllowInsecureLocal: true}
		w2, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL+"/plain", []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("x")
		f.drain(f.hookDeliverer("n1", nil, false))
		if r.calls != 0 {
			t.Fatalf("the receiver on loopback was called %d times", r.calls)
		}
		if as := f.attempts(w.ID); len(as) != 1 || as[0].Status != 0 || !strings.Contains(as[0].Error, "127.0.0.1 is a loopback address") {
			t.Fatalf("delivery-time refusal: %+v", as)
		}
		if as := f.attempts(w2.ID); len(as) != 1 || !strings.Contains(as[0].Error, "https://") {
			t.Fatalf("http:// without the flag: %+v", as)
		}
		for _, id := range []string{w.ID, w2.ID} { // their retries would go out on a node allowing loopback
			if _, err := f.svc.DeleteWebhook(ctx, snapglyph.Operator, "", id); err != nil {
				t.Fatal(err)
			}
		}
		// A redirect is answered, not followed.
		target := newReceiver(t, nil)
		redir := httptest.NewServer(http.RedirectHandler(target.srv.URL, http.StatusFound))
		defer redir.Close()
		w3, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, redir.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("y")
		f.drain(f.hookDeliverer("n2", nil, true))
		if as := f.attempts(w3.ID); len(as) != 1 || as[0].Status != http.StatusFound || as[0].OK() || target.calls != 0 {
			t.Fatalf("redirect: %+v, target called %d times", as, target.calls)
		}
	})
}

// TestWebhookRules: only Owners and Admins of a Max organisation make
// endpoints; bad input is refused with a clear error and stores nothing.
func TestWebhookRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{})
		ctx := context.Background()
		f.svc.Webhooks = service.WebhookPolicy{Resolve: fakeResolve("93.184.216.34")}
		good := "https://hooks.example.com/snapglyph"
		if _, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, good, []string{"qr.created"}); snapglyph.ErrorCode(err) != "webhooks_not_in_plan" {
			t.Fatalf("Pro plan: %v", err)
		}
		if err := db.SetPlan(ctx, f.org.ID, snapglyph.PlanMax, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateWebhook(ctx, f.actor(f.member), f.org.ID, good, []string{"qr.created"}); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Fatalf("a Member: %v", err)
		}
		for _, c := range []struct {
			url    string
			events []string
			want   string
		}{
			{good + "?" + strings.Repeat("a", 3000), []string{"qr.created"}, "at most 2048"},
			{good + "\x00", []string{"qr.created"}, "NUL"},
			{good + "\xff", []string{"qr.created"}, "UTF-8"},
			{good, []string{"qr.scanned"}, `"qr.scanned" is not a webhook event`},
			{good, []string{"qr.created\x00"}, "NUL"},
			{good, nil, "choose at least one event"},
			{"", []string{"qr.created"}, "is required"},
			{"https://user:pw@hooks.example.com/", []string{"qr.created"}, "user name or password"},
			{"ftp://hooks.example.com/", []string{"qr.created"}, "absolute https://"},
			{"/relative", []string{"qr.created"}, "absolute https://"},
			{"https://hooks.example.com:99999/", []string{"qr.created"}, "port"},
		} {
			_, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, c.url, c.events)
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(snapglyph.ErrorMessage(err), c.want) {
				t.Errorf("%.60q %q: %v, want EINVALID saying %q", c.url, c.events, err, c.want)
			}
		}
		if ws, err := f.svc.ListWebhooks(ctx, f.actor(f.admin), f.org.ID); err != nil || len(ws) != 0 {
			t.Fatalf("after refusals: %v %v", ws, err)
		}
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.admin), f.org.ID, good, []string{"api_key.revoked"})
		if err != nil {
			t.Fatal(err)
		}
		old := w.Secret
		rw, err := f.svc.RotateWebhookSecret(ctx, f.actor(f.owner), f.org.ID, w.ID)
		if err != nil || rw.Secret == old || !strings.HasPrefix(rw.Secret, "whsec_") {
			t.Fatalf("rotate: %v", err)
		}
		if s, _ := db.WebhookWithSecret(ctx, w.ID); s.Secret != rw.Secret {
			t.Fatal("the rotated secret is not the stored one")
		}
		other := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Other", Plan: snapglyph.PlanMax}
		stranger, err := db.CreateOrg(ctx, other, "o-"+strings.ToLower(snapglyph.NewID("")[1:9])+"@other.test", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.DeleteWebhook(ctx, f.actor(stranger), other.ID, w.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("another organisation's endpoint: %v", err)
		}
		if _, err := f.svc.DeleteWebhook(ctx, f.actor(f.admin), f.org.ID, w.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Webhook(ctx, w.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("after delete: %v", err)
		}
	})
}

// TestWebhookHostileAnswer: what a receiver answers is kept in the
// delivery log as storable text, whatever it sent — a NUL, bytes that are
// not UTF-8, a character cut by the 200-byte bound — and the failed
// delivery is still recorded (PostgreSQL refuses NUL and invalid UTF-8 in
// text).
func TestWebhookHostileAnswer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "bad\x00gate\xff\xfeway "+strings.Repeat("é", 5000))
		}))
		t.Cleanup(srv.Close)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("Menu")
		f.drain(f.hookDeliverer("n1", nil, true))
		as := f.attempts(w.ID)
		if len(as) != 1 || as[0].Status != http.StatusBadGateway {
			t.Fatalf("delivery log %+v, want one attempt answered 502", as)
		}
		got := as[0].Response
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 || len(got) > snapglyph.WebhookResponseKept ||
			!strings.HasPrefix(got, "badgate") || !strings.Contains(got, "way éé") {
			t.Errorf("kept answer %q (%d bytes): want valid UTF-8 without NUL, at most %d bytes, the text kept", got, len(got), snapglyph.WebhookResponseKept)
		}
	})
}

// TestWebhookManyEndpointsOnce delivers at the scale of a busy
// organisation: 20 endpoints (the most it may have), 150 QR codes created
// (3,000 deliveries), three nodes delivering at once (PostgreSQL; on
// SQLite, which serves one node, one node and 40 codes), and every endpoint
// failing one call in nine (retried a minute later). Each endpoint gets
// each event once, every delivery id once, and the set of QR codes it
// heard of is the set created.
func TestWebhookManyEndpointsOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		var rs []*receiver
		for range snapglyph.MaxWebhooks {
			r := newReceiver(t, func(n int) int {
				if n%9 == 0 {
					return http.StatusServiceUnavailable
				}
				return 0
			})
			w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL, []string{"qr.created"})
			if err != nil {
				t.Fatal(err)
			}
			r.secret = w.Secret
			rs = append(rs, r)
		}
		// A SQLite node writes each delivery's outcome with a synced
		// commit, one delivery at a time: fewer codes keep the test short.
		codes := 150
		if !db.Postgres() {
			codes = 40
		}
		created := map[string]bool{}
		for i := range codes {
			created[f.createQR(fmt.Sprintf("code %d", i)).ID] = true
		}
		// Three nodes share a PostgreSQL database; a SQLite one has one.
		nodes := f.nodes(1)
		if db.Postgres() {
			nodes = f.nodes(3)
		}
		done := func() bool {
			for _, r := range rs {
				if len(r.received()) < codes {
					return false
				}
			}
			return true
		}
		for round := 0; round < 20 && !done(); round++ {
			deliverTogether(t, nodes)
			f.clock.Set(f.clock.Now().Add(2 * time.Minute)) // the failed ones are due again
		}
		failed := 0
		for i, r := range rs {
			got := r.received()
			if len(got) != codes || len(r.byID) != codes {
				t.Fatalf("endpoint %d: %d received with %d delivery ids, want %d", i, len(got), len(r.byID), codes)
			}
			heard := map[string]bool{}
			for _, g := range got {
				heard[fmt.Sprint(g.body["data"].(map[string]any)["qrCodeId"])] = true
			}
			for id := range created {
				if !heard[id] {
					t.Fatalf("endpoint %d never heard of %s", i, id)
				}
			}
			for id, n := range r.byID {
				if n != 1 {
					t.Errorf("endpoint %d: %s delivered %d times", i, id, n)
				}
			}
			r.mu.Lock()
			failed += r.calls - codes
			r.mu.Unlock()
		}
		if failed < snapglyph.MaxWebhooks*codes/10 {
			t.Errorf("only %d calls failed: the retries were hardly tried", failed)
		}
	})
}
