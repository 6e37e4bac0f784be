package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestCreateKeyBadNonce: a create nonce that is not text (NUL, invalid
// UTF-8) is EINVALID before the store on both stores (PostgreSQL would
// refuse it as an internal error), and creates no key.
func TestCreateKeyBadNonce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanPro)
		for _, nonce := range []string{"a\x00b", "a\xffb", "\x00"} {
			_, err := svc.CreateKeyWith(ctx, as(owner), org.ID, service.KeySpec{Name: "Production-WebApp", Nonce: nonce})
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(snapglyph.ErrorMessage(err), "reload the page") {
				t.Errorf("nonce %q: %v, want EINVALID saying to reload the page", nonce, err)
			}
		}
		if keys, _ := db.Keys(ctx, org.ID, true); len(keys) != 0 {
			t.Errorf("%d keys created with a bad nonce", len(keys))
		}
		if _, err := svc.CreateKeyWith(ctx, as(owner), org.ID, service.KeySpec{Name: "Production-WebApp", Nonce: "0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
	})
}
