package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestRolledPausedKeyNotice: the notice of a paused key's roll says the
// old key stays paused (refused), not that it works until the overlap's
// end; a working key's roll still says until when it works.
func TestRolledPausedKeyNotice(t *testing.T) {
	org := &snapglyph.Org{ID: "org_1", Name: "Acme"}
	at := time.Date(2026, 12, 4, 13, 6, 0, 0, time.UTC).Format(time.RFC3339)
	data := func(status string) map[string]any {
		return map[string]any{"keyId": "key_1", "keyName": "Production-WebApp", "keyPrefix": "qr_live_ab12", "actor": "admin@acme.test",
			"newKeyPrefix": "qr_live_cd34", "overlapEndsAt": at, "keyStatus": status}
	}
	got := notify.Compose(&snapglyph.Event{Kind: snapglyph.EventKeyRolled, OrgID: org.ID, Data: data("paused")}, org, snapglyph.RoleAdmin)
	for _, want := range []string{"stays paused", "401 api_key_paused", "retired for good on 4 Dec 2026 at 13:06 UTC"} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("%q missing from %q", want, got.Body)
		}
	}
	if strings.Contains(got.Body, "works until") {
		t.Errorf("the paused key's notice says it works: %q", got.Body)
	}
	got = notify.Compose(&snapglyph.Event{Kind: snapglyph.EventKeyRolled, OrgID: org.ID, Data: data("active")}, org, snapglyph.RoleAdmin)
	if !strings.Contains(got.Body, "the old key works until 4 Dec 2026 at 13:06 UTC") || strings.Contains(got.Body, "paused") {
		t.Errorf("a working key's roll: %q", got.Body)
	}
}
