package service

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// NewKey is a key just created: the only time Secret exists.
type NewKey struct {
	*snapglyph.APIKey
	Secret string
	// Hint suggests a better name when the name is generic.
	Hint string
}

// KeySpec is what a new key is made with. Zero values are the defaults:
// no expiry, full access, every address.
type KeySpec struct {
	Name string
	// ExpiresAt or ExpiresIn (not both) set an expiry: at least a minute
	// and at most 10 years ahead.
	ExpiresAt time.Time
	ExpiresIn time.Duration
	// Scopes restricts the key to these permissions (FullAccess: none).
	Scopes snapglyph.Scopes
	// AllowedIPs restricts the key to these addresses (nil: none).
	AllowedIPs []netip.Prefix
	// Nonce, if set, makes the create happen at most once (a form sent
	// twice): the second attempt returns ECONFLICT (key_already_created).
	Nonce string
}

// allScopes is every permission bit.
const allScopes = snapglyph.Scopes(snapglyph.ScopeQRRead | snapglyph.ScopeQRWrite | snapglyph.ScopeImagesRead | snapglyph.ScopeUsageRead)

// check validates the spec at time now and sets ExpiresAt from ExpiresIn.
func (spec *KeySpec) check(now time.Time) error {
	name, err := snapglyph.NormalizeKeyName(spec.Name)
	if err != nil {
		return err
	}
	spec.Name = name
	switch {
	case spec.ExpiresIn != 0 && !spec.ExpiresAt.IsZero():
		return snapglyph.Errorf(snapglyph.EINVALID, "give an expiry time or a duration, not both")
	case spec.ExpiresIn < 0:
		return snapglyph.Errorf(snapglyph.EINVALID, "the expiry duration cannot be negative")
	case spec.ExpiresIn != 0 && spec.ExpiresIn < snapglyph.MinKeyLifetime:
		return snapglyph.Errorf(snapglyph.EINVALID, "a key's lifetime is at least one minute (got %s)", spec.ExpiresIn)
	case spec.ExpiresIn > snapglyph.MaxKeyLifetime:
		return snapglyph.Errorf(snapglyph.EINVALID, "a key's lifetime is at most 10 years (3650d); leave the expiry out for a key that never expires")
	case spec.ExpiresIn != 0:
		// Checked as a duration above; stored in milliseconds, rounded
		// up so the key lives at least as long as asked.
		at := now.Add(spec.ExpiresIn)
		spec.ExpiresAt = time.UnixMilli(at.UnixMilli()).UTC()
		if spec.ExpiresAt.Before(at) {
			spec.ExpiresAt = spec.ExpiresAt.Add(time.Millisecond)
		}
		spec.ExpiresIn = 0
	default:
		if !spec.ExpiresAt.IsZero() {
			// Stored in milliseconds: compare what will be stored.
			spec.ExpiresAt = time.UnixMilli(spec.ExpiresAt.UnixMilli()).UTC()
		}
		if err := snapglyph.CheckExpiry(spec.ExpiresAt, now); err != nil {
			return err
		}
	}
	if spec.Scopes&^allScopes != 0 {
		return snapglyph.Errorf(snapglyph.EINVALID, "unknown permission bits %#x", uint8(spec.Scopes&^allScopes))
	}
	if len(spec.AllowedIPs) > 0 {
		// Whoever built the list, it must be what ParseAllowedIPs gives.
		ips, err := snapglyph.ParseAllowedIPs(snapglyph.FormatAllowedIPs(spec.AllowedIPs))
		if err != nil {
			return err
		}
		spec.AllowedIPs = ips
	}
	if len(spec.Nonce) > 64 {
		spec.Nonce = ""
	}
	// The nonce comes back from a browser: a value that is not text would
	// reach the database (PostgreSQL refuses NUL and invalid UTF-8).
	if err := snapglyph.CheckText("nonce", spec.Nonce); err != nil {
		return snapglyph.Errorf(snapglyph.EINVALID, "the form's one-time value is not valid; reload the page and try again")
	}
	return nil
}

// CreateKey creates an API key for the organisation. Returns EINVALID for
// a bad name, ENOTFOUND, EFORBIDDEN (a Member, or a plan without API
// access).
func (s *Service) CreateKey(ctx context.Context, actor snapglyph.Actor, orgID, name string) (*NewKey, error) {
	return s.CreateKeyWith(ctx, actor, orgID, KeySpec{Name: name})
}

// CreateKeyOnce is CreateKey for a form that may be sent twice (a page
// refresh): a non-empty nonce creates at most one key, and the second
// attempt returns ECONFLICT (key_already_created).
func (s *Service) CreateKeyOnce(ctx context.Context, actor snapglyph.Actor, orgID, name, nonce string) (*NewKey, error) {
	return s.CreateKeyWith(ctx, actor, orgID, KeySpec{Name: name, Nonce: nonce})
}

// CreateKeyWith creates an API key with an expiry and restrictions.
// Returns EINVALID (the spec), ENOTFOUND, EFORBIDDEN (a Member, or a plan
// without API access), ECONFLICT (key_name_taken: another live key has
// the name; key_already_created: the nonce was used).
func (s *Service) CreateKeyWith(ctx context.Context, actor snapglyph.Actor, orgID string, spec KeySpec) (*NewKey, error) {
	now := s.db.Now()
	if err := spec.check(now); err != nil {
		return nil, err
	}
	if err := s.authorizeKeys(ctx, actor, orgID); err != nil {
		return nil, err
	}
	org, err := s.db.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if !org.HasAPI(now) {
		return nil, org.ErrNotInPlan(now)
	}
	secret := snapglyph.GenerateKey()
	key := &snapglyph.APIKey{
		ID:         snapglyph.NewID("key"),
		OrgID:      orgID,
		Name:       spec.Name,
		Prefix:     snapglyph.KeyDisplayPrefix(secret),
		ExpiresAt:  spec.ExpiresAt,
		Scopes:     spec.Scopes,
		AllowedIPs: spec.AllowedIPs,
	}
	if err := s.db.CreateKey(ctx, key, snapglyph.DigestKey(secret), actor, spec.Nonce); err != nil {
		return nil, err
	}
	// Nodes may have cached the new key's digest as unknown: it works
	// everywhere once this returns.
	s.changed(ctx, snapglyph.ChangeKeyCreated, key.ID)
	return &NewKey{APIKey: key, Secret: secret, Hint: snapglyph.KeyNameHint(spec.Name)}, nil
}

// Keys lists an organisation's keys, newest first; revoked keys only if
// asked. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) Keys(ctx context.Context, actor snapglyph.Actor, orgID string, withRevoked bool) ([]*snapglyph.APIKey, error) {
	if err := s.authorizeKeys(ctx, actor, orgID); err != nil {
		return nil, err
	}
	if _, err := s.db.Org(ctx, orgID); err != nil {
		return nil, err
	}
	return s.db.Keys(ctx, orgID, withRevoked)
}

// Key returns one key for someone who may manage its organisation's keys.
// Returns ENOTFOUND (also for a key of an organisation the actor is not
// in, or not acting in: see Actor.OrgID), EFORBIDDEN (a Member). Every
// action on a key by id looks it up here first.
func (s *Service) Key(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	k, err := s.db.Key(ctx, keyID)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeKeys(ctx, actor, k.OrgID); err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no API key has the id %s", snapglyph.QuoteID(keyID))
		}
		return nil, err
	}
	return k, nil
}

// KeyEvents returns the audit events about a key, newest first, at most
// limit. Returns what Key returns.
func (s *Service) KeyEvents(ctx context.Context, actor snapglyph.Actor, keyID string, limit int) ([]*snapglyph.AuditEvent, error) {
	k, err := s.Key(ctx, actor, keyID)
	if err != nil {
		return nil, err
	}
	return s.db.KeyEvents(ctx, k.OrgID, k.ID, limit)
}

// PauseKey stops a key until it is resumed.
func (s *Service) PauseKey(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	return s.PauseKeyWith(ctx, actor, keyID, "", time.Time{})
}

// PauseKeyWith pauses a key with an optional reason (at most 200
// characters, shown in the list and the audit log) and an optional time
// at which the key works again by itself (at least a minute ahead; zero:
// until resumed). Returns EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT (a
// revoked, expired or already paused key).
func (s *Service) PauseKeyWith(ctx context.Context, actor snapglyph.Actor, keyID, reason string, until time.Time) (*snapglyph.APIKey, error) {
	reason, err := snapglyph.NormalizeReason(reason)
	if err != nil {
		return nil, err
	}
	if !until.IsZero() {
		until = time.UnixMilli(until.UnixMilli()).UTC()
		now := s.db.Now()
		switch {
		case until.Sub(now) < time.Minute:
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "the pause's end %s is not at least one minute in the future", snapglyph.FormatTime(until))
		case until.After(snapglyph.LatestAhead(now)):
			return nil, snapglyph.Errorf(snapglyph.EINVALID, "the pause's end %s is more than 10 years away (the latest is %s); leave it out to pause until resumed",
				snapglyph.FormatTime(until), snapglyph.FormatTime(snapglyph.LatestAhead(now)))
		}
	}
	if _, err := s.Key(ctx, actor, keyID); err != nil {
		return nil, err
	}
	k, err := s.db.ChangeKeyStatus(ctx, keyID, snapglyph.KeyPaused, store.KeyPause{Reason: reason, Until: until}, actor)
	if err != nil {
		return nil, err
	}
	s.changed(ctx, snapglyph.ChangeKey, keyID)
	return k, nil
}

// ResumeKey makes a paused key work again. A revoked or expired key
// cannot be resumed (ECONFLICT).
func (s *Service) ResumeKey(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	return s.setKeyStatus(ctx, actor, keyID, snapglyph.KeyActive)
}

// RevokeKey stops a key for good. Revoking is allowed on every plan, so a
// leaked key can always be shut off.
func (s *Service) RevokeKey(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	return s.setKeyStatus(ctx, actor, keyID, snapglyph.KeyRevoked)
}

func (s *Service) setKeyStatus(ctx context.Context, actor snapglyph.Actor, keyID string, status snapglyph.KeyStatus) (*snapglyph.APIKey, error) {
	if _, err := s.Key(ctx, actor, keyID); err != nil {
		return nil, err
	}
	k, err := s.db.SetKeyStatus(ctx, keyID, status, actor)
	if err != nil {
		return nil, err
	}
	s.changed(ctx, snapglyph.ChangeKey, keyID)
	return k, nil
}

// RenameKey renames a key. Returns EINVALID (the name), ENOTFOUND,
// EFORBIDDEN, ECONFLICT (revoked, the same name, or key_name_taken: a
// live key of the organisation has it).
func (s *Service) RenameKey(ctx context.Context, actor snapglyph.Actor, keyID, name string) (*snapglyph.APIKey, error) {
	name, err := snapglyph.NormalizeKeyName(name)
	if err != nil {
		return nil, err
	}
	if _, err := s.Key(ctx, actor, keyID); err != nil {
		return nil, err
	}
	k, err := s.db.RenameKey(ctx, keyID, name, actor)
	if err != nil {
		return nil, err
	}
	s.changed(ctx, snapglyph.ChangeKey, keyID)
	return k, nil
}

// RestrictKey replaces a key's permissions (FullAccess: none) and IP
// allowlist (nil: every address). The change applies to the key's next
// request on every node. Returns EINVALID, ENOTFOUND, EFORBIDDEN,
// ECONFLICT (revoked, or nothing changes).
func (s *Service) RestrictKey(ctx context.Context, actor snapglyph.Actor, keyID string, scopes snapglyph.Scopes, ips []netip.Prefix) (*snapglyph.APIKey, error) {
	spec := KeySpec{Name: "-", Scopes: scopes, AllowedIPs: ips}
	if err := spec.check(s.db.Now()); err != nil {
		return nil, err
	}
	if _, err := s.Key(ctx, actor, keyID); err != nil {
		return nil, err
	}
	k, err := s.db.SetKeyRestrictions(ctx, keyID, spec.Scopes, spec.AllowedIPs, actor)
	if err != nil {
		return nil, err
	}
	s.changed(ctx, snapglyph.ChangeKey, keyID)
	return k, nil
}

// RolledKey is the result of a roll: the new key, shown once like a
// created key, and the old key, which works until Old.OverlapEndsAt.
type RolledKey struct {
	*NewKey
	Old *snapglyph.APIKey
}

// RollKey replaces a key with a new one that inherits its name,
// permissions, IP allowlist and expiry policy (a key that expired N days
// after its creation gives a key that expires N days after the roll). The
// old key keeps working for overlap (0 to 7 days), but never past its own
// expiry, and then answers api_key_expired naming the new key's prefix.
// A paused key may be rolled (the new key is active); an expired one too
// (its overlap is over already). Returns EINVALID (the overlap),
// ENOTFOUND, EFORBIDDEN (a Member, a plan without API access), ECONFLICT
// (revoked, or rolled already).
func (s *Service) RollKey(ctx context.Context, actor snapglyph.Actor, keyID string, overlap time.Duration) (*RolledKey, error) {
	if overlap < 0 || overlap > snapglyph.MaxRollOverlap {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the overlap is from 0 (the old key stops at once) to 7 days (168h); got %s", overlap)
	}
	old, err := s.Key(ctx, actor, keyID)
	if err != nil {
		return nil, err
	}
	org, err := s.db.Org(ctx, old.OrgID)
	if err != nil {
		return nil, err
	}
	if now := s.db.Now(); !org.HasAPI(now) {
		return nil, org.ErrNotInPlan(now)
	}
	var secret string
	plan := func(old *snapglyph.APIKey, now time.Time) (*snapglyph.APIKey, snapglyph.KeyDigest, time.Time, error) {
		secret = snapglyph.GenerateKey()
		nk := &snapglyph.APIKey{
			ID:         snapglyph.NewID("key"),
			Name:       old.Name,
			Prefix:     snapglyph.KeyDisplayPrefix(secret),
			Scopes:     old.Scopes,
			AllowedIPs: old.AllowedIPs,
		}
		if !old.ExpiresAt.IsZero() {
			nk.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt)).Truncate(time.Millisecond)
		}
		ends := now.Add(overlap).Truncate(time.Millisecond)
		if end := old.EndsAt(); !end.IsZero() && end.Before(ends) {
			ends = end // the overlap never outlives the old key
		}
		return nk, snapglyph.DigestKey(secret), ends, nil
	}
	r, err := s.db.RollKey(ctx, keyID, plan, actor)
	if err != nil {
		return nil, err
	}
	if s.Changed != nil {
		s.Changed(snapglyph.Change{Kind: snapglyph.ChangeKeyCreated, RefID: r.New.ID})
	}
	s.changed(ctx, snapglyph.ChangeKey, r.Old.ID)
	return &RolledKey{NewKey: &NewKey{APIKey: r.New, Secret: secret, Hint: snapglyph.KeyNameHint(r.New.Name)}, Old: r.Old}, nil
}

// EndOverlap stops a rolled key now, before the end of its overlap.
// Returns ENOTFOUND, EFORBIDDEN, ECONFLICT (not rolled, revoked, or
// stopped already).
func (s *Service) EndOverlap(ctx context.Context, actor snapglyph.Actor, keyID string) (*snapglyph.APIKey, error) {
	if _, err := s.Key(ctx, actor, keyID); err != nil {
		return nil, err
	}
	k, err := s.db.EndOverlap(ctx, keyID, actor)
	if err != nil {
		return nil, err
	}
	s.changed(ctx, snapglyph.ChangeKey, keyID)
	return k, nil
}

// PendingUsage is what a node has buffered and not yet written (a
// usage.Recorder): the key page adds it to what the database holds.
type PendingUsage interface {
	Pending(id, period string) snapglyph.Counts
	PendingKeyDay(keyID, day string) snapglyph.Counts
	PendingKeyIPs(keyID string) map[string]snapglyph.IPSeen
	PendingLastUse(keyID string) (snapglyph.LastUse, bool)
	Snapshot(pending func(), stored func() error) error
}

// DayCounts is one day's calls and credits of a key.
type DayCounts struct {
	Day time.Time // 00:00 UTC
	snapglyph.Counts
}

// KeyActivity is what a key's page shows besides the key.
type KeyActivity struct {
	Key *snapglyph.APIKey
	// The roll relation: the key this one replaced and the key that
	// replaced it (nil when none, or when it cannot be read).
	Replaces, ReplacedBy *snapglyph.APIKey
	// This month's calls and credits, in all and per day from the 1st to
	// today (UTC); the days add up to Month.
	Period   string
	ResetsAt time.Time
	Month    snapglyph.Counts
	Days     []DayCounts
	LastUse  *snapglyph.LastUse // nil: never used
	// The addresses the key was used from, most recent first (at most
	// MaxKeyAddresses), and how many there are in all.
	IPs     []snapglyph.KeyAddress
	IPCount int
	// The QR codes the key created: the newest few and how many in all.
	QRCodes []*snapglyph.QRCode
	QRCount int
	Events  []*snapglyph.AuditEvent // newest first, at most MaxKeyEvents
}

// Bounds of a key page's lists.
const (
	MaxKeyAddresses = 50
	MaxKeyEvents    = 50
	MaxKeyQRCodes   = 5
)

// KeyActivity gathers a key's page: the key and its roll relation, this
// month's usage by day, its last use and addresses, the QR codes it
// created and its audit events. pending (may be nil) adds what this node
// has not yet written. Returns what Key returns.
func (s *Service) KeyActivity(ctx context.Context, actor snapglyph.Actor, keyID string, pending PendingUsage) (*KeyActivity, error) {
	// The buffered last use is read before the key: a flush that commits
	// in between is then in the key's row, not lost between the two.
	var pendingUse snapglyph.LastUse
	var pendingUsed bool
	if pending != nil {
		pendingUse, pendingUsed = pending.PendingLastUse(keyID)
	}
	k, err := s.Key(ctx, actor, keyID)
	if err != nil {
		return nil, err
	}
	a := &KeyActivity{Key: k}
	for _, rel := range []struct {
		id  string
		dst **snapglyph.APIKey
	}{{k.Replaces, &a.Replaces}, {k.ReplacedBy, &a.ReplacedBy}} {
		if rel.id == "" {
			continue
		}
		if r, err := s.db.Key(ctx, rel.id); err == nil && r.OrgID == k.OrgID {
			*rel.dst = r
		} else if err != nil && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			return nil, err
		}
	}
	now := s.db.Now().UTC()
	a.Period, a.ResetsAt = snapglyph.Period(now)
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var days []time.Time
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	var month snapglyph.Counts
	var byDay map[string]snapglyph.Counts
	var ips []snapglyph.KeyAddress
	var pendingMonth snapglyph.Counts
	pendingDays := make(map[string]snapglyph.Counts)
	var pendingIPs map[string]snapglyph.IPSeen
	readPending := func() {
		pendingMonth, pendingIPs = snapglyph.Counts{}, nil
		clear(pendingDays)
		if pending == nil {
			return
		}
		pendingMonth = pending.Pending(k.ID, a.Period)
		for _, d := range days {
			pendingDays[snapglyph.Day(d)] = pending.PendingKeyDay(k.ID, snapglyph.Day(d))
		}
		pendingIPs = pending.PendingKeyIPs(k.ID)
	}
	readStored := func() error {
		var err error
		if month, err = s.db.KeyUsage(ctx, k.ID, a.Period); err != nil {
			return err
		}
		if byDay, err = s.db.KeyDays(ctx, k.ID, snapglyph.Day(first), snapglyph.Day(today)); err != nil {
			return err
		}
		ips, a.IPCount, err = s.db.KeyIPs(ctx, k.ID, MaxKeyAddresses)
		return err
	}
	if pending != nil {
		err = pending.Snapshot(readPending, readStored)
	} else {
		err = readStored()
	}
	if err != nil {
		return nil, err
	}
	a.Month = addCounts(month, pendingMonth)
	for _, d := range days {
		a.Days = append(a.Days, DayCounts{Day: d, Counts: addCounts(byDay[snapglyph.Day(d)], pendingDays[snapglyph.Day(d)])})
	}
	a.IPs, a.IPCount = mergeAddresses(ips, a.IPCount, pendingIPs)
	if !k.LastUsedAt.IsZero() {
		a.LastUse = &snapglyph.LastUse{At: k.LastUsedAt, IP: k.LastUsedIP, UserAgent: k.LastUsedUA}
	}
	if pendingUsed && (a.LastUse == nil || !pendingUse.At.Before(a.LastUse.At)) {
		a.LastUse = &pendingUse
	}
	if a.QRCount, err = s.db.CountKeyQRCodes(ctx, k.OrgID, k.ID); err != nil {
		return nil, err
	}
	if a.QRCount > 0 {
		if a.QRCodes, _, err = s.db.QRCodes(ctx, k.OrgID, snapglyph.QRFilter{CreatedByKey: k.ID, Limit: MaxKeyQRCodes}); err != nil {
			return nil, err
		}
	}
	if a.Events, err = s.db.KeyEvents(ctx, k.OrgID, k.ID, MaxKeyEvents); err != nil {
		return nil, err
	}
	return a, nil
}

func addCounts(a, b snapglyph.Counts) snapglyph.Counts {
	return snapglyph.Counts{APICalls: a.APICalls + b.APICalls, ImageCredits: a.ImageCredits + b.ImageCredits}
}

// mergeAddresses adds the buffered sightings to the stored addresses,
// keeps the most recent MaxKeyAddresses, and counts the addresses new to
// the database in total.
func mergeAddresses(stored []snapglyph.KeyAddress, total int, pending map[string]snapglyph.IPSeen) ([]snapglyph.KeyAddress, int) {
	if len(pending) == 0 {
		return stored, total
	}
	byIP := make(map[string]int, len(stored))
	for i, a := range stored {
		byIP[a.IP] = i
	}
	out := append([]snapglyph.KeyAddress(nil), stored...)
	for ip, seen := range pending {
		if i, ok := byIP[ip]; ok {
			out[i].IPSeen = out[i].IPSeen.Add(seen)
			continue
		}
		// Not among the most recent stored: it may be stored further
		// down (then the total already counts it) or be new. Only a new
		// address, or one more recent than the last shown, matters here.
		out = append(out, snapglyph.KeyAddress{IP: ip, IPSeen: seen})
		if len(stored) < MaxKeyAddresses || len(stored) == total {
			total++
		}
	}
	slices.SortFunc(out, func(a, b snapglyph.KeyAddress) int {
		return cmp.Or(b.Last.Compare(a.Last), cmp.Compare(a.IP, b.IP))
	})
	if len(out) > MaxKeyAddresses {
		out = out[:MaxKeyAddresses]
	}
	return out, total
}
