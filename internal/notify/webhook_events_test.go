package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// fullKey matches a whole API key ("qr_live_" and its 32 characters);
// docs/webhooks.md promises that a body never holds one.
var fullKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// strictReceiver is a webhook endpoint that checks each request as a
// receiver following docs/webhooks.md would: the signature over the raw
// body (computed here, not with notify.Sign, so a mistake there is not
// repeated), the event header against the body's event, and that no full
// API key is anywhere in the body. It answers 200 to the requests that
// pass and keeps them; the others get 401 and fail the test.
type strictReceiver struct {
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	secret string
	got    []received
}

func newStrictReceiver(t *testing.T) *strictReceiver {
	r := &strictReceiver{t: t}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

// setSecret sets the endpoint's secret, known once the endpoint exists
// (which needs the receiver's URL first).
func (r *strictReceiver) setSecret(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secret = s
}

func (r *strictReceiver) serve(w http.ResponseWriter, req *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		r.t.Errorf("reading a body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := hmac.New(sha256.New, []byte(r.secret))
	m.Write(raw)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	event := req.Header.Get("X-Snapglyph-Event")
	if !hmac.Equal([]byte(req.Header.Get("X-Snapglyph-Signature")), []byte(want)) {
		r.t.Errorf("%s: signature %q, want %q over the raw body", event, req.Header.Get("X-Snapglyph-Signature"), want)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if k := fullKey.Find(raw); k != nil {
		// Not the key itself in the message: the test's logs are kept.
		r.t.Errorf("%s: the body holds a full API key (%.12s...)", event, k)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		r.t.Errorf("%s: body %q: %v", event, raw, err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if v["event"] != event {
		r.t.Errorf("X-Snapglyph-Event %q, but the body's event is %v", event, v["event"])
	}
	if _, ok := v["data"].(map[string]any); !ok {
		r.t.Errorf("%s: no data object in %s", event, raw)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.got = append(r.got, received{event: event, delivery: req.Header.Get("X-Snapglyph-Delivery"), body: v})
	fmt.Fprint(w, "ok")
}

func (r *strictReceiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// docFields are the data fields docs/webhooks.md lists for each webhook
// event, always present. Fields the docs give only in some cases (detail,
// expiresAt and replaces of a created key, reason and pausedUntil of a
// pause) are checked where the test makes that case.
var docFields = map[string][]string{
	snapglyph.EventQRCreated:      {"qrCodeId", "qrCodeName", "type", "version", "destinationUrl", "createdBy"},
	snapglyph.EventQRUpdated:      {"qrCodeId", "qrCodeName", "type", "version", "destinationUrl"},
	snapglyph.EventQRDeleted:      {"qrCodeId", "qrCodeName", "type", "version", "destinationUrl"},
	snapglyph.EventKeyCreated:     {"keyId", "keyName", "keyPrefix", "actor", "actorId"},
	snapglyph.EventKeyPaused:      {"keyId", "keyName", "keyPrefix", "actor", "actorId"},
	snapglyph.EventKeyResumed:     {"keyId", "keyName", "keyPrefix", "actor", "actorId"},
	snapglyph.EventKeyRevoked:     {"keyId", "keyName", "keyPrefix", "actor", "actorId"},
	snapglyph.EventKeyRolled:      {"keyId", "keyName", "keyPrefix", "actor", "actorId", "newKeyId", "newKeyPrefix", "overlapEndsAt", "keyStatus"},
	snapglyph.EventKeyExpired:     {"keyId", "keyName", "keyPrefix", "expiresAt"},
	snapglyph.EventKeyLeaked:      {"keyId", "keyName", "keyPrefix", "url", "source", "action", "status", "reason", "actor", "actorId"},
	snapglyph.EventUsageThreshold: {"counter", "percent", "used", "limit", "period", "resetsAt"},
}

// missing returns the fields of want that data lacks or has empty.
func missing(data map[string]any, want ...string) []string {
	var out []string
	for _, k := range want {
		if v, ok := data[k]; !ok || v == nil || v == "" {
			out = append(out, k)
		}
	}
	return out
}

// TestEveryEventReachesAnEndpoint: an endpoint of a Max organisation that
// chose every webhook event gets each of them, made as the product makes
// them (the service's QR-code and key actions, the node's minute scan for
// an expiry, a GitHub leak report, usage flushes past 80 % and 100 % of the
// API calls), once, signed, with the event header matching the body, with
// the data fields docs/webhooks.md lists for the event, and never a full
// API key.
func TestEveryEventReachesAnEndpoint(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		if len(docFields) != len(snapglyph.WebhookEvents) {
			t.Fatalf("the test knows the fields of %d events, and there are %d webhook events: add the new ones", len(docFields), len(snapglyph.WebhookEvents))
		}
		r := newStrictReceiver(t)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL+"/hooks", snapglyph.WebhookEvents)
		if err != nil {
			t.Fatal(err)
		}
		r.setSecret(w.Secret)
		admin := f.actor(f.admin)
		now := f.clock.Now()

		// QR codes: created, renamed, deleted.
		q := f.createQR("Menu")
		renamed := "Winter Menu"
		if _, err := f.svc.UpdateQRCode(ctx, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: f.owner.ID}, f.org.ID, q.ID, service.QRInput{Name: &renamed}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DeleteQRCode(ctx, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: f.owner.ID}, f.org.ID, q.ID); err != nil {
			t.Fatal(err)
		}

		// A key paused (with a reason and an end), resumed and rolled; the
		// roll makes a key of its own, created with "replaces".
		web, err := f.svc.CreateKey(ctx, admin, f.org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PauseKeyWith(ctx, admin, web.ID, "rotating the CI secret", now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ResumeKey(ctx, admin, web.ID); err != nil {
			t.Fatal(err)
		}
		rolled, err := f.svc.RollKey(ctx, admin, web.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// A key with an expiry, which the minute scan finds expired.
		expiry := now.Add(time.Hour)
		nightly, err := f.svc.CreateKeyWith(ctx, admin, f.org.ID, service.KeySpec{Name: "Nightly-Export", ExpiresAt: expiry})
		if err != nil {
			t.Fatal(err)
		}
		// A key GitHub finds in public (the organisation pauses leaked
		// keys, the default), which an Admin then revokes.
		ci, err := f.svc.CreateKey(ctx, admin, f.org.ID, "CI-Deploy")
		if err != nil {
			t.Fatal(err)
		}
		leakURL := "https://github.com/acme/site/blob/main/.env"
		sum := sha256.Sum256([]byte(t.Name() + ci.ID))
		res, err := f.svc.ReportLeaks(ctx, hex.EncodeToString(sum[:]), []service.Leak{{Token: ci.Secret, Type: service.LeakTokenType, URL: leakURL, Source: "content"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || !res[0].Found || res[0].Action != snapglyph.LeakPause {
			t.Fatalf("leak report: %+v, want the key found and paused", res)
		}
		if _, err := f.svc.RevokeKey(ctx, admin, ci.ID); err != nil {
			t.Fatal(err)
		}
		keys := map[string]*snapglyph.APIKey{}
		for _, k := range []*service.NewKey{web, rolled.NewKey, nightly, ci} {
			keys[k.ID] = k.APIKey
			// The check for full keys in bodies must be able to see one.
			if !fullKey.MatchString(k.Secret) {
				t.Fatalf("the full-key pattern does not match a key %.12s...", k.Secret)
			}
		}

		// The expiry passes; the node's minute scan runs, twice as nodes
		// do (the second finds it told already).
		f.clock.Set(expiry.Add(time.Minute))
		for range 2 {
			if _, err := db.EmitKeyExpiryEvents(ctx); err != nil {
				t.Fatal(err)
			}
		}

		// Usage flushes, as the usage recorder writes them: past 80 % of the
		// Max plan's 10,000 calls, then past 100 %.
		period := f.clock.Now().Format("2006-01")
		for _, calls := range []int64{8100, 2000} {
			b := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{{ID: f.org.ID, Period: period}: {APICalls: calls}}}
			if _, err := db.SaveUsage(ctx, b); err != nil {
				t.Fatal(err)
			}
		}

		f.drain(f.hookDeliverer("n1", nil, true))
		got := r.received()

		// Each action's event once: api_key.created once per key made
		// (the roll's new key too), usage.threshold twice, the rest once;
		// no delivery twice.
		count := map[string]int{}
		ids := map[string]bool{}
		for _, g := range got {
			count[g.event]++
			if ids[g.delivery] || !strings.HasPrefix(g.delivery, "del_") {
				t.Errorf("delivery id %q repeated or malformed", g.delivery)
			}
			ids[g.delivery] = true
		}
		total := 0
		for _, kind := range snapglyph.WebhookEvents {
			want := 1
			switch kind {
			case snapglyph.EventKeyCreated:
				want = len(keys)
			case snapglyph.EventUsageThreshold:
				want = 2
			}
			total += want
			if count[kind] != want {
				t.Errorf("%s arrived %d times, want %d", kind, count[kind], want)
			}
		}
		if len(got) != total {
			var kinds []string
			for _, g := range got {
				kinds = append(kinds, g.event)
			}
			t.Errorf("received %v", kinds)
		}
		for _, a := range f.attempts(w.ID) {
			if !a.OK() || a.Attempt != 1 {
				t.Errorf("delivery log: %+v, want each event answered 200 at the first attempt", a)
			}
		}

		// The data of each body: the fields the docs list, and what they
		// should say.
		created := map[string]bool{}
		var percents []float64
		for _, g := range got {
			data := g.body["data"].(map[string]any)
			if m := missing(data, docFields[g.event]...); len(m) > 0 {
				t.Errorf("%s lacks %v, which docs/webhooks.md lists: %v", g.event, m, data)
			}
			if strings.HasPrefix(g.event, "api_key.") {
				k := keys[fmt.Sprint(data["keyId"])]
				if k == nil {
					t.Errorf("%s of an unknown key: %v", g.event, data)
					continue
				}
				if data["keyName"] != k.Name || data["keyPrefix"] != k.Prefix {
					t.Errorf("%s: name %v, prefix %v; want %q, %q", g.event, data["keyName"], data["keyPrefix"], k.Name, k.Prefix)
				}
				if g.event != snapglyph.EventKeyExpired && g.event != snapglyph.EventKeyLeaked && data["actor"] != f.admin.Email {
					t.Errorf("%s: actor %v, want %s", g.event, data["actor"], f.admin.Email)
				}
			}
			switch g.event {
			case snapglyph.EventQRCreated, snapglyph.EventQRUpdated, snapglyph.EventQRDeleted:
				name := renamed
				if g.event == snapglyph.EventQRCreated {
					name = "Menu"
				}
				if data["qrCodeId"] != q.ID || data["qrCodeName"] != name || data["type"] != "url" || data["destinationUrl"] != "https://example.com/p/1" {
					t.Errorf("%s data %v", g.event, data)
				}
			case snapglyph.EventKeyCreated:
				id := data["keyId"].(string)
				created[id] = true
				switch id {
				case nightly.ID:
					if m := missing(data, "expiresAt"); len(m) > 0 {
						t.Errorf("api_key.created of a key with an expiry lacks expiresAt: %v", data)
					}
				case rolled.ID:
					if data["replaces"] != web.ID {
						t.Errorf("api_key.created of the roll's key: replaces %v, want %s", data["replaces"], web.ID)
					}
					if m := missing(data, "detail"); len(m) > 0 {
						t.Errorf("api_key.created of the roll's key lacks the audit log's detail: %v", data)
					}
				}
			case snapglyph.EventKeyPaused:
				if m := missing(data, "reason", "pausedUntil", "detail"); len(m) > 0 || data["reason"] != "rotating the CI secret" {
					t.Errorf("api_key.paused with a reason and an end lacks %v: %v", m, data)
				}
			case snapglyph.EventKeyRolled:
				if data["keyId"] != web.ID || data["newKeyId"] != rolled.ID || data["newKeyPrefix"] != rolled.Prefix || data["keyStatus"] != "active" {
					t.Errorf("api_key.rolled data %v, want %s replaced by %s (%s)", data, web.ID, rolled.ID, rolled.Prefix)
				}
			case snapglyph.EventKeyRevoked:
				if data["keyId"] != ci.ID {
					t.Errorf("api_key.revoked of %v, want %s", data["keyId"], ci.ID)
				}
			case snapglyph.EventKeyExpired:
				if data["keyId"] != nightly.ID || data["expiresAt"] != expiry.UTC().Format(time.RFC3339) {
					t.Errorf("api_key.expired data %v, want %s expired at %s", data, nightly.ID, expiry.UTC().Format(time.RFC3339))
				}
			case snapglyph.EventKeyLeaked:
				if data["keyId"] != ci.ID || data["url"] != leakURL || data["source"] != "content" ||
					data["action"] != snapglyph.LeakPause || data["status"] != string(snapglyph.KeyPaused) || !strings.Contains(fmt.Sprint(data["reason"]), leakURL) {
					t.Errorf("api_key.leaked data %v", data)
				}
			case snapglyph.EventUsageThreshold:
				p, _ := data["percent"].(float64)
				percents = append(percents, p)
				used := 8100.0
				if p == 100 {
					used = 10100
				}
				if data["counter"] != "apiCalls" || data["used"] != used || data["limit"] != 10000.0 ||
					data["period"] != period || data["resetsAt"] != "2026-12-01T00:00:00Z" {
					t.Errorf("usage.threshold data %v", data)
				}
			}
		}
		for id := range keys {
			if !created[id] {
				t.Errorf("no api_key.created for %s", id)
			}
		}
		sort.Float64s(percents)
		if !slices.Equal(percents, []float64{80, 100}) {
			t.Errorf("usage.threshold percents %v, want 80 and 100", percents)
		}
		// Everything was answered: nothing is left to deliver.
		if n, err := db.PendingDeliveries(ctx, store.SinkWebhook+w.ID); err != nil || n != 0 {
			t.Errorf("%d deliveries pending (%v)", n, err)
		}
	})
}
