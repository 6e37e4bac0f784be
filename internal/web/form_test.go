package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestUnreadableForm: a form body over the dashboard's bound is answered
// 413 "The form is larger than 64 KiB" by every action that reads a form,
// before anything is looked up or changed.
func TestUnreadableForm(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		huge := url.Values{"name": {strings.Repeat("x", 65<<10)}}
		for _, path := range []string{
			"/settings/api/keys/k1/pause", "/settings/api/keys/k1/resume", "/settings/api/keys/k1/revoke",
			"/settings/api/keys/k1/end-overlap", "/settings/api/keys/k1/rename", "/settings/api/keys/k1/restrict",
			"/settings/api/keys/k1/roll", "/settings/company/invitations", "/settings/company/members/u1/role",
			"/settings/profile/mail", "/settings/profile/org", "/settings/company/leaks",
			"/settings/subscription/change", "/settings/subscription/requests/r1/cancel",
			"/settings/api/keys", "/settings/webhooks", "/settings/webhooks/w1/rotate", "/settings/webhooks/w1/delete",
			"/signin", "/signup", "/invite/t1",
		} {
			by := b
			if !strings.HasPrefix(path, "/settings/") {
				by = e.browser() // signed out
			}
			p := by.post(path, huge)
			if p.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(p.Body, "The form is larger than 64 KiB") {
				t.Errorf("POST %s with a %d KiB form: status %d, want 413 saying the form is larger than 64 KiB", path, 65, p.StatusCode)
			}
		}
	})
}
