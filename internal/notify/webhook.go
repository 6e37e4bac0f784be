package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// WebhookSink delivers events to the webhook endpoints that chose them:
// one outbox delivery per event and endpoint (sink "webhook:" + its id),
// claimed like any other, so each is sent by one node and retried on
// failure. A delivery is a POST of the event's body, signed with the
// endpoint's secret; a 2xx answer within 30 s is success. Failures are
// retried with exponential backoff for 3 days; then the endpoint is
// disabled and its organisation's Owners are told. Every attempt is
// written to the endpoint's delivery log.
type WebhookSink struct {
	DB *store.DB
	// AllowInsecureLocal permits http:// and loopback addresses (serve
	// --webhook-allow-insecure-local).
	AllowInsecureLocal bool
	// Client sends the requests; nil: NewWebhookClient's.
	Client *http.Client
	// Timeout bounds one attempt (connecting, sending and reading the
	// answer); zero: snapglyph.WebhookTimeout, the 30 s the docs promise.
	// It is a field so that tests can show a timeout is retried without
	// waiting 30 s. NewWebhookClient's client stops at WebhookTimeout
	// too, so a longer Timeout needs a Client of its own.
	Timeout time.Duration
	Log     *slog.Logger
}

// timeout is the bound of one attempt: Timeout, or WebhookTimeout.
func (s *WebhookSink) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return snapglyph.WebhookTimeout
}

// Name implements Sink: the family of every endpoint's sink.
func (s *WebhookSink) Name() string { return store.SinkWebhook }

// WebhookBackoff is the wait after the nth failed attempt: a minute,
// doubling, at most 12 hours (about 15 attempts in 3 days).
func WebhookBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 10 {
		return 12 * time.Hour
	}
	return min(time.Minute<<(n-1), 12*time.Hour)
}

// Retry implements Retrier: backoff until WebhookRetryWindow after the
// first attempt, whose end is the last attempt.
func (s *WebhookSink) Retry(d *store.Delivery, now time.Time) (time.Time, bool) {
	end := d.Since.Add(snapglyph.WebhookRetryWindow)
	if !now.Before(end) {
		return time.Time{}, false
	}
	return minTime(now.Add(WebhookBackoff(d.Attempts)), end), true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Abandon implements Abandoner: an endpoint whose delivery failed for
// the whole retry window is disabled (which tells its Owners).
func (s *WebhookSink) Abandon(ctx context.Context, d *store.Delivery, err error) {
	id := strings.TrimPrefix(d.Sink, store.SinkWebhook)
	reason := fmt.Sprintf("the delivery of event %d (%s) failed for 3 days: %v", d.Event.ID, d.Event.Kind, err)
	if _, derr := s.DB.DisableWebhook(ctx, id, reason); derr != nil && s.Log != nil {
		s.Log.Error("webhook: disable failed", "webhook", id, "err", derr)
	} else if s.Log != nil {
		s.Log.Warn("webhook: endpoint disabled after failing for 3 days", "webhook", id, "org", d.Event.OrgID)
	}
}

// Sign returns the X-Snapglyph-Signature of a body: "sha256=" and the
// hex HMAC-SHA256 of the raw body keyed with the whole secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver implements Sink.
func (s *WebhookSink) Deliver(ctx context.Context, d *store.Delivery) error {
	id := strings.TrimPrefix(d.Sink, store.SinkWebhook)
	w, err := s.DB.WebhookWithSecret(ctx, id)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil // deleted since
	} else if err != nil {
		return err
	}
	if !w.Enabled() {
		return nil // disabled since: its deliveries end
	}
	a := &snapglyph.WebhookAttempt{WebhookID: w.ID, EventID: d.Event.ID, Event: d.Event.Kind, Attempt: d.Attempts, At: s.DB.Now()}
	org, err := s.DB.Org(ctx, w.OrgID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if org.EffectivePlan(s.DB.Now()) != snapglyph.PlanMax {
		a.Error = "not sent: the organisation's plan no longer has webhooks (Max plan)"
		return s.DB.AddWebhookAttempt(ctx, a)
	}
	err = s.post(ctx, w, d, a)
	lerr := s.DB.AddWebhookAttempt(context.WithoutCancel(ctx), a)
	if lerr != nil && err == nil {
		// The receiver has the event: the delivery is done, and only the
		// log's row of it is lost. Failing here would send it again (a
		// duplicate, counted toward the endpoint's disabling). If marking
		// the delivery done fails too, it is sent again after its lease:
		// at-least-once.
		if s.Log != nil {
			s.Log.Error("webhook: delivered, but its attempt was not written to the delivery log",
				"webhook", w.ID, "event", d.Event.ID, "attempt", a.Attempt, "err", lerr)
		}
		return nil
	}
	return errors.Join(err, lerr)
}

// post sends one attempt and fills in what came of it.
func (s *WebhookSink) post(ctx context.Context, w *snapglyph.Webhook, d *store.Delivery, a *snapglyph.WebhookAttempt) error {
	fail := func(format string, args ...any) error {
		a.Error = fmt.Sprintf(format, args...)
		return errors.New(a.Error)
	}
	// The URL was checked when it was made; the policy may have changed.
	if _, err := snapglyph.ParseWebhookURL(w.URL, s.AllowInsecureLocal); err != nil {
		return fail("not sent: %s", snapglyph.ErrorMessage(err))
	}
	body, err := d.Event.Webhook()
	if err != nil {
		return fail("the event's body: %v", err)
	}
	timeout := s.timeout()
	// The attempt's time starts with its deadline's, so one cut by the
	// deadline lasted the whole timeout.
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, strings.NewReader(string(body)))
	if err != nil {
		return fail("the request: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "SnapGlyph-Webhooks/1.0")
	req.Header.Set("X-Snapglyph-Event", d.Event.Kind)
	req.Header.Set("X-Snapglyph-Delivery", snapglyph.WebhookDeliveryID(d.Event.ID, w.ID))
	req.Header.Set("X-Snapglyph-Signature", Sign(w.Secret, body))
	client := s.Client
	if client == nil {
		client = NewWebhookClient(s.AllowInsecureLocal)
	}
	resp, err := client.Do(req)
	if err != nil {
		a.Duration = time.Since(start)
		// Not the url.Error's text: it repeats the URL, whose query may
		// hold the receiver's own token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fail("no answer within %s", timeout)
		}
		if errors.Is(err, context.Canceled) {
			// Only the node's stop cancels an attempt (it is tried again).
			return fail("not finished: the node stopped")
		}
		return fail("%v", err)
	}
	defer resp.Body.Close()
	// The answer is read (its start kept, at most 64 KiB in all, so the
	// connection can be reused) within the same 30 s; the duration is
	// until then, the time the receiver held the delivery. Its status
	// decides: a 2xx whose body does not end in time is still success.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, snapglyph.WebhookResponseKept))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a.Duration = time.Since(start)
	a.Status = resp.StatusCode
	a.Response = snapglyph.StorableMultiline(string(head), snapglyph.WebhookResponseKept)
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return fail("answered %d (redirects are not followed)", resp.StatusCode)
	}
	return fail("answered %d", resp.StatusCode)
}

// NewWebhookClient returns the client of deliveries: no proxy, no
// redirects followed, 30 s in all, and a dialer that checks the address
// it is about to connect to (after the name was resolved, so a name that
// resolves to a private address at delivery time is refused too).
func NewWebhookClient(allowInsecureLocal bool) *http.Client {
	dialer := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil {
				return fmt.Errorf("webhook: %q is not an IP address", host)
			}
			if err := snapglyph.CheckWebhookAddr(ip, allowInsecureLocal); err != nil {
				return errors.New(snapglyph.ErrorMessage(err))
			}
			return nil
		},
	}
	return &http.Client{
		Timeout: snapglyph.WebhookTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: snapglyph.WebhookTimeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       90 * time.Second,
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
