package blob

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestDirSyncsCover checks the promise of dirSyncs.sync: when it returns, a sync that
// started after the call has ended. Each caller "names a file" (takes a number) and
// then syncs; each sync notes the highest number named when it started.
func TestDirSyncsCover(t *testing.T) {
	var (
		ds     dirSyncs
		named  atomic.Int64
		mu     sync.Mutex
		ended  []int64 // per ended sync: the highest number named at its start
		calls  atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	fsync := func() error {
		calls.Add(1)
		start := named.Load()
		time.Sleep(time.Millisecond)
		mu.Lock()
		ended = append(ended, start)
		mu.Unlock()
		return nil
	}
	const callers, rounds = 16, 50
	for range callers {
		wg.Go(func() {
			for range rounds {
				n := named.Add(1)
				if err := ds.sync("d", fsync); err != nil {
					t.Error(err)
				}
				mu.Lock()
				covered := false
				for _, start := range ended {
					covered = covered || start >= n
				}
				mu.Unlock()
				if !covered {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() {
		t.Error("a sync returned before a directory sync that started after it had ended")
	}
	if c := calls.Load(); c >= callers*rounds {
		t.Errorf("%d directory syncs for %d calls: none shared", c, callers*rounds)
	} else {
		t.Logf("%d directory syncs for %d calls", c, callers*rounds)
	}
	if len(ds.dirs) != 0 {
		t.Errorf("%d directories still tracked after every call returned", len(ds.dirs))
	}
}

// TestDirSyncsError checks that a failed sync fails every caller that waited for it,
// and that later callers get a sync of their own.
func TestDirSyncsError(t *testing.T) {
	var ds dirSyncs
	boom := errors.New("boom")
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	var first, second error
	wg.Go(func() {
		first = ds.sync("d", func() error {
			close(started)
			<-release
			return nil
		})
	})
	<-started
	// This caller arrives while a sync runs: it needs the next one, which fails.
	wg.Go(func() { second = ds.sync("d", func() error { return boom }) })
	for {
		ds.mu.Lock()
		waiting := ds.dirs["d"].users == 2
		ds.mu.Unlock()
		if waiting {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if first != nil {
		t.Errorf("first caller: %v, want nil", first)
	}
	if !errors.Is(second, boom) {
		t.Errorf("second caller: %v, want %v", second, boom)
	}
	if err := ds.sync("d", func() error { return nil }); err != nil {
		t.Errorf("a later caller: %v, want nil", err)
	}
}
