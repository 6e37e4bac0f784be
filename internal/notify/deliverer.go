// Package notify delivers the outbox's events: it turns each into notices
// in the dashboard and mail to Owners and Admins (and an invitation into a
// mail to its invitee), off the request path, on whichever node claims it.
//
// The outbox (internal/store/outbox.go) holds every event, written in the
// same transaction as the change that causes it, with one delivery row per
// sink. A Deliverer claims due rows of its sinks, hands each to its Sink,
// and marks it done, or due again later with exponential backoff when the
// sink failed for a reason that may pass. A webhook deliverer is one more
// Sink (and one more entry in the store's list of sinks).
//
// Event kinds and their data (the "data" of a webhook body
// {"event","timestamp","data"}, camelCase):
//
//	api_key.created|paused|resumed|revoked  keyId, keyName, keyPrefix, actor, actorId
//	api_key.rolled                          the same (+ newKeyId, newKeyPrefix, overlapEndsAt when the roll gives them)
//	api_key.expiring|expired                keyId, keyName, keyPrefix (+ expiresAt)
//	api_key.leaked                          keyId, keyName, keyPrefix, url, source, action (paused|revoked|""), status, reason, actor, actorId
//	usage.threshold                         counter (apiCalls|imageCredits), percent (80|100), used, limit, period, resetsAt
//	invitation.sent                         invitationId, email, role, expiresAt, actor, actorId
//	trial.ending|ended                      trialEndsAt
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/snapglyph/snapglyph/internal/store"
)

// Sink consumes the events of one outbox sink.
type Sink interface {
	// Name is the sink's name in the outbox (store.SinkNotify, …).
	Name() string
	// Deliver acts on one event. nil: done. A *PermanentError: done,
	// with the error recorded. Any other error: tried again later.
	Deliver(ctx context.Context, d *store.Delivery) error
}

// Abandoner is a Sink that wants to know when a delivery is given up
// after its last attempt.
type Abandoner interface {
	Abandon(ctx context.Context, d *store.Delivery, err error)
}

// Retrier is a Sink with a retry schedule of its own (webhooks: for 3
// days) instead of the Deliverer's Backoff and MaxAttempts. Retry returns
// when to try a failed delivery again, or false to give it up.
type Retrier interface {
	Retry(d *store.Delivery, now time.Time) (time.Time, bool)
}

// Deliverer runs the sinks of one node.
type Deliverer struct {
	DB    *store.DB
	Node  string // the claims' owner
	Sinks []Sink
	Log   *slog.Logger
	// Errors, if set, is told of each failed attempt and each failure of
	// the periodic work (the node logs and counts them).
	Errors func(task string, err error)

	Poll        time.Duration // how often due deliveries are looked for (default 1 s)
	Batch       int           // deliveries claimed at once per sink (default 5)
	Workers     int           // sinks delivered to at once by Run (default 8; a claim's batch may add Batch−1)
	Lease       time.Duration // how long a claim holds (default 10 minutes: Batch × Timeout and more)
	MaxAttempts int           // attempts before a delivery is given up (default 20)
	Timeout     time.Duration // bounds one delivery (default 1 minute; what is not done is tried again)
	// Periodic work run every Every (trial dates), errors to Errors.
	Every    time.Duration // default 1 minute
	Periodic []func(context.Context) error

	mu       sync.Mutex
	inflight map[string]bool // sinks being delivered to
	free     chan struct{}   // a sink's deliveries ended
}

// Defaults of a Deliverer.
const (
	DefaultPoll        = time.Second
	DefaultBatch       = 5
	DefaultWorkers     = 8
	DefaultLease       = 10 * time.Minute
	DefaultMaxAttempts = 20
	DefaultTimeout     = time.Minute
	DefaultEvery       = time.Minute
)

// Backoff is the wait before attempt n+1 after n failed: 30 s doubling,
// at most an hour (20 attempts span about 15 hours).
func Backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 8 {
		return time.Hour
	}
	return min(30*time.Second<<(n-1), time.Hour)
}

// Run delivers until ctx ends: whenever a delivery slot is free (and at
// least every Poll) it claims and starts what is due, and every Every it
// runs the periodic work. Deliveries to different sinks (each webhook
// endpoint is a sink of its own) run side by side, Workers at a time,
// those to one sink one after another: an endpoint that hangs holds one
// slot for its timeout, not every organisation's deliveries. Run returns
// when ctx has ended and the deliveries it started are over (they give
// their claims back).
func (w *Deliverer) Run(ctx context.Context) {
	poll := w.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	every := w.Every
	if every <= 0 {
		every = DefaultEvery
	}
	workers := w.Workers
	if workers <= 0 {
		workers = DefaultWorkers
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var running sync.WaitGroup
	defer running.Wait()
	var last time.Time
	for {
		if time.Since(last) >= every {
			last = time.Now()
			for _, fn := range w.Periodic {
				w.report("notify_periodic", fn(ctx), ctx)
			}
		}
		for w.busy() < workers {
			n, err := w.dispatch(ctx, &running)
			w.report("notify", err, ctx)
			if n == 0 || err != nil || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.freed():
		}
	}
}

func (w *Deliverer) report(task string, err error, ctx context.Context) {
	if err == nil || ctx.Err() != nil {
		return
	}
	if w.Errors != nil {
		w.Errors(task, err)
	} else if w.Log != nil {
		w.Log.Error("notify: failed", "task", task, "err", err)
	}
}

// RunOnce claims one batch of each sink's due deliveries and delivers
// them (to different sinks side by side), and returns how many it
// handled once they are over. Failed deliveries are scheduled again and
// reported to Errors; the error returned is the claim's.
func (w *Deliverer) RunOnce(ctx context.Context) (int, error) {
	var wg sync.WaitGroup
	n, err := w.dispatch(ctx, &wg)
	wg.Wait()
	return n, err
}

// dispatch claims one batch of each sink's due deliveries, leaving out
// the sinks this deliverer is delivering to already, and starts them: a
// goroutine per sink of the batch (counted in wg), which delivers its
// deliveries in the order claimed. It returns how many it started.
func (w *Deliverer) dispatch(ctx context.Context, wg *sync.WaitGroup) (int, error) {
	batch, lease := w.Batch, w.Lease
	if batch <= 0 {
		batch = DefaultBatch
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	started := 0
	var errs error
	for _, s := range w.Sinks {
		ds, err := w.DB.ClaimDeliveries(ctx, s.Name(), w.Node, batch, lease, w.inFlight()...)
		if err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		var order []string
		bySink := map[string][]*store.Delivery{}
		for _, d := range ds {
			if bySink[d.Sink] == nil {
				order = append(order, d.Sink)
			}
			bySink[d.Sink] = append(bySink[d.Sink], d)
		}
		for _, sink := range order {
			group := bySink[sink]
			w.mu.Lock()
			if w.inflight == nil {
				w.inflight = map[string]bool{}
			}
			w.inflight[sink] = true
			w.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, d := range group {
					w.deliver(ctx, s, d)
				}
				w.mu.Lock()
				delete(w.inflight, sink)
				w.mu.Unlock()
				select {
				case w.freed() <- struct{}{}:
				default:
				}
			}()
			started += len(group)
		}
	}
	return started, errs
}

// inFlight lists the sinks being delivered to.
func (w *Deliverer) inFlight() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.inflight))
	for sink := range w.inflight {
		out = append(out, sink)
	}
	return out
}

// busy is how many sinks are being delivered to.
func (w *Deliverer) busy() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inflight)
}

// freed is told (without waiting) each time a sink's deliveries end.
func (w *Deliverer) freed() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.free == nil {
		w.free = make(chan struct{}, 1)
	}
	return w.free
}

func (w *Deliverer) deliver(ctx context.Context, s Sink, d *store.Delivery) {
	if ctx.Err() != nil {
		// The node stopped before this delivery's turn (an earlier one of
		// its batch held it): give the claim back without the attempt it
		// counted, since none was made.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
		defer cancel()
		if err := w.DB.ReleaseDelivery(bctx, d.Event.ID, d.Sink, w.Node); err != nil {
			// The claim lapses instead, its attempt counted.
			w.report(s.Name(), fmt.Errorf("event %d (%s) for %s, not attempted before the stop, not given back: %w", d.Event.ID, d.Event.Kind, d.Sink, err), bctx)
		}
		return
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	err := s.Deliver(dctx, d)
	cancel()
	// The bookkeeping gets a context of its own: a delivery that went
	// out must be marked done even if ctx ends now.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	max := w.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	var next time.Time
	retry := false
	if err != nil {
		if r, ok := s.(Retrier); ok {
			next, retry = r.Retry(d, w.DB.Now())
		} else {
			next, retry = w.DB.Now().Add(Backoff(d.Attempts)), d.Attempts < max
		}
	}
	finish := func(lastError string) error {
		return untilWritten(bctx, ctx.Done(), func() error {
			_, err := w.DB.FinishDelivery(bctx, d.Event.ID, d.Sink, w.Node, lastError)
			return err
		})
	}
	switch {
	case err != nil && ctx.Err() != nil:
		// Stopping: give the claim back, so another node takes the
		// event at once instead of after the lease (what was done of
		// it is not done twice).
		w.DB.RetryDelivery(bctx, d.Event.ID, d.Sink, w.Node, w.DB.Now(), "interrupted: the node stopped")
	case err == nil:
		w.report(s.Name(), finish(""), bctx)
	case IsPermanent(err) || !retry:
		if a, ok := s.(Abandoner); ok {
			a.Abandon(bctx, d, err)
		}
		ferr := finish(err.Error())
		w.report(s.Name(), errors.Join(fmt.Errorf("event %d (%s) for %s given up after %d attempts: %w", d.Event.ID, d.Event.Kind, d.Sink, d.Attempts, err), ferr), bctx)
	default:
		rerr := untilWritten(bctx, ctx.Done(), func() error { return w.DB.RetryDelivery(bctx, d.Event.ID, d.Sink, w.Node, next, err.Error()) })
		when := "tried again at " + next.UTC().Format(time.RFC3339)
		if rerr != nil {
			when = "not rescheduled (the database is away): tried again when its claim lapses"
		}
		w.report(s.Name(), errors.Join(fmt.Errorf("event %d (%s) for %s, attempt %d, %s: %w", d.Event.ID, d.Event.Kind, d.Sink, d.Attempts, when, err), rerr), bctx)
	}
}

// untilWritten runs a delivery's bookkeeping write again while the
// database is away, until it is written, ctx ends or the node stops
// (stopping: a stop does not wait for the database). Not written, the
// delivery stays claimed until its lease lapses (DefaultLease): one that
// failed would wait ten minutes, not its schedule, and one that went
// out would be sent again.
func untilWritten(ctx context.Context, stopping <-chan struct{}, write func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := write()
		if err == nil || !store.IsUnavailable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-stopping:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
