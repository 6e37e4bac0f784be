package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

const webhookUsage = "usage: snapglyph webhook create|list|delete …"

// webhookJSON is an endpoint as the CLI prints it; Secret only when it
// was just made.
type webhookJSON struct {
	ID             string    `json:"id"`
	OrgID          string    `json:"orgId"`
	URL            string    `json:"url"`
	Events         []string  `json:"events"`
	Enabled        bool      `json:"enabled"`
	DisabledReason string    `json:"disabledReason,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	Secret         string    `json:"secret,omitempty"`
}

func toWebhookJSON(w *snapglyph.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, OrgID: w.OrgID, URL: w.URL, Events: w.Events, Enabled: w.Enabled(),
		DisabledReason: w.DisabledReason, CreatedAt: w.CreatedAt.UTC()}
}

func (e *env) webhook(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, webhookUsage)
	}
	switch args[0] {
	case "create":
		fs := e.flagSet("webhook create")
		dsn := e.dbFlag(fs)
		org := fs.String("org", "", "the organisation's id (Max plan)")
		url := fs.String("url", "", "the endpoint, e.g. https://example.com/webhooks/snapglyph")
		events := fs.String("events", "", "comma-separated events: "+strings.Join(snapglyph.WebhookEvents, ","))
		insecure := fs.envBool("webhook-allow-insecure-local", false, "permit http:// and loopback endpoints (local development), as serve's flag")
		asJSON := fs.Bool("json", false, "print the result as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		const usage = "webhook create --org ORG_ID --url URL --events LIST [--json]"
		if err := needArgs(pos, 0, usage); err != nil {
			return err
		}
		if err := needFlags(fs, usage, "org"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			svc.Webhooks.AllowInsecureLocal = *insecure
			w, err := svc.CreateWebhook(ctx, snapglyph.Operator, *org, *url, []string{*events})
			if err != nil {
				if !*insecure {
					return insecureLocalHint(ctx, svc.Webhooks, *url, err)
				}
				return err
			}
			if *asJSON {
				out := toWebhookJSON(w)
				out.Secret = w.Secret
				return e.printJSON(out)
			}
			// Said where the secret is, as for a new key (printNewKey).
			fmt.Fprintf(e.stdout, "Created webhook %s for %s\nEvents: %s\nSigning secret: %s\n\nThis is the only time the secret is shown: store it where the receiver verifies signatures.\n",
				w.ID, printable(w.URL), printable(strings.Join(w.Events, ", ")), w.Secret)
			return nil
		})
	case "list":
		fs := e.flagSet("webhook list")
		dsn := e.dbFlag(fs)
		org := fs.String("org", "", "the organisation's id")
		asJSON := fs.Bool("json", false, "print one JSON line per endpoint")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		const usage = "webhook list --org ORG_ID [--json]"
		if err := needArgs(pos, 0, usage); err != nil {
			return err
		}
		if err := needFlags(fs, usage, "org"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			ws, err := svc.ListWebhooks(ctx, snapglyph.Operator, *org)
			if err != nil {
				return err
			}
			if *asJSON {
				for _, w := range ws {
					if err := e.printJSON(toWebhookJSON(w)); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATUS\tCREATED")
			for _, w := range ws {
				status := "enabled"
				if !w.Enabled() {
					status = "disabled " + w.DisabledAt.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, printable(w.URL), printable(strings.Join(w.Events, ",")), status, w.CreatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		})
	case "delete":
		fs := e.flagSet("webhook delete")
		dsn := e.dbFlag(fs)
		asJSON := fs.Bool("json", false, "print the deleted endpoint as one JSON line")
		pos, err := parse(fs, args[1:])
		if err != nil {
			return err
		}
		if err := needArgs(pos, 1, "webhook delete WEBHOOK_ID [--json]"); err != nil {
			return err
		}
		return e.withService(ctx, *dsn, func(svc *service.Service) error {
			w, err := svc.DeleteWebhook(ctx, snapglyph.Operator, "", pos[0])
			if err != nil {
				return err
			}
			if *asJSON {
				return e.printJSON(toWebhookJSON(w))
			}
			fmt.Fprintf(e.stdout, "Deleted webhook %s (%s)\n", w.ID, printable(w.URL))
			return nil
		})
	}
	return snapglyph.Errorf(snapglyph.EINVALID, "unknown webhook command %q; %s", args[0], webhookUsage)
}

// insecureLocalHint adds to err, webhook create's refusal of url, what
// permits the endpoint for local development when that is why it was
// refused (http://, a loopback address, a host name that resolves to
// one) and the flag would lift it: the flag, or its variable, here and
// on serve, whose deliveries check the URL again.
func insecureLocalHint(ctx context.Context, p service.WebhookPolicy, url string, err error) error {
	msg := snapglyph.ErrorMessage(err)
	if _, strict := snapglyph.ParseWebhookURL(url, false); strict != nil {
		if snapglyph.ErrorMessage(strict) != msg {
			return err // refused for something else (an event, say)
		}
		if _, local := snapglyph.ParseWebhookURL(url, true); local != nil {
			return err // refused with the flag too (a private address)
		}
	} else {
		// The URL's form is fine: was it refused for what its host
		// resolves to, and only because that is a loopback address?
		if strict := p.CheckURL(ctx, url); strict == nil || snapglyph.ErrorMessage(strict) != msg {
			return err
		}
		p.AllowInsecureLocal = true
		if p.CheckURL(ctx, url) != nil {
			return err
		}
	}
	const flag = "webhook-allow-insecure-local"
	hint := fmt.Sprintf("for local development, --%s (or %s=true) permits http:// and loopback endpoints: give it here and to serve, which delivers", flag, envVar(flag))
	if strings.Contains(msg, "serve --"+flag) {
		// The address's refusal names serve's flag already.
		hint = fmt.Sprintf("give webhook create --%s (or %s=true) as well", flag, envVar(flag))
	}
	return snapglyph.Codef(snapglyph.ErrorKind(err), snapglyph.ErrorCode(err), "%s; %s", msg, hint)
}
