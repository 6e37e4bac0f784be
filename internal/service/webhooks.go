package service

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// WebhookPolicy is where webhooks may be delivered.
type WebhookPolicy struct {
	// AllowInsecureLocal permits http:// URLs and loopback addresses
	// (serve --webhook-allow-insecure-local), for local development and
	// tests. Other private addresses stay refused.
	AllowInsecureLocal bool
	// Resolve looks a host name up (nil: the system's resolver).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// resolveTimeout bounds the look-up of an endpoint's host at creation.
const resolveTimeout = 5 * time.Second

// CheckURL checks an endpoint URL: its form (snapglyph.ParseWebhookURL)
// and, for a host name, every address it resolves to now. The same
// check runs again on the address each delivery connects to, since a
// name may resolve elsewhere later. Returns EINVALID.
func (p WebhookPolicy) CheckURL(ctx context.Context, raw string) error {
	u, err := snapglyph.ParseWebhookURL(raw, p.AllowInsecureLocal)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil {
		return nil // checked by ParseWebhookURL
	}
	resolve := p.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := resolve(ctx, host)
	if err != nil || len(addrs) == 0 {
		msg := "it has no address"
		if err != nil {
			msg = err.Error()
			if de, ok := err.(*net.DNSError); ok {
				msg = de.Err
			}
		}
		return snapglyph.Errorf(snapglyph.EINVALID, "the endpoint's host %q cannot be resolved (%s); webhooks need a publicly reachable URL", host, msg)
	}
	for _, a := range addrs {
		if err := snapglyph.CheckWebhookHostAddr(host, a, p.AllowInsecureLocal); err != nil {
			return err
		}
	}
	return nil
}

// newWebhookSecret makes a signing secret: whsec_ and 256 random bits.
func newWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b)
}

// authorizeWebhooks checks that actor may manage the organisation's
// webhooks: Owners and Admins (the operator too); with needPlan, only on
// the Max plan (an endpoint made before a downgrade may still be listed
// and deleted). Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) authorizeWebhooks(ctx context.Context, actor snapglyph.Actor, orgID string, needPlan bool) error {
	role, err := s.role(ctx, actor, orgID)
	if err != nil {
		return err
	}
	if role != snapglyph.RoleOwner && role != snapglyph.RoleAdmin {
		return snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only Owners and Admins can manage webhooks")
	}
	if !needPlan {
		return nil
	}
	org, err := s.db.Org(ctx, orgID)
	if err != nil {
		return err
	}
	if p := org.EffectivePlan(s.db.Now()); p != snapglyph.PlanMax {
		return snapglyph.Codef(snapglyph.EFORBIDDEN, "webhooks_not_in_plan", "webhooks are part of the Max plan; %s is on %s", org.Name, p)
	}
	return nil
}

// HasWebhooks reports whether the organisation's plan has webhooks now.
func (s *Service) HasWebhooks(ctx context.Context, orgID string) (bool, error) {
	org, err := s.db.Org(ctx, orgID)
	if err != nil {
		return false, err
	}
	return org.EffectivePlan(s.db.Now()) == snapglyph.PlanMax, nil
}

// CreateWebhook adds an endpoint for the events (snapglyph.WebhookEvents
// names) and returns it with its signing secret, which is shown this
// once. Owners and Admins, Max plan. Returns EINVALID (the URL, an event),
// ENOTFOUND, EFORBIDDEN; nothing is stored then.
func (s *Service) CreateWebhook(ctx context.Context, actor snapglyph.Actor, orgID, rawURL string, events []string) (*snapglyph.Webhook, error) {
	return s.CreateWebhookOnce(ctx, actor, orgID, rawURL, events, "")
}

// CreateWebhookOnce is CreateWebhook for a form that may be sent twice
// (Back, then Create): a non-empty nonce creates at most one endpoint,
// and the second time returns ECONFLICT (webhook_already_created). A
// nonce longer than 64 bytes is ignored, as for a key's; one that is not
// text is refused (EINVALID).
func (s *Service) CreateWebhookOnce(ctx context.Context, actor snapglyph.Actor, orgID, rawURL string, events []string, nonce string) (*snapglyph.Webhook, error) {
	if len(nonce) > 64 {
		nonce = ""
	}
	if err := snapglyph.CheckText("nonce", nonce); err != nil {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the form's one-time value is not valid; reload the page and try again")
	}
	evs, err := snapglyph.ParseWebhookEvents(events)
	if err != nil {
		return nil, err
	}
	if _, err := snapglyph.ParseWebhookURL(rawURL, s.Webhooks.AllowInsecureLocal); err != nil {
		return nil, err
	}
	if err := s.authorizeWebhooks(ctx, actor, orgID, true); err != nil {
		return nil, err
	}
	if err := s.Webhooks.CheckURL(ctx, rawURL); err != nil {
		return nil, err
	}
	w := &snapglyph.Webhook{ID: snapglyph.NewID("wh"), OrgID: orgID, URL: rawURL, Events: evs, Secret: newWebhookSecret()}
	if err := s.db.CreateWebhook(ctx, w, actor, nonce); err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks returns the organisation's endpoints, without secrets.
// Owners and Admins. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) ListWebhooks(ctx context.Context, actor snapglyph.Actor, orgID string) ([]*snapglyph.Webhook, error) {
	if err := s.authorizeWebhooks(ctx, actor, orgID, false); err != nil {
		return nil, err
	}
	return s.db.Webhooks(ctx, orgID)
}

// webhook reads an endpoint the actor may manage: of orgID when it is
// set (another organisation's is not found), and checks the actor's role
// (and the plan, with needPlan). Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) webhook(ctx context.Context, actor snapglyph.Actor, orgID, id string, needPlan bool) (*snapglyph.Webhook, error) {
	if msg := snapglyph.TextProblem(id); msg != "" || len(id) > 64 {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no webhook endpoint has that id")
	}
	w, err := s.db.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if orgID != "" && w.OrgID != orgID {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no webhook endpoint has the id %s", snapglyph.QuoteID(id))
	}
	if err := s.authorizeWebhooks(ctx, actor, w.OrgID, needPlan); err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no webhook endpoint has the id %s", snapglyph.QuoteID(id))
		}
		return nil, err
	}
	return w, nil
}

// Webhook returns one endpoint of the organisation (orgID "" for the
// operator: any). Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) Webhook(ctx context.Context, actor snapglyph.Actor, orgID, id string) (*snapglyph.Webhook, error) {
	return s.webhook(ctx, actor, orgID, id, false)
}

// DeleteWebhook deletes an endpoint, its log and what it still had to
// deliver. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) DeleteWebhook(ctx context.Context, actor snapglyph.Actor, orgID, id string) (*snapglyph.Webhook, error) {
	w, err := s.webhook(ctx, actor, orgID, id, false)
	if err != nil {
		return nil, err
	}
	return w, s.db.DeleteWebhook(ctx, w, actor)
}

// RotateWebhookSecret gives an endpoint a new signing secret and returns
// the endpoint with it (shown this once); the old one signs nothing more.
// Max plan. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) RotateWebhookSecret(ctx context.Context, actor snapglyph.Actor, orgID, id string) (*snapglyph.Webhook, error) {
	w, err := s.webhook(ctx, actor, orgID, id, true)
	if err != nil {
		return nil, err
	}
	if err := s.db.RotateWebhookSecret(ctx, w, newWebhookSecret(), actor); err != nil {
		return nil, err
	}
	return w, nil
}

// EnableWebhook turns an endpoint disabled after failing on again. Max
// plan. Returns ENOTFOUND, EFORBIDDEN, ECONFLICT (already on).
func (s *Service) EnableWebhook(ctx context.Context, actor snapglyph.Actor, orgID, id string) (*snapglyph.Webhook, error) {
	w, err := s.webhook(ctx, actor, orgID, id, true)
	if err != nil {
		return nil, err
	}
	return w, s.db.EnableWebhook(ctx, w, actor)
}

// WebhookAttempts returns an endpoint's delivery log, newest first (see
// store.WebhookAttempts). Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) WebhookAttempts(ctx context.Context, actor snapglyph.Actor, orgID, id string, before int64, limit int) ([]*snapglyph.WebhookAttempt, error) {
	w, err := s.webhook(ctx, actor, orgID, id, false)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.db.WebhookAttempts(ctx, w.ID, before, limit)
}

// ResendWebhook delivers an event to an endpoint again, now, with a new
// run of retries. Max plan; the endpoint must be enabled. Returns
// ENOTFOUND (the event too: it is kept 40 days), EFORBIDDEN, ECONFLICT.
func (s *Service) ResendWebhook(ctx context.Context, actor snapglyph.Actor, orgID, id string, eventID int64) error {
	w, err := s.webhook(ctx, actor, orgID, id, true)
	if err != nil {
		return err
	}
	if !w.Enabled() {
		return snapglyph.Errorf(snapglyph.ECONFLICT, "the endpoint %s is disabled; enable it first", w.URL)
	}
	if err := s.db.ResendWebhookDelivery(ctx, w, eventID); err != nil {
		switch kind := snapglyph.ErrorKind(err); kind {
		case snapglyph.ENOTFOUND, snapglyph.EINVALID, snapglyph.ECONFLICT:
			return snapglyph.Errorf(kind, "%s", snapglyph.ErrorMessage(err))
		}
		return fmt.Errorf("resend: %w", err)
	}
	return nil
}
