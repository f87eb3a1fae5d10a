package authz

import (
	"fmt"
	"strings"

	"github.com/aulacapture/aula/server/store"
)

// Tree is a tenant's folders, to name them by path ("/", "/Physics/Year 1").
type Tree struct {
	Root   string
	byID   map[string]store.Folder
	byName map[string]map[string]string // parent → name → id
}

// NewTree indexes a tenant's folders.
func NewTree(folders []store.Folder) *Tree {
	t := &Tree{byID: map[string]store.Folder{}, byName: map[string]map[string]string{}}
	for _, f := range folders {
		t.byID[f.ID] = f
		if f.ParentID == "" {
			t.Root = f.ID
			continue
		}
		if t.byName[f.ParentID] == nil {
			t.byName[f.ParentID] = map[string]string{}
		}
		t.byName[f.ParentID][f.Name] = f.ID
	}
	return t
}

// SplitPath splits "/A/B" into its names; "/" and "" are the root.
func SplitPath(path string) ([]string, error) {
	if !strings.HasPrefix(path, "/") && path != "" {
		return nil, fmt.Errorf("a folder path starts with /, as in /Physics/Year 1: %q", path)
	}
	var names []string
	for _, n := range strings.Split(strings.Trim(path, "/"), "/") {
		if n == "" {
			continue
		}
		if err := store.CheckFolderName(n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, nil
}

// Find is the folder at path.
func (t *Tree) Find(path string) (string, error) {
	names, err := SplitPath(path)
	if err != nil {
		return "", err
	}
	id := t.Root
	for _, n := range names {
		next, ok := t.byName[id][n]
		if !ok {
			return "", fmt.Errorf("no folder %q: %w", path, store.ErrNotFound)
		}
		id = next
	}
	return id, nil
}

// Path names the folder by its path from the root.
func (t *Tree) Path(id string) string {
	var names []string
	for n := 0; id != "" && id != t.Root && n < len(t.byID); n++ {
		f, ok := t.byID[id]
		if !ok {
			return "?"
		}
		names = append([]string{f.Name}, names...)
		id = f.ParentID
	}
	return "/" + strings.Join(names, "/")
}

// Folder is the folder with this ID.
func (t *Tree) Folder(id string) (store.Folder, bool) { f, ok := t.byID[id]; return f, ok }

// Children lists the folder's subfolders' IDs.
func (t *Tree) Children(id string) []string {
	var out []string
	for _, c := range t.byName[id] {
		out = append(out, c)
	}
	sortStrings(out)
	return out
}
