package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestComposeEveryKind: every kind of event told to people has a title,
// a sentence with what the event says, and a dashboard place; the kinds
// the lifecycle work emits (rolled, expiring, expired) included.
func TestComposeEveryKind(t *testing.T) {
	org := &snapglyph.Org{ID: "org_1", Name: "Acme"}
	key := map[string]any{"keyId": "key_1", "keyName": "Production-WebApp", "keyPrefix": "qr_live_ab12", "actor": "alice@acme.test"}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range key {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC).Format(time.RFC3339)
	for _, c := range []struct {
		kind string
		data map[string]any
		role snapglyph.Role
		want []string // in the title or body
		link string
	}{
		{snapglyph.EventKeyCreated, key, "owner", []string{"API key Production-WebApp created", "alice@acme.test created the API key Production-WebApp (qr_live_ab12...) in Acme"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyPaused, key, "owner", []string{"paused", "401 api_key_paused"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyResumed, key, "admin", []string{"resumed", "works again"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyRevoked, key, "owner", []string{"revoked", "never be used again"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyRolled, with(map[string]any{"newKeyPrefix": "qr_live_cd34", "overlapEndsAt": at}), "owner", []string{"rolled", "replacement is qr_live_cd34...", "until 1 Dec 2026 at 09:30 UTC"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyExpiring, with(map[string]any{"expiresAt": at}), "owner", []string{"expires on 1 Dec 2026", "1 Dec 2026 at 09:30 UTC"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyExpired, key, "owner", []string{"expired", "401 api_key_expired"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyLeaked, with(map[string]any{"url": "https://github.com/o/r/blob/x/.env", "action": "paused"}), "owner", []string{"found in public", "in public at https://github.com/o/r/blob/x/.env", "paused at once"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyLeaked, with(map[string]any{"action": "paused"}), "owner", []string{"in public. It was paused at once"}, "/settings/api/keys/key_1"},
		{snapglyph.EventKeyLeaked, with(map[string]any{"url": "u", "action": "revoked"}), "owner", []string{"revoked at once"}, "/settings/api/keys/key_1"},
		{snapglyph.EventUsageThreshold, map[string]any{"counter": "apiCalls", "percent": 80, "used": 8000, "limit": 10000, "resetsAt": at}, "owner", []string{"80 % of this month's API calls used", "8,000 of its 10,000 API calls"}, "/settings/api"},
		{snapglyph.EventUsageThreshold, map[string]any{"counter": "imageCredits", "percent": 100, "used": 2000, "limit": 2000, "resetsAt": at}, "admin", []string{"All image credits of this month used", "2,000 of its 2,000 image credits", "429"}, "/settings/api"},
		// Spent with less recorded (a node stopped holding the rest).
		{snapglyph.EventUsageThreshold, map[string]any{"counter": "apiCalls", "percent": 100, "used": 9466, "limit": 10000, "resetsAt": at}, "owner", []string{"All API calls of this month spent", "no API calls left", "9,466 of its 10,000 are recorded as used and the rest is taken", "429"}, "/settings/api"},
		{snapglyph.EventTrialEnding, map[string]any{"trialEndsAt": at}, "owner", []string{"The trial ends on 1 Dec 2026"}, "/settings/subscription"},
		{snapglyph.EventTrialEnding, map[string]any{"trialEndsAt": at}, "admin", []string{"The trial ends on 1 Dec 2026"}, "/settings/api"},
		{snapglyph.EventTrialEnded, map[string]any{"trialEndsAt": at}, "owner", []string{"The trial has ended", "403 api_not_in_plan"}, "/settings/subscription"},
		// What can be resent is what failed before: events while it is
		// disabled get no delivery, so they are not in its log.
		{snapglyph.EventWebhookDisabled, map[string]any{"webhookId": "wh_1", "url": "https://hooks.acme.test/in", "reason": "answered 503"}, "owner",
			[]string{"Webhook endpoint disabled", "https://hooks.acme.test/in of Acme failed for 3 days (answered 503)",
				"events that failed before it was disabled are in its delivery log", "events that happen while it is disabled are never sent to it and are not in its log"}, "/settings/webhooks/wh_1"},
	} {
		ev := &snapglyph.Event{Kind: c.kind, OrgID: org.ID, Data: c.data}
		got := notify.Compose(ev, org, c.role)
		text := got.Title + "\n" + got.Body
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: %q missing from\n%s", c.kind, w, text)
			}
		}
		if got.Link != c.link {
			t.Errorf("%s: link %q, want %q", c.kind, got.Link, c.link)
		}
		if strings.Contains(text, "unknown date") || snapglyph.EventTopic(c.kind) == "" {
			t.Errorf("%s: %q (topic %q)", c.kind, text, snapglyph.EventTopic(c.kind))
		}
	}
	// A spent allowance points to the Max plan, but not an organisation
	// already on it (review 6).
	for _, plan := range []snapglyph.Plan{snapglyph.PlanPro, snapglyph.PlanMax} {
		for _, used := range []int64{9466, 10000} {
			o := &snapglyph.Org{ID: "org_1", Name: "Acme", Plan: plan}
			ev := &snapglyph.Event{Kind: snapglyph.EventUsageThreshold, OrgID: o.ID,
				Data: map[string]any{"counter": "apiCalls", "percent": 100, "used": used, "limit": 10000, "resetsAt": at}}
			if got := notify.Compose(ev, o, "owner").Body; strings.Contains(got, "Max plan") != (plan != snapglyph.PlanMax) {
				t.Errorf("%s plan, %d used: %q", plan, used, got)
			}
		}
	}
}
