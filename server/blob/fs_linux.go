package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FS writes on Linux with two kernel features, each used only once the filesystem has
// shown that it takes it:
//
//   - O_TMPFILE: the new file has no name until linkat gives it the key's, so there is
//     no temporary name to add, rename and remove in the directory, and a crash leaves
//     no temporary file behind (the unnamed inode is freed).
//   - O_DIRECT: the data goes from the buffer to the disk without being copied into the
//     page cache, where an object that is written once and read seldom only evicts
//     hotter pages; on a server that ingests hundreds of MB/s that copy, and the
//     writeback after it, is a large share of the CPU. fdatasync still follows, for the
//     file's size and the disk's write cache.
//
// Writes go through an aligned chunk buffer; the tail of an object that is not a whole
// number of blocks is written through the page cache.

// directAlign is the alignment of O_DIRECT buffers, offsets and lengths: 4096 covers
// disks of 512- and 4096-byte logical blocks.
const directAlign = 4096

// chunkSize is the buffer an object is copied through, twice the batch that copyTo
// gathers before it writes.
const chunkSize = 2 * streamChunk

// fsSys is the Linux write path's state.
type fsSys struct {
	probe    sync.Once
	tmpfile  bool        // O_TMPFILE files can be linked into a directory here
	noDirect atomic.Bool // O_DIRECT failed once: write through the page cache
	chunks   sync.Pool   // *[]byte of chunkSize, aligned to directAlign
}

// tempFile is a file that write made in a directory, its data synced but not named yet
// (or named with a temporary name).
type tempFile struct {
	fd  int
	dfd int    // the directory, which the caller keeps open
	tmp string // the temporary name, when the file has one
}

// write stores r (exactly size bytes, r checks) in a new file in the directory d: data
// synced to disk, not named yet.
func (s *fsSys) write(_ context.Context, _ *os.Root, d *os.File, _ string, r io.Reader, size int64) (_ *tempFile, err error) {
	dfd := int(d.Fd())
	s.probe.Do(func() { s.tmpfile = probeTmpfile(dfd) })
	flags := unix.O_WRONLY | unix.O_CLOEXEC
	direct := !s.noDirect.Load() && size >= directAlign
	t := &tempFile{fd: -1, dfd: dfd}
	for {
		var dflag int
		if direct {
			dflag = unix.O_DIRECT
		}
		if s.tmpfile {
			t.fd, err = unix.Openat(dfd, ".", flags|unix.O_TMPFILE|dflag, filePerm)
		} else {
			t.tmp = tmpName()
			t.fd, err = unix.Openat(dfd, t.tmp, flags|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|dflag, filePerm)
		}
		if direct && errors.Is(err, unix.EINVAL) {
			// The filesystem refuses O_DIRECT (tmpfs before Linux 6.6, some FUSE ones).
			s.noDirect.Store(true)
			direct = false
			continue
		}
		break
	}
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	defer func() {
		if err != nil {
			t.discard()
		}
	}()
	if err := s.copyTo(t.fd, r, size, direct); err != nil {
		return nil, err
	}
	if err := unix.Fdatasync(t.fd); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	return t, nil
}

// publish names the file name in its directory, replacing any file there, and closes it.
func (t *tempFile) publish(name string) (err error) {
	defer func() {
		if err != nil {
			t.discard()
		} else {
			_ = unix.Close(t.fd)
		}
	}()
	if t.tmp == "" {
		// Link the unnamed file under its key. linkat does not replace: an object that
		// is there already is replaced by a rename from a temporary name.
		proc := "/proc/self/fd/" + strconv.Itoa(t.fd)
		err := unix.Linkat(unix.AT_FDCWD, proc, t.dfd, name, unix.AT_SYMLINK_FOLLOW)
		if !errors.Is(err, unix.EEXIST) {
			if err != nil {
				return fmt.Errorf("link: %w", err)
			}
			return nil
		}
		tmp := tmpName()
		if err := unix.Linkat(unix.AT_FDCWD, proc, t.dfd, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
			return fmt.Errorf("link: %w", err)
		}
		t.tmp = tmp
	}
	if err := unix.Renameat(t.dfd, t.tmp, t.dfd, name); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// discard closes the file and removes its temporary name; an unnamed file is gone then.
func (t *tempFile) discard() {
	_ = unix.Close(t.fd)
	if t.tmp != "" {
		_ = unix.Unlinkat(t.dfd, t.tmp, 0)
	}
}

// copyTo writes exactly size bytes of r to fd through a chunk buffer: with O_DIRECT
// while whole blocks remain, through the page cache for the rest. It writes as soon as
// streamChunk bytes have come, so that a body that arrives slowly is on its way to disk
// while it arrives.
func (s *fsSys) copyTo(fd int, r io.Reader, size int64, direct bool) error {
	bp, _ := s.chunks.Get().(*[]byte)
	if bp == nil {
		b := alignedBuffer(chunkSize, directAlign)
		bp = &b
	}
	defer s.chunks.Put(bp)
	buf := *bp
	have := 0 // bytes in buf not written yet
	for left := size; left > 0; {
		n, err := r.Read(buf[have:min(int64(len(buf)), int64(have)+left)])
		have += n
		left -= int64(n)
		switch {
		case err == io.EOF && left > 0:
			return fmt.Errorf("%w: body ended after %d of %d bytes", ErrSizeMismatch, size-left, size)
		case err != nil && err != io.EOF:
			return err
		}
		if left > 0 && have < streamChunk && have < len(buf) {
			continue
		}
		m := have
		if left > 0 && direct {
			m &^= directAlign - 1 // the rest waits for the next blocks
		}
		if err := s.writeAll(fd, buf[:m], &direct); err != nil {
			return err
		}
		have = copy(buf, buf[m:have])
	}
	// r is an exactReader: it reports a body longer than size now.
	var one [1]byte
	if n, err := r.Read(one[:]); n > 0 || (err != nil && err != io.EOF) {
		if err == nil {
			err = fmt.Errorf("%w: body longer than %d bytes", ErrSizeMismatch, size)
		}
		return err
	}
	return nil
}

// streamChunk is how much copyTo gathers before it writes.
const streamChunk = 256 << 10

// writeAll writes b to fd: whole blocks with O_DIRECT while *direct, then the tail
// through the page cache (turning *direct off).
func (s *fsSys) writeAll(fd int, b []byte, direct *bool) error {
	for len(b) > 0 {
		m := len(b)
		if *direct {
			m &^= directAlign - 1
			if m == 0 {
				// The tail, less than a block: through the page cache.
				if err := setDirect(fd, false); err != nil {
					return err
				}
				*direct = false
				continue
			}
		}
		w, err := unix.Write(fd, b[:m])
		if *direct && errors.Is(err, unix.EINVAL) {
			// Direct I/O of this alignment is refused after all.
			s.noDirect.Store(true)
			if err := setDirect(fd, false); err != nil {
				return err
			}
			*direct = false
			continue
		}
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		b = b[w:]
	}
	return nil
}

// setDirect turns O_DIRECT on or off for fd.
func setDirect(fd int, on bool) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		if on {
			fl |= unix.O_DIRECT
		} else {
			fl &^= unix.O_DIRECT
		}
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
	}
	if err != nil {
		return fmt.Errorf("fcntl O_DIRECT: %w", err)
	}
	return nil
}

// alignedBuffer gives n bytes that start at a multiple of align.
func alignedBuffer(n, align int) []byte {
	b := make([]byte, n+align)
	off := 0
	if rem := int(uintptr(unsafe.Pointer(&b[0])) % uintptr(align)); rem != 0 {
		off = align - rem
	}
	return b[off : off+n : off+n]
}

// probeTmpfile reports whether an O_TMPFILE file can be made in the directory dfd and
// linked into it through /proc/self/fd (which needs no privilege, unlike AT_EMPTY_PATH).
func probeTmpfile(dfd int) bool {
	fd, err := unix.Openat(dfd, ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, filePerm)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	name := tmpName()
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dfd, name, unix.AT_SYMLINK_FOLLOW); err != nil {
		return false
	}
	return unix.Unlinkat(dfd, name, 0) == nil
}
