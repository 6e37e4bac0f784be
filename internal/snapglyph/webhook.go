package snapglyph

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Events of QR codes, told to webhooks only (people are not sent a notice
// for each code).
const (
	EventQRCreated = "qr.created"
	EventQRUpdated = "qr.updated"
	EventQRDeleted = "qr.deleted"
	// EventWebhookDisabled: an endpoint failed for WebhookRetryWindow
	// and was disabled; its organisation's Owners are told.
	EventWebhookDisabled = "webhook.disabled"
)

// WebhookEvents are the events an endpoint may choose, in the order the
// dashboard lists them.
var WebhookEvents = []string{
	EventQRCreated, EventQRUpdated, EventQRDeleted,
	EventKeyCreated, EventKeyPaused, EventKeyResumed, EventKeyRevoked, EventKeyRolled, EventKeyExpired, EventKeyLeaked,
	EventUsageThreshold,
}

// IsWebhookEvent reports whether kind is one of WebhookEvents.
func IsWebhookEvent(kind string) bool { return slices.Contains(WebhookEvents, kind) }

// WebhookOnly reports whether events of the kind go to webhooks alone
// (no notice): they are not written at all when no endpoint wants them.
func WebhookOnly(kind string) bool { return strings.HasPrefix(kind, "qr.") }

// Limits of a webhook endpoint.
const (
	MaxWebhookURL = 2048 // bytes of its URL
	MaxWebhooks   = 20   // endpoints per organisation
	// WebhookTimeout: a delivery answered 2xx within it succeeded.
	WebhookTimeout = 30 * time.Second
	// WebhookRetryWindow: a delivery failing this long after its first
	// attempt is given up and its endpoint disabled.
	WebhookRetryWindow = 3 * 24 * time.Hour
	// WebhookResponseKept is how much of an answer the delivery log keeps.
	WebhookResponseKept = 200
)

// Webhook is an organisation's endpoint for events (Max plan).
type Webhook struct {
	ID        string
	OrgID     string
	URL       string
	Events    []string
	CreatedAt time.Time
	CreatedBy string // the actor's label
	// Secret signs the bodies (HMAC-SHA256). It is read only where it is
	// needed: to sign, and to show once after creation or rotation.
	Secret   string
	SecretAt time.Time // when the secret was made
	// DisabledAt is set when the endpoint is off (DisabledReason says why).
	DisabledAt     time.Time
	DisabledReason string
}

// Enabled reports whether events are delivered to the endpoint.
func (w *Webhook) Enabled() bool { return w.DisabledAt.IsZero() }

// Wants reports whether the endpoint chose the event kind.
func (w *Webhook) Wants(kind string) bool { return slices.Contains(w.Events, kind) }

// WebhookAttempt is one entry of an endpoint's delivery log.
type WebhookAttempt struct {
	ID        int64
	WebhookID string
	EventID   int64
	Event     string // the kind
	Attempt   int    // 1 for the first
	At        time.Time
	Status    int // HTTP status; 0: no answer
	Duration  time.Duration
	Response  string // the first WebhookResponseKept bytes of the answer
	Error     string // why it failed without an answer, or what was wrong with it
}

// OK reports whether the attempt succeeded (a 2xx answer in time).
func (a *WebhookAttempt) OK() bool { return a.Status >= 200 && a.Status < 300 && a.Error == "" }

// DeliveryID is the X-Snapglyph-Delivery of the attempt's delivery.
func (a *WebhookAttempt) DeliveryID() string { return WebhookDeliveryID(a.EventID, a.WebhookID) }

// WebhookDeliveryID names the delivery of an event to an endpoint: the
// same for every attempt (a receiver may skip one it has seen), different
// for each endpoint.
func WebhookDeliveryID(eventID int64, webhookID string) string {
	sum := sha256.Sum256([]byte(strconv.FormatInt(eventID, 10) + ":" + webhookID))
	return "del_" + hex.EncodeToString(sum[:12])
}

// ParseWebhookEvents reads a list of event kinds (from a comma-separated
// flag or form values), trimmed, without repeats, in WebhookEvents order.
// Returns EINVALID naming an unknown event, or when there are none.
func ParseWebhookEvents(list []string) ([]string, error) {
	want := map[string]bool{}
	for _, item := range list {
		for e := range strings.SplitSeq(item, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			if !IsWebhookEvent(e) {
				if msg := TextProblem(e); msg != "" {
					return nil, Errorf(EINVALID, "an event name %s", msg)
				}
				if len(e) > 40 {
					e = e[:40] + "…"
				}
				return nil, Errorf(EINVALID, "%q is not a webhook event; choose among %s", e, strings.Join(WebhookEvents, ", "))
			}
			want[e] = true
		}
	}
	var out []string
	for _, e := range WebhookEvents {
		if want[e] {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, Errorf(EINVALID, "choose at least one event: %s", strings.Join(WebhookEvents, ", "))
	}
	return out, nil
}

// ParseWebhookURL checks an endpoint URL's form: https (http only when
// insecureLocal), a host, no user information or fragment, at most
// MaxWebhookURL bytes, no control characters; a host that is an IP
// address must be one CheckWebhookAddr allows. A host name is checked
// after it is resolved (by the caller, and again at each delivery).
// Returns EINVALID.
func ParseWebhookURL(raw string, insecureLocal bool) (*url.URL, error) {
	if raw == "" || strings.TrimSpace(raw) == "" {
		return nil, Errorf(EINVALID, "the endpoint URL is required, e.g. https://example.com/webhooks/snapglyph")
	}
	if len(raw) > MaxWebhookURL {
		return nil, Errorf(EINVALID, "the endpoint URL is %d bytes long; at most %d are allowed", len(raw), MaxWebhookURL)
	}
	if msg := TextProblem(raw); msg != "" {
		return nil, Errorf(EINVALID, "the endpoint URL %s", msg)
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f {
			return nil, Errorf(EINVALID, "the endpoint URL holds a space or control character")
		}
	}
	if msg := HiddenText(raw); msg != "" {
		// A right-to-left override would show the URL as another one.
		return nil, Errorf(EINVALID, "the endpoint URL %s; percent-encode them if the receiver needs them", msg)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, Errorf(EINVALID, "the endpoint URL is not a URL: %v", strings.TrimPrefix(err.Error(), "parse "+strconv.Quote(raw)+": "))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && insecureLocal:
	case u.Scheme == "http":
		return nil, Errorf(EINVALID, "the endpoint URL must use https:// (http:// is refused: bodies and signatures would travel in clear)")
	default:
		return nil, Errorf(EINVALID, "the endpoint URL must be an absolute https:// URL, e.g. https://example.com/webhooks/snapglyph")
	}
	if u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return nil, Errorf(EINVALID, "the endpoint URL has no host")
	}
	if u.User != nil {
		return nil, Errorf(EINVALID, "the endpoint URL must not hold a user name or password")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, Errorf(EINVALID, "the endpoint URL must not have a #fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, Errorf(EINVALID, "the endpoint URL's port %q is not a port number", p)
		}
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		if err := CheckWebhookAddr(ip, insecureLocal); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// specialPrefixes are ranges no endpoint may be in, beyond what netip's
// predicates name: "this network", shared address space (carrier-grade
// NAT), IETF protocol assignments, benchmarking, reserved, and IPv6's
// NAT64, discard, 6to4 and Teredo prefixes (which embed IPv4 addresses).
var specialPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
		"64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2002::/16", "fec0::/10",
		"::/96", "::ffff:0:0:0/96"} { // IPv4-compatible and IPv4-translated IPv6
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// CheckWebhookAddr refuses an address a webhook may not be delivered to:
// private, loopback (unless allowLoopback), link-local, unspecified,
// multicast, broadcast and the special ranges above. Returns EINVALID
// (code webhook_address_refused).
func CheckWebhookAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap().WithZone("")
	return checkWebhookAddr(ip, allowLoopback, "the endpoint's address "+ip.String()+" is")
}

// CheckWebhookHostAddr is CheckWebhookAddr for an address the endpoint's
// host resolves to: the error names the host and the address.
func CheckWebhookHostAddr(host string, ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap().WithZone("")
	return checkWebhookAddr(ip, allowLoopback, fmt.Sprintf("the endpoint's host %q resolves to %s, which is", host, ip))
}

// checkWebhookAddr refuses ip with "<subject> <what it is>; …".
func checkWebhookAddr(ip netip.Addr, allowLoopback bool, subject string) error {
	what := ""
	switch {
	case !ip.IsValid():
		what = "not an IP address"
	case ip.IsLoopback():
		if allowLoopback {
			return nil
		}
		what = "a loopback address"
	case ip.IsUnspecified():
		what = "the unspecified address"
	case ip.IsPrivate():
		what = "a private address"
	case ip.IsLinkLocalUnicast():
		what = "a link-local address"
	case ip.IsMulticast(), ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast():
		what = "a multicast address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		what = "the broadcast address"
	default:
		for _, p := range specialPrefixes {
			if p.Contains(ip) {
				what = "in a reserved range (" + p.String() + ")"
				break
			}
		}
	}
	if what == "" {
		return nil
	}
	msg := subject + " " + what + "; webhooks go only to public addresses"
	if ip.IsLoopback() {
		msg += " (serve --webhook-allow-insecure-local permits loopback, for local development)"
	}
	return Codef(EINVALID, "webhook_address_refused", "%s", msg)
}
