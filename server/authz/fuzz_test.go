package authz

import (
	"strings"
	"testing"
)

// FuzzFolderPath: any path typed into the CLI or an API call either names a folder of
// the tree, is not found, or is refused with a sentence; a found folder's path names
// it again.
func FuzzFolderPath(f *testing.F) {
	for _, s := range []string{"/", "", "/Physics", "/Physics/Year 1", "//", "/Physics//Year 1", "Physics", "/a\x00b", "/" + strings.Repeat("x", 300)} {
		f.Add(s)
	}
	tree := NewTree(testFolders())
	f.Fuzz(func(t *testing.T, path string) {
		id, err := tree.Find(path)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a sentence")
			}
			return
		}
		if again, err := tree.Find(tree.Path(id)); err != nil || again != id {
			t.Fatalf("Find(%q) = %s, whose path %q finds %s, %v", path, id, tree.Path(id), again, err)
		}
	})
}
