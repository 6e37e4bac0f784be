package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSessions is the profile's list of a person's sessions: the live
// ones in every organisation the person belongs to (which one each is
// in, its device, address and times), this one first; expired ones are
// not listed; each is named by a reference that is not its id.
func TestSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		svc := service.New(db.DB)
		// The person joined Globex first (a sign-in lands there), then Acme.
		clock.Set(t0.Add(-time.Minute))
		globex := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Globex", Plan: snapglyph.PlanPro}
		me, err := db.CreateOrg(ctx, globex, "me@globex.test", cheapHash)
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(t0)
		tm := newTeam(t, db) // tm.org is "Acme"
		if _, err := db.AddMember(ctx, tm.org.ID, me.Email, snapglyph.RoleMember); err != nil {
			t.Fatal(err)
		}
		start := func(ua, ip string) *service.NewSession {
			t.Helper()
			ns, err := svc.SignIn(ctx, me.Email, testPassword, service.Client{IP: ip, UserAgent: ua}, "")
			if err != nil {
				t.Fatal(err)
			}
			return ns
		}
		idle := start("Wget/1.21", "192.0.2.9") // left idle: not listed
		clock.Set(t0.Add(time.Hour))
		here := start("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "203.0.113.5")
		clock.Set(t0.Add(time.Hour + time.Minute))
		laptop := start("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "198.51.100.7")
		laptop, err = svc.SwitchOrg(ctx, laptop.Session, laptop.Token, tm.org.ID, service.Client{IP: "198.51.100.7", UserAgent: laptop.Session.UserAgent})
		if err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(time.Hour + 2*time.Minute))
		script := start("curl/8.5.0", "2001:db8::1")
		theirs := signIn(t, svc, tm.owner.Email, "192.0.2.2")
		// A session past its absolute end that no sign-in has pruned yet.
		now := clock.Now()
		stale := &snapglyph.Session{ID: strings.Repeat("ab", 32), UserID: me.ID, OrgID: globex.ID, CreatedAt: now.Add(-8 * 24 * time.Hour),
			LastSeenAt: now.Add(-time.Minute), ExpiresAt: now.Add(-time.Second), IP: "192.0.2.10", UserAgent: "stale"}
		if err := db.CreateSession(ctx, stale, ""); err != nil {
			t.Fatal(err)
		}
		clock.Set(t0.Add(12*time.Hour + time.Minute)) // idle is 12 h 1 min old, the others 11 h 1 min
		for _, ns := range []*service.NewSession{here, laptop, script, theirs} {
			if _, err := svc.Session(ctx, ns.Token); err != nil {
				t.Fatal(err)
			}
		}
		st, err := svc.Session(ctx, here.Token)
		if err != nil {
			t.Fatal(err)
		}

		list, err := svc.Sessions(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		type row struct{ device, org, ip string }
		var got []row
		for _, l := range list {
			got = append(got, row{l.Device(), l.OrgName, l.IP})
		}
		want := []row{{"Chrome on Linux", "Globex", "203.0.113.5"}, {"curl", "Globex", "2001:db8::1"}, {"Firefox on Windows", "Acme", "198.51.100.7"}}
		if len(got) != len(want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
		if !list[0].Current || list[1].Current || list[2].Current {
			t.Error("the current session is not the one marked, or not first")
		}
		if !list[0].CreatedAt.Equal(t0.Add(time.Hour)) || !list[0].LastSeenAt.Equal(clock.Now()) {
			t.Errorf("times %v %v", list[0].CreatedAt, list[0].LastSeenAt)
		}
		ids := []string{idle.Session.ID, here.Session.ID, laptop.Session.ID, script.Session.ID, theirs.Session.ID, stale.ID}
		tokens := []string{idle.Token, here.Token, laptop.Token, script.Token, theirs.Token}
		seen := map[string]bool{}
		for _, l := range list {
			if seen[l.Ref] || len(l.Ref) != 32 {
				t.Errorf("reference %q repeated or malformed", l.Ref)
			}
			seen[l.Ref] = true
			for _, secret := range append(ids, tokens...) {
				if strings.Contains(secret, l.Ref) || strings.Contains(l.Ref, secret) {
					t.Errorf("reference %q holds an id or a token", l.Ref)
				}
			}
		}
		if n, _ := svc.OtherSessions(ctx, st); n != len(list)-1 {
			t.Errorf("other sessions %d, listed %d", n, len(list))
		}
		theirList, err := svc.Sessions(ctx, theirs.Session)
		if err != nil || len(theirList) != 1 || !theirList[0].Current || seen[theirList[0].Ref] {
			t.Fatalf("another person's list: %+v %v", theirList, err)
		}

		t.Run("ErrOthersSession", func(t *testing.T) {
			_, err := svc.EndSession(ctx, st, theirList[0].Ref)
			if snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND || !strings.Contains(snapglyph.ErrorMessage(err), "not one of yours") {
				t.Fatalf("ended another person's session: %v", err)
			}
			if !sessionLive(svc, theirs.Token) {
				t.Error("the other person's session ended")
			}
		})
		t.Run("ErrCurrent", func(t *testing.T) {
			if _, err := svc.EndSession(ctx, st, list[0].Ref); snapglyph.ErrorCode(err) != "current_session" {
				t.Fatalf("ended this session: %v", err)
			}
		})
		t.Run("ErrExpired", func(t *testing.T) {
			for _, id := range []string{stale.ID, idle.Session.ID} {
				if _, err := svc.EndSession(ctx, st, snapglyph.SessionRef(id)); snapglyph.ErrorCode(err) != "no_session" {
					t.Errorf("ended an expired session: %v", err)
				}
			}
		})
		t.Run("ErrMalformed", func(t *testing.T) {
			for _, ref := range []string{"", "x", here.Session.ID, laptop.Session.ID, laptop.Token, strings.ToUpper(list[2].Ref), list[2].Ref + "0", "\x00" + list[2].Ref[1:]} {
				if _, err := svc.EndSession(ctx, st, ref); snapglyph.ErrorCode(err) != "no_session" {
					t.Errorf("%q: %v", ref, err)
				}
			}
		})
		// Nothing above ended anything.
		for _, ns := range []*service.NewSession{here, laptop, script, theirs} {
			if !sessionLive(svc, ns.Token) {
				t.Fatalf("a refused attempt ended a session")
			}
		}

		t.Run("OK", func(t *testing.T) {
			ended, err := svc.EndSession(ctx, st, list[2].Ref) // the laptop, in the other organisation
			if err != nil {
				t.Fatal(err)
			}
			if ended.Device() != "Firefox on Windows" || ended.OrgName != "Acme" || ended.IP != "198.51.100.7" {
				t.Errorf("ended %+v", ended)
			}
			if sessionLive(svc, laptop.Token) || !sessionLive(svc, here.Token) || !sessionLive(svc, script.Token) || !sessionLive(svc, theirs.Token) {
				t.Error("wrong sessions ended")
			}
			if _, err := svc.EndSession(ctx, st, list[2].Ref); snapglyph.ErrorCode(err) != "no_session" ||
				!strings.Contains(snapglyph.ErrorMessage(err), "already ended") {
				t.Errorf("ended twice: %v", err)
			}
			after, err := svc.Sessions(ctx, st)
			if err != nil || len(after) != 2 || after[1].Ref != list[1].Ref {
				t.Errorf("after: %+v %v", after, err)
			}
		})
	})
}

// TestSessionsAtTheLimit: a person with more live sessions than the
// profile lists (a script that signs in on every run, say) sees this
// session first even when it is the least recently used, then the most
// recently used others, SessionListLimit in all and none twice; "sign out
// everywhere else" counts and ends every other one, listed or not.
func TestSessionsAtTheLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		svc := service.New(db.DB)
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Globex", Plan: snapglyph.PlanPro}
		me, err := db.CreateOrg(ctx, org, "me@globex.test", cheapHash)
		if err != nil {
			t.Fatal(err)
		}
		here, err := svc.SignIn(ctx, me.Email, testPassword, service.Client{IP: "203.0.113.5", UserAgent: "curl/8.5.0"}, "")
		if err != nil {
			t.Fatal(err)
		}
		// 249 others, each used a second after the one before, all after
		// this session was last seen.
		const others = 249
		for i := range others {
			at := t0.Add(time.Duration(i+1) * time.Second)
			s := &snapglyph.Session{ID: fmt.Sprintf("%064x", i+1), UserID: me.ID, OrgID: org.ID, CreatedAt: at,
				LastSeenAt: at, ExpiresAt: at.Add(24 * time.Hour), IP: fmt.Sprintf("192.0.2.%d", i%250), UserAgent: fmt.Sprintf("script/%d", i)}
			if err := db.CreateSession(ctx, s, ""); err != nil {
				t.Fatal(err)
			}
		}
		clock.Set(t0.Add(time.Hour))
		list, err := svc.Sessions(ctx, here.Session)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != service.SessionListLimit {
			t.Fatalf("listed %d sessions, want %d", len(list), service.SessionListLimit)
		}
		if !list[0].Current || list[0].Ref != snapglyph.SessionRef(here.Session.ID) {
			t.Fatalf("first listed %+v, want this session", list[0])
		}
		seen := map[string]bool{}
		for i, l := range list {
			if seen[l.Ref] {
				t.Fatalf("row %d repeats a session", i)
			}
			seen[l.Ref] = true
			if i == 0 {
				continue
			}
			// The others newest first: script/248, script/247, …
			if want := fmt.Sprintf("script/%d", others-i); l.UserAgent != want || l.Current {
				t.Fatalf("row %d: %s (current %v), want %s", i, l.UserAgent, l.Current, want)
			}
		}
		if n, err := svc.OtherSessions(ctx, here.Session); err != nil || n != others {
			t.Fatalf("other sessions: %d, %v; want %d (listed or not)", n, err, others)
		}
		// The oldest other session, not listed, can still be ended by its
		// reference.
		if _, err := svc.EndSession(ctx, here.Session, snapglyph.SessionRef(fmt.Sprintf("%064x", 1))); err != nil {
			t.Fatalf("ending an unlisted session: %v", err)
		}
		if n, err := svc.SignOutOthers(ctx, here.Session); err != nil || n != others-1 {
			t.Fatalf("signed out %d, %v; want %d", n, err, others-1)
		}
		if list, err := svc.Sessions(ctx, here.Session); err != nil || len(list) != 1 || !list[0].Current {
			t.Fatalf("after signing out everywhere else: %d listed, %v", len(list), err)
		}
		if !sessionLive(svc, here.Token) {
			t.Error("this session ended")
		}
	})
}
