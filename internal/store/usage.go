package store

import (
	"context"
	"fmt"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Counter names one of the two metered allowances.
type Counter string

// The metered allowances; the values are column-name stems.
const (
	APICalls     Counter = "api_calls"
	ImageCredits Counter = "image_credits"
)

// LeaseShare is the fraction of what is left that one lease takes (one
// sixteenth): blocks shrink as the allowance runs low, down to one unit.
const LeaseShare = 16

// Lease reserves a block of an organisation's allowance for the period:
// a LeaseShare-th of what is left, at least minN and at most maxN units
// (just minN once fewer than LeaseShare² units are left),
// never letting the reserved total pass limit. The block is sized from
// the current reserved total and taken with a compare-and-set UPDATE, so
// any number of nodes may lease at once and the limit holds. It returns
// the units granted (0 if fewer than minN were left) and the reserved total
// after the lease.
func (d *DB) Lease(ctx context.Context, orgID, period string, c Counter, maxN, minN, limit int64) (granted, reserved int64, err error) {
	col := string(c) + "_reserved"
	if _, err := d.exec(ctx, `INSERT INTO usage_counters (org_id, period) VALUES (?, ?) ON CONFLICT (org_id, period) DO NOTHING`, orgID, period); err != nil {
		return 0, 0, fmt.Errorf("store: lease: %w", formatError(err))
	}
	for attempt := 0; ; attempt++ {
		if err := d.queryRow(ctx, `SELECT `+col+` FROM usage_counters WHERE org_id = ? AND period = ?`, orgID, period).Scan(&reserved); err != nil {
			return 0, 0, fmt.Errorf("store: lease: %w", formatError(err))
		}
		left := limit - reserved
		if left < minN {
			return 0, reserved, nil
		}
		want := clamp(left/LeaseShare, minN, maxN)
		if left < LeaseShare*LeaseShare {
			// Near the end, lease only what the request needs, so no
			// node holds units that another node's request could use.
			want = minN
		}
		want = clamp(want, minN, left)
		q := `UPDATE usage_counters SET ` + col + ` = ` + col + ` + ? WHERE org_id = ? AND period = ? AND ` + col + ` = ? RETURNING ` + col
		args := []any{want, orgID, period, reserved}
		if attempt >= 8 {
			// Heavy contention: take just what is needed, conditionally.
			want = minN
			q = `UPDATE usage_counters SET ` + col + ` = ` + col + ` + ? WHERE org_id = ? AND period = ? AND ` + col + ` + ? <= ? RETURNING ` + col
			args = []any{want, orgID, period, want, limit}
		}
		err := d.queryRow(ctx, q, args...).Scan(&reserved)
		if err == nil {
			return want, reserved, nil
		}
		if snapglyph.ErrorCode(formatError(err)) != snapglyph.ENOTFOUND {
			return 0, 0, fmt.Errorf("store: lease: %w", formatError(err))
		}
		if attempt >= 8 {
			return 0, reserved, nil
		}
	}
}

func clamp(v, lo, hi int64) int64 {
	return max(lo, min(v, hi))
}

// ReturnLease gives n unused leased units back to the period's allowance.
func (d *DB) ReturnLease(ctx context.Context, orgID, period string, c Counter, n int64) error {
	col := string(c) + "_reserved"
	_, err := d.exec(ctx, `UPDATE usage_counters SET `+col+` = `+col+` - ? WHERE org_id = ? AND period = ? AND `+col+` >= ?`, n, orgID, period, n)
	if err != nil {
		return fmt.Errorf("store: return lease: %w", formatError(err))
	}
	return nil
}

// SaveUsage adds a node's buffered counts and last-use data in one
// transaction: all of it is saved, or none.
func (d *DB) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) error {
	err := d.tx(ctx, func(tx *Tx) error {
		for k, c := range b.Orgs {
			if _, err := tx.Exec(ctx, `INSERT INTO usage_counters (org_id, period, api_calls_used, image_credits_used) VALUES (?, ?, ?, ?)
				ON CONFLICT (org_id, period) DO UPDATE SET api_calls_used = usage_counters.api_calls_used + excluded.api_calls_used,
				image_credits_used = usage_counters.image_credits_used + excluded.image_credits_used`,
				k.ID, k.Period, c.APICalls, c.ImageCredits); err != nil {
				return err
			}
		}
		for k, c := range b.Keys {
			if _, err := tx.Exec(ctx, `INSERT INTO key_usage (key_id, period, api_calls, image_credits) VALUES (?, ?, ?, ?)
				ON CONFLICT (key_id, period) DO UPDATE SET api_calls = key_usage.api_calls + excluded.api_calls,
				image_credits = key_usage.image_credits + excluded.image_credits`,
				k.ID, k.Period, c.APICalls, c.ImageCredits); err != nil {
				return err
			}
		}
		for id, u := range b.LastUsed {
			if _, err := tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ?, last_used_ip = ?, last_used_ua = ? WHERE id = ? AND last_used_at <= ?`,
				ms(u.At), u.IP, u.UserAgent, id, ms(u.At)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: save usage: %w", err)
	}
	return nil
}

// UsageRow is an organisation's stored counters for one period.
type UsageRow struct {
	Used     snapglyph.Counts
	Reserved snapglyph.Counts
}

// Usage returns an organisation's stored counters for the period (zero if
// nothing was recorded).
func (d *DB) Usage(ctx context.Context, orgID, period string) (UsageRow, error) {
	var u UsageRow
	err := d.queryRow(ctx, `SELECT api_calls_used, image_credits_used, api_calls_reserved, image_credits_reserved FROM usage_counters WHERE org_id = ? AND period = ?`,
		orgID, period).Scan(&u.Used.APICalls, &u.Used.ImageCredits, &u.Reserved.APICalls, &u.Reserved.ImageCredits)
	if err != nil && snapglyph.ErrorCode(formatError(err)) != snapglyph.ENOTFOUND {
		return u, fmt.Errorf("store: usage: %w", formatError(err))
	}
	return u, nil
}

// KeyUsage returns a key's stored counts for the period.
func (d *DB) KeyUsage(ctx context.Context, keyID, period string) (snapglyph.Counts, error) {
	var c snapglyph.Counts
	err := d.queryRow(ctx, `SELECT api_calls, image_credits FROM key_usage WHERE key_id = ? AND period = ?`, keyID, period).Scan(&c.APICalls, &c.ImageCredits)
	if err != nil && snapglyph.ErrorCode(formatError(err)) != snapglyph.ENOTFOUND {
		return c, fmt.Errorf("store: key usage: %w", formatError(err))
	}
	return c, nil
}
