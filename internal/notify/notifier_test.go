package notify_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

const baseURL = "https://qr.example.test"

// fixture is an organisation with an Owner, an Admin and a Member, a
// service, a test SMTP server and a deliverer that mails through it.
type fixture struct {
	t                    *testing.T
	db                   *testdb.DB
	clock                *testdb.Clock
	svc                  *service.Service
	smtp                 *smtptest.Server
	mailer               *notify.SMTP
	org                  *snapglyph.Org
	owner, admin, member *snapglyph.User
	logs                 *testdb.Buffer
}

func newFixture(t *testing.T, db *testdb.DB, cfg smtptest.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, clock: testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)), logs: &testdb.Buffer{}}
	db.Now = f.clock.Now
	f.svc = service.New(db.DB)
	f.smtp = newSMTPServer(t, cfg)
	var err error
	if f.mailer, err = notify.NewSMTP("smtp://"+f.smtp.Addr, "SnapGlyph <noreply@snapglyph.test>"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f.org = &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme & Co", Plan: snapglyph.PlanPro}
	tag := strings.ToLower(snapglyph.NewID("")[1:9])
	if f.owner, err = db.CreateOrg(ctx, f.org, "owner-"+tag+"@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	if f.admin, err = db.AddMember(ctx, f.org.ID, "admin-"+tag+"@acme.test", snapglyph.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if f.member, err = db.AddMember(ctx, f.org.ID, "member-"+tag+"@acme.test", snapglyph.RoleMember); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) actor(u *snapglyph.User) snapglyph.Actor {
	return snapglyph.Actor{UserID: u.ID, Label: u.Email, IP: "192.0.2.9"}
}

// deliverer returns a deliverer of node name over db (f.db if nil) that
// mails through mailer (nil: mail off).
func (f *fixture) deliverer(name string, db *store.DB, mailer notify.Mailer) *notify.Deliverer {
	if db == nil {
		db = f.db.DB
	}
	log := slog.New(slog.NewTextHandler(f.logs, nil))
	svc := service.New(db)
	return &notify.Deliverer{DB: db, Node: name, Log: log,
		Sinks: []notify.Sink{&notify.Notifier{DB: db, Service: svc, Mailer: mailer, BaseURL: baseURL, Log: log}}}
}

// drain runs d until nothing is due.
func (f *fixture) drain(d *notify.Deliverer) int {
	f.t.Helper()
	total := 0
	for i := 0; i < 100; i++ {
		n, err := d.RunOnce(context.Background())
		if err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	f.t.Fatal("the outbox never emptied")
	return 0
}

func (f *fixture) notices(u *snapglyph.User) []*snapglyph.Notice {
	f.t.Helper()
	ns, err := f.db.Notices(context.Background(), u.ID, f.org.ID, 0, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	return ns
}

// mailsTo returns the received messages to an address, parsed.
func (f *fixture) mailsTo(addr string) []parsed {
	f.t.Helper()
	var out []parsed
	for _, m := range f.smtp.Messages() {
		if len(m.To) == 1 && m.To[0] == addr {
			out = append(out, parse(f.t, m))
		}
	}
	return out
}

// TestNotifierTellsOwnersAndAdmins: a key created and paused gives each
// Owner and Admin a notice and a mail (two parts, the dashboard link, the
// name escaped in HTML), and the Member nothing; running again sends
// nothing more.
func TestNotifierTellsOwnersAndAdmins(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{})
		ctx := context.Background()
		k, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Web <b>shop</b>")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PauseKey(ctx, f.actor(f.admin), k.ID); err != nil {
			t.Fatal(err)
		}
		d := f.deliverer("n1", nil, f.mailer)
		if n := f.drain(d); n != 2 {
			t.Fatalf("%d deliveries, want 2", n)
		}
		for _, u := range []*snapglyph.User{f.owner, f.admin} {
			ns := f.notices(u)
			if len(ns) != 2 || ns[0].Kind != snapglyph.EventKeyPaused || ns[1].Kind != snapglyph.EventKeyCreated {
				t.Fatalf("%s: notices %+v", u.Email, ns)
			}
			if ns[0].Title != "API key Web <b>shop</b> paused" || !strings.Contains(ns[0].Body, f.admin.Email+" paused the API key Web <b>shop</b> ("+k.Prefix+"...) of Acme & Co") ||
				ns[0].Link != "/settings/api/keys/"+k.ID || ns[0].Mail != snapglyph.MailSent || !ns[0].ReadAt.IsZero() {
				t.Errorf("%s: notice %+v", u.Email, ns[0])
			}
			mails := f.mailsTo(u.Email)
			if len(mails) != 2 {
				t.Fatalf("%s got %d mails, want 2", u.Email, len(mails))
			}
			var paused *parsed
			for i := range mails {
				if strings.Contains(mails[i].subject, "paused") {
					paused = &mails[i]
				}
			}
			if paused == nil || paused.subject != "API key Web <b>shop</b> paused · Acme & Co" {
				t.Fatalf("%s: subjects %q, %q", u.Email, mails[0].subject, mails[1].subject)
			}
			link := baseURL + "/settings/api/keys/" + k.ID
			if !strings.Contains(paused.text, "Open in SnapGlyph: "+link) || !strings.Contains(paused.text, baseURL+"/settings/profile#mail") {
				t.Errorf("text part:\n%s", paused.text)
			}
			if !strings.Contains(paused.html, `href="`+link+`"`) || !strings.Contains(paused.html, "Web &lt;b&gt;shop&lt;/b&gt;") || strings.Contains(paused.html, "<b>shop") {
				t.Errorf("html part:\n%s", paused.html)
			}
		}
		if ns := f.notices(f.member); len(ns) != 0 {
			t.Errorf("the Member got %d notices", len(ns))
		}
		if n := len(f.mailsTo(f.member.Email)); n != 0 {
			t.Errorf("the Member got %d mails", n)
		}
		if n := f.drain(d); n != 0 || len(f.smtp.Messages()) != 4 {
			t.Errorf("a second run delivered %d and %d mails exist, want 0 and 4", n, len(f.smtp.Messages()))
		}
	})
}

// TestNotifierPreferencesAndMailOff: a topic turned off gives a notice
// without mail; without SMTP every notice still appears.
func TestNotifierPreferencesAndMailOff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{})
		ctx := context.Background()
		if err := f.svc.SetMailPreferences(ctx, f.actor(f.admin), []string{"leaks", "usage", "trial", "expiry", "webhooks"}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetMailPreferences(ctx, f.actor(f.admin), []string{"keys", "bogus"}); snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(err.Error(), `"bogus"`) {
			t.Fatalf("an unknown topic: %v", err)
		}
		if off, _ := f.svc.MailPreferences(ctx, f.actor(f.admin)); len(off) != 1 || off[0] != "keys" {
			t.Fatalf("preferences after a refused change: %v", off)
		}
		if _, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		f.drain(f.deliverer("n1", nil, f.mailer))
		if ns := f.notices(f.admin); len(ns) != 1 || ns[0].Mail != snapglyph.MailOff {
			t.Fatalf("admin notices %+v", ns)
		}
		if len(f.mailsTo(f.admin.Email)) != 0 || len(f.mailsTo(f.owner.Email)) != 1 {
			t.Fatalf("mails: admin %d, owner %d", len(f.mailsTo(f.admin.Email)), len(f.mailsTo(f.owner.Email)))
		}
		// No SMTP: notices all the same, marked so.
		if _, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Zapier"); err != nil {
			t.Fatal(err)
		}
		f.drain(f.deliverer("n1", nil, nil))
		if ns := f.notices(f.owner); len(ns) != 2 || ns[0].Mail != snapglyph.MailNone {
			t.Fatalf("owner notices %+v", ns)
		}
		if n := len(f.smtp.Messages()); n != 1 {
			t.Fatalf("%d mails", n)
		}
	})
}

// TestNotifierRetriesUntilDelivered: a server that answers 451 twice makes
// the delivery wait for its backoff and try again; each person then gets
// the mail once. A recipient refused for good (550) is not tried again.
func TestNotifierRetriesUntilDelivered(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{FailFirst: 2})
		ctx := context.Background()
		k, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		d := f.deliverer("n1", nil, f.mailer)
		if n := f.drain(d); n != 1 {
			t.Fatalf("%d deliveries", n)
		}
		if n := len(f.smtp.Messages()); n != 0 {
			t.Fatalf("%d mails despite the 451s", n)
		}
		evs, _ := db.Events(ctx, f.org.ID, snapglyph.EventKeyCreated, 1)
		st, _ := db.DeliveryState(ctx, evs[0].ID, store.SinkNotify)
		if st.Attempts != 1 || !st.DoneAt.IsZero() || !st.NextAt.Equal(f.clock.Now().Add(notify.Backoff(1))) || !strings.Contains(st.LastError, "451") {
			t.Fatalf("after a failure: %+v", st)
		}
		if n := f.drain(d); n != 0 {
			t.Fatal("tried again before the backoff")
		}
		f.clock.Set(f.clock.Now().Add(notify.Backoff(1)))
		if n := f.drain(d); n != 1 {
			t.Fatalf("%d deliveries after the backoff", n)
		}
		for _, u := range []*snapglyph.User{f.owner, f.admin} {
			if n := len(f.mailsTo(u.Email)); n != 1 {
				t.Errorf("%s got %d mails, want 1", u.Email, n)
			}
		}
		st, _ = db.DeliveryState(ctx, evs[0].ID, store.SinkNotify)
		if st.Attempts != 2 || st.DoneAt.IsZero() {
			t.Fatalf("after the retry: %+v", st)
		}
		if !strings.Contains(f.logs.String(), "attempt 1") {
			t.Errorf("the failed attempt is not in the log:\n%s", f.logs)
		}

		// 550 for the admin: done at once, the owner still mailed.
		reject := newSMTPServer(t, smtptest.Config{Reject: map[string]bool{f.admin.Email: true}})
		m, _ := notify.NewSMTP("smtp://"+reject.Addr, "noreply@snapglyph.test")
		if _, err := f.svc.RevokeKey(ctx, snapglyph.Operator, k.ID); err != nil {
			t.Fatal(err)
		}
		if n := f.drain(f.deliverer("n1", nil, m)); n != 1 {
			t.Fatalf("%d deliveries", n)
		}
		if got := reject.Messages(); len(got) != 1 || got[0].To[0] != f.owner.Email {
			t.Fatalf("messages %+v", got)
		}
		if ns := f.notices(f.admin); ns[0].Mail != snapglyph.MailFailed {
			t.Errorf("admin's refused mail is %q", ns[0].Mail)
		}
	})
}

// TestTwoNodesDeliverOnce: two nodes running their deliverers at the same
// time over the same outbox send each mail once and make each notice once.
func TestTwoNodesDeliverOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{})
		ctx := context.Background()
		k, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		const rounds = 20 // 40 more events: paused, resumed, …
		for i := 0; i < rounds; i++ {
			if _, err := f.svc.PauseKey(ctx, snapglyph.Operator, k.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.ResumeKey(ctx, snapglyph.Operator, k.ID); err != nil {
				t.Fatal(err)
			}
		}
		events := 1 + 2*rounds
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			h, err := store.Open(db.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			h.Now = f.clock.Now
			d := f.deliverer(fmt.Sprintf("node%d", i), h, f.mailer)
			d.Batch = 3
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := 0; round < 200; round++ {
					n, err := d.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					counts[i] += n
					if n == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if counts[0]+counts[1] != events {
			t.Fatalf("deliveries %v, want %d in all", counts, events)
		}
		t.Logf("deliveries per node: %v", counts)
		msgs := f.smtp.Messages()
		if len(msgs) != 2*events {
			t.Fatalf("%d mails, want %d", len(msgs), 2*events)
		}
		for _, u := range []*snapglyph.User{f.owner, f.admin} {
			ns := f.notices(u)
			if len(ns) != events {
				t.Errorf("%s has %d notices, want %d", u.Email, len(ns), events)
			}
			for _, n := range ns {
				if n.Mail != snapglyph.MailSent {
					t.Errorf("notice %d: mail %s", n.ID, n.Mail)
				}
			}
			if n := len(f.mailsTo(u.Email)); n != events {
				t.Errorf("%s got %d mails, want %d", u.Email, n, events)
			}
		}
	})
}

// TestInvitationMail: an invitation is mailed to its invitee with a link
// of its own that works, beside the link shown when it was made; a link
// cancelled before the mail goes is not mailed.
func TestInvitationMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{})
		ctx := context.Background()
		ni, err := f.svc.Invite(ctx, f.actor(f.owner), f.org.ID, "new.person@acme.test", "admin")
		if err != nil {
			t.Fatal(err)
		}
		gone, err := f.svc.Invite(ctx, f.actor(f.owner), f.org.ID, "gone@acme.test", "member")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CancelInvitation(ctx, f.actor(f.owner), f.org.ID, gone.ID); err != nil {
			t.Fatal(err)
		}
		f.drain(f.deliverer("n1", nil, f.mailer))
		mails := f.mailsTo("new.person@acme.test")
		if len(mails) != 1 || len(f.smtp.Messages()) != 1 {
			t.Fatalf("%d mails to the invitee, %d in all", len(mails), len(f.smtp.Messages()))
		}
		m := mails[0]
		if m.subject != f.owner.Email+" invited you to join Acme & Co on SnapGlyph" || !strings.Contains(m.text, "as an Admin") {
			t.Errorf("subject %q\n%s", m.subject, m.text)
		}
		link := regexp.MustCompile(regexp.QuoteMeta(baseURL) + `/invite/([A-Za-z0-9_-]{43})`).FindStringSubmatch(m.text)
		if link == nil || !strings.Contains(m.html, link[0]) {
			t.Fatalf("no link in\n%s", m.text)
		}
		if link[1] == ni.Token {
			t.Fatal("the mail carries the token shown on the page")
		}
		for _, tok := range []string{link[1], ni.Token} {
			inv, _, err := f.svc.Invitation(ctx, tok)
			if err != nil || inv.ID != ni.ID {
				t.Fatalf("token %q: %v", tok, err)
			}
		}
		// The mailed token is not stored in clear.
		var clear int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM invitations WHERE mail_token_hash = '` + link[1] + `' OR token_hash = '` + link[1] + `'`).Scan(&clear); err != nil || clear != 0 {
			t.Fatalf("token in clear: %d %v", clear, err)
		}
		if db.Dialect != "sqlite" {
			return // the same query on both; accepting hashes a password (slow)
		}
		if _, err := f.svc.AcceptInvitation(ctx, link[1], service.Accept{Name: "New Person", Password: "a long password 123"}, service.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
	})
}
