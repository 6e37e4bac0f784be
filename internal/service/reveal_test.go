package service_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestKeyReveal: a new key held for its reveal opens once, on another
// node too (its own connection to the database), and only with the
// session's token; the database never holds the key in clear.
func TestKeyReveal(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		nodeA := service.New(db.DB)
		other, err := store.Open(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		nodeB := service.New(other)
		org, owner, err := nodeA.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "pro", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := nodeA.SignIn(ctx, owner.Email, "correct horse battery", service.Client{IP: "127.0.0.1"}, "")
		if err != nil {
			t.Fatal(err)
		}
		second, err := nodeA.SignIn(ctx, owner.Email, "correct horse battery", service.Client{IP: "127.0.0.1"}, "")
		if err != nil {
			t.Fatal(err)
		}
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email}
		nk, err := nodeA.CreateKey(ctx, actor, org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodeA.HoldReveal(ctx, sess.Session, second.Token, nk, ""); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
			t.Fatalf("held with another session's token: %v", err)
		}
		id, err := nodeA.HoldReveal(ctx, sess.Session, sess.Token, nk, "")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(id, nk.Secret) {
			t.Fatal("the reveal's id holds the key")
		}
		// The stored row is sealed: no column holds the key.
		var sealed string
		if err := db.SQL().QueryRowContext(ctx, `SELECT sealed FROM reveals WHERE subject_id = '`+nk.ID+`'`).Scan(&sealed); err != nil || sealed == "" || strings.Contains(sealed, nk.Secret) {
			t.Fatalf("sealed %q (%v)", sealed, err)
		}
		// Another session (the same user's) cannot open it.
		if _, err := nodeB.TakeReveal(ctx, second.Session, second.Token, id); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("another session: %v", err)
		}
		// Node B opens it once, whatever the number of concurrent takes.
		var mu sync.Mutex
		var got []string
		var wg sync.WaitGroup
		for i := range 6 {
			svc := nodeA
			if i%2 == 1 {
				svc = nodeB
			}
			wg.Go(func() {
				r, err := svc.TakeReveal(ctx, sess.Session, sess.Token, id)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Key.ID != nk.ID || r.Key.Name != "Production-WebApp" {
					t.Errorf("reveal of %+v", r.Key)
				}
				if r.Secret != "" {
					mu.Lock()
					got = append(got, r.Secret)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(got) != 1 || got[0] != nk.Secret {
			t.Fatalf("%d takes showed the key, want exactly 1", len(got))
		}
		r, err := nodeB.TakeReveal(ctx, sess.Session, sess.Token, id)
		if err != nil || r.Secret != "" || r.Key.Name != "Production-WebApp" {
			t.Fatalf("again: %+v, %v", r, err)
		}
		// A reveal not opened within RevealTTL is gone too.
		nk2, err := nodeA.CreateKey(ctx, actor, org.ID, "Dev-Testing")
		if err != nil {
			t.Fatal(err)
		}
		id2, err := nodeA.HoldReveal(ctx, sess.Session, sess.Token, nk2, "")
		if err != nil {
			t.Fatal(err)
		}
		clock := testdb.NewClock(db.Now().Add(service.RevealTTL + 1))
		db.DB.Now, other.Now = clock.Now, clock.Now
		if r, err := nodeB.TakeReveal(ctx, sess.Session, sess.Token, id2); err != nil || r.Secret != "" {
			t.Fatalf("after its TTL: %+v, %v", r, err)
		}
		if db.Dialect == "sqlite" {
			for _, f := range []string{db.Path, db.Path + "-wal"} {
				if b, err := os.ReadFile(f); err == nil && (strings.Contains(string(b), nk.Secret) || strings.Contains(string(b), nk2.Secret)) {
					t.Errorf("a key is in %s", f)
				}
			}
		}
	})
}

// TestWebhookSecretReveal: an endpoint's signing secret held for its
// reveal opens once, on another node too, only as a webhook reveal (not
// at a key's reveal) and only for its session; a secret rotated again
// before its reveal was opened is not shown (it no longer signs).
func TestWebhookSecretReveal(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		nodeA := service.New(db.DB)
		nodeA.Webhooks.AllowInsecureLocal = true
		other, err := store.Open(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		nodeB := service.New(other)
		org, owner, err := nodeA.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "max", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := nodeA.SignIn(ctx, owner.Email, "correct horse battery", service.Client{IP: "127.0.0.1"}, "")
		if err != nil {
			t.Fatal(err)
		}
		second, err := nodeA.SignIn(ctx, owner.Email, "correct horse battery", service.Client{IP: "127.0.0.1"}, "")
		if err != nil {
			t.Fatal(err)
		}
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email}
		w, err := nodeA.CreateWebhook(ctx, actor, org.ID, "http://127.0.0.1:9/hook", []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		id, err := nodeA.HoldWebhookSecretReveal(ctx, sess.Session, sess.Token, w, false)
		if err != nil {
			t.Fatal(err)
		}
		var sealed, kind string
		if err := db.SQL().QueryRowContext(ctx, `SELECT sealed, kind FROM reveals WHERE id = '`+id+`'`).Scan(&sealed, &kind); err != nil || sealed == "" || strings.Contains(sealed, w.Secret) || kind != snapglyph.RevealWebhookCreated {
			t.Fatalf("sealed %q, kind %q (%v)", sealed, kind, err)
		}
		if _, err := nodeB.TakeReveal(ctx, sess.Session, sess.Token, id); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("opened as a key reveal: %v", err)
		}
		if _, err := nodeB.TakeWebhookSecretReveal(ctx, actor, sess.Session, sess.Token, "wh_other", id); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("another endpoint's reveal: %v", err)
		}
		if _, err := nodeB.TakeWebhookSecretReveal(ctx, actor, second.Session, second.Token, w.ID, id); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("another session: %v", err)
		}
		r, err := nodeB.TakeWebhookSecretReveal(ctx, actor, sess.Session, sess.Token, w.ID, id)
		if err != nil || r.Secret != w.Secret || r.Rotated || r.Webhook.ID != w.ID || r.Webhook.Secret != "" {
			t.Fatalf("first take: %+v, %v", r, err)
		}
		r, err = nodeA.TakeWebhookSecretReveal(ctx, actor, sess.Session, sess.Token, w.ID, id)
		if err != nil || r.Secret != "" || r.Webhook.URL != w.URL {
			t.Fatalf("again: %+v, %v", r, err)
		}

		// Rotated twice, the first rotation's reveal shows nothing.
		rot1, err := nodeA.RotateWebhookSecret(ctx, actor, org.ID, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		id1, err := nodeA.HoldWebhookSecretReveal(ctx, sess.Session, sess.Token, rot1, true)
		if err != nil {
			t.Fatal(err)
		}
		rot2, err := nodeA.RotateWebhookSecret(ctx, actor, org.ID, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		id2, err := nodeA.HoldWebhookSecretReveal(ctx, sess.Session, sess.Token, rot2, true)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := nodeB.TakeWebhookSecretReveal(ctx, actor, sess.Session, sess.Token, w.ID, id1); err != nil || r.Secret != "" || !r.Replaced || !r.Rotated {
			t.Fatalf("a replaced secret: %+v, %v", r, err)
		}
		if r, err := nodeB.TakeWebhookSecretReveal(ctx, actor, sess.Session, sess.Token, w.ID, id2); err != nil || r.Secret != rot2.Secret || r.Replaced {
			t.Fatalf("the current secret: %+v, %v", r, err)
		}
		// Deleted since: nothing to show.
		id3, err := nodeA.HoldWebhookSecretReveal(ctx, sess.Session, sess.Token, rot2, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nodeA.DeleteWebhook(ctx, actor, org.ID, w.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := nodeB.TakeWebhookSecretReveal(ctx, actor, sess.Session, sess.Token, w.ID, id3); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Fatalf("a deleted endpoint's reveal: %v", err)
		}
	})
}
