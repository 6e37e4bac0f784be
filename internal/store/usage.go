package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// reservedColumn is the usage_counters column of the units of c leased
// to nodes. A counter is never spliced into SQL unchecked.
func reservedColumn(c snapglyph.Counter) (string, error) {
	switch c {
	case snapglyph.APICalls:
		return "api_calls_reserved", nil
	case snapglyph.ImageCredits:
		return "image_credits_reserved", nil
	}
	return "", fmt.Errorf("store: unknown counter %q", c)
}

// Lease reserves a block of an organisation's allowance for the period:
// a LeaseShare-th of what is left, at least minN and at most maxN units
// (just minN once fewer than LeaseShare² units are left),
// never letting the reserved total pass limit. The block is sized from
// the current reserved total and taken with a compare-and-set UPDATE, so
// any number of nodes may lease at once and the limit holds. It returns
// the units granted (0 if fewer than minN were left) and the reserved total
// after the lease.
//
// A lease with an id is recorded under it in the same transaction: if
// the call fails, the caller cannot know whether the database committed
// it, and hands the id to SettleLease once the database answers again.
func (d *DB) Lease(ctx context.Context, id, orgID, period string, c snapglyph.Counter, maxN, minN, limit int64) (granted, reserved int64, err error) {
	col, err := reservedColumn(c)
	if err != nil {
		return 0, 0, err
	}
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
		want := clamp(left/snapglyph.LeaseShare, minN, maxN)
		if left < snapglyph.LeaseShare*snapglyph.LeaseShare {
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
		err := d.tx(ctx, func(tx *Tx) error {
			if err := tx.QueryRow(ctx, q, args...).Scan(&reserved); err != nil {
				return err
			}
			if id == "" {
				return nil
			}
			_, err := tx.Exec(ctx, `INSERT INTO usage_leases (id, org_id, period, counter, granted, leased_at) VALUES (?, ?, ?, ?, ?, ?)`,
				id, orgID, period, string(c), want, ms(tx.now))
			return err
		})
		if err == nil {
			return want, reserved, nil
		}
		if snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			return 0, 0, fmt.Errorf("store: lease: %w", err)
		}
		if attempt >= 8 {
			return 0, reserved, nil
		}
	}
}

// SettleLease gives back the units of the lease recorded under id, if the
// database holds it (its Lease call failed after the commit), and forgets
// the id, in one transaction: a second call, or one for a lease that never
// committed, returns 0. It returns the units given back.
func (d *DB) SettleLease(ctx context.Context, id string) (returned int64, err error) {
	err = d.tx(ctx, func(tx *Tx) error {
		var orgID, period, counter string
		err := tx.QueryRow(ctx, `DELETE FROM usage_leases WHERE id = ? RETURNING org_id, period, counter, granted`, id).Scan(&orgID, &period, &counter, &returned)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		col, err := reservedColumn(snapglyph.Counter(counter))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE usage_counters SET `+col+` = `+col+` - ? WHERE org_id = ? AND period = ? AND `+col+` >= ?`, returned, orgID, period, returned)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: settle lease: %w", formatError(err))
	}
	return returned, nil
}

func clamp(v, lo, hi int64) int64 {
	return max(lo, min(v, hi))
}

// ReturnLease gives n unused leased units back to the period's allowance.
func (d *DB) ReturnLease(ctx context.Context, orgID, period string, c snapglyph.Counter, n int64) error {
	col, err := reservedColumn(c)
	if err != nil {
		return err
	}
	_, err = d.exec(ctx, `UPDATE usage_counters SET `+col+` = `+col+` - ? WHERE org_id = ? AND period = ? AND `+col+` >= ?`, n, orgID, period, n)
	if err != nil {
		return fmt.Errorf("store: return lease: %w", formatError(err))
	}
	return nil
}

// SaveUsage adds a node's buffered counts and last-use data. It first
// writes the whole batch in one transaction, rows of a kind a chunk at a
// time (see usageChunks). If that fails for a reason other than an
// unreachable database, it writes the batch again in one transaction with
// a savepoint per chunk; a chunk the database refuses for its data is
// rolled back to its savepoint and written again with a savepoint per row:
// a row refused for its data (it can never be written, see isDataError) is
// rolled back to its savepoint and reported in dropped, and every other
// row is saved. Any other failure saves nothing and drops nothing: the
// caller keeps the whole batch for the next try. Rows are written in a
// fixed order, so nodes flushing at once do not deadlock.
func (d *DB) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) (dropped []snapglyph.DroppedUsage, err error) {
	chunks := usageChunks(usageRows(b))
	err = d.tx(ctx, func(tx *Tx) error {
		if saved, err := tx.claimBatch(ctx, b.ID); err != nil || saved {
			return err
		}
		for _, chunk := range chunks {
			if err := tx.saveChunk(ctx, chunk); err != nil {
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
		if saved, err := tx.claimBatch(ctx, b.ID); err != nil || saved {
			return err
		}
		for _, chunk := range chunks {
			bad, err := saveChunkIsolated(ctx, tx, chunk)
			if err != nil {
				return err
			}
			dropped = append(dropped, bad...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: save usage: %w", err)
	}
	return dropped, nil
}

// claimBatch records a usage batch's id in the transaction that writes
// it, and reports whether the database holds it already (saved): a write
// whose commit was not confirmed, made again. An empty id is not recorded.
func (tx *Tx) claimBatch(ctx context.Context, id string) (saved bool, err error) {
	if id == "" {
		return false, nil
	}
	res, err := tx.Exec(ctx, `INSERT INTO usage_batches (id, saved_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, ms(tx.now))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

// UsageBatchRetention is how long a usage batch's id is kept: a node
// writes a failed batch again at its next flush, a second later, or when
// the database is back.
const UsageBatchRetention = 7 * 24 * time.Hour

// pruneUsageBatches and pruneUsageLeases delete a batch of old usage
// batch and lease ids, found by time (usage_batches_saved_at,
// usage_leases_leased_at): a node writes a batch a second, and leases a
// block every few thousand requests (one per request near the limit).
const (
	pruneUsageBatches = `DELETE FROM usage_batches WHERE id IN (SELECT id FROM usage_batches WHERE saved_at < ? LIMIT ?)`
	pruneUsageLeases  = `DELETE FROM usage_leases WHERE id IN (SELECT id FROM usage_leases WHERE leased_at < ? LIMIT ?)`
)

// PruneUsageBatches deletes the ids of usage batches saved, and of leases
// taken, before before, a batch at a time, and returns how many it deleted
// (also on error).
func (d *DB) PruneUsageBatches(ctx context.Context, before time.Time) (int64, error) {
	n, err := d.deleteBatches(ctx, pruneUsageBatches, ms(before))
	if err != nil {
		return n, fmt.Errorf("store: prune usage batches: %w", formatError(err))
	}
	m, err := d.deleteBatches(ctx, pruneUsageLeases, ms(before))
	if err != nil {
		return n + m, fmt.Errorf("store: prune usage leases: %w", formatError(err))
	}
	return n + m, nil
}

// saveChunkIsolated saves a chunk of rows under a savepoint. If the
// database refuses the chunk for its data, it rolls back to the savepoint
// and saves the chunk's rows one by one (saveIsolated), returning those
// refused as dropped; any other error aborts.
func saveChunkIsolated(ctx context.Context, tx *Tx, rows []usageRow) (dropped []snapglyph.DroppedUsage, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT usage_chunk`); err != nil {
		return nil, err
	}
	if err := tx.saveChunk(ctx, rows); err != nil {
		if !isDataError(err) {
			return nil, err
		}
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT usage_chunk`); err != nil {
			return nil, err
		}
		for _, row := range rows {
			bad, err := saveIsolated(ctx, tx, row)
			if err != nil {
				return nil, err
			}
			if bad != nil {
				dropped = append(dropped, row.dropped(bad))
			}
		}
	}
	_, err = tx.Exec(ctx, `RELEASE SAVEPOINT usage_chunk`)
	return dropped, err
}

// saveIsolated saves one row under a savepoint. A data error rolls back
// to the savepoint and is returned as bad; any other error aborts.
func saveIsolated(ctx context.Context, tx *Tx, row usageRow) (bad, err error) {
	if _, err := tx.Exec(ctx, `SAVEPOINT usage_row`); err != nil {
		return nil, err
	}
	if err := tx.saveChunk(ctx, []usageRow{row}); err != nil {
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
// key's counters (of a period or a day), an address a key was used from,
// or a key's last use.
type usageRow struct {
	kind    string // "org", "key", "key_day", "key_ip", "last_use"
	key     snapglyph.PeriodKey
	counts  snapglyph.Counts
	refused snapglyph.Counts // "org": requests refused for a spent allowance
	use     snapglyph.LastUse
	ip      string
	seen    snapglyph.IPSeen
}

// usageRows lists a batch's writes in a fixed order: organisations, keys,
// keys' days, keys' addresses, then last uses, each sorted by id and
// period (day, address).
func usageRows(b *snapglyph.UsageBatch) []usageRow {
	rows := make([]usageRow, 0, len(b.Orgs)+len(b.Refused)+len(b.Keys)+len(b.LastUsed)+len(b.KeyDays)+len(b.KeyIPs))
	orgs := make(map[snapglyph.PeriodKey]snapglyph.Counts, len(b.Orgs)+len(b.Refused))
	maps.Copy(orgs, b.Orgs)
	for k := range b.Refused {
		if _, ok := orgs[k]; !ok {
			orgs[k] = snapglyph.Counts{} // refusals alone: a row that adds nothing
		}
	}
	for _, k := range sortedKeys(orgs) {
		rows = append(rows, usageRow{kind: "org", key: k, counts: orgs[k], refused: b.Refused[k]})
	}
	for _, k := range sortedKeys(b.Keys) {
		rows = append(rows, usageRow{kind: "key", key: k, counts: b.Keys[k]})
	}
	for _, k := range sortedKeys(b.KeyDays) {
		rows = append(rows, usageRow{kind: "key_day", key: k, counts: b.KeyDays[k]})
	}
	ips := make([]snapglyph.KeyIP, 0, len(b.KeyIPs))
	for k := range b.KeyIPs {
		ips = append(ips, k)
	}
	slices.SortFunc(ips, func(a, b snapglyph.KeyIP) int { return cmp.Or(cmp.Compare(a.KeyID, b.KeyID), cmp.Compare(a.IP, b.IP)) })
	for _, k := range ips {
		rows = append(rows, usageRow{kind: "key_ip", key: snapglyph.PeriodKey{ID: k.KeyID}, ip: k.IP, seen: b.KeyIPs[k]})
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

// usageChunk is how many rows of a kind one statement of a flush carries
// at most (at most 5 parameters each: far below SQLite's limit of 32,766
// and PostgreSQL's of 65,535).
const usageChunk = orgChunk

// usageChunks cuts a batch's rows (usageRows) into the statements that
// write them, in order: runs of up to usageChunk rows of one kind, none of
// which writes a stored row another of the run writes (PostgreSQL refuses
// an upsert that meets a row twice, and two rows may be stored as one:
// two addresses that differ only past their 64th byte, or text that
// differs only in bytes the database gets as U+FFFD). A run shorter than
// usageChunk is cut into chunks of powers of two, largest first: the
// statements then come in few sizes, so few texts are kept rewritten
// (DB.rewritten) and prepared on each PostgreSQL connection (which keeps
// about 0.8 MB for a prepared 500-row upsert), at the cost of at most
// ⌊log₂ usageChunk⌋ more statements per run.
func usageChunks(rows []usageRow) [][]usageRow {
	var chunks [][]usageRow
	seen := make(map[[2]string]bool)
	for len(rows) > 0 {
		n := 0
		clear(seen)
		for n < len(rows) && n < usageChunk && rows[n].kind == rows[0].kind {
			t := rows[n].target()
			if seen[t] {
				break
			}
			seen[t] = true
			n++
		}
		for run := rows[:n]; len(run) > 0; {
			size := len(run)
			if size < usageChunk {
				size = 1 << (bits.Len(uint(size)) - 1)
			}
			chunks = append(chunks, run[:size])
			run = run[size:]
		}
		rows = rows[n:]
	}
	return chunks
}

// target is the key of the row row writes, as the database stores it
// (see cleanArgs): an organisation's or key's id and the period, day or
// address.
func (row usageRow) target() [2]string {
	sub := row.key.Period
	if row.kind == "key_ip" {
		sub = snapglyph.Storable(row.ip, snapglyph.MaxLastUsedIP)
	}
	return [2]string{storedText(row.key.ID), storedText(sub)}
}

// storedText is s as cleanArgs sends it to the database.
func storedText(s string) string {
	if snapglyph.TextProblem(s) == "" {
		return s
	}
	return cleanText(s)
}

// usageStatements write a chunk of rows of a kind other than "org" (see
// saveOrgUsage): head, one tuple of placeholders per row (its values are
// usageRow.appendValues), then tail. A row written alone takes the same
// statement with one tuple.
//
// A key's last use moves only forward: a node's older last use, flushed
// later, changes nothing. PostgreSQL types a VALUES list's columns from
// its values: the time, compared with a number, is cast to one.
var usageStatements = map[string]struct{ head, tuple, tail string }{
	"key": {
		`INSERT INTO key_usage (key_id, period, api_calls, image_credits) VALUES `, `(?, ?, ?, ?)`,
		` ON CONFLICT (key_id, period) DO UPDATE SET api_calls = key_usage.api_calls + excluded.api_calls,
			image_credits = key_usage.image_credits + excluded.image_credits`,
	},
	"key_day": {
		`INSERT INTO key_usage_days (key_id, day, api_calls, image_credits) VALUES `, `(?, ?, ?, ?)`,
		` ON CONFLICT (key_id, day) DO UPDATE SET api_calls = key_usage_days.api_calls + excluded.api_calls,
			image_credits = key_usage_days.image_credits + excluded.image_credits`,
	},
	"key_ip": {
		`INSERT INTO key_ips (key_id, ip, first_seen, last_seen, calls) VALUES `, `(?, ?, ?, ?, ?)`,
		` ON CONFLICT (key_id, ip) DO UPDATE SET
			first_seen = CASE WHEN excluded.first_seen < key_ips.first_seen THEN excluded.first_seen ELSE key_ips.first_seen END,
			last_seen = CASE WHEN excluded.last_seen > key_ips.last_seen THEN excluded.last_seen ELSE key_ips.last_seen END,
			calls = key_ips.calls + excluded.calls`,
	},
	"last_use": {
		`UPDATE api_keys SET last_used_at = v.column2, last_used_ip = v.column3, last_used_ua = v.column4 FROM (VALUES `, `(?, CAST(? AS BIGINT), ?, ?)`,
		`) AS v WHERE api_keys.id = v.column1 AND api_keys.last_used_at <= v.column2`,
	},
}

// appendValues appends the values of row's tuple in its usageStatements.
func (row usageRow) appendValues(args []any) []any {
	switch row.kind {
	case "key", "key_day":
		return append(args, row.key.ID, row.key.Period, row.counts.APICalls, row.counts.ImageCredits)
	case "key_ip":
		return append(args, row.key.ID, snapglyph.Storable(row.ip, snapglyph.MaxLastUsedIP), ms(row.seen.First), ms(row.seen.Last), row.seen.Calls)
	}
	u := row.use
	return append(args, row.key.ID, ms(u.At), snapglyph.Storable(u.IP, snapglyph.MaxLastUsedIP), snapglyph.Storable(u.UserAgent, snapglyph.MaxLastUsedUA))
}

// saveChunk writes rows of one kind (a chunk of usageChunks, or one row)
// with one statement; organisations' rows with saveOrgUsage.
func (tx *Tx) saveChunk(ctx context.Context, rows []usageRow) error {
	kind := rows[0].kind
	if kind == "org" {
		return tx.saveOrgUsage(ctx, rows)
	}
	if kind == "last_use" && len(rows) > 1 && tx.db.dialect == postgres {
		// PostgreSQL updates the keys in whatever order its plan for
		// the join meets them, which differs between sizes of chunk:
		// lock them first (as the UPDATE does) in the order every flush
		// writes in, the ids' bytes, so flushes do not deadlock. SQLite
		// runs one write transaction at a time.
		ids := make([]any, len(rows))
		for i, row := range rows {
			ids[i] = row.key.ID
		}
		if _, err := tx.Exec(ctx, `SELECT id FROM api_keys WHERE id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id COLLATE "C" FOR NO KEY UPDATE`, ids...); err != nil {
			return err
		}
	}
	st := usageStatements[kind]
	var q strings.Builder
	q.Grow(len(st.head) + len(rows)*(len(st.tuple)+2) + len(st.tail))
	q.WriteString(st.head)
	args := make([]any, 0, len(rows)*strings.Count(st.tuple, "?"))
	for i, row := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(st.tuple)
		args = row.appendValues(args)
	}
	q.WriteString(st.tail)
	_, err := tx.Exec(ctx, q.String(), args...)
	return err
}

// mayAlert reports whether an organisation's row can tell it of its
// usage: it added some, or requests were refused for a spent allowance.
func (row usageRow) mayAlert() bool {
	return row.counts.APICalls > 0 || row.counts.ImageCredits > 0 || row.refused.APICalls > 0 || row.refused.ImageCredits > 0
}

// orgChunk is how many organisations' rows one statement of a flush
// carries (4 parameters each, far below either database's limit).
const orgChunk = 500

// saveOrgUsage adds organisations' counts of a flush (rows of kind "org",
// sorted, none stored as one: a chunk of usageChunks) with one multi-row
// upsert per orgChunk rows, then reads the organisations whose use grew
// with one query per orgChunk and looks for crossed thresholds: a flush
// of N organisations costs about 2×⌈N/500⌉ statements (plus the events
// it emits), not 2×N.
func (tx *Tx) saveOrgUsage(ctx context.Context, rows []usageRow) error {
	type pk struct{ id, period string }
	used := make(map[pk]snapglyph.Counts, len(rows))
	for chunk := range slices.Chunk(rows, orgChunk) {
		var q strings.Builder
		q.WriteString(`INSERT INTO usage_counters (org_id, period, api_calls_used, image_credits_used) VALUES `)
		args := make([]any, 0, 4*len(chunk))
		for i, row := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?)")
			args = append(args, row.key.ID, row.key.Period, row.counts.APICalls, row.counts.ImageCredits)
		}
		q.WriteString(` ON CONFLICT (org_id, period) DO UPDATE SET api_calls_used = usage_counters.api_calls_used + excluded.api_calls_used,
			image_credits_used = usage_counters.image_credits_used + excluded.image_credits_used
			RETURNING org_id, period, api_calls_used, image_credits_used`)
		res, err := tx.Query(ctx, q.String(), args...)
		if err != nil {
			return err
		}
		for res.Next() {
			var k pk
			var c snapglyph.Counts
			if err := res.Scan(&k.id, &k.period, &c.APICalls, &c.ImageCredits); err != nil {
				res.Close()
				return err
			}
			used[k] = c
		}
		res.Close()
		if err := res.Err(); err != nil {
			return err
		}
	}
	var ids []string
	for _, row := range rows {
		if row.mayAlert() && (len(ids) == 0 || ids[len(ids)-1] != row.key.ID) {
			ids = append(ids, row.key.ID) // sorted: an organisation's periods are adjacent
		}
	}
	orgs, err := tx.orgsByID(ctx, ids)
	if err != nil {
		return err
	}
	for _, row := range rows {
		u, ok := used[pk{storedText(row.key.ID), storedText(row.key.Period)}]
		if !ok {
			return fmt.Errorf("store: save usage: no counters returned for organisation %s, %s", row.key.ID, row.key.Period)
		}
		if err := tx.usageCrossed(ctx, orgs[row.key.ID], row.key.Period, u, row.counts, row.refused); err != nil {
			return err
		}
	}
	return nil
}

// orgsByID reads organisations by id, orgChunk to a query; ids that name
// none are absent from the map.
func (tx *Tx) orgsByID(ctx context.Context, ids []string) (map[string]*snapglyph.Org, error) {
	out := make(map[string]*snapglyph.Org, len(ids))
	for chunk := range slices.Chunk(ids, orgChunk) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		res, err := tx.Query(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for res.Next() {
			o, err := scanOrg(res)
			if err != nil {
				res.Close()
				return nil, err
			}
			out[o.ID] = o
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (row usageRow) dropped(err error) snapglyph.DroppedUsage {
	return snapglyph.DroppedUsage{Kind: row.kind, ID: row.key.ID, Period: row.key.Period, Counts: row.counts, Err: err}
}

// Usage returns an organisation's stored counters for the period (zero if
// nothing was recorded).
func (d *DB) Usage(ctx context.Context, orgID, period string) (snapglyph.StoredUsage, error) {
	var u snapglyph.StoredUsage
	err := d.queryRow(ctx, `SELECT api_calls_used, image_credits_used, api_calls_reserved, image_credits_reserved FROM usage_counters WHERE org_id = ? AND period = ?`,
		orgID, period).Scan(&u.Used.APICalls, &u.Used.ImageCredits, &u.Reserved.APICalls, &u.Reserved.ImageCredits)
	if err != nil && snapglyph.ErrorKind(formatError(err)) != snapglyph.ENOTFOUND {
		return u, fmt.Errorf("store: usage: %w", formatError(err))
	}
	return u, nil
}

// KeyUsage returns a key's stored counts for the period.
func (d *DB) KeyUsage(ctx context.Context, keyID, period string) (snapglyph.Counts, error) {
	var c snapglyph.Counts
	err := d.queryRow(ctx, `SELECT api_calls, image_credits FROM key_usage WHERE key_id = ? AND period = ?`, keyID, period).Scan(&c.APICalls, &c.ImageCredits)
	if err != nil && snapglyph.ErrorKind(formatError(err)) != snapglyph.ENOTFOUND {
		return c, fmt.Errorf("store: key usage: %w", formatError(err))
	}
	return c, nil
}
