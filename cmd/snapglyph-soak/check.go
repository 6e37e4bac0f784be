package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// fullKey is what a leaked API key looks like.
var fullKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// panicTrace is what a Go panic or fatal error leaves on standard error.
var panicTrace = regexp.MustCompile(`(?m)^(panic: |fatal error: |goroutine \d+ \[)`)

// waitDB polls PostgreSQL until it answers a query.
func (s *soak) waitDB(ctx context.Context, within time.Duration) error {
	db, err := sql.Open("pgx", s.cfg.db)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(within)
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = db.PingContext(qctx)
		cancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// report prints the results and counts the failed checks.
type report struct {
	s      *soak
	failed int
}

func (r *report) check(ok bool, what string, detail string) {
	mark := "PASS"
	if !ok {
		mark = "FAIL"
		r.failed++
	}
	fmt.Fprintf(r.s.out, "%s  %s", mark, what)
	if detail != "" {
		fmt.Fprintf(r.s.out, ": %s", detail)
	}
	fmt.Fprintln(r.s.out)
}

// finish checks the surviving nodes' health, stops them gracefully (so
// their usage is flushed), and compares what is stored with what the soak
// counted. It prints everything and reports whether all checks passed.
func (s *soak) finish(ctx context.Context) bool {
	r := &report{s: s}
	fmt.Fprintf(s.out, "\n== events\n%s\n", strings.Join(s.events, "\n"))
	fmt.Fprintf(s.out, "\n== traffic\n%d requests in %s over %d nodes (%d clients), %d without an answer; statuses %s\n",
		s.requests.Load(), s.cfg.duration, s.cfg.nodes, s.cfg.nodes*s.cfg.workers, s.transport.Load(), s.statusLine())
	fmt.Fprintf(s.out, "\n== checks\n")
	var survivors []*node
	for _, n := range s.nodes {
		if !n.killed.Load() {
			survivors = append(survivors, n)
		}
	}
	for _, n := range survivors {
		err := waitHTTP(ctx, n.url("/healthz"), 20*time.Second, n.done)
		if err == nil {
			err = waitHTTP(ctx, n.url("/readyz"), 20*time.Second, n.done)
		}
		r.check(err == nil, fmt.Sprintf("node %d healthy and ready (/healthz, /readyz 200)", n.index+1), errText(err))
	}
	for _, n := range survivors {
		err := n.terminate()
		r.check(err == nil, fmt.Sprintf("node %d stopped gracefully on SIGTERM (exit status 0)", n.index+1), errText(err))
	}
	s.checkLogs(r)
	s.checkViolations(r)
	s.checkUsage(ctx, r)
	fmt.Fprintf(s.out, "\n%d checks failed; logs in %s\n", r.failed, s.cfg.logDir)
	return r.failed == 0
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (s *soak) statusLine() string {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	var codes []int
	for c := range s.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, s.statuses[c]))
	}
	return strings.Join(parts, " ")
}

// checkLogs greps every node's log (and the CLI's standard error) for a
// full key and for panics.
func (s *soak) checkLogs(r *report) {
	logs := map[string][]byte{"CLI standard error": s.cliLog.Bytes()}
	for _, n := range s.nodes {
		b, err := os.ReadFile(n.log)
		if err != nil {
			r.check(false, "read "+n.log, err.Error())
			continue
		}
		logs[fmt.Sprintf("node %d", n.index+1)] = b
	}
	var leaks, panics []string
	lines := 0
	for name, b := range logs {
		lines += strings.Count(string(b), "\n")
		if fullKey.Match(b) {
			leaks = append(leaks, fmt.Sprintf("%s (%d times)", name, len(fullKey.FindAll(b, -1))))
		}
		if m := panicTrace.Find(b); m != nil {
			panics = append(panics, fmt.Sprintf("%s: %q", name, m))
		}
	}
	sort.Strings(leaks)
	sort.Strings(panics)
	r.check(len(panics) == 0, "no panic in any node's log", strings.Join(panics, "; "))
	r.check(len(leaks) == 0, fmt.Sprintf("no full API key in any log (%d lines)", lines), strings.Join(leaks, "; "))
}

func (s *soak) checkViolations(r *report) {
	v := &s.violations
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, kind := range []string{"500 answer", "accepted what must be refused", "accepted a Starter organisation's key",
		"full key in a response body", "operator command failed"} {
		r.check(v.count[kind] == 0, "no "+kind, strings.Join(v.first[kind], "; "))
	}
}

// stored is one organisation's row of usage_counters, and the sum of its
// keys' key_usage rows.
type stored struct {
	calls, credits, reserved, reservedCredits int64
	keyCalls, keyCredits                      int64
	callsLimit, creditsLimit                  sql.NullInt64
}

func (s *soak) readUsage(ctx context.Context, o *org) (stored, error) {
	var st stored
	db, err := sql.Open("pgx", s.cfg.db)
	if err != nil {
		return st, err
	}
	defer db.Close()
	period, _ := snapglyph.Period(time.Now())
	err = db.QueryRowContext(ctx, `SELECT api_calls_used, image_credits_used, api_calls_reserved, image_credits_reserved
		FROM usage_counters WHERE org_id = $1 AND period = $2`, o.id, period).
		Scan(&st.calls, &st.credits, &st.reserved, &st.reservedCredits)
	if err == sql.ErrNoRows {
		err = nil
	}
	if err != nil {
		return st, fmt.Errorf("usage_counters: %w", err)
	}
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(u.api_calls), 0), COALESCE(SUM(u.image_credits), 0)
		FROM key_usage u JOIN api_keys k ON k.id = u.key_id WHERE k.org_id = $1 AND u.period = $2`, o.id, period).
		Scan(&st.keyCalls, &st.keyCredits)
	if err != nil {
		return st, fmt.Errorf("key_usage: %w", err)
	}
	return st, nil
}

// lostBound is what the killed node answered and charged for o in the last
// flush interval before it was killed: what its SIGKILL may lose.
func (s *soak) lostBound(o *org, window time.Duration) (calls, credits int64) {
	s.victimMu.Lock()
	defer s.victimMu.Unlock()
	if s.victim == nil {
		return 0, 0
	}
	from := s.killedAt.Add(-window)
	for i := len(s.victimTx) - 1; i >= 0 && !s.victimTx[i].at.Before(from); i-- {
		if a := s.victimTx[i]; a.org == o {
			calls++
			credits += a.credits
		}
	}
	return calls, credits
}

// checkUsage compares, per organisation, the stored usage with the soak's
// own count, and both with the limits.
func (s *soak) checkUsage(ctx context.Context, r *report) {
	fmt.Fprintf(s.out, "\n== usage per organisation (API calls / image credits)\n")
	fmt.Fprintf(s.out, "%-10s %-17s %-17s %-17s %-13s %-15s %-17s %s\n", "org", "limit", "answered+charged", "stored", "no answer",
		"shortfall", "killed node's", "refused (429)")
	fmt.Fprintf(s.out, "%-10s %-17s %-17s %-17s %-13s %-15s %-17s\n", "", "", "(soak's count)", "(usage_counters)", "(either way)", "(counted−stored)", "last flush interval")
	type row struct {
		o  *org
		st stored
	}
	var rows []row
	var totalShort, totalBound, totalShortCr, totalBoundCr int64
	for _, o := range s.orgs {
		st, err := s.readUsage(ctx, o)
		if err != nil {
			r.check(false, "read the usage of "+o.name, err.Error())
			continue
		}
		rows = append(rows, row{o, st})
		bc, bcr := s.lostBound(o, s.cfg.flush)
		short, shortCr := o.calls.Load()-st.calls, o.credits.Load()-st.credits
		totalShort, totalShortCr, totalBound, totalBoundCr = totalShort+max(short, 0), totalShortCr+max(shortCr, 0), totalBound+bc, totalBoundCr+bcr
		fmt.Fprintf(s.out, "%-10s %-17s %-17s %-17s %-13s %-15s %-17s %d\n", o.name,
			pair(o.callsLimit.Load(), o.creditsLimit.Load()), pair(o.calls.Load(), o.credits.Load()), pair(st.calls, st.credits),
			pair(o.maybeCalls.Load(), o.maybeCredits.Load()), pair(short, shortCr), pair(bc, bcr), o.limited.Load())
	}
	fmt.Fprintf(s.out, "total shortfall %d calls / %d credits; the killed node answered %d calls / %d credits in its last flush interval (%s) before the SIGKILL\n\n",
		totalShort, totalShortCr, totalBound, totalBoundCr, s.cfg.flush)
	for _, rw := range rows {
		o, st := rw.o, rw.st
		callsLimit, creditsLimit := o.callsLimit.Load(), o.creditsLimit.Load()
		if o.plan != "starter" {
			r.check(st.calls <= callsLimit && st.credits <= creditsLimit && o.calls.Load() <= callsLimit && o.credits.Load() <= creditsLimit,
				o.name+": no limit exceeded (stored and answered ≤ limit)",
				fmt.Sprintf("stored %s, answered %s, limit %s", pair(st.calls, st.credits), pair(o.calls.Load(), o.credits.Load()), pair(callsLimit, creditsLimit)))
		} else {
			r.check(st.calls == 0 && o.calls.Load() == 0, o.name+": nothing charged on the Starter plan", pair(st.calls, st.credits))
		}
		bc, bcr := s.lostBound(o, s.cfg.flush)
		lo, hi := o.calls.Load()-bc, o.calls.Load()+o.maybeCalls.Load()
		loCr, hiCr := o.credits.Load()-bcr, o.credits.Load()+o.maybeCredits.Load()
		r.check(st.calls >= lo && st.calls <= hi && st.credits >= loCr && st.credits <= hiCr,
			o.name+": stored usage = answered and charged, less at most the killed node's last flush interval",
			fmt.Sprintf("stored %s, allowed calls %d..%d, credits %d..%d", pair(st.calls, st.credits), lo, hi, loCr, hiCr))
		r.check(st.keyCalls == st.calls && st.keyCredits == st.credits, o.name+": per-key usage adds up to the organisation's",
			fmt.Sprintf("keys %s, organisation %s", pair(st.keyCalls, st.keyCredits), pair(st.calls, st.credits)))
		// Every node but the killed one has returned its unspent leases on
		// SIGTERM: what is still reserved and not used is what the killed
		// node held (the customer's loss, bounded), and nothing without a kill.
		lostCalls, lostCredits := st.reserved-st.calls, st.reservedCredits-st.credits
		if s.victim == nil {
			r.check(lostCalls == 0 && lostCredits == 0, o.name+": no allowance lost (after a graceful stop, reserved = used)",
				fmt.Sprintf("reserved %s, used %s", pair(st.reserved, st.reservedCredits), pair(st.calls, st.credits)))
		} else {
			// The block in use and, once it is half spent, the next one
			// leased ahead: one and a half blocks at the most.
			r.check(lostCalls <= leaseBlock*3/2 && lostCredits <= leaseBlock*3/2,
				fmt.Sprintf("%s: the SIGKILL lost at most one and a half lease blocks (%d) of each allowance", o.name, leaseBlock*3/2),
				fmt.Sprintf("reserved but never used: %s", pair(lostCalls, lostCredits)))
		}
	}
}

// leaseBlock is the nodes' --lease-block (the default): the most of an
// allowance a node holds, and so what a crash may lose (README, metering).
const leaseBlock = 10_000

func pair(a, b int64) string { return fmt.Sprintf("%d / %d", a, b) }
