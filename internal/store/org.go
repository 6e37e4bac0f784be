package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// CreateOrg creates an organisation and its Owner. A new user is created
// for the owner's email unless one exists; passwordHash may be empty (no
// password yet). An existing account keeps its own password: a
// passwordHash for it is refused with ECONFLICT (code account_exists) and
// nothing is created. Returns EINVALID for a bad name or email.
func (d *DB) CreateOrg(ctx context.Context, org *snapglyph.Org, ownerEmail, passwordHash string) (*snapglyph.User, error) {
	var owner *snapglyph.User
	err := d.tx(ctx, func(tx *Tx) error {
		org.CreatedAt = tx.now
		org.TrialEndsAt = fromMS(ms(org.TrialEndsAt)) // as stored, and read back
		u, err := tx.userByEmail(ctx, ownerEmail)
		if snapglyph.ErrorKind(formatError(err)) == snapglyph.ENOTFOUND {
			u = &snapglyph.User{ID: snapglyph.NewID("usr"), Email: ownerEmail, CreatedAt: tx.now}
			if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)`,
				u.ID, u.Email, passwordHash, ms(u.CreatedAt)); err != nil {
				if isUniqueViolation(err) && passwordHash != "" {
					return errAccountExists(ownerEmail)
				}
				return err
			}
		} else if err != nil {
			return err
		} else if passwordHash != "" {
			return errAccountExists(u.Email)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO orgs (id, name, plan, trial_ends_at, created_at) VALUES (?, ?, ?, ?, ?)`,
			org.ID, org.Name, string(org.Plan), ms(org.TrialEndsAt), ms(org.CreatedAt)); err != nil {
			return err
		}
		owner = u
		_, err = tx.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`,
			org.ID, u.ID, string(snapglyph.RoleOwner), ms(tx.now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: create org: %w", err)
	}
	return owner, nil
}

// errAccountExists is CreateOrg's refusal of a password for an account
// that exists, as sign-up and invitations refuse one (account_exists).
func errAccountExists(email string) error {
	return snapglyph.Codef(snapglyph.ECONFLICT, "account_exists", "an account with the email %s already exists; it keeps its own password", email)
}

func (tx *Tx) userByEmail(ctx context.Context, email string) (*snapglyph.User, error) {
	var u snapglyph.User
	var created int64
	err := tx.QueryRow(ctx, `SELECT id, email, name, created_at FROM users WHERE email = ?`, strings.ToLower(email)).
		Scan(&u.ID, &u.Email, &u.Name, &created)
	if err != nil {
		return nil, err
	}
	u.CreatedAt = fromMS(created)
	return &u, nil
}

const orgColumns = `id, name, plan, trial_ends_at, api_calls_limit, image_credits_limit, created_at`

func scanOrg(row interface{ Scan(...any) error }) (*snapglyph.Org, error) {
	var o snapglyph.Org
	var plan string
	var trial, created int64
	var calls, credits sql.NullInt64
	if err := row.Scan(&o.ID, &o.Name, &plan, &trial, &calls, &credits, &created); err != nil {
		return nil, err
	}
	o.Plan = snapglyph.Plan(plan)
	o.TrialEndsAt, o.CreatedAt = fromMS(trial), fromMS(created)
	if calls.Valid {
		o.APICallsLimit = &calls.Int64
	}
	if credits.Valid {
		o.ImageCreditsLimit = &credits.Int64
	}
	return &o, nil
}

// Org returns the organisation with the id. Returns ENOTFOUND.
func (d *DB) Org(ctx context.Context, id string) (*snapglyph.Org, error) {
	o, err := scanOrg(d.queryRow(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no organisation has the id %s", snapglyph.QuoteID(id))
	}
	return o, nil
}

// Orgs returns every organisation, oldest first, with what it has spent
// in the period as stored (what nodes still hold in memory is not in it).
func (d *DB) Orgs(ctx context.Context, period string) ([]snapglyph.OrgUsage, error) {
	rows, err := d.query(ctx, `SELECT o.`+strings.ReplaceAll(orgColumns, ", ", ", o.")+`,
		COALESCE(u.api_calls_used, 0), COALESCE(u.image_credits_used, 0)
		FROM orgs o LEFT JOIN usage_counters u ON u.org_id = o.id AND u.period = ?
		ORDER BY o.created_at, o.id`, period)
	if err != nil {
		return nil, fmt.Errorf("store: organisations: %w", formatError(err))
	}
	defer rows.Close()
	var out []snapglyph.OrgUsage
	for rows.Next() {
		var u snapglyph.OrgUsage
		var err error
		u.Org, err = scanOrg(scanFunc(func(dest ...any) error {
			return rows.Scan(append(dest, &u.Used.APICalls, &u.Used.ImageCredits)...)
		}))
		if err != nil {
			return nil, fmt.Errorf("store: organisations: %w", formatError(err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: organisations: %w", formatError(err))
	}
	return out, nil
}

// scanFunc makes a function a row scanner.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// SetPlan changes an organisation's plan. Moving to the trial starts a
// new 14-day trial. Returns ENOTFOUND.
// The organisation's pending plan request, if any, is closed in the same
// transaction: approved if it asked for this plan, superseded otherwise.
func (d *DB) SetPlan(ctx context.Context, id string, plan snapglyph.Plan, actor snapglyph.Actor) error {
	return d.updateOrg(ctx, id, actor, "org.plan_changed", string(plan), func(tx *Tx) (sql.Result, error) {
		trialEnds := int64(0)
		if plan == snapglyph.PlanTrial {
			trialEnds = ms(tx.now.Add(snapglyph.TrialLength))
		}
		res, err := tx.Exec(ctx, `UPDATE orgs SET plan = ?, trial_ends_at = ? WHERE id = ?`, string(plan), trialEnds, id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return res, nil
		}
		if _, err := tx.closePendingPlanRequest(ctx, id, plan, actor); err != nil {
			return nil, err
		}
		return res, nil
	})
}

// PlanLimit, given to SetLimits as a limit, stores none (NULL): the
// organisation's plan sets that limit. It is no limit anyone computes,
// so a negative result stays an error.
const PlanLimit int64 = math.MinInt64

// SetLimits overrides an organisation's monthly limits; a nil value leaves
// that limit as it is, PlanLimit returns it to the plan's. Returns
// ENOTFOUND.
func (d *DB) SetLimits(ctx context.Context, id string, apiCalls, imageCredits *int64, actor snapglyph.Actor) error {
	detail := fmt.Sprintf("apiCalls=%s imageCredits=%s", fmtLimit(apiCalls), fmtLimit(imageCredits))
	return d.updateOrg(ctx, id, actor, "org.limits_changed", detail, func(tx *Tx) (sql.Result, error) {
		set, args := []string{}, []any{}
		for _, l := range []struct {
			column string
			v      *int64
		}{{"api_calls_limit", apiCalls}, {"image_credits_limit", imageCredits}} {
			if l.v != nil {
				set, args = append(set, l.column+" = ?"), append(args, limitValue(*l.v))
			}
		}
		if len(set) == 0 {
			set = append(set, "id = id") // nothing to change: still find the row
		}
		return tx.Exec(ctx, `UPDATE orgs SET `+strings.Join(set, ", ")+` WHERE id = ?`, append(args, id)...)
	})
}

func fmtLimit(v *int64) string {
	switch {
	case v == nil:
		return "unchanged"
	case *v == PlanLimit:
		return "plan"
	}
	return fmt.Sprint(*v)
}

// limitValue is a limit as stored: NULL for PlanLimit.
func limitValue(v int64) sql.NullInt64 {
	return sql.NullInt64{Int64: v, Valid: v != PlanLimit}
}

// updateOrg runs an update of one organisation row, records the change for
// every node's cache, and writes the audit event, in one transaction.
func (d *DB) updateOrg(ctx context.Context, id string, actor snapglyph.Actor, action, detail string, update func(*Tx) (sql.Result, error)) error {
	err := d.tx(ctx, func(tx *Tx) error {
		res, err := update(tx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(id))
		}
		tx.recordChange(snapglyph.ChangeOrg, id)
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: id, Action: action, TargetID: id, TargetName: detail}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: update org: %w", err)
	}
	return nil
}

// Role returns the user's role in the organisation. Returns ENOTFOUND if
// the user is not a member.
func (d *DB) Role(ctx context.Context, orgID, userID string) (snapglyph.Role, error) {
	var role string
	err := d.queryRow(ctx, `SELECT role FROM memberships WHERE org_id = ? AND user_id = ?`, orgID, userID).Scan(&role)
	if err != nil {
		return "", notFound(err, "the user is not a member of the organisation")
	}
	return snapglyph.Role(role), nil
}

// AddMember adds a user to an organisation with a role, creating the user
// for the email if needed.
func (d *DB) AddMember(ctx context.Context, orgID, email string, role snapglyph.Role) (*snapglyph.User, error) {
	var user *snapglyph.User
	err := d.tx(ctx, func(tx *Tx) error {
		u, err := tx.userByEmail(ctx, email)
		if snapglyph.ErrorKind(formatError(err)) == snapglyph.ENOTFOUND {
			u = &snapglyph.User{ID: snapglyph.NewID("usr"), Email: strings.ToLower(email), CreatedAt: tx.now}
			if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)`, u.ID, u.Email, ms(u.CreatedAt)); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		user = u
		_, err = tx.Exec(ctx, `INSERT INTO memberships (org_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`, orgID, u.ID, string(role), ms(tx.now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: add member: %w", err)
	}
	return user, nil
}

// UserByEmail returns the user with the email and its password hash.
// Returns ENOTFOUND.
func (d *DB) UserByEmail(ctx context.Context, email string) (*snapglyph.User, string, error) {
	var u snapglyph.User
	var hash string
	var created int64
	err := d.queryRow(ctx, `SELECT id, email, name, password_hash, created_at FROM users WHERE email = ?`, strings.ToLower(email)).
		Scan(&u.ID, &u.Email, &u.Name, &hash, &created)
	if err != nil {
		return nil, "", notFound(err, "no user has the email %q", email)
	}
	u.CreatedAt = fromMS(created)
	return &u, hash, nil
}

// notFound turns sql.ErrNoRows into ENOTFOUND with a message.
func notFound(err error, format string, args ...any) error {
	if err == sql.ErrNoRows {
		return snapglyph.Errorf(snapglyph.ENOTFOUND, format, args...)
	}
	return formatError(err)
}
