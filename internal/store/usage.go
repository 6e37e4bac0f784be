package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"

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

// SaveUsage adds a node's buffered counts and last-use data. It first
// writes the whole batch in one transaction. If that fails for a reason
// other than an unreachable database, it writes the batch again in one
// transaction with a savepoint per row: a row the database refuses for its
// data (it can never be written, see isDataError) is rolled back to its
// savepoint and reported in dropped, and every other row is saved. Any
// other failure saves nothing and drops nothing: the caller keeps the
// whole batch for the next try. Rows are written in a fixed order, so
// nodes flushing at once do not deadlock.
func (d *DB) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) (dropped []snapglyph.DroppedUsage, err error) {
	rows := usageRows(b)
	err = d.tx(ctx, func(tx *Tx) error {
		for _, row := range rows {
			if err := row.save(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil, nil
	}
	if IsUnavailable(err) || ctx.Err() != nil {
		return nil, fmt.Errorf("store: save usage: %w", err)
	}
	err = d.tx(ctx, func(tx *Tx) error {
		dropped = dropped[:0]
		for _, row := range rows {
			bad, err := saveIsolated(ctx, tx, row)
			if err != nil {
				return err
			}
			if bad != nil {
				dropped = append(dropped, row.dropped(bad))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: save usage: %w", err)
	}
	return dropped, nil
}

// saveIsolated saves one row under a savepoint. A data error rolls back
// to the savepoint and is returned as bad; any other error aborts.
func saveIsolated(ctx context.Context, tx *Tx, row usageRow) (bad, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT usage_row`); err != nil {
		return nil, err
	}
	if err := row.save(ctx, tx); err != nil {
		if !isDataError(err) {
			return nil, err
		}
		if _, rerr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT usage_row`); rerr != nil {
			return nil, rerr
		}
		return err, nil
	}
	_, err = tx.Exec(ctx, `RELEASE SAVEPOINT usage_row`)
	return nil, err
}

// usageRow is one write of a usage batch: an organisation's counters, a
// key's counters, or a key's last use.
type usageRow struct {
	kind   string // "org", "key", "last_use"
	key    snapglyph.PeriodKey
	counts snapglyph.Counts
	use    snapglyph.LastUse
}

// usageRows lists a batch's writes in a fixed order: organisations, keys,
// then last uses, each sorted by id and period.
func usageRows(b *snapglyph.UsageBatch) []usageRow {
	rows := make([]usageRow, 0, len(b.Orgs)+len(b.Keys)+len(b.LastUsed))
	for _, k := range sortedKeys(b.Orgs) {
		rows = append(rows, usageRow{kind: "org", key: k, counts: b.Orgs[k]})
	}
	for _, k := range sortedKeys(b.Keys) {
		rows = append(rows, usageRow{kind: "key", key: k, counts: b.Keys[k]})
	}
	ids := make([]string, 0, len(b.LastUsed))
	for id := range b.LastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rows = append(rows, usageRow{kind: "last_use", key: snapglyph.PeriodKey{ID: id}, use: b.LastUsed[id]})
	}
	return rows
}

func sortedKeys(m map[snapglyph.PeriodKey]snapglyph.Counts) []snapglyph.PeriodKey {
	keys := make([]snapglyph.PeriodKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b snapglyph.PeriodKey) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), cmp.Compare(a.Period, b.Period))
	})
	return keys
}

func (row usageRow) save(ctx context.Context, tx *Tx) error {
	var err error
	switch row.kind {
	case "org":
		_, err = tx.Exec(ctx, `INSERT INTO usage_counters (org_id, period, api_calls_used, image_credits_used) VALUES (?, ?, ?, ?)
			ON CONFLICT (org_id, period) DO UPDATE SET api_calls_used = usage_counters.api_calls_used + excluded.api_calls_used,
			image_credits_used = usage_counters.image_credits_used + excluded.image_credits_used`,
			row.key.ID, row.key.Period, row.counts.APICalls, row.counts.ImageCredits)
	case "key":
		_, err = tx.Exec(ctx, `INSERT INTO key_usage (key_id, period, api_calls, image_credits) VALUES (?, ?, ?, ?)
			ON CONFLICT (key_id, period) DO UPDATE SET api_calls = key_usage.api_calls + excluded.api_calls,
			image_credits = key_usage.image_credits + excluded.image_credits`,
			row.key.ID, row.key.Period, row.counts.APICalls, row.counts.ImageCredits)
	default:
		u := row.use
		_, err = tx.Exec(ctx, `UPDATE api_keys SET last_used_at = ?, last_used_ip = ?, last_used_ua = ? WHERE id = ? AND last_used_at <= ?`,
			ms(u.At), snapglyph.Storable(u.IP, MaxLastUsedIP), snapglyph.Storable(u.UserAgent, MaxLastUsedUA), row.key.ID, ms(u.At))
	}
	return err
}

func (row usageRow) dropped(err error) snapglyph.DroppedUsage {
	return snapglyph.DroppedUsage{Kind: row.kind, ID: row.key.ID, Period: row.key.Period, Counts: row.counts, Err: err}
}

// The longest last-used address and user agent stored, in bytes.
const (
	MaxLastUsedIP = 64
	MaxLastUsedUA = 256
)

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
