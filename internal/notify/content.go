package notify

import (
	"fmt"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Content is what a notice says: a title (also the mail's subject), one
// paragraph, and the dashboard place it links to.
type Content struct {
	Title string
	Body  string
	Link  string // a path: /settings/api/keys/key_…
}

// Compose writes the notice of an event for an Owner or Admin (role) of
// the organisation. Every value from the event is text in a sentence;
// the HTML part escapes it.
func Compose(ev *snapglyph.Event, org *snapglyph.Org, role snapglyph.Role) Content {
	key := fmt.Sprintf("%s (%s...)", ev.Str("keyName"), ev.Str("keyPrefix"))
	keyLink := "/settings/api"
	if id := ev.Str("keyId"); id != "" {
		keyLink += "/keys/" + id // the key's page: there for revoked keys too
	}
	by := ev.Str("actor")
	if by == "" {
		by = "someone"
	}
	switch ev.Kind {
	case snapglyph.EventKeyCreated:
		return Content{"API key " + ev.Str("keyName") + " created",
			fmt.Sprintf("%s created the API key %s in %s. If you do not know why, revoke it in API Settings.", by, key, org.Name), keyLink}
	case snapglyph.EventKeyPaused:
		body := fmt.Sprintf("%s paused the API key %s of %s", by, key, org.Name)
		if r := ev.Str("reason"); r != "" {
			body += fmt.Sprintf(" (%s)", r)
		}
		until := "until an Owner or Admin resumes it"
		if t := ev.Time("pausedUntil"); !t.IsZero() {
			until = "until " + when(t) + ", or until an Owner or Admin resumes it"
		}
		return Content{"API key " + ev.Str("keyName") + " paused", body + ". Requests with it are refused (401 api_key_paused) " + until + ".", keyLink}
	case snapglyph.EventKeyResumed:
		if t := ev.Time("pausedUntil"); !t.IsZero() {
			// A timed pause that ended by itself (the background scan).
			return Content{"API key " + ev.Str("keyName") + " resumed",
				fmt.Sprintf("The pause of the API key %s of %s ended at its scheduled time, %s. It works again.", key, org.Name, when(t)), keyLink}
		}
		return Content{"API key " + ev.Str("keyName") + " resumed",
			fmt.Sprintf("%s resumed the API key %s of %s. It works again.", by, key, org.Name), keyLink}
	case snapglyph.EventKeyRevoked:
		return Content{"API key " + ev.Str("keyName") + " revoked",
			fmt.Sprintf("%s revoked the API key %s of %s. It can never be used again; software still using it gets 401 api_key_revoked.", by, key, org.Name), keyLink}
	case snapglyph.EventKeyRolled:
		body := fmt.Sprintf("%s rolled the API key %s of %s", by, key, org.Name)
		if p := ev.Str("newKeyPrefix"); p != "" {
			body += fmt.Sprintf(": its replacement is %s...", p)
		}
		// The old key's status when it was rolled (keyStatus): a paused
		// key stays paused through the overlap, refused as before.
		paused := ev.Str("keyStatus") == string(snapglyph.KeyPaused)
		switch t := ev.Time("overlapEndsAt"); {
		case paused && !t.IsZero():
			body += fmt.Sprintf(". The old key stays paused: requests with it are still refused (401 api_key_paused), and it is retired for good on %s", when(t))
		case paused:
			body += ". The old key stays paused: requests with it are still refused (401 api_key_paused)"
		case !t.IsZero():
			body += fmt.Sprintf("; the old key works until %s", when(t))
		}
		return Content{"API key " + ev.Str("keyName") + " rolled", body + ". Put the new key where the old one is used.", keyLink}
	case snapglyph.EventKeyExpiring:
		t := ev.Time("expiresAt")
		return Content{"API key " + ev.Str("keyName") + " expires on " + day(t),
			fmt.Sprintf("The API key %s of %s expires on %s. Create or roll a key and put it where this one is used before then.", key, org.Name, when(t)), keyLink}
	case snapglyph.EventKeyExpired:
		return Content{"API key " + ev.Str("keyName") + " expired",
			fmt.Sprintf("The API key %s of %s has expired; requests with it are refused (401 api_key_expired).", key, org.Name), keyLink}
	case snapglyph.EventKeyLeaked:
		done := "It was already paused and stays so; resume it only if you are sure it is not the key that leaked."
		switch ev.Str("action") {
		case "paused":
			done = "It was paused at once: requests with it are refused."
		case "revoked":
			done = "It was revoked at once, as your organisation chose in Company settings."
		}
		where := "" // a report's URL that was not fit to keep is left out
		if u := ev.Str("url"); u != "" {
			where = " at " + u
		}
		return Content{"API key " + ev.Str("keyName") + " found in public",
			fmt.Sprintf("GitHub secret scanning found the API key %s of %s in public%s. %s Create a new key, put it where this one was used, and remove the old one from the repository and its history.",
				key, org.Name, where, done), keyLink}
	case snapglyph.EventUsageThreshold:
		what := "API calls"
		if ev.Str("counter") == "imageCredits" {
			what = "image credits"
		}
		renews := ev.Time("resetsAt")
		used, limit := ev.Int("used"), ev.Int("limit")
		more := " The Max plan has more."
		if org.Plan == snapglyph.PlanMax {
			more = "" // there is no bigger plan to point to
		}
		if ev.Int("percent") >= 100 {
			if used < limit {
				// Refused with less recorded: the rest of the allowance
				// is in requests not yet recorded, or was held by a
				// server that stopped without handing it back.
				return Content{"All " + what + " of this month spent",
					fmt.Sprintf("%s has no %s left this month: %s of its %s are recorded as used and the rest is taken; more are refused (429) until they renew on %s.%s",
						org.Name, what, snapglyph.FormatCount(used), snapglyph.FormatCount(limit), when(renews), more), "/settings/api"}
			}
			return Content{"All " + what + " of this month used",
				fmt.Sprintf("%s has used %s of its %s %s this month; more are refused (429) until they renew on %s.%s",
					org.Name, snapglyph.FormatCount(used), snapglyph.FormatCount(limit), what, when(renews), more), "/settings/api"}
		}
		return Content{fmt.Sprintf("%d %% of this month's %s used", ev.Int("percent"), what),
			fmt.Sprintf("%s has used %s of its %s %s this month. They renew on %s.", org.Name, snapglyph.FormatCount(used), snapglyph.FormatCount(limit), what, when(renews)), "/settings/api"}
	case snapglyph.EventTrialEnding, snapglyph.EventTrialEnded:
		link := "/settings/api"
		if role == snapglyph.RoleOwner {
			link = "/settings/subscription"
		}
		t := ev.Time("trialEndsAt")
		if ev.Kind == snapglyph.EventTrialEnding {
			return Content{"The trial ends on " + day(t),
				fmt.Sprintf("The 14-day Pro trial of %s ends on %s. Then API keys stop working and the organisation keeps Starter's limits (5 QR codes, one seat) until the Owner chooses a plan.", org.Name, when(t)), link}
		}
		return Content{"The trial has ended",
			fmt.Sprintf("The 14-day Pro trial of %s ended on %s. API keys are refused (403 api_not_in_plan) and Starter's limits apply until the Owner chooses a plan.", org.Name, when(t)), link}
	case snapglyph.EventWebhookDisabled:
		return Content{"Webhook endpoint disabled",
			fmt.Sprintf("The webhook endpoint %s of %s failed for 3 days (%s) and was disabled: no events are sent to it. Fix the receiver and enable it again on the Webhooks page. The events that failed before it was disabled are in its delivery log, where each can be resent; events that happen while it is disabled are never sent to it and are not in its log.",
				ev.Str("url"), org.Name, ev.Str("reason")), "/settings/webhooks/" + ev.Str("webhookId")}
	}
	return Content{ev.Kind, fmt.Sprintf("Something happened in %s (%s).", org.Name, ev.Kind), "/qr-codes"}
}

func day(t time.Time) string {
	if t.IsZero() {
		return "an unknown date"
	}
	return t.UTC().Format("2 Jan 2006")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "an unknown date"
	}
	return t.UTC().Format("2 Jan 2006 at 15:04 UTC")
}
