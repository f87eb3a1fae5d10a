package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aulacapture/aula/agent/upload"
	"github.com/aulacapture/aula/internal/manifest"
	"github.com/aulacapture/aula/internal/seal"
	"github.com/aulacapture/aula/server"
)

// TestConcurrentSameSegment: two uploads of one segment number with different bytes at
// the same moment: exactly one is stored, the other answers 409, and the stored object
// is the one whose digest the server records.
func TestConcurrentSameSegment(t *testing.T) {
	dir := recording(t)
	srv := start(t, func(*testing.T, *server.Config) {})
	c, final := uploadFixture(t, srv)
	ctx := context.Background()
	recipient, err := c.Recipient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile(filepath.Join(dir, "camera", "000001.m4s"))
	if err != nil {
		t.Fatal(err)
	}
	sealOnce := func() []byte {
		var b bytes.Buffer
		if err := seal.Seal(&b, plain, recipient); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	const rounds = 12
	first := len(final.Tracks[0].Segments) + 1
	type outcome struct {
		digest string
		err    error
	}
	results := make([][2]outcome, rounds)
	for i := range rounds {
		seq := first + i
		a, b := sealOnce(), sealOnce() // same plaintext, different sealed bytes
		var wg sync.WaitGroup
		for j, body := range [][]byte{a, b} {
			wg.Go(func() {
				err := c.PutSegment(ctx, final.ID, "camera", seq, body)
				results[i][j] = outcome{manifest.Digest(body), err}
			})
		}
		wg.Wait()
	}
	held, err := c.Manifest(ctx, final.ID)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[int]string{}
	for _, tr := range held.Tracks {
		if tr.ID == "camera" {
			for _, s := range tr.Segments {
				recorded[s.Seq] = s.Digest
			}
		}
	}
	stored := map[string]bool{}
	_ = filepath.Walk(filepath.Join(srv.data, "blobs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			if b, err := os.ReadFile(p); err == nil {
				stored[manifest.Digest(b)] = true
			}
		}
		return nil
	})
	for i, r := range results {
		seq := first + i
		var won, lost []outcome
		for _, o := range r {
			var se *upload.StatusError
			switch {
			case o.err == nil:
				won = append(won, o)
			case errors.As(o.err, &se) && se.Status == 409:
				lost = append(lost, o)
			default:
				t.Fatalf("seq %d: %v", seq, o.err)
			}
		}
		if len(won) != 1 || len(lost) != 1 {
			t.Fatalf("seq %d: %d accepted, %d refused; want one each", seq, len(won), len(lost))
		}
		if recorded[seq] != won[0].digest {
			t.Errorf("seq %d: the server records %q, the accepted upload was %q", seq, recorded[seq], won[0].digest)
		}
		if !stored[won[0].digest] || stored[lost[0].digest] {
			t.Errorf("seq %d: stored objects do not match the recorded digest (accepted stored %v, refused stored %v)",
				seq, stored[won[0].digest], stored[lost[0].digest])
		}
	}
}
