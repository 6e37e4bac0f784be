package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

// deliver runs the node's outbox deliverer until every delivery is done
// (the node's own deliverer loop may be handling one at the same time).
func (e *env) deliver() {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := e.node.Deliverer.RunOnce(ctx); err != nil {
			e.t.Fatal(err)
		}
		n, err := e.db.PendingDeliveries(ctx, store.SinkNotify)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatal("the outbox never emptied")
}

var bellCount = regexp.MustCompile(`<span class="count" title="(\d+) unread">`)

// bell returns the unread count the sidebar's bell shows (0 if none).
func bell(t *testing.T, p *page) int {
	t.Helper()
	m := bellCount.FindStringSubmatch(p.Body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var noticeIDs = regexp.MustCompile(`<li class="notice( unread)?" id="notice-(\d+)"`)

// TestNotificationsInTheDashboard: key changes made in the dashboard
// become notices for the Owner and the Admin; the bell counts the unread
// ones (as many as the events, counted in the database), opening one marks
// it read and goes to its key, and nobody can open another's.
func TestNotificationsInTheDashboard(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, ownerEmail := e.org(snapglyph.PlanPro)
		adminEmail, memberEmail := e.member(org, snapglyph.RoleAdmin), e.member(org, snapglyph.RoleMember)
		owner, admin, member := e.browser(), e.browser(), e.browser()
		owner.signIn(ownerEmail)
		admin.signIn(adminEmail)
		member.signIn(memberEmail)

		owner.createKey("Production-WebApp")
		id := keyID(t, owner.get("/settings/api").Body, "Production-WebApp")
		expectStatus(t, owner.post("/settings/api/keys/"+id+"/pause", nil), http.StatusSeeOther)
		e.deliver()

		events, err := db.Events(ctx, org.ID, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, ev := range events {
			if snapglyph.EventTopic(ev.Kind) != "" {
				want++
			}
		}
		if want != 2 {
			t.Fatalf("%d events told to people, want 2 (created, paused)", want)
		}
		for _, b := range []*browser{owner, admin} {
			p := b.get("/qr-codes")
			if n := bell(t, p); n != want {
				t.Errorf("the bell shows %d, the database has %d events", n, want)
			}
			list := b.get("/notices")
			expectStatus(t, list, http.StatusOK)
			expectContains(t, list, "API key Production-WebApp paused", "API key Production-WebApp created", "2 unread", "Mark all as read")
			if n := len(noticeIDs.FindAllStringSubmatch(list.Body, -1)); n != want {
				t.Errorf("the list shows %d notices, want %d", n, want)
			}
		}
		if p := member.get("/notices"); bell(t, p) != 0 || len(noticeIDs.FindAllString(p.Body, -1)) != 0 {
			t.Errorf("the Member sees notices")
		}

		// Open the newest: read, and to the key's row.
		m := noticeIDs.FindStringSubmatch(owner.get("/notices").Body)
		p := owner.post("/notices/"+m[2]+"/read", nil)
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/settings/api/keys/"+id {
			t.Errorf("opened to %q", loc)
		}
		if n := bell(t, owner.get("/qr-codes")); n != want-1 {
			t.Errorf("the bell shows %d after opening one, want %d", n, want-1)
		}
		if n := bell(t, admin.get("/qr-codes")); n != want {
			t.Errorf("the Admin's bell moved to %d", n)
		}
		// Another person's notice, and ids that are none.
		adminNotice := noticeIDs.FindStringSubmatch(admin.get("/notices").Body)[2]
		for _, bad := range []string{adminNotice, "0", "-1", "abc", "99999999999999999999"} {
			expectStatus(t, owner.post("/notices/"+bad+"/read", nil), http.StatusNotFound)
		}
		if n := bell(t, admin.get("/qr-codes")); n != want {
			t.Errorf("the owner's attempt changed the Admin's bell to %d", n)
		}
		expectStatus(t, owner.get("/notices?before=abc"), http.StatusBadRequest)

		p = owner.follow(owner.post("/notices/read-all", nil))
		expectContains(t, p, "Marked 1 notification as read.", "All read")
		if bell(t, p) != 0 {
			t.Error("the bell still counts after reading all")
		}
		// A revoked key's notice opens the key's page, which shows it (the
		// key list leaves revoked keys out).
		expectStatus(t, owner.post("/settings/api/keys/"+id+"/revoke", nil), http.StatusSeeOther)
		e.deliver()
		m = noticeIDs.FindStringSubmatch(owner.get("/notices").Body)
		p = owner.follow(owner.post("/notices/"+m[2]+"/read", nil))
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Production-WebApp", "Revoked on")

		// Signed out: no notices.
		anon := e.browser()
		if p := anon.get("/notices"); p.StatusCode != http.StatusSeeOther {
			t.Errorf("signed out: %d", p.StatusCode)
		}
	})
}

// TestMailPreferencesAndLeakSetting: the profile saves which notices come
// by mail (an unknown topic is refused and changes nothing), and Owners
// and Admins choose in Company settings whether a leaked key is paused or
// revoked (a Member cannot).
func TestMailPreferencesAndLeakSetting(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db, func(d *web.Deps) { d.MailOn = true })
		ctx := context.Background()
		org, ownerEmail := e.org(snapglyph.PlanPro)
		memberEmail := e.member(org, snapglyph.RoleMember)
		owner, member := e.browser(), e.browser()
		owner.signIn(ownerEmail)
		member.signIn(memberEmail)
		u, _, err := db.UserByEmail(ctx, ownerEmail)
		if err != nil {
			t.Fatal(err)
		}

		p := owner.get("/settings/profile")
		expectContains(t, p, "Notifications by mail", "Choose which also come by mail to "+ownerEmail)
		expectNotContains(t, p, "This server sends no mail")
		if n := len(regexp.MustCompile(`name="topic" value="[a-z]+" checked`).FindAllString(p.Body, -1)); n != len(snapglyph.MailTopics) {
			t.Fatalf("%d topics checked, want all %d", n, len(snapglyph.MailTopics))
		}
		p = owner.follow(owner.post("/settings/profile/mail", url.Values{"topic": {"leaks", "usage", "webhooks"}}))
		expectContains(t, p, "Your mail preferences are saved.")
		off, _ := db.MailOff(ctx, u.ID)
		if want := []string{"expiry", "keys", "trial"}; len(off) != 3 || off[0] != want[0] || off[1] != want[1] || off[2] != want[2] {
			t.Fatalf("mail off for %v, want %v", off, want)
		}
		if n := len(regexp.MustCompile(`name="topic" value="[a-z]+" checked`).FindAllString(p.Body, -1)); n != 3 {
			t.Errorf("%d topics checked after saving three", n)
		}
		for _, bad := range []url.Values{{"topic": {"leaks", "bogus"}}, {"topic": {"<script>"}}, {"topic": {"le\x00aks"}}, {"topic": {"\xff"}}} {
			p := owner.post("/settings/profile/mail", bad)
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectNotContains(t, p, "<script>")
		}
		if off2, _ := db.MailOff(ctx, u.ID); len(off2) != 3 {
			t.Errorf("a refused form changed the preferences to %v", off2)
		}
		// Nothing checked: no mail at all.
		owner.post("/settings/profile/mail", url.Values{})
		if off, _ := db.MailOff(ctx, u.ID); len(off) != len(snapglyph.MailTopics) {
			t.Errorf("mail off for %v after unchecking everything", off)
		}

		p = owner.get("/settings/company")
		expectContains(t, p, `value="paused" checked`, "Leaked keys")
		p = owner.follow(owner.post("/settings/company/leaks", url.Values{"leak_action": {"revoked"}}))
		expectContains(t, p, "A key found in public will now be revoked at once.", `value="revoked" checked`)
		if a, _ := db.LeakAction(ctx, org.ID); a != snapglyph.LeakRevoke {
			t.Fatalf("leak action %q", a)
		}
		expectStatus(t, owner.post("/settings/company/leaks", url.Values{"leak_action": {"deleted"}}), http.StatusUnprocessableEntity)
		expectStatus(t, member.post("/settings/company/leaks", url.Values{"leak_action": {"paused"}}), http.StatusForbidden)
		if a, _ := db.LeakAction(ctx, org.ID); a != snapglyph.LeakRevoke {
			t.Fatalf("a refused form changed the leak action to %q", a)
		}
		// With mail on, the invitation's dialog says a link is mailed too.
		p = owner.post("/settings/company/invitations", url.Values{"email": {"new.person@acme.test"}, "role": {"member"}})
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "We are mailing <strong>new.person@acme.test</strong> a link of their own")
		audit := owner.get("/settings/audit")
		expectContains(t, audit, "Changed what happens to leaked keys", "a key found in public is revoked")
	})
}
