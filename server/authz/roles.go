package authz

// Action is something a caller may do to a folder and what it holds.
type Action string

// The actions (SECURITY §10).
const (
	ActRecord   Action = "record"   // capture into the folder (the recorder and room agents)
	ActLive     Action = "live"     // stream live into the folder
	ActUpload   Action = "upload"   // upload recordings into the folder
	ActPublish  Action = "publish"  // publish or unpublish its recordings
	ActView     Action = "view"     // list and watch its recordings
	ActSchedule Action = "schedule" // schedule recordings into it
	ActEdit     Action = "edit"     // rename, move and delete its recordings
	ActDownload Action = "download" // download its recordings' media
	ActManage   Action = "manage"   // make subfolders, grant and revoke roles on it
)

// Actions lists every action.
var Actions = []Action{ActRecord, ActLive, ActUpload, ActPublish, ActView, ActSchedule, ActEdit, ActDownload, ActManage}

// Role is a named set of actions, granted on a folder.
type Role string

// The roles.
const (
	RoleViewer    Role = "viewer"
	RoleCreator   Role = "creator"
	RolePublisher Role = "publisher"
	RoleScheduler Role = "scheduler"
	RoleManager   Role = "manager"
	RoleAdmin     Role = "admin"
)

// Roles lists every role, weakest first.
var Roles = []Role{RoleViewer, RoleCreator, RolePublisher, RoleScheduler, RoleManager, RoleAdmin}

// roleActions is the documented set of actions of each role. A grant of admin on the
// tenant's root folder also makes its holder the tenant's administrator.
var roleActions = map[Role][]Action{
	RoleViewer:    {ActView},
	RoleCreator:   {ActView, ActRecord, ActLive, ActUpload, ActEdit},
	RolePublisher: {ActView, ActPublish, ActDownload},
	RoleScheduler: {ActView, ActSchedule},
	RoleManager:   {ActView, ActRecord, ActLive, ActUpload, ActPublish, ActSchedule, ActEdit, ActDownload, ActManage},
	RoleAdmin:     {ActView, ActRecord, ActLive, ActUpload, ActPublish, ActSchedule, ActEdit, ActDownload, ActManage},
}

// ValidRole reports whether r is a role.
func ValidRole(r Role) bool { _, ok := roleActions[r]; return ok }

// Allows reports whether role r includes action a.
func (r Role) Allows(a Action) bool {
	for _, x := range roleActions[r] {
		if x == a {
			return true
		}
	}
	return false
}

// RoleActions is the actions of role r, for documentation and pages.
func RoleActions(r Role) []Action { return append([]Action(nil), roleActions[r]...) }
