package authz

import (
	"slices"
	"testing"
)

// TestRoleActions pins the documented roles (README, "Who may do what"): changing a
// role's actions is a change of policy and must change this table and the README too.
func TestRoleActions(t *testing.T) {
	want := map[Role][]Action{
		RoleViewer:    {ActView},
		RoleCreator:   {ActView, ActRecord, ActLive, ActUpload, ActEdit},
		RolePublisher: {ActView, ActPublish, ActDownload},
		RoleScheduler: {ActView, ActSchedule},
		RoleManager:   {ActView, ActRecord, ActLive, ActUpload, ActPublish, ActSchedule, ActEdit, ActDownload, ActManage},
		RoleAdmin:     {ActView, ActRecord, ActLive, ActUpload, ActPublish, ActSchedule, ActEdit, ActDownload, ActManage},
	}
	if len(Roles) != len(want) {
		t.Fatalf("%d roles, want %d", len(Roles), len(want))
	}
	for _, r := range Roles {
		for _, a := range Actions {
			if got := r.Allows(a); got != slices.Contains(want[r], a) {
				t.Errorf("%s allows %s = %v, want %v", r, a, got, !got)
			}
		}
	}
	if Role("owner").Allows(ActView) || ValidRole("owner") {
		t.Error("an unknown role allows something")
	}
}

// TestTreePaths: folders are named by path; names are checked.
func TestTreePaths(t *testing.T) {
	tree := NewTree(testFolders())
	for path, want := range map[string]string{"/": "root", "": "root", "/Physics": "p", "/Physics/Year 1": "p1", "/Physics/": "p"} {
		if got, err := tree.Find(path); err != nil || got != want {
			t.Errorf("Find(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, bad := range []string{"/Chemistry", "Physics", "/Physics/Year 2"} {
		if _, err := tree.Find(bad); err == nil {
			t.Errorf("Find(%q) found something", bad)
		}
	}
	if got := tree.Path("p1"); got != "/Physics/Year 1" {
		t.Errorf("Path(p1) = %q", got)
	}
	if got := tree.Path("root"); got != "/" {
		t.Errorf("Path(root) = %q", got)
	}
}
