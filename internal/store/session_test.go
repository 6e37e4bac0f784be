package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var t0 = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// newAccount signs up a user with a new organisation.
func newAccount(t *testing.T, db *testdb.DB, plan snapglyph.Plan) (*snapglyph.User, *snapglyph.Org) {
	t.Helper()
	u := &snapglyph.User{ID: snapglyph.NewID("usr"), Email: snapglyph.NewID("u") + "@acme.test", Name: "Ada"}
	o := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: plan}
	if err := db.CreateAccount(context.Background(), u, "hash", o, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	return u, o
}

func TestSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		u, o := newAccount(t, db, snapglyph.PlanPro)
		s := &snapglyph.Session{ID: "digest-1", UserID: u.ID, OrgID: o.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour), IP: "192.0.2.1", UserAgent: "ua"}
		if err := db.CreateSession(ctx, s, ""); err != nil {
			t.Fatal(err)
		}
		got, err := db.Session(ctx, "digest-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Email != u.Email || got.Name != "Ada" || got.Role != snapglyph.RoleOwner || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.UserAgent != "ua" {
			t.Errorf("session %+v", got)
		}
		if _, err := db.Session(ctx, "digest-2"); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("unknown session: %v, want ENOTFOUND", err)
		}

		// Touching moves last_seen forward only.
		if err := db.TouchSession(ctx, "digest-1", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		db.TouchSession(ctx, "digest-1", t0)
		if got, _ := db.Session(ctx, "digest-1"); !got.LastSeenAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("last seen %s", got.LastSeenAt)
		}

		// A new session can replace the old one, in one transaction; the
		// sessions past their absolute end are purged.
		old := &snapglyph.Session{ID: "digest-old", UserID: u.ID, OrgID: o.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Minute)}
		if err := db.CreateSession(ctx, old, ""); err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(2 * time.Minute))
		s2 := &snapglyph.Session{ID: "digest-2", UserID: u.ID, OrgID: o.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := db.CreateSession(ctx, s2, "digest-1"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"digest-1", "digest-old"} {
			if _, err := db.Session(ctx, id); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
				t.Errorf("session %s: %v, want it gone", id, err)
			}
		}
		if n, _ := db.SessionCount(ctx, u.ID, o.ID); n != 1 {
			t.Errorf("%d sessions, want 1", n)
		}
		if err := db.DeleteSession(ctx, "digest-2"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSession(ctx, "digest-2"); err != nil {
			t.Errorf("deleting twice: %v", err)
		}
	})
}

// TestSessionNeedsMembership: a session is only valid while its user is a
// member of its organisation.
func TestSessionNeedsMembership(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		_, o := newAccount(t, db, snapglyph.PlanPro)
		m, err := db.AddMember(ctx, o.ID, "m@acme.test", snapglyph.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		s := &snapglyph.Session{ID: "d", UserID: m.ID, OrgID: o.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := db.CreateSession(ctx, s, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SetMemberRole(ctx, o.ID, m.ID, snapglyph.RoleAdmin, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.Session(ctx, "d"); got.Role != snapglyph.RoleAdmin {
			t.Errorf("role after the change: %s", got.Role)
		}
		if _, err := db.RemoveMember(ctx, o.ID, m.ID, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(ctx, "d"); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("session of a removed member: %v", err)
		}
		if n, _ := db.SessionCount(ctx, m.ID, o.ID); n != 0 {
			t.Errorf("%d sessions left", n)
		}
	})
}

func TestSigninThrottleStore(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		var seen []int64
		block := func(n int64) time.Duration {
			seen = append(seen, n)
			if n >= 3 {
				return time.Duration(n) * time.Minute
			}
			return 0
		}
		for i := 0; i < 2; i++ {
			if until, err := db.CountAttempt(ctx, "email:a", 15*time.Minute, block); err != nil || !until.IsZero() {
				t.Fatalf("failure %d: %v %v", i+1, until, err)
			}
		}
		until, err := db.CountAttempt(ctx, "email:a", 15*time.Minute, block)
		if err != nil || !until.Equal(t0.Add(3*time.Minute)) {
			t.Fatalf("third failure: blocked until %v (%v), want +3m", until, err)
		}
		db.CountAttempt(ctx, "ip:b", 15*time.Minute, func(int64) time.Duration { return time.Minute })
		got, which, err := db.BlockedUntil(ctx, "email:a", "ip:b", "email:none")
		if err != nil || !got.Equal(t0.Add(3*time.Minute)) || which != "email:a" {
			t.Errorf("blocked until %v by %q (%v)", got, which, err)
		}
		// A failure after a quiet window starts a new count; one within
		// it does not.
		clock.Set(t0.Add(14 * time.Minute))
		db.CountAttempt(ctx, "email:a", 15*time.Minute, block)
		clock.Set(t0.Add(30 * time.Minute))
		db.CountAttempt(ctx, "email:a", 15*time.Minute, block)
		if want := []int64{1, 2, 3, 4, 1}; len(seen) != 5 || seen[3] != 4 || seen[4] != 1 {
			t.Errorf("counts %v, want %v", seen, want)
		}
		if err := db.ClearAttempts(ctx, "email:a"); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := db.BlockedUntil(ctx, "email:a"); !got.IsZero() {
			t.Errorf("blocked after clearing: %v", got)
		}
	})
}
