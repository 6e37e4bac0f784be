package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// Notifier is the sink that tells people: a notice in the dashboard for
// each Owner and Admin of the event's organisation, and a mail to each
// who did not turn the event's topic off; an invitation is mailed to its
// invitee. Handling an event twice (a node died after sending) adds no
// second notice, and a mail already sent is not sent again.
type Notifier struct {
	DB      *store.DB
	Service *service.Service // the invitation's mailed link
	// Mailer sends mail; nil: mail is off (notices still appear).
	Mailer Mailer
	// BaseURL is where people reach the dashboard (absolute, no trailing
	// slash), for the links in mail.
	BaseURL string
	Log     *slog.Logger
}

// Name implements Sink.
func (n *Notifier) Name() string { return store.SinkNotify }

// sendingStale is how long a mail may be "sending" before another node
// takes it over (its sender died): longer than one send can take.
const sendingStale = 5 * time.Minute

// Deliver implements Sink.
func (n *Notifier) Deliver(ctx context.Context, d *store.Delivery) error {
	ev := d.Event
	if ev.Kind == snapglyph.EventInvitationSent {
		return n.invitation(ctx, ev)
	}
	if snapglyph.EventTopic(ev.Kind) == "" {
		return nil // not told to people (webhooks only)
	}
	if ev.Kind == snapglyph.EventKeyCreated && ev.Str("replaces") != "" {
		return nil // a roll's new key: the api_key.rolled notice says it
	}
	org, err := n.DB.Org(ctx, ev.OrgID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil // the organisation is gone
	} else if err != nil {
		return err
	}
	rs, err := n.DB.NoticeRecipients(ctx, ev.OrgID)
	if err != nil {
		return err
	}
	topic := snapglyph.EventTopic(ev.Kind)
	roles := map[string]snapglyph.Role{}
	var add []*snapglyph.Notice
	for _, r := range rs {
		if ev.Kind == snapglyph.EventWebhookDisabled && r.Role != snapglyph.RoleOwner {
			continue // an endpoint's failure is told to the Owners
		}
		roles[r.UserID] = r.Role
		c := Compose(ev, org, r.Role)
		state := snapglyph.MailPending
		switch {
		case n.Mailer == nil:
			state = snapglyph.MailNone
		case slices.Contains(r.MailOff, topic):
			state = snapglyph.MailOff
		}
		add = append(add, &snapglyph.Notice{UserID: r.UserID, OrgID: ev.OrgID, Kind: ev.Kind, Title: c.Title, Body: c.Body, Link: c.Link, Mail: state})
	}
	notices, err := n.DB.AddNotices(ctx, ev.ID, add)
	if err != nil {
		return err
	}
	var retry error
	for _, no := range notices {
		if no.Mail != snapglyph.MailPending && no.Mail != snapglyph.MailSending {
			continue
		}
		if n.Mailer == nil {
			if err := n.DB.SetNoticeMail(ctx, no.ID, snapglyph.MailNone); err != nil {
				return err
			}
			continue
		}
		ok, err := n.DB.ClaimNoticeMail(ctx, no.ID, n.DB.Now().Add(-sendingStale))
		if err != nil {
			return errors.Join(retry, err)
		}
		if !ok {
			if no.Mail == snapglyph.MailSending {
				// Another sender holds it, or held it and died: this
				// delivery is not done until the mail is sent or
				// recorded as failed (a stale claim is taken over).
				retry = errors.Join(retry, fmt.Errorf("mail of notice %d is being sent by another attempt; looked at again later", no.ID))
			}
			continue // else: sent or given up since it was read
		}
		err = n.send(ctx, no, org, roles[no.UserID])
		state := snapglyph.MailSent
		switch {
		case err == nil:
		case IsPermanent(err):
			state = snapglyph.MailFailed
			n.warn("mail refused for good", "event", ev.ID, "kind", ev.Kind, "notice", no.ID, "err", err)
		default:
			state = snapglyph.MailPending
			retry = errors.Join(retry, fmt.Errorf("mail of notice %d: %w", no.ID, err))
		}
		// What became of the mail is recorded even if ctx ended during
		// the send (a mail sent and not recorded would never leave
		// "sending" until it is stale; one not sent would be skipped).
		if err := n.record(ctx, no.ID, state); err != nil {
			return errors.Join(retry, err)
		}
		if err := ctx.Err(); err != nil {
			return errors.Join(retry, err) // the rest waits for the next attempt
		}
	}
	return retry
}

// bookkeepingTimeout bounds what is written after a send, on a context
// that the delivery's cancellation does not end, while the database is
// away (see untilWritten).
const bookkeepingTimeout = 30 * time.Second

// record sets a notice's mail state on a context detached from ctx's
// cancellation, with its own short timeout.
func (n *Notifier) record(ctx context.Context, id int64, state string) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	return untilWritten(bctx, ctx.Done(), func() error { return n.DB.SetNoticeMail(bctx, id, state) })
}

// Abandon implements Abandoner: the mails still pending when a delivery
// is given up are marked failed.
func (n *Notifier) Abandon(ctx context.Context, d *store.Delivery, err error) {
	ns, lerr := n.DB.EventNotices(ctx, d.Event.ID)
	if lerr != nil {
		return
	}
	for _, no := range ns {
		if no.Mail == snapglyph.MailPending || no.Mail == snapglyph.MailSending {
			n.DB.SetNoticeMail(ctx, no.ID, snapglyph.MailFailed)
		}
	}
}

func (n *Notifier) warn(msg string, args ...any) {
	if n.Log != nil {
		n.Log.Warn("notify: "+msg, args...)
	}
}

// send mails a notice to its person.
func (n *Notifier) send(ctx context.Context, no *snapglyph.Notice, org *snapglyph.Org, role snapglyph.Role) error {
	if role == "" {
		role = snapglyph.RoleAdmin // left the organisation since: the footer only
	}
	p := &mailPage{
		Title:    no.Title,
		Body:     no.Body,
		URL:      n.BaseURL + no.Link,
		Button:   "Open in SnapGlyph",
		Footer:   fmt.Sprintf("You get this mail as %s of %s on SnapGlyph.", snapglyph.RoleName(role), org.Name),
		PrefsURL: n.BaseURL + "/settings/profile#mail",
	}
	text, html, err := p.render()
	if err != nil {
		return &PermanentError{err}
	}
	return n.Mailer.Send(ctx, &Message{To: no.Email, Subject: no.Title + " · " + org.Name, Text: text, HTML: html, ID: noticeMailID(org.ID, no)})
}

// noticeMailID names a notice's mail for good (Message.ID): its
// organisation's random id, its own id and when it was made — a database
// restored from a backup numbers new notices again from where the backup
// stood, and their mails must not share a Message-ID (mail systems drop
// what looks like a copy) with those sent before the restore.
func noticeMailID(orgID string, no *snapglyph.Notice) string {
	return orgID + " notice " + strconv.FormatInt(no.ID, 10) + " " + strconv.FormatInt(no.CreatedAt.UnixMilli(), 10)
}

// invitation mails an invitation's link to its invitee, if it is still
// pending. The link's token is made now (see service.InvitationMailToken):
// it is never stored in clear, so a retry mails a new link.
func (n *Notifier) invitation(ctx context.Context, ev *snapglyph.Event) error {
	if n.Mailer == nil {
		return nil
	}
	token, inv, err := n.Service.InvitationMailToken(ctx, ev.Str("invitationId"))
	switch snapglyph.ErrorKind(err) {
	case "":
	case snapglyph.ENOTFOUND, snapglyph.ECONFLICT:
		return nil // cancelled, accepted or expired since: nothing to send
	default:
		return err
	}
	by := ev.Str("actor")
	if by == "" || strings.HasPrefix(ev.Str("actorId"), "operator") {
		by = "The operator"
	}
	p := &mailPage{
		Title: fmt.Sprintf("%s invited you to join %s on SnapGlyph", by, inv.OrgName),
		Body: fmt.Sprintf("%s invited you to join %s on SnapGlyph as %s %s. The link below is yours alone and works until %s; open it to accept.",
			by, inv.OrgName, article(inv.Role), snapglyph.RoleName(inv.Role), when(inv.ExpiresAt)),
		URL:    n.BaseURL + "/invite/" + token,
		Button: "Accept the invitation",
		Footer: "If you did not expect this invitation, ignore this mail: nothing happens unless the link is opened and accepted.",
	}
	text, html, err := p.render()
	if err != nil {
		return &PermanentError{err}
	}
	return n.Mailer.Send(ctx, &Message{To: inv.Email, Subject: p.Title, Text: text, HTML: html})
}

func article(r snapglyph.Role) string {
	if r == snapglyph.RoleAdmin || r == snapglyph.RoleOwner {
		return "an"
	}
	return "a"
}
