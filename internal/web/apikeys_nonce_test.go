package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestKeyCreateBadNonce: the create form's one-time nonce comes back from
// the browser; one that is not text (a NUL, invalid UTF-8) is refused
// with 422 naming the field before the store, on both stores, and creates
// no key (PostgreSQL would refuse the value with an internal error).
func TestKeyCreateBadNonce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		for _, nonce := range []string{"abc\x00def", "\xff\xfe", "ab\x00"} {
			p := b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}, "nonce": {nonce}})
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, "nonce")
			expectNotContains(t, p, "qr_live_")
		}
		if keys, _ := db.Keys(context.Background(), org.ID, true); len(keys) != 0 {
			t.Errorf("%d keys created by forms with a bad nonce", len(keys))
		}
		if got := e.logs.String(); strings.Contains(got, "level=ERROR") {
			t.Errorf("the log has an error:\n%s", got)
		}
		// A good nonce still creates once.
		p := b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}, "nonce": {"0123456789abcdef0123456789abcdef"}})
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, "/settings/api/reveal/") {
			t.Errorf("a good nonce: redirected to %q, want the reveal", loc)
		}
		p = b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}, "nonce": {"0123456789abcdef0123456789abcdef"}})
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); strings.HasPrefix(loc, "/settings/api/reveal/") {
			t.Errorf("the same nonce again: redirected to %q, a second reveal", loc)
		}
		if keys, _ := db.Keys(context.Background(), org.ID, true); len(keys) != 1 {
			t.Errorf("%d keys after one form posted twice, want 1", len(keys))
		}
	})
}
