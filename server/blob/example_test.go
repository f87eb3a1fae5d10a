package blob_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/aulacapture/aula/server/blob"
)

func ExampleNewFS() {
	dir, err := os.MkdirTemp("", "blobs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := blob.NewFS(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ctx := context.Background()
	key, err := blob.SegmentKey("0190a8c2-7d4e-7b3a-9f10-1234567890ab", "0190a8c2-7d4e-7b3a-9f10-abcdefabcdef", "camera", 1)
	if err != nil {
		log.Fatal(err)
	}
	sealed := "age-encryption.org/v1 ..." // what the agent uploaded, stored as it came
	if err := store.Put(ctx, key, strings.NewReader(sealed), int64(len(sealed))); err != nil {
		log.Fatal(err)
	}
	r, err := store.Get(ctx, key)
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	fmt.Println(string(b))

	// Optional abilities are found by type assertion.
	var s blob.Store = store
	if l, ok := s.(blob.Lister); ok {
		p, _ := blob.RecordingPrefix(key.Tenant(), key.Recording())
		keys, _ := l.List(ctx, p)
		fmt.Println(len(keys), "object(s) in the recording")
	}
	// Output:
	// age-encryption.org/v1 ...
	// 1 object(s) in the recording
}
