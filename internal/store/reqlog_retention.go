package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// An entry is stored with its plan's retention at the time it was
// recorded, and PruneRequestLog removes it by that retention: whole days
// on PostgreSQL, rows on SQLite. After a downgrade (Max to Pro) or a
// retention the operator shortened (pro=7d), an organisation's older
// entries are past its current retention but not past the one they were
// stored with: the service no longer shows them, and
// PruneShortenedRequestLog removes them row by row. This happens only
// after such a change, and only to the organisations it concerns.

// effectivePlanSQL is snapglyph.Org.EffectivePlan in SQL for the orgs row
// o at a time (a parameter, Unix milliseconds): an ended trial follows
// Starter's rules.
const effectivePlanSQL = `CASE WHEN o.plan = 'trial' AND o.trial_ends_at <= ? THEN 'starter' ELSE o.plan END`

// pruneLogRows deletes a batch of an organisation's entries of one
// retention class older than a cutoff (SQLite: a range of the table's
// key).
const pruneLogRows = `DELETE FROM request_log WHERE (org_id, at, request_id) IN
	(SELECT org_id, at, request_id FROM request_log WHERE org_id = ? AND at < ? AND retention_days = ? LIMIT ?)`

// logClass is an organisation's entries stored with one retention.
type logClass struct {
	org  string
	days int
}

// PruneShortenedRequestLog removes the entries older than their
// organisation's current retention (retention.Of its effective plan at
// now) that were stored with a longer one, at most most of them
// (pruneBatch per statement, so no transaction is long); the next run
// goes on. request_log_classes tells which organisation wrote which
// retention: on SQLite the writer records it, on PostgreSQL
// surveyLogClasses does (a day's partition once). Entries of an
// organisation that is gone keep their stored retention. Returns the
// rows deleted, also on error.
func (d *DB) PruneShortenedRequestLog(ctx context.Context, now time.Time, retention snapglyph.LogRetention, most int64) (int64, error) {
	var parts []snapglyph.LogPartition
	if d.dialect == postgres {
		var err error
		if parts, err = d.RequestLogPartitions(ctx); err != nil {
			return 0, err
		}
		if err := d.surveyLogClasses(ctx, now, retention, parts); err != nil {
			return 0, fmt.Errorf("store: prune request log: %w", formatError(err))
		}
	}
	shortened, err := d.shortenedLogClasses(ctx, now, retention)
	if err != nil {
		return 0, fmt.Errorf("store: prune request log: %w", formatError(err))
	}
	var total int64
	for _, c := range shortened {
		if total >= most {
			break
		}
		n, done, err := d.pruneLogClass(ctx, c.logClass, now.AddDate(0, 0, -c.current), parts, most-total)
		total += n
		if err != nil {
			return total, fmt.Errorf("store: prune request log: %w", formatError(err))
		}
		if done && d.dialect == postgres {
			// No entry of the class left: stop looking (a later survey
			// records the organisation again if it writes the class).
			if _, err := d.exec(ctx, `DELETE FROM request_log_classes WHERE org_id = ? AND retention_days = ?
				AND NOT EXISTS (SELECT 1 FROM `+partitionClass(snapglyph.LogPartition{RetentionDays: c.days})+` WHERE org_id = ?)`,
				c.org, c.days, c.org); err != nil {
				return total, fmt.Errorf("store: prune request log: %w", formatError(err))
			}
		}
	}
	return total, nil
}

// shortenedClass is a class of entries of an organisation whose current
// retention (days) is shorter.
type shortenedClass struct {
	logClass
	current int
}

// shortenedLogClasses returns the organisations' retention classes longer
// than their current retention at now.
func (d *DB) shortenedLogClasses(ctx context.Context, now time.Time, retention snapglyph.LogRetention) ([]shortenedClass, error) {
	rows, err := d.query(ctx, `SELECT c.org_id, c.retention_days, o.plan, o.trial_ends_at FROM request_log_classes c
		JOIN orgs o ON o.id = c.org_id ORDER BY c.org_id, c.retention_days`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []shortenedClass
	for rows.Next() {
		var c shortenedClass
		var plan string
		var trialEnds int64
		if err := rows.Scan(&c.org, &c.days, &plan, &trialEnds); err != nil {
			return nil, err
		}
		org := snapglyph.Org{ID: c.org, Plan: snapglyph.Plan(plan), TrialEndsAt: fromMS(trialEnds)}
		if c.current = retention.Of(&org, now); c.current < c.days {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

// pruneLogClass deletes at most most of the class's entries older than
// cutoff, a batch at a time: on PostgreSQL from each of the class's
// daily partitions (parts) that begins before cutoff. done says whether
// none is left.
func (d *DB) pruneLogClass(ctx context.Context, c logClass, cutoff time.Time, parts []snapglyph.LogPartition, most int64) (total int64, done bool, err error) {
	batches := func(q string, args ...any) (bool, error) {
		for total < most {
			batch := min(int64(pruneBatch), most-total)
			r, err := d.exec(ctx, q, append(args, batch)...)
			if err != nil {
				return false, err
			}
			n, _ := r.RowsAffected()
			total += n
			if n < batch {
				return true, nil
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		return false, nil
	}
	if d.dialect != postgres {
		done, err := batches(pruneLogRows, c.org, ms(cutoff), c.days)
		return total, done, err
	}
	for _, p := range parts {
		if p.RetentionDays != c.days || !p.Day.Before(cutoff) {
			continue
		}
		// One plain table: its rows' ctids name them.
		name := partitionName(p)
		done, err := batches(`DELETE FROM `+name+` WHERE ctid = ANY(ARRAY(SELECT ctid FROM `+name+` WHERE org_id = ? AND at < ? LIMIT ?))`,
			c.org, ms(cutoff))
		if err != nil || !done {
			return total, false, err
		}
	}
	return total, true, nil
}

// surveyLogClasses records in request_log_classes the organisations of
// each daily partition of a retention class longer than the shortest
// current one (only those can hold entries past an organisation's
// current retention) that was not surveyed yet, once the day began
// before the shortest retention ago: by then no node writes it (an
// entry of a day in the past is written by a node whose clock is behind
// by more than a day, or held back that long), and none of its entries
// was past any current retention before (PostgreSQL).
func (d *DB) surveyLogClasses(ctx context.Context, now time.Time, retention snapglyph.LogRetention, parts []snapglyph.LogPartition) error {
	shortest := slices.Min(retention.Classes())
	surveyed := map[snapglyph.LogPartition]bool{}
	rows, err := d.query(ctx, `SELECT retention_days, day FROM request_log_surveyed`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var p snapglyph.LogPartition
		var day int64
		if err := rows.Scan(&p.RetentionDays, &day); err != nil {
			rows.Close()
			return err
		}
		p.Day = fromMS(day)
		surveyed[p] = true
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, p := range parts {
		p.Day = p.Day.UTC()
		if surveyed[p] {
			delete(surveyed, p)
			continue
		}
		if p.RetentionDays <= shortest || !p.Day.Before(now.AddDate(0, 0, -shortest)) {
			continue
		}
		err := d.tx(ctx, func(tx *Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO request_log_classes (org_id, retention_days) SELECT DISTINCT org_id, CAST(? AS INTEGER) FROM `+partitionName(p)+`
				ON CONFLICT DO NOTHING`, p.RetentionDays); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO request_log_surveyed (retention_days, day) VALUES (?, ?) ON CONFLICT DO NOTHING`, p.RetentionDays, ms(p.Day))
			return err
		})
		if err != nil {
			return err
		}
	}
	// What is left was surveyed and has been dropped since.
	for p := range surveyed {
		if _, err := d.exec(ctx, `DELETE FROM request_log_surveyed WHERE retention_days = ? AND day = ?`, p.RetentionDays, ms(p.Day)); err != nil {
			return err
		}
	}
	return nil
}
