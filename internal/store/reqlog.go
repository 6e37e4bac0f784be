package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// The request log (issue 12). A node buffers entries and writes them in
// batches (internal/reqlog): COPY on PostgreSQL, multi-row INSERTs on
// SQLite. On PostgreSQL the table is partitioned by retention (days) and
// then by day, so an expired day is a DROP TABLE; on SQLite expired rows
// are deleted in batches. Every read names the organisation.

const requestLogColumns = `at, request_id, org_id, key_id, key_prefix, method, route, resource_id, status, code, ip, user_agent, duration_us, calls, credits, flags, retention_days`

var requestLogColumnNames = strings.Split(strings.ReplaceAll(requestLogColumns, " ", ""), ",")

// The longest text the request log stores, in bytes: anything recorded
// from a request is made storable and cut to these.
const (
	MaxLogIP         = 64
	MaxLogUserAgent  = 256
	MaxLogResourceID = 128
	MaxLogMethod     = 16
)

func partitionClass(p snapglyph.LogPartition) string {
	return "request_log_r" + strconv.Itoa(p.RetentionDays)
}
func partitionName(p snapglyph.LogPartition) string {
	return partitionClass(p) + "_d" + p.Day.UTC().Format("20060102")
}

// requestLogLock serialises partition creation and removal across nodes
// (PostgreSQL: two concurrent CREATE TABLE IF NOT EXISTS of one name can
// fail), per schema.
const requestLogLock = 7261002

// EnsureRequestLogPartitions creates the partitions that do not exist yet
// (PostgreSQL; SQLite has none). Any number of nodes may call it at once.
func (d *DB) EnsureRequestLogPartitions(ctx context.Context, parts []snapglyph.LogPartition) error {
	if d.dialect != postgres {
		return nil
	}
	for _, p := range parts {
		if p.RetentionDays < 1 {
			return fmt.Errorf("store: request log partition: retention %d", p.RetentionDays)
		}
		from := snapglyph.DayOf(p.Day)
		err := d.tx(ctx, func(tx *Tx) error {
			if _, err := tx.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, requestLogLock); err != nil {
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF request_log FOR VALUES IN (%d) PARTITION BY RANGE (at)`,
				partitionClass(p), p.RetentionDays)); err != nil {
				return err
			}
			_, err := tx.tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM (%d) TO (%d)`,
				partitionName(p), partitionClass(p), ms(from), ms(from.Add(24*time.Hour))))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: create request log partition %s: %w", partitionName(p), err)
		}
	}
	return nil
}

// SaveRequestLog writes entries (in time order) and marks the suspicious
// ones first: FlagNewIP on the first entry of each pair in fresh (pairs
// the caller does not know to be recorded already from as early) that is
// earlier than the pair's first use in log_key_ips, unless no address of
// the key was used before it (the key's first address); FlagBurst on each
// refusal (401, 403, 429) of a key from the BurstRefusals-th within a
// clock minute, counting what is stored already. FlagInactiveKey is the
// caller's. retention gives each entry's retention_days from its plan.
//
// New addresses follow the requests' times, not the order batches are
// written in: a batch written late (another node's, or one kept through
// an outage) may hold a pair's or a key's first request. Then the entry
// stored as the pair's first request loses its FlagNewIP, and the entry
// of the address that was the key's first gets it.
//
// The marks are made in the transaction that writes the entries, after
// it has locked the keys concerned (PostgreSQL; SQLite's write
// transactions run one at a time): nodes writing batches of one key at
// once see each other's, so a burst split across nodes is one burst and
// a new address is new on one node only.
//
// A batch the database refuses for the data of some entries is written
// again entry by entry: those are left out and their indexes returned in
// dropped, and the rest is saved. Any other failure saves nothing.
func (d *DB) SaveRequestLog(ctx context.Context, entries []snapglyph.RequestLogEntry, retention snapglyph.LogRetention, fresh []snapglyph.KeyIP) (dropped []int, err error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if d.dialect == postgres {
		err = d.copyRequestLog(ctx, entries, retention, fresh)
	} else {
		err = d.tx(ctx, func(tx *Tx) error {
			uses, err := d.markSuspicious(ctx, tx.queryRows, entries, fresh)
			if err != nil {
				return err
			}
			if err := addKeyIPs(ctx, tx.exec, uses.pairs); err != nil {
				return err
			}
			if err := uses.refile(ctx, tx.exec); err != nil {
				return err
			}
			return tx.insertRequestLog(ctx, entries, retention)
		})
	}
	if err == nil {
		return nil, nil
	}
	if isNoPartition(err) {
		return nil, fmt.Errorf("%w: %w", snapglyph.ErrNoLogPartition, err)
	}
	if !isDataError(err) || ctx.Err() != nil {
		return nil, fmt.Errorf("store: save request log: %w", formatError(err))
	}
	// Some entry's data was refused: save them one at a time. An address
	// refused for log_key_ips is left out too (the entry is kept; the
	// address is looked at again with the key's next request from it).
	err = d.tx(ctx, func(tx *Tx) error {
		dropped = dropped[:0]
		uses, err := d.markSuspicious(ctx, tx.queryRows, entries, fresh)
		if err != nil {
			return err
		}
		for _, p := range uses.pairs {
			if err := tx.savepoint(ctx, func() error { return addKeyIPs(ctx, tx.exec, []keyIPFirst{p}) }); err != nil && !isDataError(err) {
				return err
			}
		}
		if err := uses.refile(ctx, tx.exec); err != nil {
			return err
		}
		for i := range entries {
			if _, err := tx.Exec(ctx, `SAVEPOINT log_row`); err != nil {
				return err
			}
			if err := tx.insertRequestLog(ctx, entries[i:i+1], retention); err != nil {
				// A missing partition shares its SQLSTATE with a
				// CHECK violation but is not the entry's data: the
				// caller decides (make it, or drop an expired day).
				if !isDataError(err) || isNoPartition(err) {
					return err
				}
				if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT log_row`); err != nil {
					return err
				}
				dropped = append(dropped, i)
				continue
			}
			if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT log_row`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if isNoPartition(err) {
			return nil, fmt.Errorf("%w: %w", snapglyph.ErrNoLogPartition, err)
		}
		return nil, fmt.Errorf("store: save request log: %w", formatError(err))
	}
	return dropped, nil
}

// SaveRequestLogAgain is SaveRequestLog for entries of which some may be
// stored already: a write whose outcome is unknown (the commit went
// through but its answer was lost) is written again without duplicates.
// On SQLite the primary key leaves them out (INSERT OR IGNORE). On
// PostgreSQL the partitioned table has no unique key (it would have to
// hold the partition keys and cost every COPY an index check), so the
// entries already stored are looked up by organisation, time and request
// id (the organisation's index) and left out; no one else writes a node's
// entries, so nothing can slip in between. dropped indexes entries.
func (d *DB) SaveRequestLogAgain(ctx context.Context, entries []snapglyph.RequestLogEntry, retention snapglyph.LogRetention, fresh []snapglyph.KeyIP) (dropped []int, err error) {
	if d.dialect != postgres || len(entries) == 0 {
		return d.SaveRequestLog(ctx, entries, retention, fresh)
	}
	stored, err := d.storedRequestLog(ctx, entries)
	if err != nil {
		return nil, fmt.Errorf("store: save request log: %w", formatError(err))
	}
	if len(stored) == 0 {
		return d.SaveRequestLog(ctx, entries, retention, fresh)
	}
	var keep []int
	var rest []snapglyph.RequestLogEntry
	for i := range entries {
		if !stored[logID{entries[i].OrgID, ms(entries[i].At), snapglyph.Storable(entries[i].RequestID, 64)}] {
			keep = append(keep, i)
			rest = append(rest, entries[i])
		}
	}
	if len(rest) == 0 {
		return nil, nil
	}
	dr, err := d.SaveRequestLog(ctx, rest, retention, fresh)
	for _, j := range dr {
		dropped = append(dropped, keep[j])
	}
	return dropped, err
}

// logID identifies a request log entry.
type logID struct {
	org       string
	at        int64
	requestID string
}

// storedRequestLog returns which of entries the request log holds.
func (d *DB) storedRequestLog(ctx context.Context, entries []snapglyph.RequestLogEntry) (map[logID]bool, error) {
	type span struct {
		lo, hi int64
		ids    []string
	}
	byOrg := map[string]*span{}
	for i := range entries {
		e := &entries[i]
		s := byOrg[e.OrgID]
		if s == nil {
			s = &span{lo: ms(e.At), hi: ms(e.At)}
			byOrg[e.OrgID] = s
		}
		s.lo, s.hi = min(s.lo, ms(e.At)), max(s.hi, ms(e.At))
		s.ids = append(s.ids, snapglyph.Storable(e.RequestID, 64))
	}
	out := map[logID]bool{}
	for org, s := range byOrg {
		for ic := range slices.Chunk(s.ids, inChunk) {
			args := []any{org, s.lo, s.hi}
			for _, id := range ic {
				args = append(args, id)
			}
			rows, err := d.query(ctx, `SELECT at, request_id FROM request_log WHERE org_id = ? AND at >= ? AND at <= ? AND request_id IN `+inClause(len(ic)), args...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				id := logID{org: org}
				if err := rows.Scan(&id.at, &id.requestID); err != nil {
					rows.Close()
					return nil, err
				}
				out[id] = true
			}
			if err := rows.Close(); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// savepoint runs fn inside a savepoint and rolls back to it if fn fails,
// so the transaction goes on; it returns fn's error.
func (tx *Tx) savepoint(ctx context.Context, fn func() error) error {
	if _, err := tx.Exec(ctx, `SAVEPOINT log_pair`); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT log_pair`); rerr != nil {
			return rerr
		}
		return err
	}
	_, err := tx.Exec(ctx, `RELEASE SAVEPOINT log_pair`)
	return err
}

// isNoPartition reports whether err is PostgreSQL finding no partition for
// a row (SQLSTATE 23514 with that message; the same code is a CHECK
// violation otherwise).
func isNoPartition(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23514" && strings.Contains(pg.Message, "no partition")
}

// requestLogValues returns an entry's column values, made storable.
func requestLogValues(e *snapglyph.RequestLogEntry, retention snapglyph.LogRetention) []any {
	return []any{
		ms(e.At), snapglyph.Storable(e.RequestID, 64), e.OrgID, e.KeyID, e.KeyPrefix,
		snapglyph.Storable(e.Method, MaxLogMethod), snapglyph.Storable(e.Route, 128), snapglyph.Storable(e.ResourceID, MaxLogResourceID),
		e.Status, snapglyph.Storable(e.Code, 64), snapglyph.Storable(e.IP, MaxLogIP), snapglyph.Storable(e.UserAgent, MaxLogUserAgent),
		e.Duration.Microseconds(), e.Calls, e.Credits, int(e.Flags), retention.Days(e.Plan),
	}
}

// sqliteLogRows is how many entries one INSERT carries on SQLite (17
// parameters each, well under its limit of 32,766).
const sqliteLogRows = 500

// insertRequestLog writes entries with multi-row INSERTs (PostgreSQL uses
// it only to write a batch again entry by entry). On SQLite it records the
// retentions they were recorded with, for pruning, and leaves an entry
// already stored (a batch written again after a commit whose answer was
// lost) as it is.
func (tx *Tx) insertRequestLog(ctx context.Context, entries []snapglyph.RequestLogEntry, retention snapglyph.LogRetention) error {
	insert := `INSERT INTO request_log (`
	if tx.db.dialect == sqlite {
		insert = `INSERT OR IGNORE INTO request_log (`
		type class struct {
			org  string
			days int
		}
		var classes []class
		for i := range entries {
			c := class{entries[i].OrgID, retention.Days(entries[i].Plan)}
			if !slices.Contains(classes, c) {
				classes = append(classes, c)
			}
		}
		for _, c := range classes {
			if _, err := tx.Exec(ctx, `INSERT OR IGNORE INTO request_log_classes (org_id, retention_days) VALUES (?, ?)`, c.org, c.days); err != nil {
				return err
			}
		}
	}
	row := "(" + strings.Repeat("?, ", len(requestLogColumnNames)-1) + "?)"
	// One statement of sqliteLogRows rows, prepared once for the batch:
	// parsing a statement of thousands of parameters costs more than
	// running it.
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, sqliteLogRows*len(requestLogColumnNames))
	for len(entries) > 0 {
		n := min(len(entries), sqliteLogRows)
		args = args[:0]
		for i := range entries[:n] {
			args = append(args, requestLogValues(&entries[i], retention)...)
		}
		var err error
		if n == sqliteLogRows {
			if full == nil {
				q := insert + requestLogColumns + `) VALUES ` + strings.Repeat(row+", ", n-1) + row
				if full, err = tx.tx.PrepareContext(ctx, q); err != nil {
					return err
				}
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.Exec(ctx, insert+requestLogColumns+`) VALUES `+strings.Repeat(row+", ", n-1)+row, args...)
		}
		if err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// addKeyIPs records the first uses of pairs in log_key_ips: a pair
// recorded already keeps the earlier time.
func addKeyIPs(ctx context.Context, exec execer, pairs []keyIPFirst) error {
	for _, p := range pairs {
		if err := exec(ctx, `INSERT INTO log_key_ips (key_id, ip, first_at) VALUES (?, ?, ?)
			ON CONFLICT (key_id, ip) DO UPDATE SET first_at = excluded.first_at WHERE excluded.first_at < log_key_ips.first_at`,
			p.KeyID, snapglyph.Storable(p.IP, MaxLogIP), ms(p.at)); err != nil {
			return err
		}
	}
	return nil
}

// refile moves FlagNewIP among the stored entries as the batch's earlier
// first uses have it (after addKeyIPs): an address that was the key's
// first, first used at a time in demoted, is a new address now; an entry
// in cleared is no longer its pair's first request. An entry is found by
// its key, time and address (the key's index, one day's partition): other
// requests of the pair in the same millisecond, if any, are changed with
// it.
func (u *firstUses) refile(ctx context.Context, exec execer) error {
	for _, k := range u.demoted {
		if err := exec(ctx, `UPDATE request_log SET flags = flags | `+strconv.Itoa(int(snapglyph.FlagNewIP))+` WHERE key_id = ? AND at = ?
			AND ip IN (SELECT ip FROM log_key_ips WHERE key_id = ? AND first_at = ?)`, k.KeyID, ms(k.at), k.KeyID, ms(k.at)); err != nil {
			return err
		}
	}
	for _, p := range u.cleared {
		if err := exec(ctx, `UPDATE request_log SET flags = flags & ~`+strconv.Itoa(int(snapglyph.FlagNewIP))+` WHERE key_id = ? AND at = ? AND ip = ?`,
			p.KeyID, ms(p.at), snapglyph.Storable(p.IP, MaxLogIP)); err != nil {
			return err
		}
	}
	return nil
}

// copyRequestLog writes entries with COPY in one transaction, with the
// key addresses seen for the first time (PostgreSQL).
func (d *DB) copyRequestLog(ctx context.Context, entries []snapglyph.RequestLogEntry, retention snapglyph.LogRetention, fresh []snapglyph.KeyIP) error {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		uses, err := d.markSuspicious(ctx, func(ctx context.Context, query string, args ...any) (logRows, error) {
			d.statements.Add(1)
			rows, err := tx.Query(ctx, d.rebind(query), cleanArgs(args)...)
			if err != nil {
				return nil, err
			}
			return pgxRows{rows}, nil
		}, entries, fresh)
		if err != nil {
			return err
		}
		exec := func(ctx context.Context, query string, args ...any) error {
			d.statements.Add(1)
			_, err := tx.Exec(ctx, d.rebind(query), cleanArgs(args)...)
			return err
		}
		if err := addKeyIPs(ctx, exec, uses.pairs); err != nil {
			return err
		}
		if err := uses.refile(ctx, exec); err != nil {
			return err
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"request_log"}, requestLogColumnNames, pgx.CopyFromSlice(len(entries), func(i int) ([]any, error) {
			return requestLogValues(&entries[i], retention), nil
		}))
		if err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

type keyIPFirst struct {
	snapglyph.KeyIP
	at time.Time
}

// firstUses is what a batch changes in the record of first uses: the
// pairs it holds the first requests of (pairs), the stored first requests
// they replace (cleared), and the keys whose first address it holds, with
// the first use of the key's first address recorded before (demoted; no
// IP).
type firstUses struct {
	pairs, cleared, demoted []keyIPFirst
}

// inClause returns "(?, ?, …)" for n values.
func inClause(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// inChunk bounds the values of one IN list.
const inChunk = 500

// querier runs a query written with "?" placeholders: the marks are
// made by the transaction that writes the entries, a database/sql one or
// (for COPY) a pgx one.
type querier func(ctx context.Context, query string, args ...any) (logRows, error)

type logRows interface {
	Next() bool
	Scan(dest ...any) error
	Close() error
}

// execer runs a statement written with "?" placeholders in the
// transaction that writes the entries.
type execer func(ctx context.Context, query string, args ...any) error

func (tx *Tx) exec(ctx context.Context, query string, args ...any) error {
	_, err := tx.Exec(ctx, query, args...)
	return err
}

func (tx *Tx) queryRows(ctx context.Context, query string, args ...any) (logRows, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// pgxRows gives pgx's rows database/sql's Close, which reports the error.
type pgxRows struct{ pgx.Rows }

func (r pgxRows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}

// markSuspicious sets FlagNewIP and FlagBurst on entries (see
// SaveRequestLog) and returns the first uses of fresh pairs that
// log_key_ips lacks or holds later, with the time of their first entry,
// to be added with the entries, and the stored entries whose FlagNewIP
// they move (firstUses.refile). On PostgreSQL it first locks, until the
// transaction ends, every key with a fresh pair or a refusal among
// entries.
func (d *DB) markSuspicious(ctx context.Context, q querier, entries []snapglyph.RequestLogEntry, fresh []snapglyph.KeyIP) (firstUses, error) {
	for i := range entries {
		entries[i].Flags &^= snapglyph.FlagNewIP | snapglyph.FlagBurst // computed again on a retry
	}
	if d.dialect == postgres {
		var keys []string
		for _, p := range fresh {
			keys = append(keys, p.KeyID)
		}
		for i := range entries {
			if snapglyph.IsRefusal(entries[i].Status) {
				keys = append(keys, entries[i].KeyID)
			}
		}
		if err := lockLogKeys(ctx, q, keys); err != nil {
			return firstUses{}, err
		}
	}
	uses, err := markNewIPs(ctx, q, entries, fresh)
	if err != nil {
		return firstUses{}, err
	}
	return uses, markBursts(ctx, q, entries)
}

// lockLogKeys takes a transaction-scoped advisory lock per key, in the
// keys' order so that two writers cannot wait for each other.
func lockLogKeys(ctx context.Context, q querier, keys []string) error {
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for kc := range slices.Chunk(keys, inChunk) {
		args := make([]any, len(kc))
		for i, k := range kc {
			args[i] = "request_log:" + k
		}
		rows, err := q(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM (VALUES `+
			strings.TrimSuffix(strings.Repeat("(?::text), ", len(kc)), ", ")+`) AS v(k)`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	return nil
}

func markNewIPs(ctx context.Context, q querier, entries []snapglyph.RequestLogEntry, fresh []snapglyph.KeyIP) (firstUses, error) {
	var out firstUses
	if len(fresh) == 0 {
		return out, nil
	}
	wanted := make(map[snapglyph.KeyIP]bool, len(fresh))
	var keys, ips []string
	for _, p := range fresh {
		if !wanted[p] {
			wanted[p] = true
			keys = append(keys, p.KeyID)
			ips = append(ips, p.IP)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	slices.Sort(ips)
	ips = slices.Compact(ips)
	// What log_key_ips holds: each key's earliest first use (that of its
	// first address), and the first use of each pair.
	keyFirst := map[string]int64{}
	recorded := map[snapglyph.KeyIP]int64{}
	for kc := range slices.Chunk(keys, inChunk) {
		args := make([]any, len(kc))
		for i, k := range kc {
			args[i] = k
		}
		rows, err := q(ctx, `SELECT key_id, MIN(first_at) FROM log_key_ips WHERE key_id IN `+inClause(len(kc))+` GROUP BY key_id`, args...)
		if err != nil {
			return out, err
		}
		for rows.Next() {
			var k string
			var at int64
			if err := rows.Scan(&k, &at); err != nil {
				rows.Close()
				return out, err
			}
			keyFirst[k] = at
		}
		if err := rows.Close(); err != nil {
			return out, err
		}
		for ic := range slices.Chunk(ips, inChunk) {
			a := append(slices.Clone(args), make([]any, len(ic))...)
			for i, ip := range ic {
				a[len(kc)+i] = ip
			}
			rows, err := q(ctx, `SELECT key_id, ip, first_at FROM log_key_ips WHERE key_id IN `+inClause(len(kc))+` AND ip IN `+inClause(len(ic)), a...)
			if err != nil {
				return out, err
			}
			for rows.Next() {
				var p snapglyph.KeyIP
				var at int64
				if err := rows.Scan(&p.KeyID, &p.IP, &at); err != nil {
					rows.Close()
					return out, err
				}
				recorded[p] = at
			}
			if err := rows.Close(); err != nil {
				return out, err
			}
		}
	}
	// Entries are in time order: the first entry of a pair is the key's
	// first request from that address unless log_key_ips holds an
	// earlier (or as early) one. The earliest such entry of a key is its
	// first address if the key has none recorded earlier: it is not
	// flagged, and the address that was the key's first is new now.
	// Every other first request is flagged.
	seen := map[snapglyph.KeyIP]bool{}
	keyDone := map[string]bool{}
	for i := range entries {
		e := &entries[i]
		p := snapglyph.KeyIP{KeyID: e.KeyID, IP: e.IP}
		if !wanted[p] || seen[p] {
			continue
		}
		seen[p] = true
		at, ok := recorded[p]
		if ok && at <= ms(e.At) {
			continue
		}
		out.pairs = append(out.pairs, keyIPFirst{p, e.At})
		if ok {
			out.cleared = append(out.cleared, keyIPFirst{p, fromMS(at)})
		}
		kf, has := keyFirst[e.KeyID]
		if !keyDone[e.KeyID] && (!has || ms(e.At) < kf) {
			if has {
				out.demoted = append(out.demoted, keyIPFirst{snapglyph.KeyIP{KeyID: e.KeyID}, fromMS(kf)})
			}
		} else {
			e.Flags |= snapglyph.FlagNewIP
		}
		keyDone[e.KeyID] = true
	}
	return out, nil
}

type keyMinute struct {
	keyID  string
	minute int64
}

func markBursts(ctx context.Context, q querier, entries []snapglyph.RequestLogEntry) error {
	var keys []string
	lo, hi := int64(1<<62), int64(0)
	for i := range entries {
		e := &entries[i]
		if snapglyph.IsRefusal(e.Status) {
			keys = append(keys, e.KeyID)
			m := ms(e.At) / 60000
			lo, hi = min(lo, m), max(hi, m)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	counts := map[keyMinute]int64{}
	for kc := range slices.Chunk(keys, inChunk) {
		args := []any{lo * 60000, (hi + 1) * 60000}
		for _, k := range kc {
			args = append(args, k)
		}
		rows, err := q(ctx, `SELECT key_id, at / 60000, COUNT(*) FROM request_log WHERE at >= ? AND at < ? AND status IN (401, 403, 429)
			AND key_id IN `+inClause(len(kc))+` GROUP BY key_id, at / 60000`, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k keyMinute
			var n int64
			if err := rows.Scan(&k.keyID, &k.minute, &n); err != nil {
				rows.Close()
				return err
			}
			counts[k] = n
		}
		if err := rows.Close(); err != nil {
			return err
		}
	}
	for i := range entries {
		e := &entries[i]
		if !snapglyph.IsRefusal(e.Status) {
			continue
		}
		k := keyMinute{e.KeyID, ms(e.At) / 60000}
		counts[k]++
		if counts[k] >= snapglyph.BurstRefusals {
			e.Flags |= snapglyph.FlagBurst
		}
	}
	return nil
}

// logQuery builds the WHERE clause for an organisation's entries matching
// f, never before notBefore (the retention), in the dialect's words.
func logQuery(dl dialect, orgID string, f *snapglyph.RequestLogFilter, notBefore time.Time) (string, []any) {
	where := []string{"org_id = ?", "at >= ?"}
	from := notBefore
	if f.From.After(from) {
		from = f.From
	}
	args := []any{orgID, ms(from)}
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	// A code is most often on a few of the organisation's entries, and
	// its index (migration 023) reads just those, in the page's order.
	// Without statistics (the store never runs ANALYZE), SQLite takes an
	// equality on an index's second column to leave 9 of the 10 rows the
	// first leaves, and walks the organisation's entries by the table's
	// key instead: unlikely() tells it the condition leaves few.
	// PostgreSQL has no such function and needs none (it keeps each
	// partition's statistics itself). A key and the suspicious flag have
	// indexes SQLite is told to use (logTable).
	selective := func(cond string) string {
		if dl == sqlite {
			return "unlikely(" + cond + ")"
		}
		return cond
	}
	if !f.To.IsZero() {
		add("at < ?", ms(f.To))
	}
	if f.KeyID != "" {
		add("key_id = ?", f.KeyID)
	}
	switch {
	case f.StatusMin > 0 && f.StatusMin == f.StatusMax:
		add("status = ?", f.StatusMin)
	case f.StatusMin > 0:
		add("status BETWEEN ? AND ?", f.StatusMin, f.StatusMax)
	}
	if f.Code != "" {
		// The code's index holds only entries with a code: a planner
		// does not see that the parameter is not empty, so the query
		// says so (outside unlikely(), where SQLite would not see it).
		add(selective("code = ?")+" AND code <> ''", f.Code)
	}
	if f.Method != "" {
		add("method = ?", f.Method)
	}
	if f.Route != "" {
		add("route = ?", f.Route)
	}
	if f.IP != "" {
		add("ip = ?", f.IP)
	}
	if f.Suspicious {
		where = append(where, "flags <> 0")
	}
	if c := f.After; c != nil {
		add("at <= ?", ms(c.At))
		add("(at < ? OR (at = ? AND request_id < ?))", ms(c.At), ms(c.At), c.RequestID)
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

func scanRequestLog(row interface{ Scan(...any) error }) (snapglyph.RequestLogEntry, error) {
	var e snapglyph.RequestLogEntry
	var at, durUS int64
	var flags, retention int
	err := row.Scan(&at, &e.RequestID, &e.OrgID, &e.KeyID, &e.KeyPrefix, &e.Method, &e.Route, &e.ResourceID, &e.Status, &e.Code,
		&e.IP, &e.UserAgent, &durUS, &e.Calls, &e.Credits, &flags, &retention)
	e.At, e.Duration, e.Flags = fromMS(at), time.Duration(durUS)*time.Microsecond, snapglyph.RequestLogFlags(flags)
	return e, err
}

// RequestLog calls fn with an organisation's entries matching f, newest
// first, at most f.Limit of them (all if 0), none older than notBefore.
// Rows are read as fn takes them; an error from fn stops the read.
func (d *DB) RequestLog(ctx context.Context, orgID string, f snapglyph.RequestLogFilter, notBefore time.Time, fn func(*snapglyph.RequestLogEntry) error) error {
	q, args := logPageQuery(d.dialect, orgID, &f, notBefore)
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: request log: %w", formatError(err))
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanRequestLog(rows)
		if err != nil {
			return fmt.Errorf("store: request log: %w", err)
		}
		if err := fn(&e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: request log: %w", formatError(err))
	}
	return nil
}

// logTable is the table a query of f reads: on SQLite, with the index
// SQLite is to read it by when f names a key or asks for suspicious
// entries. Those are most often a few of the organisation's entries (a
// revoked key's last requests weeks ago), but SQLite, with no statistics
// or with statistics of a busy organisation, reads the organisation's
// entries by the table's key, whose order needs no sort, and finds a
// rare key's by reading every newer entry. Its index reads only the key's
// (and sorts only the ties of one millisecond); the partial index only
// the suspicious ones.
func logTable(dl dialect, f *snapglyph.RequestLogFilter) string {
	switch {
	case dl != sqlite:
		return "request_log"
	case f.KeyID != "":
		return "request_log INDEXED BY request_log_key"
	case f.Suspicious:
		return "request_log INDEXED BY request_log_suspicious"
	}
	return "request_log"
}

// logPageQuery returns RequestLog's query of an organisation's entries
// matching f, newest first.
func logPageQuery(dl dialect, orgID string, f *snapglyph.RequestLogFilter, notBefore time.Time) (string, []any) {
	where, args := logQuery(dl, orgID, f, notBefore)
	q := `SELECT ` + requestLogColumns + ` FROM ` + logTable(dl, f) + where + ` ORDER BY at DESC, request_id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return q, args
}

// logChartQuery returns RequestLogChart's query counting an
// organisation's entries matching f by bucket (width milliseconds wide)
// and status class.
func logChartQuery(dl dialect, orgID string, f *snapglyph.RequestLogFilter, notBefore time.Time, width int64) (string, []any) {
	where, args := logQuery(dl, orgID, f, notBefore)
	return `SELECT at / ?, status / 100, COUNT(*) FROM ` + logTable(dl, f) + where + ` GROUP BY 1, 2`, append([]any{width}, args...)
}

// RequestLogEntry returns an organisation's entry by request id, not
// older than notBefore. The id's time finds it (see
// snapglyph.NewRequestID). Returns ENOTFOUND (also for another
// organisation's entry, and for an id not made by NewRequestID).
func (d *DB) RequestLogEntry(ctx context.Context, orgID, requestID string, notBefore time.Time) (*snapglyph.RequestLogEntry, error) {
	at, ok := snapglyph.RequestIDTime(requestID)
	if !ok || at.Before(notBefore) {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no request %q in this organisation's log", requestID)
	}
	e, err := scanRequestLog(d.queryRow(ctx, `SELECT `+requestLogColumns+` FROM request_log WHERE org_id = ? AND at = ? AND request_id = ?`,
		orgID, ms(at), requestID))
	if err != nil {
		return nil, notFound(err, "no request %q in this organisation's log", requestID)
	}
	return &e, nil
}

// maxChartQueries bounds the queries of one chart on SQLite.
const maxChartQueries = 400

// RequestLogChart counts an organisation's entries matching f (its limit
// and cursor aside) by bucket (an hour or a day: a whole number of hours)
// and status class. Buckets without requests are left out.
func (d *DB) RequestLogChart(ctx context.Context, orgID string, f snapglyph.RequestLogFilter, notBefore time.Time, bucket time.Duration) ([]snapglyph.ChartBucket, error) {
	f.After, f.Limit = nil, 0
	width := bucket.Milliseconds()
	if width <= 0 || width%3_600_000 != 0 {
		return nil, fmt.Errorf("store: request log chart: bucket %s is not whole hours", bucket)
	}
	byStart := map[int64]*snapglyph.ChartBucket{}
	var out []*snapglyph.ChartBucket
	count := func(f snapglyph.RequestLogFilter) error {
		q, args := logChartQuery(d.dialect, orgID, &f, notBefore, width)
		rows, err := d.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("store: request log chart: %w", formatError(err))
		}
		defer rows.Close()
		for rows.Next() {
			var b, class, n int64
			if err := rows.Scan(&b, &class, &n); err != nil {
				return err
			}
			cb := byStart[b]
			if cb == nil {
				cb = &snapglyph.ChartBucket{Start: time.UnixMilli(b * width).UTC()}
				byStart[b] = cb
				out = append(out, cb)
			}
			if class >= 1 && class <= 5 {
				cb.ByClass[class-1] += n
			}
		}
		return formatError(rows.Err())
	}
	from := f.From
	if notBefore.After(from) {
		from = notBefore
	}
	end := f.To
	if end.IsZero() {
		end = d.now()
	}
	if d.dialect != sqlite || from.IsZero() || end.Sub(from) > maxChartQueries*bucket {
		if err := count(f); err != nil {
			return nil, err
		}
	} else {
		// SQLite groups by sorting the rows: counting one bucket at a
		// time sorts a few thousand at a time instead of a day's 100,000
		// (twice as fast for a busy organisation's day), up to
		// maxChartQueries of them; a longer range (a caller's far
		// future end) is one query. The last bucket has no end when f
		// has none, so entries of a clock a little ahead are counted as
		// one query would.
		for b := from.Truncate(bucket); ; b = b.Add(bucket) {
			fb := f
			fb.From = b
			if b.Before(from) {
				fb.From = from
			}
			next := b.Add(bucket)
			if next.Before(end) {
				fb.To = next
			}
			if err := count(fb); err != nil {
				return nil, err
			}
			if !next.Before(end) {
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b *snapglyph.ChartBucket) int { return a.Start.Compare(b.Start) })
	res := make([]snapglyph.ChartBucket, len(out))
	for i, b := range out {
		res[i] = *b
	}
	return res, nil
}

// AddRequestLogGaps records requests that could not be logged, by
// organisation and hour. The rows are written in (organisation, hour)
// order, so nodes adding gaps of the same hours at once take their row
// locks in one order and never deadlock (PostgreSQL).
func (d *DB) AddRequestLogGaps(ctx context.Context, gaps map[string]map[time.Time]int64) error {
	type gap struct {
		org  string
		hour int64
		n    int64
	}
	var rows []gap
	for o, hours := range gaps {
		for h, n := range hours {
			rows = append(rows, gap{o, ms(h), n})
		}
	}
	slices.SortFunc(rows, func(a, b gap) int {
		if c := strings.Compare(a.org, b.org); c != 0 {
			return c
		}
		return cmp.Compare(a.hour, b.hour)
	})
	err := d.tx(ctx, func(tx *Tx) error {
		for _, g := range rows {
			if _, err := tx.Exec(ctx, `INSERT INTO request_log_gaps (org_id, hour, dropped) VALUES (?, ?, ?)
				ON CONFLICT (org_id, hour) DO UPDATE SET dropped = request_log_gaps.dropped + excluded.dropped`, g.org, g.hour, g.n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: request log gaps: %w", err)
	}
	return nil
}

// RequestLogGaps returns the hours in [from, to) in which some of the
// organisation's requests could not be logged, oldest first.
func (d *DB) RequestLogGaps(ctx context.Context, orgID string, from, to time.Time) ([]snapglyph.RequestLogGap, error) {
	q := `SELECT hour, dropped FROM request_log_gaps WHERE org_id = ? AND hour >= ?`
	args := []any{orgID, ms(from.Truncate(time.Hour))}
	if !to.IsZero() {
		q += ` AND hour < ?`
		args = append(args, ms(to))
	}
	rows, err := d.query(ctx, q+` ORDER BY hour`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: request log gaps: %w", formatError(err))
	}
	defer rows.Close()
	var out []snapglyph.RequestLogGap
	for rows.Next() {
		var h, n int64
		if err := rows.Scan(&h, &n); err != nil {
			return nil, err
		}
		out = append(out, snapglyph.RequestLogGap{Hour: fromMS(h), Dropped: n})
	}
	return out, formatError(rows.Err())
}

// pruneResult says what a prune removed.
type pruneResult struct {
	Partitions int   // daily partitions dropped (PostgreSQL)
	Rows       int64 // rows deleted (SQLite)
}

// pruneBatch is how many rows one DELETE removes on SQLite, so the write
// lock is never held long.
const pruneBatch = 5000

// PruneRequestLog removes entries older than their retention at now: whole
// daily partitions on PostgreSQL (a day goes once its last moment is
// older than the retention), batches of rows on SQLite. Gaps older than
// the longest retention go too. Returns what it removed so far (daily
// partitions dropped, rows deleted), also on error.
func (d *DB) PruneRequestLog(ctx context.Context, now time.Time) (partitions int, rows int64, err error) {
	var res pruneResult
	defer func() { partitions, rows = res.Partitions, res.Rows }()
	if d.dialect == postgres {
		err = d.dropLogPartitions(ctx, now, &res)
	} else {
		err = d.deleteLogRows(ctx, now, &res)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: prune request log: %w", formatError(err))
	}
	longest := snapglyph.MaxRetentionDays
	if classes, err := d.logClasses(ctx); err == nil && len(classes) > 0 {
		longest = slices.Max(classes)
	}
	if _, err := d.exec(ctx, `DELETE FROM request_log_gaps WHERE hour < ?`, ms(now.AddDate(0, 0, -longest))); err != nil {
		return 0, 0, fmt.Errorf("store: prune request log gaps: %w", formatError(err))
	}
	return 0, 0, nil
}

// pruneKeyIPs deletes a batch of the addresses last seen before a cutoff
// of the keys of organisations on one plan (effective at a time: an ended
// trial is Starter's, as the log's reads have it); pruneAnyKeyIPs those
// of any key (the longest retention's cutoff: a backstop for addresses
// whose key or organisation is gone).
const (
	pruneKeyIPs = `DELETE FROM key_ips WHERE (key_id, ip) IN (SELECT ki.key_id, ki.ip FROM key_ips ki WHERE ki.last_seen < ?
		AND (SELECT ` + effectivePlanSQL + ` FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id = ki.key_id) = ? LIMIT ?)`
	pruneAnyKeyIPs = `DELETE FROM key_ips WHERE (key_id, ip) IN (SELECT key_id, ip FROM key_ips WHERE last_seen < ? LIMIT ?)`
)

// pruneFirstUses deletes a batch of the request log's first uses
// (log_key_ips) older than a cutoff whose address is no longer in the
// key's addresses (key_ips, pruned first) of the keys of organisations on
// one plan; pruneAnyFirstUses those of any key.
const (
	pruneFirstUses = `DELETE FROM log_key_ips WHERE (key_id, ip) IN (SELECT l.key_id, l.ip FROM log_key_ips l WHERE l.first_at < ?
		AND NOT EXISTS (SELECT 1 FROM key_ips ki WHERE ki.key_id = l.key_id AND ki.ip = l.ip)
		AND (SELECT ` + effectivePlanSQL + ` FROM api_keys k JOIN orgs o ON o.id = k.org_id WHERE k.id = l.key_id) = ? LIMIT ?)`
	pruneAnyFirstUses = `DELETE FROM log_key_ips WHERE (key_id, ip) IN (SELECT l.key_id, l.ip FROM log_key_ips l WHERE l.first_at < ?
		AND NOT EXISTS (SELECT 1 FROM key_ips ki WHERE ki.key_id = l.key_id AND ki.ip = l.ip) LIMIT ?)`
)

// PruneKeyIPs deletes the addresses keys were used from (the key page's
// list, key_ips) last seen before the request log's retention of their
// organisation's plan at now (its effective plan, whose retention also
// bounds what the log shows and keeps), a batch at a time, and returns
// how many it deleted (also on error). Then the request log's record of
// first uses (log_key_ips, what tells a new address) loses the addresses
// first used before that retention and not used since (no longer in
// key_ips): an address back after the log has forgotten it is new again,
// as the log can no longer show its earlier requests.
func (d *DB) PruneKeyIPs(ctx context.Context, now time.Time, retention snapglyph.LogRetention) (int64, error) {
	var total int64
	for _, q := range [][2]string{{pruneKeyIPs, pruneAnyKeyIPs}, {pruneFirstUses, pruneAnyFirstUses}} {
		longest := 0
		for _, p := range snapglyph.Plans() {
			days := retention.Days(p)
			longest = max(longest, days)
			n, err := d.deleteBatches(ctx, q[0], ms(now.AddDate(0, 0, -days)), ms(now), string(p))
			total += n
			if err != nil {
				return total, fmt.Errorf("store: prune key addresses: %w", formatError(err))
			}
		}
		// A backstop at the longest retention, for addresses whose key
		// or organisation is gone.
		n, err := d.deleteBatches(ctx, q[1], ms(now.AddDate(0, 0, -longest)))
		total += n
		if err != nil {
			return total, fmt.Errorf("store: prune key addresses: %w", formatError(err))
		}
	}
	return total, nil
}

// RequestLogPartitions lists the daily partitions (PostgreSQL).
func (d *DB) RequestLogPartitions(ctx context.Context) ([]snapglyph.LogPartition, error) {
	if d.dialect != postgres {
		return nil, nil
	}
	rows, err := d.query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname LIKE 'request_log_r%_d%' AND c.relispartition`)
	if err != nil {
		return nil, fmt.Errorf("store: request log partitions: %w", formatError(err))
	}
	defer rows.Close()
	var out []snapglyph.LogPartition
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		class, day, ok := strings.Cut(strings.TrimPrefix(name, "request_log_r"), "_d")
		days, err1 := strconv.Atoi(class)
		t, err2 := time.Parse("20060102", day)
		if !ok || err1 != nil || err2 != nil {
			continue // not ours
		}
		out = append(out, snapglyph.LogPartition{RetentionDays: days, Day: t})
	}
	slices.SortFunc(out, func(a, b snapglyph.LogPartition) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return a.RetentionDays - b.RetentionDays
	})
	return out, formatError(rows.Err())
}

func (d *DB) dropLogPartitions(ctx context.Context, now time.Time, res *pruneResult) error {
	parts, err := d.RequestLogPartitions(ctx)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if p.Day.Add(24 * time.Hour).After(now.AddDate(0, 0, -p.RetentionDays)) {
			continue // some of the day is still kept
		}
		err := d.tx(ctx, func(tx *Tx) error {
			if _, err := tx.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, requestLogLock); err != nil {
				return err
			}
			_, err := tx.tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+partitionName(p))
			return err
		})
		if err != nil {
			return err
		}
		res.Partitions++
	}
	return nil
}

// logClasses returns the retention classes that hold entries.
func (d *DB) logClasses(ctx context.Context) ([]int, error) {
	q := `SELECT DISTINCT retention_days FROM request_log_classes`
	if d.dialect == postgres {
		q = `SELECT DISTINCT substr(c.relname, 14) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relname LIKE 'request_log_r%' AND c.relkind = 'p' AND c.relispartition`
	}
	rows, err := d.query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if n, err := strconv.Atoi(v); err == nil {
			out = append(out, n)
		}
	}
	return out, rows.Err()
}

// deleteLogRows deletes expired entries on SQLite, organisation by
// organisation and retention by retention, each a range of the table's
// key, a batch at a time.
func (d *DB) deleteLogRows(ctx context.Context, now time.Time, res *pruneResult) error {
	rows, err := d.query(ctx, `SELECT org_id, retention_days FROM request_log_classes ORDER BY org_id, retention_days`)
	if err != nil {
		return err
	}
	type class struct {
		org  string
		days int
	}
	var classes []class
	for rows.Next() {
		var c class
		if err := rows.Scan(&c.org, &c.days); err != nil {
			rows.Close()
			return err
		}
		classes = append(classes, c)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, c := range classes {
		cutoff := ms(now.AddDate(0, 0, -c.days))
		for {
			r, err := d.exec(ctx, pruneLogRows, c.org, cutoff, c.days, pruneBatch)
			if err != nil {
				return err
			}
			n, _ := r.RowsAffected()
			res.Rows += n
			if n < pruneBatch {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
