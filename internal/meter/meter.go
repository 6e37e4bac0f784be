// Package meter enforces the monthly allowances (API calls and image
// credits) exactly, on one node or many, without a database write per
// request.
//
// Each node leases blocks of an organisation's allowance with one atomic
// conditional UPDATE (reserved + n <= limit) and spends them in memory.
// Blocks shrink as the allowance runs low, down to one unit, so the last
// units go to whichever node asks first and the limit is met exactly. A
// graceful stop returns unspent units; a lease whose answer was lost is
// settled by its id before the next one (see store.SettleLease), so the
// database never keeps units nobody holds. A crash loses what the node held,
// at most one and a half blocks per organisation and counter (the block in
// use and the next one leased ahead; the customer's loss, bounded; the
// limit is never passed).
package meter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Store is the persistence the meter needs; *store.DB has it.
type Store interface {
	Lease(ctx context.Context, id, orgID, period string, c snapglyph.Counter, maxN, minN, limit int64) (granted, reserved int64, err error)
	SettleLease(ctx context.Context, id string) (returned int64, err error)
	ReturnLease(ctx context.Context, orgID, period string, c snapglyph.Counter, n int64) error
	Usage(ctx context.Context, orgID, period string) (snapglyph.StoredUsage, error)
}

// DefaultMaxBlock is the largest block a node leases at once.
const DefaultMaxBlock = 10000

// Meter hands out allowance. Its methods are safe for concurrent use.
type Meter struct {
	store Store
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// MaxBlock caps the size of one lease.
	MaxBlock int64
	// Spent, if set, gives the usage reported in States. Admission does
	// not depend on it: it stays exact with leases.
	Spent *Spent
	// Reclaim, if set, asks the other nodes to give back their unspent
	// leases of an organisation and returns once they have (or after a
	// short timeout). The meter calls it when the database has too little
	// left for a request, then leases again, so units idle on another node
	// still serve this request: the limit is met exactly across nodes, not
	// just never exceeded.
	Reclaim func(orgID string)

	mu       sync.Mutex
	accounts map[string]*account
	// prefetches are the leases ahead of need in flight. Add runs only
	// under mu while closed is false, and Close sets closed under mu
	// before it waits, so an Add never races the Wait (which Go forbids).
	// Forget and Release wait per account instead (account.fetches).
	prefetches sync.WaitGroup
	closed     bool

	// unsettled are the ids of leases whose call failed (under mu): the
	// database may have committed them all the same. Each is settled
	// (given back if it committed) before the meter's next lease, so a
	// lost answer strands no units.
	unsettled []string

	// Leases counts lease round trips to the database, for metrics.
	Leases atomic.Uint64
	// PrefetchErrors counts failed leases ahead of need (the request
	// that needs the units leases them itself); ReturnErrors counts
	// unspent leases that could not be given back and are lost for the
	// month (those Close gave up on, a lease that landed after its
	// account was dropped, a refund); a return that fails while the node
	// runs keeps its lease for later and is not counted;
	// StrandedLeases counts failed leases the meter had no room left to
	// settle (if the database committed one, its units are lost for the
	// month).
	PrefetchErrors, ReturnErrors, StrandedLeases atomic.Uint64
}

// account is one organisation's allowance on this node, for one period.
type account struct {
	mu   sync.Mutex
	dead bool // released by Forget or Release: look the account up again
	// releasing is set while Forget or Release waits for the account's
	// leases in flight: requests still charge it meanwhile (its units
	// are not back in the database yet), but start no new lease ahead.
	releasing bool
	// fetches counts this account's leases ahead of need in flight;
	// idle is signalled (with mu as its lock) when it drops to zero.
	fetches     int
	idle        *sync.Cond
	period      string
	pools       [2]pool // by counterIndex
	lastReclaim time.Time
}

// reclaimEvery spaces reclaims of one organisation by one node, so an
// allowance that is really spent does not make every refusal wait.
const reclaimEvery = 100 * time.Millisecond

type pool struct {
	limit    int64 // the limit the lease was taken under
	reserved int64 // the database's reserved total after our last lease
	lease    int64 // units leased and not yet spent
	loaded   bool
	fetching bool // a lease ahead of need is in flight
}

// prefetchMin is the smallest block leased ahead of need. Below it the
// allowance is nearly spent and blocks are leased one request at a time,
// so that no node sits on units another node's request could use.
const prefetchMin = 8

func counterIndex(c snapglyph.Counter) int {
	if c == snapglyph.ImageCredits {
		return 1
	}
	return 0
}

var counters = [2]snapglyph.Counter{snapglyph.APICalls, snapglyph.ImageCredits}

func newAccount() *account {
	a := &account{}
	a.idle = sync.NewCond(&a.mu)
	return a
}

// New returns a meter backed by st.
func New(st Store) *Meter {
	return &Meter{store: st, Now: time.Now, MaxBlock: DefaultMaxBlock, accounts: make(map[string]*account)}
}

// State is an allowance after a charge, as the customer is shown it.
type State struct {
	Limit int64
	// Used is what the organisation has spent this period, this charge
	// included (see Spent); Remaining is max(Limit − Used, 0). Without
	// Spent they are the meter's own view: what is not available here.
	Used      int64
	Remaining int64
	ResetsAt  time.Time
	// Period is the period charged ("2026-12"): the meter's at the
	// charge, which a request waiting for a lease across midnight on the
	// 1st finds to be the new one. The request records its use in it, so
	// a month's use never passes what was admitted from its allowance.
	Period string
}

func limitOf(org *snapglyph.Org, c snapglyph.Counter) int64 {
	if c == snapglyph.ImageCredits {
		return org.ImageCreditLimit()
	}
	return org.APICallLimit()
}

// lock returns the organisation's account, locked.
func (m *Meter) lock(orgID string) *account {
	for {
		m.mu.Lock()
		a := m.accounts[orgID]
		if a == nil {
			a = newAccount()
			m.accounts[orgID] = a
		}
		m.mu.Unlock()
		a.mu.Lock()
		if !a.dead {
			return a
		}
		a.mu.Unlock()
		// Released (its leases are back in the database): replace it.
		m.mu.Lock()
		if m.accounts[orgID] == a {
			delete(m.accounts, orgID)
		}
		m.mu.Unlock()
	}
}

// Charge spends n units of the counter for the organisation in the current
// period. ok is false, and nothing is spent, when fewer than n are left.
func (m *Meter) Charge(ctx context.Context, org *snapglyph.Org, c snapglyph.Counter, n int64) (st State, ok bool, err error) {
	return m.chargeOrProbe(ctx, org, c, n, false)
}

// Probe reports whether Charge would admit n units now, spending nothing:
// the units are taken and put back under the account's lock, so no other
// request on this node sees them gone (a HEAD of an image asks this).
func (m *Meter) Probe(ctx context.Context, org *snapglyph.Org, c snapglyph.Counter, n int64) (st State, ok bool, err error) {
	return m.chargeOrProbe(ctx, org, c, n, true)
}

func (m *Meter) chargeOrProbe(ctx context.Context, org *snapglyph.Org, c snapglyph.Counter, n int64, probe bool) (st State, ok bool, err error) {
	st, ok, err = m.charge(ctx, org, c, n, probe)
	if err == nil {
		used, known := m.spent(ctx, org.ID)
		m.report(&st, c, used, known, !ok)
	}
	return st, ok, err
}

// admit tells the recorder (through Spent) of n units of the counter
// charged (n > 0) or given back (n < 0) by a request still running, in
// the account's lock: a request's report then counts every unit charged
// before its own.
func (m *Meter) admit(orgID, period string, c snapglyph.Counter, n int64) {
	if m.Spent == nil {
		return
	}
	var cs snapglyph.Counts
	if c == snapglyph.ImageCredits {
		cs.ImageCredits = n
	} else {
		cs.APICalls = n
	}
	m.Spent.rec.Admit(orgID, period, cs)
}

// spent returns what the organisation has spent this period, if known.
func (m *Meter) spent(ctx context.Context, orgID string) (snapglyph.Counts, bool) {
	if m.Spent == nil {
		return snapglyph.Counts{}, false
	}
	period, _ := snapglyph.Period(m.Now())
	u, err := m.Spent.Used(ctx, orgID, period)
	return u, err == nil
}

// report fills in the state's Used and Remaining: from what was spent
// when known (what is recorded, with the units of requests still running
// here: this request's and those charged before it, admit), else from the
// meter's view. Other nodes' spending reaches the database only at their
// next flush, so what was spent can trail what they answered by a flush
// interval; the meter's view (st.Remaining on entry: what the database
// had not leased at this node's last lease, and this node's lease) has
// no such lag once leases are single units. A refusal (refused), and any
// answer once fewer units are left than leases come in single units
// (singleUnits), never reports more remaining than could be admitted:
// the last units of a limit are counted down as they really go, and the
// last request admitted says 0, on every node. Above that the figure is
// the same on every node (to within their flushes), never a node's own
// view of the leases, which would differ from node to node by the blocks
// each holds.
func (m *Meter) report(st *State, c snapglyph.Counter, spent snapglyph.Counts, known, refused bool) {
	if !known {
		st.Used = max(st.Limit-st.Remaining, 0)
		return
	}
	admissible := st.Remaining
	st.Used = spent.APICalls
	if c == snapglyph.ImageCredits {
		st.Used = spent.ImageCredits
	}
	st.Remaining = max(st.Limit-st.Used, 0)
	if refused || admissible < singleUnits {
		st.Remaining = min(st.Remaining, admissible)
	}
}

// singleUnits is how few units must be left, as a node last saw the
// database, for leases to take one unit at a time (blockSize).
const singleUnits = snapglyph.LeaseShare * snapglyph.LeaseShare

// charge spends n units, or with probe only checks that it could.
func (m *Meter) charge(ctx context.Context, org *snapglyph.Org, c snapglyph.Counter, n int64, probe bool) (st State, ok bool, err error) {
	mayReclaim, mayWait := m.Reclaim != nil, true
	for {
		a := m.lock(org.ID)
		var reclaim bool
		st, ok, reclaim, err = m.chargeLocked(ctx, a, org, c, n, mayReclaim)
		if ok && probe {
			a.pools[counterIndex(c)].lease += n
			st.Remaining += n
		}
		if !ok && err == nil && !reclaim && mayWait && a.fetches > 0 {
			// Refused while this node's leases ahead of need are in
			// flight: units they took may be all that is left (or, after
			// a limit change, still counted against the new limit until
			// they come back). Wait for them once and charge again,
			// rather than refuse what the allowance still holds.
			for a.fetches > 0 {
				a.idle.Wait()
			}
			a.mu.Unlock()
			mayWait = false
			continue
		}
		if ok && !probe {
			m.admit(org.ID, st.Period, c, n)
		}
		a.mu.Unlock()
		if !reclaim {
			return st, ok, err
		}
		// Wait for the other nodes without holding the account: they may
		// be waiting for this node's leases at the same time.
		m.Reclaim(org.ID)
		mayReclaim = false
	}
}

// chargeLocked is Charge with the account locked. reclaim is true when
// the request should wait for other nodes' unspent leases and try again.
func (m *Meter) chargeLocked(ctx context.Context, a *account, org *snapglyph.Org, c snapglyph.Counter, n int64, mayReclaim bool) (st State, ok, reclaim bool, err error) {
	period, resets := snapglyph.Period(m.Now())
	p, err := m.poolLocked(ctx, a, org, c, period)
	if err != nil {
		return State{}, false, false, err
	}
	if p.lease < n {
		// Lease a block sized to what is left, so the last units are
		// spread one at a time and no node sits on them.
		if err := m.lease(ctx, org.ID, period, c, p, n); err != nil {
			return State{}, false, false, err
		}
		if p.lease < n && mayReclaim && time.Since(a.lastReclaim) >= reclaimEvery {
			a.lastReclaim = time.Now()
			return State{}, false, true, nil
		}
	}
	st = State{Limit: p.limit, ResetsAt: resets, Period: period}
	if p.lease < n {
		st.Remaining = max(p.limit-p.reserved+p.lease, 0)
		return st, false, false, nil
	}
	p.lease -= n
	st.Remaining = max(p.limit-p.reserved+p.lease, 0)
	if want := m.blockSize(p); want >= prefetchMin && p.lease < want/2 && !p.fetching {
		// Lease the next block before this one runs out, so requests
		// do not wait for the database write.
		m.startPrefetch(a, p, org.ID, period, c)
	}
	return st, true, false, nil
}

// startPrefetch starts a lease ahead of need for the account (locked),
// unless the meter is closed: then requests lease when they need to.
func (m *Meter) startPrefetch(a *account, p *pool, orgID, period string, c snapglyph.Counter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || a.releasing {
		return
	}
	p.fetching = true
	a.fetches++
	m.prefetches.Add(1)
	go m.prefetch(a, orgID, period, c, p.limit)
}

// lease asks the database for enough units to serve n.
func (m *Meter) lease(ctx context.Context, orgID, period string, c snapglyph.Counter, p *pool, n int64) error {
	need := n - p.lease
	granted, reserved, err := m.leaseOnce(ctx, orgID, period, c, max(m.MaxBlock, need), need, p.limit)
	if err != nil {
		return err
	}
	p.reserved = reserved
	p.lease += granted
	return nil
}

// leaseOnce settles the leases whose answers were lost, then leases under
// a new id; if that fails, the id waits to be settled in its turn.
func (m *Meter) leaseOnce(ctx context.Context, orgID, period string, c snapglyph.Counter, maxN, minN, limit int64) (granted, reserved int64, err error) {
	m.settle(ctx) // what it cannot settle now waits for the next lease
	id := snapglyph.NewID("lease")
	granted, reserved, err = m.store.Lease(ctx, id, orgID, period, c, maxN, minN, limit)
	m.Leases.Add(1)
	if err != nil {
		m.mu.Lock()
		if len(m.unsettled) < maxUnsettled {
			m.unsettled = append(m.unsettled, id)
		} else {
			m.StrandedLeases.Add(1)
		}
		m.mu.Unlock()
	}
	return granted, reserved, err
}

// maxUnsettled bounds the lease ids a meter keeps to settle: while the
// database is away every request that needs a lease fails and adds one.
const maxUnsettled = 10000

// settle settles the leases whose answers were lost. Those it cannot
// settle yet (the database is still away) are kept for the next try.
func (m *Meter) settle(ctx context.Context) error {
	m.mu.Lock()
	ids := m.unsettled
	m.unsettled = nil
	m.mu.Unlock()
	for i, id := range ids {
		if _, err := m.store.SettleLease(ctx, id); err != nil {
			m.mu.Lock()
			m.unsettled = append(m.unsettled, ids[i:]...)
			m.mu.Unlock()
			return fmt.Errorf("meter: settle %d leases: %w", len(ids)-i, err)
		}
	}
	return nil
}

// blockSize estimates the next lease from what this node last saw left
// (the database sizes the real one).
func (m *Meter) blockSize(p *pool) int64 {
	left := p.limit - p.reserved
	if left < singleUnits {
		return 1
	}
	return min(max(left/snapglyph.LeaseShare, 1), m.MaxBlock)
}

// prefetch leases a block for the account in the background. If the
// account changed meanwhile (forgotten, a new period, a new limit), the
// block goes straight back, before the account counts the prefetch as
// done: whoever waits for the account's prefetches finds it returned.
func (m *Meter) prefetch(a *account, orgID, period string, c snapglyph.Counter, limit int64) {
	defer m.prefetches.Done()
	ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
	defer cancel()
	granted, reserved, err := m.leaseOnce(ctx, orgID, period, c, m.MaxBlock, 1, limit)
	if err != nil {
		m.PrefetchErrors.Add(1)
	}
	a.mu.Lock()
	p := &a.pools[counterIndex(c)]
	current := !a.dead && a.period == period && p.loaded && p.limit == limit
	if current {
		p.fetching = false
		if err == nil {
			p.lease += granted
			p.reserved = max(p.reserved, reserved)
		}
	}
	if !current && err == nil && granted > 0 {
		a.mu.Unlock()
		if m.store.ReturnLease(ctx, orgID, period, c, granted) != nil {
			m.ReturnErrors.Add(1)
		}
		a.mu.Lock()
	}
	if a.fetches--; a.fetches == 0 {
		a.idle.Broadcast()
	}
	a.mu.Unlock()
}

// prefetchTimeout bounds a lease ahead of need, and so how long Forget,
// Release and Close can wait for one.
const prefetchTimeout = 10 * time.Second

// ChargeCall spends one API call, as every authenticated request does,
// and also returns the image credits' state, under one lock; a request
// refused for its calls (ok false) is told its credits all the same.
func (m *Meter) ChargeCall(ctx context.Context, org *snapglyph.Org) (calls, credits State, ok bool, err error) {
	calls, ok, err = m.charge(ctx, org, snapglyph.APICalls, 1, false)
	if err != nil {
		return calls, State{}, ok, err
	}
	used, known := m.spent(ctx, org.ID)
	m.report(&calls, snapglyph.APICalls, used, known, !ok)
	a := m.lock(org.ID)
	defer a.mu.Unlock()
	period, resets := snapglyph.Period(m.Now())
	p, err := m.poolLocked(ctx, a, org, snapglyph.ImageCredits, period)
	if err != nil {
		if ok {
			m.admit(org.ID, calls.Period, snapglyph.APICalls, -1)
			if !m.refundLocked(a, calls.Period, snapglyph.APICalls, 1) {
				a.mu.Unlock()
				m.returnRefund(org.ID, calls.Period, snapglyph.APICalls, 1)
				a.mu.Lock() // for the deferred Unlock
			}
		}
		return calls, State{}, false, err
	}
	credits = State{Limit: p.limit, Remaining: max(p.limit-p.reserved+p.lease, 0), ResetsAt: resets, Period: period}
	m.report(&credits, snapglyph.ImageCredits, used, known, false)
	return calls, credits, ok, nil
}

// Refund puts back n units charged in period (State.Period) by a request
// that was then refused (they were never spent): into the account's pool
// if it holds that period's allowance, otherwise — the account was
// released meanwhile (a reclaim by another node, a changed limit), or
// the period has ended — into the database, where they are still
// reserved under the lease they came from. Dropped, they would stay
// reserved with nobody holding them: lost to the customer for the month.
func (m *Meter) Refund(org *snapglyph.Org, c snapglyph.Counter, n int64, period string) {
	a := m.lock(org.ID)
	kept := m.refundLocked(a, period, c, n)
	m.admit(org.ID, period, c, -n)
	a.mu.Unlock()
	if !kept {
		m.returnRefund(org.ID, period, c, n)
	}
}

// refundLocked puts n units back into the account's pool, if it holds the
// period's allowance, and reports whether it did.
func (m *Meter) refundLocked(a *account, period string, c snapglyph.Counter, n int64) bool {
	p := &a.pools[counterIndex(c)]
	if a.period != period || !p.loaded {
		return false
	}
	p.lease += n
	return true
}

// returnRefund gives refunded units the account could not take back to
// the database.
func (m *Meter) returnRefund(orgID, period string, c snapglyph.Counter, n int64) {
	ctx, cancel := context.WithTimeout(context.Background(), prefetchTimeout)
	defer cancel()
	if m.store.ReturnLease(ctx, orgID, period, c, n) != nil {
		m.ReturnErrors.Add(1)
	}
}

// poolLocked returns the account's pool for the counter, starting a new
// period or picking up a changed limit first.
func (m *Meter) poolLocked(ctx context.Context, a *account, org *snapglyph.Org, c snapglyph.Counter, period string) (*pool, error) {
	if a.period != period {
		// A new month: the old period's unspent leases no longer matter.
		a.period = period
		a.pools = [2]pool{}
	}
	p := &a.pools[counterIndex(c)]
	limit := limitOf(org, c)
	if p.loaded && p.limit != limit {
		// The lease was taken under another limit: it goes back before
		// any of it is spent. If the database cannot take it, it stays
		// here for later and the request fails like any that needs the
		// database.
		if err := m.returnLease(ctx, org.ID, period, c, p); err != nil {
			return nil, err
		}
		p.loaded = false
	}
	if !p.loaded {
		u, err := m.store.Usage(ctx, org.ID, period)
		if err != nil {
			return nil, err
		}
		if c == snapglyph.ImageCredits {
			p.reserved = u.Reserved.ImageCredits
		} else {
			p.reserved = u.Reserved.APICalls
		}
		*p = pool{limit: limit, reserved: p.reserved, loaded: true}
	}
	return p, nil
}

// returnLease gives the pool's unspent lease back. On failure (the
// database is away) the lease stays with the pool: still reserved in the
// database, it can be spent or returned later, so an outage costs the
// customer nothing; the error is returned. It is counted in ReturnErrors
// only if Close gives up on it.
func (m *Meter) returnLease(ctx context.Context, orgID, period string, c snapglyph.Counter, p *pool) error {
	if p.lease <= 0 {
		return nil
	}
	n := p.lease
	if err := m.store.ReturnLease(ctx, orgID, period, c, n); err != nil {
		return fmt.Errorf("meter: return %d %s of %s: %w", n, c, orgID, err)
	}
	p.lease = 0
	p.reserved -= n
	return nil
}

// Forget returns an organisation's unspent leases and drops its state, so
// a changed plan or limit applies to the next request. Leases still in
// flight are waited for, so they too are back when it returns. The error
// says which returns failed (their units stay with the account, for later).
func (m *Meter) Forget(ctx context.Context, orgID string) error {
	m.mu.Lock()
	a := m.accounts[orgID]
	m.mu.Unlock()
	if a == nil {
		return nil
	}
	// The account stays in the map until its leases are back, so a
	// request in between waits for them instead of starting a new
	// account that would not see them returned.
	return m.release(ctx, orgID, a)
}

// release marks the account dead, waits for its leases in flight (they
// return their blocks themselves once they see it dead) and returns what
// it holds.
func (m *Meter) release(ctx context.Context, orgID string, a *account) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Dead only once nothing is in flight: Wait lets go of the account,
	// and a request that found it dead meanwhile would start a new one
	// that cannot see this one's units, still reserved in the database
	// (it was refused with the allowance not spent). Until then requests
	// charge this account, and what lands is returned with the rest.
	a.releasing = true
	for a.fetches > 0 {
		a.idle.Wait()
	}
	a.dead, a.releasing = true, false
	var errs []error
	for i := range a.pools {
		errs = append(errs, m.returnLease(ctx, orgID, a.period, counters[i], &a.pools[i]))
	}
	if err := errors.Join(errs...); err != nil {
		// Some units could not go back: the account keeps them and stays
		// in use (each request still checks its limit against the
		// organisation it brings), and the next Forget, Release or Close
		// tries again.
		a.dead = false
		return err
	}
	return nil
}

// Release returns every unspent lease and drops every account, as when
// changes may have been missed. The meter keeps serving: requests that
// come meanwhile start new accounts once the old ones' leases are back.
func (m *Meter) Release(ctx context.Context) error {
	m.mu.Lock()
	accounts := make(map[string]*account, len(m.accounts))
	for id, a := range m.accounts {
		accounts[id] = a
	}
	m.mu.Unlock()
	var errs []error
	for id, a := range accounts {
		errs = append(errs, m.release(ctx, id, a))
	}
	errs = append(errs, m.settle(ctx))
	return errors.Join(errs...)
}

// Close stops leasing ahead of need, waits for the leases in flight and
// returns every unspent lease: call it on a graceful stop, after the last
// request. A return that fails (the database is away: a restart, a
// failover) is tried again every CloseRetry until ctx ends, as the final
// usage flush is; only then are the units left reserved, and the error
// says how many. The leases ahead of need in flight are waited for until
// ctx ends too (a database that hangs holds one for up to 10 s): then
// they and every lease held are given up. A request that still comes
// leases only what it needs; a second Close returns that too.
func (m *Meter) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	waited := make(chan struct{})
	go func() { m.prefetches.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		held, inFlight := m.heldLeases(), m.fetchesInFlight()
		m.ReturnErrors.Add(held + inFlight)
		return fmt.Errorf("meter: %d leases not returned, %d leases ahead of need still in flight: %w", held, inFlight, ctx.Err())
	}
	for {
		err := m.Release(ctx)
		if err == nil {
			return nil
		}
		t := time.NewTimer(closeRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			m.ReturnErrors.Add(m.heldLeases())
			return err
		case <-t.C:
		}
	}
}

// heldLeases counts the pools that still hold unspent units.
func (m *Meter) heldLeases() uint64 {
	var n uint64
	m.eachAccount(func(a *account) {
		for i := range a.pools {
			if a.pools[i].lease > 0 {
				n++
			}
		}
	})
	return n
}

// fetchesInFlight counts the leases ahead of need in flight.
func (m *Meter) fetchesInFlight() uint64 {
	var n uint64
	m.eachAccount(func(a *account) { n += uint64(a.fetches) })
	return n
}

// eachAccount calls fn with each account, under the account's lock.
func (m *Meter) eachAccount(fn func(a *account)) {
	m.mu.Lock()
	accounts := slices.Collect(maps.Values(m.accounts))
	m.mu.Unlock()
	for _, a := range accounts {
		a.mu.Lock()
		fn(a)
		a.mu.Unlock()
	}
}

// closeRetry is how long Close waits before it tries again to return the
// leases it could not.
const closeRetry = 200 * time.Millisecond

// fetching reports whether a lease ahead of need is in flight for the
// organisation (for tests).
func (m *Meter) fetching(orgID string) bool {
	m.mu.Lock()
	a := m.accounts[orgID]
	m.mu.Unlock()
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fetches > 0
}
