package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// soak is one run.
type soak struct {
	cfg    config
	log    *slog.Logger
	out    io.Writer
	nodes  []*node
	orgs   []*org
	bad    []badKey // keys that must always be refused
	cliLog bytes.Buffer

	victim   *node     // the node SIGKILLed in the middle, if any
	killedAt time.Time // when it was killed
	victimMu sync.Mutex
	victimTx []answer // what the victim answered and charged, in order

	requests   atomic.Int64
	transport  atomic.Int64 // requests without an answer
	statusMu   sync.Mutex
	statuses   map[int]int64
	violations violations
	pgDownAt   time.Time
	pgUpAt     time.Time
	events     []string
}

// answer is one charged answer of the victim node.
type answer struct {
	at      time.Time
	org     *org
	credits int64
}

// org is one organisation and the soak's own count of what it was charged.
type org struct {
	name         string
	plan         string
	id           string
	callsLimit   atomic.Int64 // as last set by the operator
	creditsLimit atomic.Int64
	weight       int
	keys         []*apiKey // the keys its traffic uses

	calls, credits           atomic.Int64 // answered and charged
	maybeCalls, maybeCredits atomic.Int64 // sent but not answered: charged or not
	refused                  atomic.Int64 // 401/403/429 with one of its keys
	limited                  atomic.Int64 // 429

	mu    sync.Mutex
	codes []string // QR codes it created (ids), for reads
}

func (o *org) addCode(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.codes) < 500 {
		o.codes = append(o.codes, id)
	}
}

func (o *org) removeCode(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, c := range o.codes {
		if c == id {
			o.codes = append(o.codes[:i], o.codes[i+1:]...)
			return
		}
	}
}

func (o *org) code(n int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.codes) == 0 {
		return "qr_doesnotexist"
	}
	return o.codes[n%len(o.codes)]
}

// apiKey is a key the traffic uses. The operator may pause or revoke it
// during the run: from the moment the command returns, every request that
// starts must be refused.
type apiKey struct {
	id, secret, name string
	org              *org
	mustRefuse       atomic.Bool  // paused or revoked, and the command has returned
	changes          atomic.Int64 // odd while a command on it runs: answers may go either way
}

// badKey is a key that is refused whatever happens, and why.
type badKey struct {
	secret, kind string
}

// violations collects broken promises with a few examples each.
type violations struct {
	mu    sync.Mutex
	count map[string]int
	first map[string][]string
}

func (v *violations) add(kind, example string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.count == nil {
		v.count, v.first = map[string]int{}, map[string][]string{}
	}
	v.count[kind]++
	if len(v.first[kind]) < 3 {
		v.first[kind] = append(v.first[kind], example)
	}
}

// orgSpecs are the organisations: two with limits of 10,000 and more, two
// with small limits that are reached, one whose plan has no API.
var orgSpecs = []struct {
	name, plan      string
	calls, credits  int64 // limits set with org set-limits (0: the plan's)
	weight, traffic int   // share of requests; traffic keys
}{
	{"Big-A", "max", 1_000_000, 5_000_000, 35, 3},
	{"Big-B", "max", 20_000, 60_000, 30, 2},
	{"Small-C", "pro", 400, 300, 15, 2},
	{"Small-D", "pro", 0, 0, 15, 1},
	{"Starter-E", "pro", 0, 0, 5, 1}, // then set-plan starter: 403 api_not_in_plan
}

// setup starts the nodes and creates organisations and keys through the CLI.
func (s *soak) setup(ctx context.Context) error {
	s.statuses = map[int]int64{}
	if _, err := s.cli(ctx, "migrate"); err != nil {
		return err
	}
	for i := range s.cfg.nodes {
		n, err := s.startNode(ctx, i)
		if err != nil {
			return err
		}
		s.nodes = append(s.nodes, n)
	}
	s.log.Info("nodes started", "nodes", s.cfg.nodes, "logs", s.cfg.logDir)
	for i, spec := range orgSpecs {
		o := &org{name: spec.name, plan: spec.plan, weight: spec.weight}
		var created struct {
			ID                string `json:"id"`
			APICallsLimit     int64  `json:"apiCallsLimit"`
			ImageCreditsLimit int64  `json:"imageCreditsLimit"`
		}
		if err := s.cliJSON(ctx, &created, "org", "create", "--name", spec.name,
			"--owner-email", fmt.Sprintf("owner%d-%d@soak.test", i, time.Now().UnixNano()), "--plan", spec.plan); err != nil {
			return err
		}
		o.id = created.ID
		o.callsLimit.Store(created.APICallsLimit)
		o.creditsLimit.Store(created.ImageCreditsLimit)
		if spec.calls > 0 {
			if err := s.setLimits(ctx, o, spec.calls, spec.credits); err != nil {
				return err
			}
		}
		for k := range spec.traffic {
			key, err := s.createKey(ctx, o, fmt.Sprintf("%s-Backend-%d", spec.name, k+1))
			if err != nil {
				return err
			}
			o.keys = append(o.keys, key)
		}
		s.orgs = append(s.orgs, o)
	}
	// Keys that are always refused: paused, revoked, unknown, mistyped.
	a := s.orgs[0]
	paused, err := s.createKey(ctx, a, "Paused-Integration")
	if err != nil {
		return err
	}
	if _, err := s.cli(ctx, "key", "pause", paused.id); err != nil {
		return err
	}
	revoked, err := s.createKey(ctx, a, "Old-Integration")
	if err != nil {
		return err
	}
	if _, err := s.cli(ctx, "key", "revoke", revoked.id); err != nil {
		return err
	}
	typo := []byte(revoked.secret)
	typo[20] ^= 1 // still base62 (a letter or digit with its lowest bit flipped)
	s.bad = []badKey{{paused.secret, "paused"}, {revoked.secret, "revoked"},
		{snapglyph.GenerateKey(), "unknown"}, {string(typo), "mistyped"}}
	if _, err := s.cli(ctx, "org", "set-plan", s.orgs[4].id, "starter"); err != nil {
		return err
	}
	s.orgs[4].plan = "starter"
	return nil
}

func (s *soak) createKey(ctx context.Context, o *org, name string) (*apiKey, error) {
	var k struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if err := s.cliJSON(ctx, &k, "key", "create", "--org", o.id, "--name", name); err != nil {
		return nil, err
	}
	if snapglyph.CheckKey(k.Key) != nil {
		return nil, fmt.Errorf("key create --json did not print a well-formed key")
	}
	return &apiKey{id: k.ID, secret: k.Key, name: name, org: o}, nil
}

func (s *soak) setLimits(ctx context.Context, o *org, calls, credits int64) error {
	if _, err := s.cli(ctx, "org", "set-limits", o.id, "--api-calls", strconv.FormatInt(calls, 10),
		"--image-credits", strconv.FormatInt(credits, 10)); err != nil {
		return err
	}
	o.callsLimit.Store(calls)
	o.creditsLimit.Store(credits)
	return nil
}

// drive runs the traffic for the duration with the operator's events in
// the middle.
func (s *soak) drive(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range s.cfg.workers * s.cfg.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, w)
		}()
	}
	s.operator(ctx, start)
	<-ctx.Done()
	wg.Wait()
}

// operator plays the events at their share of the duration.
func (s *soak) operator(ctx context.Context, start time.Time) {
	at := func(share float64) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Until(start.Add(time.Duration(share * float64(s.cfg.duration))))):
			return true
		}
	}
	a, b, c, d := s.orgs[0], s.orgs[1], s.orgs[2], s.orgs[3]
	event := func(what string, err error) {
		line := fmt.Sprintf("%6.1fs  %s", time.Since(start).Seconds(), what)
		if err != nil {
			line += "  FAILED: " + err.Error()
			s.violations.add("operator command failed", what+": "+err.Error())
		}
		s.events = append(s.events, line)
		s.log.Info("event", "t", time.Since(start).Round(time.Millisecond).String(), "what", what, "err", err)
	}
	if !at(0.15) {
		return
	}
	event(fmt.Sprintf("raise %s to 900 calls, 700 credits (it had %d calls, %d credits answered)", c.name, c.calls.Load(), c.credits.Load()),
		s.setLimits(ctx, c, 900, 700))
	if !at(0.25) {
		return
	}
	event("revoke "+a.keys[2].name+" (in use)", s.changeKey(ctx, a.keys[2], "revoke", true))
	if s.cfg.pgRestart && at(0.30) {
		s.restartPostgres(ctx, event)
	}
	if !at(0.40) {
		return
	}
	event("pause "+b.keys[1].name+" (in use)", s.changeKey(ctx, b.keys[1], "pause", true))
	if !at(0.45) {
		return
	}
	calls, credits := b.calls.Load()+b.maybeCalls.Load()+1500, b.credits.Load()+b.maybeCredits.Load()+3000
	event(fmt.Sprintf("lower %s to %d calls, %d credits (answered so far + 1,500 / + 3,000)", b.name, calls, credits),
		s.setLimits(ctx, b, calls, credits))
	if !at(0.50) {
		return
	}
	event("resume "+b.keys[1].name, s.changeKey(ctx, b.keys[1], "resume", false))
	if s.cfg.kill && at(0.60) {
		v := s.nodes[len(s.nodes)-1]
		s.victimMu.Lock()
		s.victim, s.killedAt = v, time.Now()
		s.victimMu.Unlock()
		v.kill()
		event(fmt.Sprintf("SIGKILL node %d (%s)", v.index+1, v.addr), nil)
	}
	if !at(0.70) {
		return
	}
	event(fmt.Sprintf("raise %s's image credits to %d", d.name, d.creditsLimit.Load()+100),
		s.setLimits(ctx, d, d.callsLimit.Load(), d.creditsLimit.Load()+100))
}

// changeKey pauses, resumes or revokes a key through the CLI. While the
// command runs, answers may go either way; once it returned, a paused or
// revoked key is refused by every node.
func (s *soak) changeKey(ctx context.Context, k *apiKey, verb string, refuse bool) error {
	k.changes.Add(1)
	defer k.changes.Add(1)
	if !refuse {
		k.mustRefuse.Store(false)
	}
	_, err := s.cli(ctx, "key", verb, k.id)
	if refuse && err == nil {
		k.mustRefuse.Store(true)
	}
	return err
}

// restartPostgres stops PostgreSQL, keeps it down for -pg-down with the
// traffic running, starts it and waits (at most 60 s) until it accepts
// connections again.
func (s *soak) restartPostgres(ctx context.Context, event func(string, error)) {
	s.pgDownAt = time.Now()
	if err := shell(ctx, s.cfg.pgStop); err != nil {
		event("stop PostgreSQL", err)
		return
	}
	event("PostgreSQL stopped ($PG_STOP)", nil)
	select {
	case <-ctx.Done():
	case <-time.After(s.cfg.pgDown):
	}
	err := shell(context.WithoutCancel(ctx), s.cfg.pgStart)
	s.pgUpAt = time.Now()
	event("PostgreSQL started ($PG_START)", err)
	if err == nil {
		err = s.waitDB(ctx, 60*time.Second)
		event("PostgreSQL accepts connections", err)
	}
}
