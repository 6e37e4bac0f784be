package store

import "context"

// RecordChangeThen records a change of kind for id in a transaction and
// runs then before the transaction commits (tests hold a transaction
// open with it).
func (d *DB) RecordChangeThen(ctx context.Context, kind, id string, then func()) error {
	return d.tx(ctx, func(tx *Tx) error {
		tx.recordChange(kind, id)
		then()
		return nil
	})
}
