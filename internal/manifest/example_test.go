package manifest_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aulacapture/aula/internal/manifest"
)

func ExampleDigest() {
	fmt.Println(manifest.Digest([]byte("abc")))
	// Output: sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:
}

func ExampleDecode() {
	const in = `{
  "id": "01a20695-87e6-79f5-bdb0-8d2e5a01edea",
  "title": "Seminar",
  "state": "capture_finished",
  "started_at": "2026-03-02T09:15:00Z",
  "tracks": [{
    "id": "audio", "kind": "audio", "codec": "mp4a.40.2",
    "init_digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
    "segments": [
      {"seq": 1, "start": 0, "duration": 2, "size": 3, "digest": "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"},
      {"seq": 2, "start": 2, "duration": 1.5, "size": 3, "digest": "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:"}
    ]
  }],
  "pauses": []
}`
	m, err := manifest.Decode(strings.NewReader(in))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Title, m.State, len(m.Tracks), m.Duration())

	// A manifest from an unknown version of the other side is refused.
	_, err = manifest.Decode(strings.NewReader(strings.Replace(in, `"title"`, `"owner": "x", "title"`, 1)))
	fmt.Println(errors.Is(err, manifest.ErrInvalid), err)
	// Output:
	// Seminar capture_finished 1 3.5
	// true invalid manifest: json: unknown field "owner"
}
