package notify_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// checkAllMailedOnce fails unless the Owner and the Admin each got
// exactly one mail, their notices say sent, and the event is done.
func (f *fixture) checkAllMailedOnce(ctx context.Context) {
	f.t.Helper()
	for _, u := range []*snapglyph.User{f.owner, f.admin} {
		if n := len(f.mailsTo(u.Email)); n != 1 {
			f.t.Errorf("%s got %d mails, want 1", u.Email, n)
		}
		if ns := f.notices(u); len(ns) != 1 || ns[0].Mail != snapglyph.MailSent {
			f.t.Errorf("%s: notices %s, want one sent", u.Email, mailStates(ns))
		}
	}
	evs, err := f.db.Events(ctx, f.org.ID, snapglyph.EventKeyCreated, 1)
	if err != nil || len(evs) != 1 {
		f.t.Fatalf("events %v %v", evs, err)
	}
	if st, err := f.db.DeliveryState(ctx, evs[0].ID, store.SinkNotify); err != nil || st.DoneAt.IsZero() {
		f.t.Errorf("delivery %+v %v, want done", st, err)
	}
}

func mailStates(ns []*snapglyph.Notice) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Mail)
	}
	return out
}

// TestCancelDuringDataRetriesTheMail: the delivery's context ends while
// the SMTP server holds the message's DATA (and the connection is cut, so
// nothing was accepted). The mail is recorded as still to send, not left
// "sending", and the next attempt sends it: each person gets it once.
func TestCancelDuringDataRetriesTheMail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		var cut atomic.Bool
		f := newFixture(t, db, smtptest.Config{BeforeAnswer: func(smtptest.Message) bool {
			if cut.CompareAndSwap(false, true) {
				// The node stops while the server holds DATA; the
				// connection is then cut without an answer.
				stop()
				return false
			}
			return true
		}})
		if _, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		d := f.deliverer("n1", nil, f.mailer)
		if n, err := d.RunOnce(runCtx); n != 1 {
			t.Fatalf("%d deliveries, want 1: %v", n, err)
		}
		if !cut.Load() {
			t.Fatalf("the server never held a message; log:\n%s", f.logs)
		}
		if n := len(f.smtp.Messages()); n != 0 {
			t.Fatalf("%d mails accepted despite the cut", n)
		}
		for _, u := range []*snapglyph.User{f.owner, f.admin} {
			if ns := f.notices(u); len(ns) != 1 || ns[0].Mail != snapglyph.MailPending {
				t.Fatalf("%s after the stop: %s, want the mail pending", u.Email, mailStates(ns))
			}
		}
		// Another node (or this one, restarted) takes the event at once.
		if n := f.drain(f.deliverer("n2", nil, f.mailer)); n != 1 {
			t.Fatalf("%d deliveries after the stop, want 1", n)
		}
		f.checkAllMailedOnce(ctx)
	})
}

// cancelAfterSend sends through a mailer, then ends the delivery's
// context once: the mail went out, the bookkeeping comes after.
type cancelAfterSend struct {
	notify.Mailer
	once sync.Once
	stop context.CancelFunc
}

func (m *cancelAfterSend) Send(ctx context.Context, msg *notify.Message) error {
	err := m.Mailer.Send(ctx, msg)
	m.once.Do(m.stop)
	return err
}

// TestCancelAfterSendRecordsIt: a mail the server accepted just before the
// delivery's context ended is recorded as sent (on a context of its own)
// and never sent again.
func TestCancelAfterSendRecordsIt(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, smtptest.Config{})
		if _, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		d := f.deliverer("n1", nil, &cancelAfterSend{Mailer: f.mailer, stop: stop})
		d.RunOnce(runCtx)
		if ns := f.notices(f.owner); len(ns) != 1 || ns[0].Mail != snapglyph.MailSent {
			t.Fatalf("the owner's notice after a send and a stop: %s, want sent", mailStates(ns))
		}
		if n := len(f.smtp.Messages()); n != 1 {
			t.Fatalf("%d mails, want 1 (the stop came after the first)", n)
		}
		f.drain(f.deliverer("n2", nil, f.mailer))
		f.checkAllMailedOnce(ctx)
	})
}

// failingMailer refuses every message for a reason that may pass.
type failingMailer struct{}

func (failingMailer) Send(context.Context, *notify.Message) error {
	return errors.New("smtp: connection refused")
}

// TestMailBeingSentElsewhereIsWaitedFor: a mail another attempt claimed
// (and whose sender died) keeps the delivery open; once the claim is
// stale it is taken over and sent. The event is not marked done with the
// mail unsent.
func TestMailBeingSentElsewhereIsWaitedFor(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, smtptest.Config{})
		if _, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		f.drain(f.deliverer("n1", nil, failingMailer{})) // notices made, mails pending
		owner := f.notices(f.owner)
		if len(owner) != 1 || owner[0].Mail != snapglyph.MailPending {
			t.Fatalf("owner's notice %+v", owner)
		}
		// A sender claims the owner's mail and dies.
		if ok, err := db.ClaimNoticeMail(ctx, owner[0].ID, f.clock.Now().Add(-time.Minute)); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
		d := f.deliverer("n2", nil, f.mailer)
		f.clock.Set(f.clock.Now().Add(notify.Backoff(1)))
		if n := f.drain(d); n != 1 {
			t.Fatalf("%d deliveries after the backoff, want 1", n)
		}
		if n := len(f.mailsTo(f.owner.Email)); n != 0 {
			t.Fatalf("the owner got %d mails while another sender held it", n)
		}
		evs, _ := db.Events(ctx, f.org.ID, snapglyph.EventKeyCreated, 1)
		if st, _ := db.DeliveryState(ctx, evs[0].ID, store.SinkNotify); !st.DoneAt.IsZero() {
			t.Fatalf("the event is done with the owner's mail unsent: %+v", st)
		}
		// Past the stale time and the backoff: taken over and sent.
		f.clock.Set(f.clock.Now().Add(notify.Backoff(2) + 6*time.Minute))
		if n := f.drain(d); n != 1 {
			t.Fatalf("%d deliveries after the claim went stale, want 1", n)
		}
		f.checkAllMailedOnce(ctx)
	})
}
