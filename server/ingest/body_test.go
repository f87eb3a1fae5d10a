package ingest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/iotest"
)

// TestReadAll reads bodies of unknown length into pooled buffers of every size.
func TestReadAll(t *testing.T) {
	for _, size := range []int{0, 1, 4096, 1 << 20, 1<<20 + 1, 3 << 20} {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		for _, start := range []int{0, 100, 1 << 20} {
			b := make([]byte, 0, start)
			got, err := readAll(iotest.HalfReader(bytes.NewReader(data)), &b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("readAll of %d bytes into a buffer of %d gave %d bytes", size, start, len(got))
			}
			if cap(b) < len(got) || (len(got) > 0 && &b[:1][0] != &got[0]) {
				t.Fatalf("readAll of %d bytes did not leave its grown buffer for the pool", size)
			}
		}
	}
	boom := errors.New("boom")
	b := make([]byte, 0, 10)
	if _, err := readAll(io.MultiReader(bytes.NewReader(make([]byte, 20)), iotest.ErrReader(boom)), &b); !errors.Is(err, boom) {
		t.Fatalf("readAll of a failing body: %v, want %v", err, boom)
	}
}

// TestBufferPool checks that uploads reuse the pool's buffers once it holds some, even
// after a small upload (an init segment) and a large one (above what is pooled).
func TestBufferPool(t *testing.T) {
	h := &Handler{}
	const segment = 1_081_557
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[*byte]bool{}
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				n := segment
				switch {
				case g == 0 && i == 0:
					n = 700 // an init segment
				case g == 1 && i == 10:
					n = maxPooled + 1
				}
				b := &sealedBody{bufs: [2]*[]byte{h.buffer(n), h.buffer(n)}}
				for _, bp := range b.bufs {
					if cap(*bp) < n || len(*bp) != 0 {
						t.Errorf("buffer(%d) gave len %d cap %d", n, len(*bp), cap(*bp))
						return
					}
					mu.Lock()
					seen[&(*bp)[:1][0]] = true
					mu.Unlock()
				}
				h.release(b)
			}
		})
	}
	wg.Wait()
	// 8 uploads at once hold 16 buffers; a few more come and go with the pool's
	// per-CPU caches and a collection that empties it.
	if len(seen) > 64 && !raceEnabled {
		t.Errorf("%d distinct buffers for 1600 uploads, 8 at a time: the pool is not reused", len(seen))
	}
}

// TestBodyStream follows a body that arrives in pieces: the reader gets every byte in
// order, in batches, then EOF; or the body's failure.
func TestBodyStream(t *testing.T) {
	for _, size := range []int{0, 1, streamBatch - 1, streamBatch, 3*streamBatch + 5} {
		for _, fail := range []bool{false, true} {
			data := make([]byte, size)
			_, _ = rand.Read(data)
			buf := make([]byte, size)
			s := newBodyStream(buf)
			var got []byte
			var rerr error
			done := make(chan struct{})
			go func() {
				defer close(done)
				got, rerr = io.ReadAll(s.reader())
			}()
			boom := errors.New("boom")
			for n := 0; n < size; {
				m := copy(buf[n:], data[n:min(n+7000, size)])
				n += m
				s.add(m)
			}
			if fail {
				s.end(boom)
			} else {
				s.end(nil)
			}
			<-done
			switch {
			case fail && !errors.Is(rerr, boom):
				t.Errorf("size %d: reader's error %v, want the body's", size, rerr)
			case !fail && (rerr != nil || !bytes.Equal(got, data)):
				t.Errorf("size %d: reader got %d bytes, %v", size, len(got), rerr)
			}
		}
	}
}
