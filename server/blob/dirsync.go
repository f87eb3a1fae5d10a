package blob

import "sync"

// dirSyncs groups the directory syncs of concurrent writers into one directory: a writer
// that has just named its file needs a sync of the directory that starts after that,
// and one sync covers every writer that named a file before it started. While a sync
// runs, the writers that arrive wait for it to end and then share the next one; so a
// burst of n Puts into one track costs about two directory syncs instead of n, and every
// Put still returns only once its own directory entry is on disk.
type dirSyncs struct {
	mu   sync.Mutex
	dirs map[string]*dirSync
}

// dirSync is the state of one directory's syncs.
type dirSync struct {
	users   int // callers between sync's lookup and return; the entry goes at zero
	running bool
	started uint64 // syncs started so far
	done    uint64 // syncs ended so far (they run one at a time, in order)
	failed  uint64 // the number of the last sync that failed, 0 if none
	err     error  // its error
	cond    sync.Cond
}

// sync returns once a call of fsync for dir that started after sync was called has
// ended: nil if that call, and every later one that ended by then, succeeded. fsync may
// be run by another caller's goroutine, with another handle of the same directory.
func (s *dirSyncs) sync(dir string, fsync func() error) error {
	s.mu.Lock()
	if s.dirs == nil {
		s.dirs = map[string]*dirSync{}
	}
	d := s.dirs[dir]
	if d == nil {
		d = &dirSync{}
		d.cond.L = &s.mu
		s.dirs[dir] = d
	}
	d.users++
	// A sync running now may have begun before our entry was made: ours is the next.
	want := d.started + 1
	for d.done < want {
		if d.running {
			d.cond.Wait()
			continue
		}
		d.running = true
		d.started++
		n := d.started
		s.mu.Unlock()
		err := fsync()
		s.mu.Lock()
		d.running = false
		d.done = n
		if err != nil {
			d.failed, d.err = n, err
		}
		d.cond.Broadcast()
	}
	var err error
	if d.failed >= want {
		err = d.err
	}
	d.users--
	if d.users == 0 {
		delete(s.dirs, dir)
	}
	s.mu.Unlock()
	return err
}
