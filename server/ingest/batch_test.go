package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aulacapture/aula/server/store"
)

// fakeRows is a SegmentsPutter whose transactions are a function.
type fakeRows struct {
	put func(tenantID string, rows []store.SegmentRow) error
}

func (f fakeRows) PutSegments(_ context.Context, tenantID string, rows []store.SegmentRow) error {
	return f.put(tenantID, rows)
}

// TestRowBatcher runs concurrent uploads of several tenants through one batcher: every
// row is committed once, in a transaction of its own tenant, and its caller returns
// after that transaction has ended and with its answer.
func TestRowBatcher(t *testing.T) {
	var (
		b         rowBatcher
		mu        sync.Mutex
		committed = map[string]bool{} // by tenant/seq
		txs       atomic.Int64
		running   sync.Map // tenant -> *atomic.Int64, transactions in progress
	)
	meta := fakeRows{put: func(tenantID string, rows []store.SegmentRow) error {
		n, _ := running.LoadOrStore(tenantID, new(atomic.Int64))
		if n.(*atomic.Int64).Add(1) != 1 {
			t.Errorf("two transactions of tenant %s at once", tenantID)
		}
		defer n.(*atomic.Int64).Add(-1)
		txs.Add(1)
		time.Sleep(time.Millisecond) // the commit's sync
		mu.Lock()
		defer mu.Unlock()
		for i := range rows {
			r := &rows[i]
			if r.RecordingID != tenantID {
				t.Errorf("row of %s in a transaction of %s", r.RecordingID, tenantID)
			}
			k := fmt.Sprintf("%s/%d", tenantID, r.Segment.Seq)
			r.Created = !committed[k]
			committed[k] = true
			if r.Segment.Seq%10 == 0 {
				r.Created, r.Err = false, store.ErrConflict
			}
		}
		return nil
	}}
	const tenants, perTenant, uploads = 3, 8, 40
	var wg sync.WaitGroup
	for tn := range tenants {
		for g := range perTenant {
			wg.Go(func() {
				tenant := fmt.Sprint("t", tn)
				for i := range uploads {
					seq := g*uploads + i + 1
					row := store.SegmentRow{RecordingID: tenant, Segment: store.Segment{Seq: seq}}
					b.put(context.Background(), meta, tenant, &row)
					mu.Lock()
					done := committed[fmt.Sprintf("%s/%d", tenant, seq)]
					mu.Unlock()
					switch {
					case !done:
						t.Errorf("%s/%d: put returned before its row was committed", tenant, seq)
					case seq%10 == 0 && !errors.Is(row.Err, store.ErrConflict):
						t.Errorf("%s/%d: err %v, want ErrConflict", tenant, seq, row.Err)
					case seq%10 != 0 && (row.Err != nil || !row.Created):
						t.Errorf("%s/%d: created %v, err %v", tenant, seq, row.Created, row.Err)
					}
				}
			})
		}
	}
	wg.Wait()
	if n := len(committed); n != tenants*perTenant*uploads {
		t.Errorf("%d rows committed, want %d", n, tenants*perTenant*uploads)
	}
	t.Logf("%d transactions for %d rows", txs.Load(), tenants*perTenant*uploads)
	if txs.Load() >= tenants*perTenant*uploads {
		t.Error("no transaction was shared")
	}
	if len(b.open) != 0 || len(b.busy) != 0 {
		t.Errorf("batcher state left: %d open, %d busy", len(b.open), len(b.busy))
	}
}

// TestRowBatcherFailure checks that a failed transaction is retried row by row, so that
// only the row the database refuses fails.
func TestRowBatcherFailure(t *testing.T) {
	boom := errors.New("boom")
	meta := fakeRows{put: func(_ string, rows []store.SegmentRow) error {
		for i := range rows {
			if rows[i].Segment.Seq == 13 {
				return boom
			}
			rows[i].Created = true
		}
		return nil
	}}
	var b rowBatcher
	var wg sync.WaitGroup
	for seq := 10; seq < 16; seq++ {
		wg.Go(func() {
			row := store.SegmentRow{Segment: store.Segment{Seq: seq}}
			b.put(context.Background(), meta, "t", &row)
			if seq == 13 {
				if !errors.Is(row.Err, boom) || row.Created {
					t.Errorf("row 13: created %v, err %v; want the transaction's error", row.Created, row.Err)
				}
			} else if row.Err != nil || !row.Created {
				t.Errorf("row %d: created %v, err %v", seq, row.Created, row.Err)
			}
		})
	}
	wg.Wait()
}
