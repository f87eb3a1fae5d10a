package ingest

import (
	"context"
	"sync"

	"github.com/aulacapture/aula/server/store"
)

// SegmentsPutter is Metadata that can record several segments in one transaction;
// *store.Store is one. Ingest then commits the rows of concurrent uploads together.
type SegmentsPutter interface {
	PutSegments(ctx context.Context, tenantID string, rows []store.SegmentRow) error
}

// rowBatcher commits the segment rows of concurrent uploads in shared transactions: one
// commit, and one sync of the database's log, for every row that arrived while the one
// before was being committed. A row's caller returns only once the transaction holding
// its row has committed (or failed), so an upload is still answered only once its row is
// durable.
//
// There is no goroutine: the caller that finds no commit running commits the open batch
// itself, and hands the next batch to one of its callers when it is done.
type rowBatcher struct {
	mu   sync.Mutex
	open map[string]*rowBatch // by tenant: the batch that takes new rows
	busy map[string]bool      // by tenant: a batch is being committed
}

type rowBatch struct {
	rows []*store.SegmentRow
	done chan struct{} // closed once the batch's transaction has ended
	lead chan struct{} // holds one token for the caller that is to commit the batch
}

// put records the row through meta, with the rows of concurrent calls for the same
// tenant, and sets its Created and Err.
func (b *rowBatcher) put(ctx context.Context, meta SegmentsPutter, tenantID string, row *store.SegmentRow) {
	b.mu.Lock()
	if b.open == nil {
		b.open, b.busy = map[string]*rowBatch{}, map[string]bool{}
	}
	batch := b.open[tenantID]
	if batch == nil {
		batch = &rowBatch{done: make(chan struct{}), lead: make(chan struct{}, 1)}
		b.open[tenantID] = batch
	}
	batch.rows = append(batch.rows, row)
	lead := !b.busy[tenantID]
	if lead {
		b.busy[tenantID] = true
		delete(b.open, tenantID)
	}
	b.mu.Unlock()
	if !lead {
		select {
		case <-batch.done:
			return
		case <-batch.lead:
		}
	}
	b.commit(ctx, meta, tenantID, batch)
}

// commit runs the batch's transaction, then hands the batch that filled meanwhile, if
// any, to one of its callers.
func (b *rowBatcher) commit(ctx context.Context, meta SegmentsPutter, tenantID string, batch *rowBatch) {
	// The other rows' callers wait on this transaction: this caller's going away must not
	// cancel it.
	ctx = context.WithoutCancel(ctx)
	rows := make([]store.SegmentRow, len(batch.rows))
	for i, r := range batch.rows {
		rows[i] = *r
	}
	if err := meta.PutSegments(ctx, tenantID, rows); err != nil {
		// A failed transaction records nothing; each row is tried alone, so that one
		// row the database chokes on does not fail the uploads that share its batch.
		for i := range rows {
			one := rows[i : i+1]
			if err := meta.PutSegments(ctx, tenantID, one); err != nil {
				one[0].Created, one[0].Err = false, err
			}
		}
	}
	for i, r := range batch.rows {
		*r = rows[i]
	}
	close(batch.done)
	b.mu.Lock()
	if next := b.open[tenantID]; next != nil {
		delete(b.open, tenantID)
		next.lead <- struct{}{} // busy stays set: next's leader commits it
	} else {
		delete(b.busy, tenantID)
	}
	b.mu.Unlock()
}
