package service

import (
	"context"
	"database/sql"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// Now returns the service's clock: the database's Now, which tests set.
func (s *Service) Now() time.Time { return s.db.Now() }

// Ping checks that the database answers (readiness).
func (s *Service) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// DBStats returns the database pool's statistics, for metrics.
func (s *Service) DBStats() sql.DBStats { return s.db.SQL().Stats() }

// IsUnavailable reports whether err, from any method, means the database
// could not be reached (a 503 to retry, not an internal error).
func IsUnavailable(err error) bool { return store.IsUnavailable(err) }

// SessionOrg returns the organisation a session is signed in to. The
// session's membership was checked when it was read (Session), so this is
// the caller's own organisation. Returns ENOTFOUND.
func (s *Service) SessionOrg(ctx context.Context, st *snapglyph.Session) (*snapglyph.Org, error) {
	return s.db.Org(ctx, st.OrgID)
}

// Spent returns the organisation's units spent in the period as stored,
// without what nodes still hold in memory (usage.Recorder adds that).
// Owners and Admins only, who see it beside the API keys. Returns
// ENOTFOUND, EFORBIDDEN.
func (s *Service) Spent(ctx context.Context, actor snapglyph.Actor, orgID, period string) (snapglyph.Counts, error) {
	role, err := s.role(ctx, actor, orgID)
	if err != nil {
		return snapglyph.Counts{}, err
	}
	if !role.CanManageKeys() {
		return snapglyph.Counts{}, snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only Owners and Admins can see the organisation's usage")
	}
	u, err := s.db.Usage(ctx, orgID, period)
	return u.Used, err
}
