package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// controlIn reports the first control character (C0, DEL, C1) of s that
// is not in keep, or -1.
func controlIn(s, keep string) rune {
	for _, r := range s {
		if (r < 0x20 || r >= 0x7f && r <= 0x9f) && !strings.ContainsRune(keep, r) {
			return r
		}
	}
	return -1
}

// Hostile text a client or a webhook receiver may send: an escape
// sequence that retitles the reader's terminal and rings its bell, one
// that clears the screen, an 8-bit CSI, DEL, and a line break that starts
// a forged log line.
const (
	hostileID   = "qr_\x1b]0;owned\x07"
	hostileLine = "qr_\n2026-11-15T12:00:00.000Z  req_forged  key_x  GET  /api/v1/usage  200"
	hostileUA   = "curl/8.5 \x1b[2J\x1b[1;31mred\u009b0m\x7f"
	// A receiver's answer of several lines, with CRLF breaks.
	hostileAnswer = "HTTP 502 from upstream\r\n\x1b]0;owned\x07\tdetail: \x1b[2Jgone\rover\r\n"
)

// TestRecordedTextHasNoControls: what is recorded about a request (the
// request log's id, user agent and address, a key's last use) is kept as
// one line without control characters; what a webhook receiver answers,
// a delivery's last error, an endpoint's disable reason and a notice's
// body keep their line feeds and tabs (CRLF and CR become line feeds)
// and nothing else of the kind; a notice's title is one line.
func TestRecordedTextHasNoControls(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanMax}
		owner, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", "")
		if err != nil {
			t.Fatal(err)
		}
		key, _ := newKey(t, db.DB, org.ID, "Production-WebApp")
		now := time.Now().UTC().Truncate(time.Millisecond)

		// The request log.
		var entries []snapglyph.RequestLogEntry
		for i, id := range []string{hostileID, hostileLine} {
			at := now.Add(time.Duration(i-2) * time.Second)
			entries = append(entries, snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: key.ID,
				KeyPrefix: key.Prefix, Method: "GET\x1b", Route: "/api/v1/qr-codes/{id}", ResourceID: id, Status: 400, Code: "invalid_request",
				IP: "192.0.2.1\x07", UserAgent: hostileUA, Plan: org.Plan})
		}
		if err := db.EnsureRequestLogPartitions(ctx, []snapglyph.LogPartition{{RetentionDays: snapglyph.DefaultLogRetention().Days(org.Plan), Day: snapglyph.DayOf(now)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveRequestLog(ctx, entries, snapglyph.DefaultLogRetention(), nil); err != nil {
			t.Fatal(err)
		}
		var got []*snapglyph.RequestLogEntry
		if err := db.RequestLog(ctx, org.ID, snapglyph.RequestLogFilter{}, time.Time{}, func(e *snapglyph.RequestLogEntry) error {
			got = append(got, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d entries stored, want 2", len(got))
		}
		wantIDs := map[string]bool{"qr_]0;owned": true, "qr_2026-11-15T12:00:00.000Z  req_forged  key_x  GET  /api/v1/usage  200": true}
		for _, e := range got {
			for field, v := range map[string]string{"method": e.Method, "resource id": e.ResourceID, "IP": e.IP, "user agent": e.UserAgent} {
				if r := controlIn(v, ""); r >= 0 {
					t.Errorf("the request log's %s holds U+%04X: %q", field, r, v)
				}
			}
			if !wantIDs[e.ResourceID] || e.Method != "GET" || e.IP != "192.0.2.1" || e.UserAgent != "curl/8.5 [2J[1;31mred0m" {
				t.Errorf("stored %q %q from %q (%q)", e.Method, e.ResourceID, e.IP, e.UserAgent)
			}
		}

		// A key's last use.
		if _, err := db.SaveUsage(ctx, &snapglyph.UsageBatch{
			LastUsed: map[string]snapglyph.LastUse{key.ID: {At: now, IP: "192.0.2.1\x1b", UserAgent: hostileUA}},
		}); err != nil {
			t.Fatal(err)
		}
		k, err := db.Key(ctx, key.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k.LastUsedUA != "curl/8.5 [2J[1;31mred0m" || k.LastUsedIP != "192.0.2.1" {
			t.Errorf("last used from %q (%q)", k.LastUsedIP, k.LastUsedUA)
		}

		// A webhook endpoint's delivery log and its disable reason.
		w := &snapglyph.Webhook{ID: snapglyph.NewID("wh"), OrgID: org.ID, URL: "https://example.com/hook", Events: []string{"qr.created"}, Secret: "whsec_x"}
		if err := db.CreateWebhook(ctx, w, snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		a := &snapglyph.WebhookAttempt{WebhookID: w.ID, EventID: 1, Event: "qr.created", Attempt: 1, At: now, Status: 502,
			Response: hostileAnswer, Error: "answered 502\r\n\x1b[31mforged\x1b[0m"}
		if err := db.AddWebhookAttempt(ctx, a); err != nil {
			t.Fatal(err)
		}
		as, err := db.WebhookAttempts(ctx, w.ID, 0, 10)
		if err != nil || len(as) != 1 {
			t.Fatalf("attempts %v, %v", as, err)
		}
		const wantAnswer = "HTTP 502 from upstream\n]0;owned\tdetail: [2Jgone\nover\n"
		if as[0].Response != wantAnswer || as[0].Error != "answered 502\n[31mforged[0m" {
			t.Errorf("attempt kept answer %q, error %q; want %q", as[0].Response, as[0].Error, wantAnswer)
		}
		if _, err := db.DisableWebhook(ctx, w.ID, "the delivery failed for 3 days: "+hostileAnswer); err != nil {
			t.Fatal(err)
		}
		if w, err = db.Webhook(ctx, w.ID); err != nil {
			t.Fatal(err)
		}
		if w.DisabledReason != "the delivery failed for 3 days: "+wantAnswer {
			t.Errorf("disabled for %q", w.DisabledReason)
		}
		evs, err := db.Events(ctx, org.ID, snapglyph.EventWebhookDisabled, 10)
		if err != nil || len(evs) != 1 {
			t.Fatalf("events %v, %v", evs, err)
		}
		if r := evs[0].Str("reason"); r != w.DisabledReason {
			t.Errorf("the event's reason %q, the endpoint's %q", r, w.DisabledReason)
		}

		// A delivery's last error.
		ev := &snapglyph.Event{Kind: snapglyph.EventTrialEnded, OrgID: org.ID}
		if _, err := db.Emit(ctx, ev, ""); err != nil {
			t.Fatal(err)
		}
		if ds, err := db.ClaimDeliveries(ctx, store.SinkNotify, "n1", 10, time.Minute); err != nil || len(ds) == 0 {
			t.Fatalf("claimed %v, %v", ds, err)
		}
		if err := db.RetryDelivery(ctx, ev.ID, store.SinkNotify, "n1", now.Add(time.Minute), "smtp: 451\r\n\x1b]0;owned\x07try later"); err != nil {
			t.Fatal(err)
		}
		st, err := db.DeliveryState(ctx, ev.ID, store.SinkNotify)
		if err != nil || st.LastError != "smtp: 451\n]0;ownedtry later" {
			t.Errorf("last error %q, %v", st.LastError, err)
		}

		// A notice.
		ns, err := db.AddNotices(ctx, ev.ID, []*snapglyph.Notice{{UserID: owner.ID, OrgID: org.ID, Kind: snapglyph.EventWebhookDisabled,
			Title: "Webhook endpoint\r\n\x1b[2Jdisabled", Body: "It failed (" + hostileAnswer + ").", Link: "/", Mail: snapglyph.MailNone}})
		if err != nil || len(ns) != 1 {
			t.Fatalf("notices %v, %v", ns, err)
		}
		if ns[0].Title != "Webhook endpoint[2Jdisabled" || ns[0].Body != "It failed ("+wantAnswer+")." {
			t.Errorf("notice %q: %q", ns[0].Title, ns[0].Body)
		}
	})
}
