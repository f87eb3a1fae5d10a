package authz

import "github.com/aulacapture/aula/server/store"

func testFolders() []store.Folder {
	return []store.Folder{
		{TenantID: "t", ID: "root", Name: "Uni"},
		{TenantID: "t", ID: "p", ParentID: "root", Name: "Physics"},
		{TenantID: "t", ID: "p1", ParentID: "p", Name: "Year 1"},
	}
}
