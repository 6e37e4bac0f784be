// Package service holds the rules of SnapGlyph's management actions (who
// may create, pause, resume and revoke keys; which plans have the API;
// what input is valid). The CLI, the API and the dashboard all call it, so
// a rule holds the same everywhere.
package service

import (
	"context"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// Service carries out management actions. Its methods are safe for
// concurrent use.
type Service struct {
	db       *store.DB // its Now is the service's clock too
	matrices *matrixCache
	images   atomic.Pointer[images]
	// Changed, if set, is called after a change commits, so this
	// process's caches drop it at once (other processes hear of it from
	// the database).
	Changed func(snapglyph.Change)
	// Unconfirmed, if set, is called when a committed change was not
	// confirmed by every node in time (see changed): the CLI reports it.
	Unconfirmed func(Unconfirmed)
	// Log, if set, gets a warning for each unconfirmed change.
	Log *slog.Logger
	// UnconfirmedChanges counts them, for metrics.
	UnconfirmedChanges atomic.Uint64
	// LogRetention is the request log's retention by plan (nil: the
	// default): the longest is how far back a search may go.
	LogRetention snapglyph.LogRetention
	// Webhooks is where webhook endpoints may point.
	Webhooks WebhookPolicy
	// PlanChanges is how an Owner's plan change takes effect ("":
	// PlanChangesOperator).
	PlanChanges PlanChangeMode

	// qrWrites takes turns for the changes of one QR code in this
	// process (a stripe per code id), so concurrent PATCHes of one code
	// do not each read it, collide at the write and retry; the version
	// check still stands between processes.
	qrWrites [64]sync.Mutex
}

// Unconfirmed is a committed change that some node may not have applied
// when the call returned. The change is in the database and applies
// everywhere eventually (a node that lost its listener serves nothing
// from its cache until it has caught up), but the caller cannot assume
// that every node already enforces it.
type Unconfirmed struct {
	Change snapglyph.Change
	// Nodes are the ids of the live nodes that did not confirm in time.
	Nodes []string
	// Err is set when the wait itself failed (e.g. the database went
	// away); Nodes is then what was known, maybe nothing.
	Err error
}

// New returns a service over db.
func New(db *store.DB) *Service {
	s := &Service{db: db, matrices: newMatrixCache(4096)}
	s.images.Store(newImages(DefaultImageOptions()))
	return s
}

// ApplyTimeout bounds how long a change waits for other nodes to confirm
// it. A node that does not confirm in time has lost its database link or
// its listener, and then serves nothing from its cache.
const ApplyTimeout = 2 * time.Second

// changed makes a committed change take effect: at once in this process,
// and, on PostgreSQL, it waits until every other listening node has
// applied it, so it is in force everywhere when the call returns. (On
// SQLite every node checks data_version before each request.) A change
// not confirmed by every node within ApplyTimeout is reported: to the
// Unconfirmed hook, in the log and in UnconfirmedChanges. It returns that
// report, or nil when every node confirmed.
func (s *Service) changed(ctx context.Context, kind, id string) *Unconfirmed {
	if u := s.changedAll(ctx, kind, []string{id}); len(u) > 0 {
		return &u[0]
	}
	return nil
}

// changedAll is changed for several changes committed together (a leak
// report's keys): each takes effect in this process at once, and it waits
// once for every other node to apply all of them, since a node confirms
// the change log up to its end. Each change not confirmed in time is
// reported as changed reports it.
func (s *Service) changedAll(ctx context.Context, kind string, ids []string) []Unconfirmed {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if s.Changed != nil {
			s.Changed(snapglyph.Change{Kind: kind, RefID: id})
		}
	}
	if !s.db.Postgres() {
		return nil
	}
	behind, err := s.db.WaitApplied(ctx, ApplyTimeout)
	if err == nil && len(behind) == 0 {
		return nil
	}
	out := make([]Unconfirmed, 0, len(ids))
	for _, id := range ids {
		u := Unconfirmed{Change: snapglyph.Change{Kind: kind, RefID: id}, Nodes: behind, Err: err}
		s.UnconfirmedChanges.Add(1)
		if s.Log != nil {
			s.Log.Warn("change committed but not confirmed by every node", "kind", kind, "id", id, "nodes", behind, "err", err)
		}
		if s.Unconfirmed != nil {
			s.Unconfirmed(u)
		}
		out = append(out, u)
	}
	return out
}

// NewOrg is the input of CreateOrg.
type NewOrg struct {
	Name       string
	OwnerEmail string
	Plan       string // default "trial"
	Password   string // optional: the Owner's dashboard password
}

// CreateOrg creates an organisation and its Owner. An Owner email that
// has an account makes that account the Owner, with its own password: a
// Password given for it is refused (ECONFLICT, code account_exists) and
// nothing is created, as sign-up and invitations refuse to set the
// password of an existing account. Returns EINVALID, ECONFLICT.
func (s *Service) CreateOrg(ctx context.Context, in NewOrg) (*snapglyph.Org, *snapglyph.User, error) {
	name, err := snapglyph.NormalizeOrgName(in.Name)
	if err != nil {
		return nil, nil, err
	}
	email, err := normalizeEmail(in.OwnerEmail)
	if err != nil {
		return nil, nil, err
	}
	planName := in.Plan
	if planName == "" {
		planName = string(snapglyph.PlanTrial)
	}
	plan, err := snapglyph.ParsePlan(planName)
	if err != nil {
		return nil, nil, err
	}
	var hash string
	if in.Password != "" {
		if hash, err = HashPassword(in.Password); err != nil {
			return nil, nil, err
		}
	}
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: name, Plan: plan}
	if plan == snapglyph.PlanTrial {
		org.TrialEndsAt = s.db.Now().Add(snapglyph.TrialLength).UTC()
	}
	owner, err := s.db.CreateOrg(ctx, org, email, hash)
	if snapglyph.ErrorCode(err) == "account_exists" {
		return nil, nil, snapglyph.Codef(snapglyph.ECONFLICT, "account_exists",
			"an account with the email %s already exists and keeps its own password, so nothing was created: leave out --password-stdin to make that account the Owner of the new organisation (snapglyph user set-password %s --password-stdin changes its password and ends its sessions)", email, email)
	} else if err != nil {
		return nil, nil, err
	}
	return org, owner, nil
}

// normalizeEmail returns the one spelling of an email address that is
// stored and looked up (emailKey), and EINVALID if it is not one.
func normalizeEmail(s string) (string, error) {
	if msg := snapglyph.TextProblem(s); msg != "" {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "the email address %s", msg)
	}
	s = emailKey(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", snapglyph.Errorf(snapglyph.EINVALID, "%q is not an email address", s)
	}
	return s, nil
}

// emailKey is an email address as stored and looked up: trimmed, in
// Unicode's composed form (NFC) and lower case, so that "josé" typed with
// a composed é or with e and a combining accent, in any case, is one
// address. (Lower-casing can undo composition, hence NFC again.)
func emailKey(s string) string {
	return norm.NFC.String(strings.ToLower(norm.NFC.String(strings.TrimSpace(s))))
}

// SetPlan changes an organisation's plan. Only the operator (and, later,
// billing) may; an Owner asks with ChangePlan. The organisation's pending
// plan request is closed with it: approved if it asked for this plan,
// superseded otherwise. Returns EINVALID, EFORBIDDEN, ENOTFOUND.
func (s *Service) SetPlan(ctx context.Context, actor snapglyph.Actor, orgID, planName string) error {
	plan, err := snapglyph.ParsePlan(planName)
	if err != nil {
		return err
	}
	if actor.UserID != "" {
		return snapglyph.Errorf(snapglyph.EFORBIDDEN, "plans are changed by the operator")
	}
	if err := s.db.SetPlan(ctx, orgID, plan, actor); err != nil {
		return err
	}
	s.changed(ctx, snapglyph.ChangeOrg, orgID)
	return nil
}

// PlanLimit, given to SetLimits as a limit, removes the operator's value:
// the organisation's plan sets that limit again.
const PlanLimit = store.PlanLimit

// MaxLimit is the largest limit SetLimits accepts, for every caller (the
// operator's command checks its flags against it too): a round number
// that every client reads exactly (JSON numbers above 2^53 lose
// precision in JavaScript).
const MaxLimit = 1_000_000_000_000

// SetLimits overrides an organisation's monthly limits (nil: unchanged;
// PlanLimit: the plan's again). Returns EINVALID for negative values and
// values above MaxLimit, EFORBIDDEN, ENOTFOUND.
func (s *Service) SetLimits(ctx context.Context, actor snapglyph.Actor, orgID string, apiCalls, imageCredits *int64) error {
	if apiCalls == nil && imageCredits == nil {
		return snapglyph.Errorf(snapglyph.EINVALID, "give --api-calls, --image-credits or both (a number, or plan for the plan's limit)")
	}
	for _, v := range []*int64{apiCalls, imageCredits} {
		switch {
		case v == nil || *v == PlanLimit:
		case *v < 0:
			return snapglyph.Errorf(snapglyph.EINVALID, "a limit cannot be negative (got %d)", *v)
		case *v > MaxLimit:
			return snapglyph.Errorf(snapglyph.EINVALID, "a limit is at most %d (10^12), not %d", int64(MaxLimit), *v)
		}
	}
	if actor.UserID != "" {
		return snapglyph.Errorf(snapglyph.EFORBIDDEN, "limits are changed by the operator")
	}
	if err := s.db.SetLimits(ctx, orgID, apiCalls, imageCredits, actor); err != nil {
		return err
	}
	s.changed(ctx, snapglyph.ChangeOrg, orgID)
	return nil
}

// Orgs returns every organisation, oldest first, with what it spent in
// the period as stored: nodes' counts not yet flushed (at most one flush
// interval's) are not in it. The operator's only. Returns EFORBIDDEN.
func (s *Service) Orgs(ctx context.Context, actor snapglyph.Actor, period string) ([]snapglyph.OrgUsage, error) {
	if actor.UserID != "" {
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "only the operator lists organisations")
	}
	return s.db.Orgs(ctx, period)
}

// authorizeKeys checks that actor may manage the organisation's keys.
// Returns ENOTFOUND (not a member, or acting in another organisation: the
// organisation is not disclosed) or EFORBIDDEN (a Member).
func (s *Service) authorizeKeys(ctx context.Context, actor snapglyph.Actor, orgID string) error {
	if !actor.ActsIn(orgID) {
		return snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	}
	if actor.UserID == "" {
		return nil // the operator
	}
	role, err := s.db.Role(ctx, orgID, actor.UserID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	} else if err != nil {
		return err
	}
	if !role.CanManageKeys() {
		return snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only Owners and Admins can manage API keys; ask one of them")
	}
	return nil
}
