package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// notifyChannel is the PostgreSQL channel that carries changes. It is
// named after the schema, because NOTIFY is database-wide: deployments
// (or tests) that share a database in different schemas must not hear
// each other's changes.
const notifyChannel = `'snapglyph_' || current_schema()`

// recordChange appends to the change log when the transaction commits
// (writeChanges), and on PostgreSQL sends a NOTIFY with it: delivered only
// if and when the transaction commits, so no node hears of a change that
// did not happen.
func (tx *Tx) recordChange(kind, id string) {
	tx.changes = append(tx.changes, snapglyph.Change{Kind: kind, RefID: id})
}

// changeLock is the PostgreSQL advisory lock a transaction holds from
// numbering its changes until it commits, keyed by schema.
const changeLock = 7261003

// writeChanges writes the transaction's changes, just before it commits.
// A node's progress is the highest sequence number it has heard of, and a
// management command waits until every node has heard of the newest
// (WaitApplied), so the numbers must be heard in order. PostgreSQL hands
// a sequence's numbers out at insert but delivers NOTIFYs in commit order:
// a change numbered 8 that commits after one numbered 9 would be counted
// as applied by a node that only heard of 9. Under changeLock, held until
// the commit, the numbers are taken in commit order. Taken last, the lock
// waits for nothing but other transactions' commits (no row lock is
// asked for while it is held), so it cannot deadlock with them. SQLite's
// writes are serial already.
func (tx *Tx) writeChanges(ctx context.Context) error {
	if len(tx.changes) == 0 {
		return nil
	}
	if tx.db.dialect == postgres {
		if _, err := tx.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, changeLock); err != nil {
			return err
		}
	}
	for _, c := range tx.changes {
		var seq int64
		if err := tx.QueryRow(ctx, `INSERT INTO changes (kind, ref_id, at) VALUES (?, ?, ?) RETURNING seq`, c.Kind, c.RefID, ms(tx.now)).Scan(&seq); err != nil {
			return err
		}
		if tx.db.dialect == postgres {
			payload := strconv.FormatInt(seq, 10) + ":" + c.Kind + ":" + c.RefID
			if _, err := tx.Exec(ctx, `SELECT pg_notify(`+notifyChannel+`, ?)`, payload); err != nil {
				return err
			}
		}
	}
	tx.changes = nil
	return nil
}

// NotifyReclaim asks every PostgreSQL node to return its unspent leases of
// the organisation (see ChangeReclaim). It does nothing on SQLite, where
// one node holds every lease.
func (d *DB) NotifyReclaim(ctx context.Context, orgID, fromNode string) error {
	if d.dialect != postgres {
		return nil
	}
	_, err := d.exec(ctx, `SELECT pg_notify(`+notifyChannel+`, ?)`, "0:"+snapglyph.ChangeReclaim+":"+orgID+"/"+fromNode)
	return formatError(err)
}

// NotifyReclaimed tells the node that asked that this node has returned
// its leases of the organisation.
func (d *DB) NotifyReclaimed(ctx context.Context, orgID, askingNode, fromNode string) error {
	_, err := d.exec(ctx, `SELECT pg_notify(`+notifyChannel+`, ?)`, "0:"+snapglyph.ChangeReclaimed+":"+orgID+"/"+askingNode+"/"+fromNode)
	return formatError(err)
}

// OtherListeningNodes counts the live nodes, other than id, that hear
// changes. Liveness is judged by the database's clock (see SetNode).
func (d *DB) OtherListeningNodes(ctx context.Context, id string) (int, error) {
	var n int
	err := d.queryRow(ctx, `SELECT COUNT(*) FROM nodes WHERE listening AND seen_at > `+d.dbNowMillis()+` - ? AND id <> ?`,
		NodeStaleAfter.Milliseconds(), id).Scan(&n)
	return n, formatError(err)
}

// dbNowMillis is an SQL expression for the database's clock in Unix
// milliseconds. Node liveness is written and judged with it, so a node
// whose own clock is off is neither left out nor waited for too long.
func (d *DB) dbNowMillis() string {
	if d.dialect == postgres {
		return `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)`
	}
	return `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`
}

// ParseChange parses a notification payload "seq:kind:id".
func ParseChange(payload string) (snapglyph.Change, bool) {
	seqS, rest, ok := strings.Cut(payload, ":")
	if !ok {
		return snapglyph.Change{}, false
	}
	kind, id, ok := strings.Cut(rest, ":")
	seq, err := strconv.ParseInt(seqS, 10, 64)
	if !ok || err != nil {
		return snapglyph.Change{}, false
	}
	return snapglyph.Change{Seq: seq, Kind: kind, RefID: id}, true
}

// Changes returns the change-log entries after seq, oldest first, at most
// limit of them.
func (d *DB) Changes(ctx context.Context, after int64, limit int) ([]snapglyph.Change, error) {
	rows, err := d.query(ctx, `SELECT seq, kind, ref_id FROM changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: changes: %w", formatError(err))
	}
	defer rows.Close()
	var out []snapglyph.Change
	for rows.Next() {
		var c snapglyph.Change
		if err := rows.Scan(&c.Seq, &c.Kind, &c.RefID); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, formatError(rows.Err())
}

// LastChange returns the newest change-log sequence number (0 if none).
func (d *DB) LastChange(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := d.queryRow(ctx, `SELECT MAX(seq) FROM changes`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last change: %w", formatError(err))
	}
	return seq.Int64, nil
}

// Versioner tells whether anything was committed to a SQLite database
// since the last check. It reads PRAGMA data_version on one dedicated
// connection (the value changes whenever another connection, of this
// process or another, commits), and skips that query when the wal-index
// header in shared memory shows that nothing was committed at all.
type Versioner struct {
	mu   sync.Mutex
	conn *sql.Conn
	stmt *sql.Stmt
	hdr  *walHeader // nil if the -shm file could not be mapped
	// pending is the header read before the last data_version, to become
	// the snapshot once the caller has acted on that version.
	pending [6]uint64
}

// NewVersioner pins a connection for data_version reads. SQLite only.
func (d *DB) NewVersioner(ctx context.Context) (*Versioner, error) {
	if d.dialect != sqlite {
		return nil, fmt.Errorf("store: data_version is a SQLite feature")
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	stmt, err := conn.PrepareContext(ctx, `PRAGMA data_version`)
	if err != nil {
		conn.Close()
		return nil, err
	}
	v := &Versioner{conn: conn, stmt: stmt}
	var n int64
	if err := stmt.QueryRowContext(ctx).Scan(&n); err != nil { // opens the WAL and -shm
		v.Close()
		return nil, err
	}
	v.hdr = d.mapWALHeader(strings.TrimPrefix(strings.SplitN(d.dsn, "?", 2)[0], "file:"))
	return v, nil
}

// Unchanged reports, without a query, that nothing at all was committed
// since the last Commit. A false answer means "maybe": ask Version.
func (v *Versioner) Unchanged() bool {
	return v.hdr != nil && !v.hdr.changed()
}

// Version returns the current data_version.
func (v *Versioner) Version(ctx context.Context) (int64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.hdr != nil {
		// Read the header first: a commit after this read changes it
		// again, so it cannot be missed by the next Unchanged.
		v.pending = v.hdr.read()
	}
	var n int64
	err := v.stmt.QueryRowContext(ctx).Scan(&n)
	return n, err
}

// Commit records that the caller has acted on the last Version, so
// Unchanged compares with the header as it was before that query.
func (v *Versioner) Commit() {
	if v.hdr == nil {
		return
	}
	v.mu.Lock()
	v.hdr.remember(v.pending)
	v.mu.Unlock()
}

// Close releases the pinned connection and the mapping.
func (v *Versioner) Close() error {
	if v.hdr != nil {
		v.hdr.close()
	}
	v.stmt.Close()
	return v.conn.Close()
}

// Listen opens a dedicated PostgreSQL connection, LISTENs on the change
// channel, calls ready once the LISTEN is in place, and then calls fn for
// each change until ctx ends or the connection fails; it returns the
// error. The caller reconnects.
func (d *DB) Listen(ctx context.Context, ready func(), fn func(snapglyph.Change)) error {
	conn, err := pgx.Connect(ctx, withConnectTimeout(d.dsn))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var channel string
	if err := conn.QueryRow(ctx, `SELECT `+notifyChannel).Scan(&channel); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	ready()
	for {
		// Wake up every ListenProbe to check the connection: one that died
		// without a reset (a cut network) would otherwise wait forever while
		// this node trusts a cache that no longer hears changes.
		wctx, cancel := context.WithTimeout(ctx, ListenProbe)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			pctx, cancel := context.WithTimeout(ctx, ListenProbe)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("store: listen: connection lost: %w", err)
			}
			continue
		}
		if c, ok := ParseChange(n.Payload); ok {
			fn(c)
		}
	}
}

// ListenProbe is how long the change listener waits before checking that
// its connection is alive.
const ListenProbe = 2 * time.Second

// NodeStaleAfter is how long a node that stopped heart-beating is still
// waited for.
const NodeStaleAfter = 5 * time.Second

// SetNode records a node's progress through the change log and whether it
// is listening (a node that is not listening serves nothing from cache,
// so nobody needs to wait for it). It also serves as the heartbeat:
// seen_at is the database's clock, never the node's.
func (d *DB) SetNode(ctx context.Context, id string, appliedSeq int64, listening bool) error {
	_, err := d.exec(ctx, `INSERT INTO nodes (id, applied_seq, listening, seen_at) VALUES (?, ?, ?, `+d.dbNowMillis()+`)
		ON CONFLICT (id) DO UPDATE SET applied_seq = excluded.applied_seq, listening = excluded.listening, seen_at = excluded.seen_at`,
		id, appliedSeq, listening)
	if err != nil {
		return fmt.Errorf("store: set node: %w", formatError(err))
	}
	return nil
}

// RemoveNode deletes a node that is stopping.
func (d *DB) RemoveNode(ctx context.Context, id string) error {
	_, err := d.exec(ctx, `DELETE FROM nodes WHERE id = ?`, id)
	return formatError(err)
}

// WaitApplied waits until every live, listening node has applied the
// change log up to its current end, or until timeout. On timeout it
// returns the ids of the nodes still behind (sorted; nil when every node
// confirmed). Liveness is judged by the database's clock.
func (d *DB) WaitApplied(ctx context.Context, timeout time.Duration) (behind []string, err error) {
	seq, err := d.LastChange(ctx)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		behind, err = d.nodesBehind(ctx, seq)
		if err != nil || len(behind) == 0 {
			return behind, err
		}
		if time.Now().After(deadline) {
			return behind, nil
		}
		select {
		case <-ctx.Done():
			return behind, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// nodesBehind lists the live, listening nodes that have not applied the
// change log up to seq.
func (d *DB) nodesBehind(ctx context.Context, seq int64) ([]string, error) {
	rows, err := d.query(ctx, `SELECT id FROM nodes WHERE listening AND seen_at > `+d.dbNowMillis()+` - ? AND applied_seq < ? ORDER BY id`,
		NodeStaleAfter.Milliseconds(), seq)
	if err != nil {
		return nil, fmt.Errorf("store: nodes behind: %w", formatError(err))
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: nodes behind: %w", formatError(err))
		}
		ids = append(ids, id)
	}
	return ids, formatError(rows.Err())
}

// ChangeRetention and ChangeKeepLast bound the change log: entries older
// than ChangeRetention are deleted unless they are among the last
// ChangeKeepLast. A node further behind than that resyncs wholesale (a
// PostgreSQL node does so on every reconnect; a SQLite node sees the gap
// in the sequence numbers).
const (
	ChangeRetention = 24 * time.Hour
	ChangeKeepLast  = 10000
)

// PruneChanges deletes change-log entries older than retention, keeping
// at least the newest keepLast (and always the newest one, so sequence
// numbers stay monotonic and a reader can tell it missed entries), and
// returns how many it deleted.
func (d *DB) PruneChanges(ctx context.Context, retention time.Duration, keepLast int64) (int64, error) {
	keepLast = max(keepLast, 1)
	last, err := d.LastChange(ctx)
	if err != nil {
		return 0, err
	}
	res, err := d.exec(ctx, `DELETE FROM changes WHERE at < ? AND seq <= ?`, ms(d.now().Add(-retention)), last-keepLast)
	if err != nil {
		return 0, fmt.Errorf("store: prune changes: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PruneIdempotency deletes idempotency keys past their window and returns
// how many it deleted.
func (d *DB) PruneIdempotency(ctx context.Context) (int64, error) {
	res, err := d.exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, ms(d.now().Add(-snapglyph.IdempotencyWindow)))
	if err != nil {
		return 0, fmt.Errorf("store: prune idempotency keys: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}
