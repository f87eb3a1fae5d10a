package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aulacapture/aula/server/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "aula")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "aula.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	uni, _ := s.CreateTenant(ctx, store.Tenant{Name: "uni", Recipient: "age1..."})
	created, _ := s.PutRecording(ctx, store.Recording{TenantID: uni.ID, ID: "0195f0b2-7c1e-7000-8000-00000000000a",
		Title: "Thermodynamics 1", State: "capturing", StartedAt: time.Now(),
		Tracks: []store.Track{{ID: "cam", Kind: store.KindCamera, Codec: "avc1.64001f", Width: 1280, Height: 720}}})
	fmt.Println("created:", created)

	seg := store.Segment{Seq: 0, Duration: 2, Size: 4096, Digest: "sha-256=:x:", Key: "uni/rec/cam/0"}
	first, _ := s.PutSegment(ctx, uni.ID, "0195f0b2-7c1e-7000-8000-00000000000a", "cam", seg)
	again, _ := s.PutSegment(ctx, uni.ID, "0195f0b2-7c1e-7000-8000-00000000000a", "cam", seg)
	fmt.Println("segment new:", first, "then:", again)

	_, err = s.Recording(ctx, "another-tenant", "0195f0b2-7c1e-7000-8000-00000000000a")
	fmt.Println(err)
	// Output:
	// created: true
	// segment new: true then: false
	// recording "0195f0b2-7c1e-7000-8000-00000000000a": not found
}
