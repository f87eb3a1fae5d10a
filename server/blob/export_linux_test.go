package blob

import "os"

// NewFSForcing opens an FS whose Linux write path is forced, so that tests reach the
// paths another filesystem would take: tmpfile false makes named temporary files, direct
// false writes through the page cache. tmpfile true still needs a filesystem that has
// O_TMPFILE.
func NewFSForcing(dir string, tmpfile, direct bool) (*FS, error) {
	s, err := NewFS(dir)
	if err != nil {
		return nil, err
	}
	d, err := os.Open(s.dir)
	if err != nil {
		s.Close()
		return nil, err
	}
	defer d.Close()
	s.sys.probe.Do(func() { s.sys.tmpfile = tmpfile && probeTmpfile(int(d.Fd())) })
	s.sys.noDirect.Store(!direct)
	return s, nil
}

// FSModes reports whether s writes unnamed files and bypasses the page cache (the latter
// until a write shows that the filesystem refuses it). It is known after the first Put.
func FSModes(s *FS) (tmpfile, direct bool) {
	return s.sys.tmpfile, !s.sys.noDirect.Load()
}
