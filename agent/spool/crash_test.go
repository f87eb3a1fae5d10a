package spool

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"filippo.io/age"
	bolt "go.etcd.io/bbolt"

	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
)

const (
	childEnv     = "AULA_SPOOL_CRASH_CHILD" // the spool directory, in the child
	childRcpEnv  = "AULA_SPOOL_CRASH_RECIPIENT"
	childNextEnv = "AULA_SPOOL_CRASH_NEXT"
)

func crashSize(seq int) int { return 16<<10 + (seq%7)*8<<10 }

// crashChild spools segments from $AULA_SPOOL_CRASH_NEXT on until it is killed, printing
// each seq once Segment has returned.
func crashChild(dir string) int {
	rcp, err := seal.ParseRecipient(os.Getenv(childRcpEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	next, _ := strconv.Atoi(os.Getenv(childNextEnv))
	s, err := Open(dir, &Options{Recipients: []age.Recipient{rcp}, MinFreeBytes: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	r, err := s.Recording(recID)
	if err == nil && next <= 1 {
		if err = r.Init("screen", media(0, 512)); errors.Is(err, ErrExists) {
			err = nil
		}
	}
	for seq := max(next, 1); err == nil; seq++ {
		if err = r.Segment("screen", seq, media(seq, crashSize(seq)), nil); err == nil {
			fmt.Printf("%d\n", seq)
		}
	}
	fmt.Fprintln(os.Stderr, "write:", err)
	return 2
}

func TestCrashRecovery(t *testing.T) {
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("AULA_SOAK_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	id := newIdentity(t)
	dir := t.TempDir()
	next := 0 // next seq to write: 0 means the init segment first
	for round := range rounds {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir, childRcpEnv+"="+id.Recipient().String(),
			childNextEnv+"="+strconv.Itoa(next))
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reported := make(chan int, 1)
		go func() {
			maxSeq := -1
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if n, err := strconv.Atoi(sc.Text()); err == nil {
					maxSeq = n
				}
			}
			reported <- maxSeq
		}()
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL
		maxReported := <-reported
		_ = cmd.Wait()
		if bytes.Contains(stderr.Bytes(), []byte("open:")) || bytes.Contains(stderr.Bytes(), []byte("write:")) {
			t.Fatalf("round %d: child failed: %s", round, stderr.Bytes())
		}
		next = checkAfterCrash(t, round, dir, id, maxReported)
	}
	t.Logf("%d rounds, %d segments", rounds, next-1)
}

// checkAfterCrash opens the spool as the next start would and checks it; it returns the
// next seq to write.
func checkAfterCrash(t *testing.T, round int, dir string, id *age.X25519Identity, maxReported int) int {
	t.Helper()
	s := open(t, dir, id, nil)
	defer s.Close()
	rep := s.Recovered()
	if len(rep.Lost) > 0 || rep.Rebuilt || len(rep.Unknown) > 0 {
		t.Fatalf("round %d: %+v", round, rep)
	}
	if n := countTemps(t, dir); n != 0 {
		t.Fatalf("round %d: %d temp files after Open", round, n)
	}
	if err := s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("round %d: check: %v", round, err)
	}
	items, err := s.Pending(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The indexed seqs are 0..K without a gap, and K covers every reported seq.
	for i, it := range items {
		if it.Seq != i {
			t.Fatalf("round %d: item %d has seq %d: not prefix-closed", round, i, it.Seq)
		}
		sealed := readSealed(t, s, it)
		if manifest.Digest(sealed) != it.Digest {
			t.Fatalf("round %d: seq %d: digest differs", round, it.Seq)
		}
		plain, err := seal.Open(sealed, 0, id)
		want := media(it.Seq, 512)
		if it.Seq > 0 {
			want = media(it.Seq, crashSize(it.Seq))
		}
		if err != nil || !bytes.Equal(plain, want) {
			t.Fatalf("round %d: seq %d: open %v, content equal %v", round, it.Seq, err, bytes.Equal(plain, want))
		}
	}
	if len(items)-1 < maxReported {
		t.Fatalf("round %d: child reported seq %d, spool has up to %d", round, maxReported, len(items)-1)
	}
	return len(items)
}
