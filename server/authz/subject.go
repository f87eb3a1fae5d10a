package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aulacapture/aula/server/auth"
	"github.com/aulacapture/aula/server/store"
)

// Store is what authorization reads; *store.Store is one.
type Store interface {
	Folders(ctx context.Context, tenantID string) ([]store.Folder, error)
	UserGrants(ctx context.Context, tenantID, userID string) ([]store.Grant, error)
	User(ctx context.Context, tenantID, id string) (store.User, error)
	OAuthClientByID(ctx context.Context, id string) (store.OAuthClient, error)
	RoomFolders(ctx context.Context, tenantID, room string) ([]string, error)
}

// Subject is a caller with everything needed to decide its requests: its grants, the
// tenant's folder tree and what its credential's scope allows.
type Subject struct {
	Principal auth.Principal
	// Admin is the tenant's administrator, with every action everywhere.
	Admin bool
	// Agent is a room PC's credential: it may record only into its room's folders,
	// and touch only its own recordings.
	Agent bool
	Room  string
	// parent maps each folder of the tenant to its parent ("" for the root).
	parent map[string]string
	// roles maps folders to the roles granted on them to the caller (or its groups);
	// for an agent, its room's folders to RoleCreator.
	roles map[string][]Role
	// scope is what the credential allows at most; nil means no limit (a session).
	scope map[Action]bool
}

// scopeActions is what each token scope allows at most.
var scopeActions = map[string][]Action{
	auth.ScopeIngest: {ActRecord, ActLive, ActUpload},
	auth.ScopeView:   {ActView, ActDownload},
}

// AgentActions are what a room's agent may do in its room's folders.
var AgentActions = []Action{ActRecord, ActLive, ActUpload}

// Authorizer builds subjects, caching each briefly so that uploads, which make many
// requests a second, do not read grants on every one. A change made through this
// server (Invalidate) takes effect at once; one made elsewhere within CacheTTL.
type Authorizer struct {
	Store Store
	// CacheTTL is how long a subject is reused; 0 means 2 s, negative no cache.
	CacheTTL time.Duration
	Now      func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	s  *Subject
	at time.Time
}

func (a *Authorizer) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Invalidate forgets every cached subject (after a grant, folder or room change).
func (a *Authorizer) Invalidate() {
	a.mu.Lock()
	a.cache = nil
	a.mu.Unlock()
}

// ErrNoSubject means the principal names no live user or agent of its tenant.
var ErrNoSubject = errors.New("no such user or agent")

// Subject loads what p may do.
func (a *Authorizer) Subject(ctx context.Context, p auth.Principal) (*Subject, error) {
	key := strings.Join([]string{p.TenantID, p.UserID, p.ClientID, p.Scope, p.SessionID}, "|")
	ttl := a.CacheTTL
	if ttl == 0 {
		ttl = 2 * time.Second
	}
	now := a.now()
	if ttl > 0 {
		a.mu.Lock()
		c, ok := a.cache[key]
		a.mu.Unlock()
		if ok && now.Sub(c.at) < ttl {
			return c.s, nil
		}
	}
	s, err := a.load(ctx, p)
	if err != nil {
		return nil, err
	}
	if ttl > 0 {
		a.mu.Lock()
		if a.cache == nil || len(a.cache) > 10000 {
			a.cache = map[string]cached{}
		}
		a.cache[key] = cached{s, now}
		a.mu.Unlock()
	}
	return s, nil
}

func (a *Authorizer) load(ctx context.Context, p auth.Principal) (*Subject, error) {
	s := &Subject{Principal: p, roles: map[string][]Role{}}
	if p.SessionID == "" {
		s.scope = map[Action]bool{}
		if p.Scope == auth.ScopeAdmin {
			for _, a := range Actions {
				s.scope[a] = true
			}
		}
		for _, a := range scopeActions[p.Scope] {
			s.scope[a] = true
		}
	}
	folders, err := a.Store.Folders(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	s.parent = make(map[string]string, len(folders))
	for _, f := range folders {
		s.parent[f.ID] = f.ParentID
	}
	switch {
	case p.UserID != "":
		u, err := a.Store.User(ctx, p.TenantID, p.UserID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: user %s", ErrNoSubject, p.UserID)
		}
		if err != nil {
			return nil, err
		}
		if u.LockedAt != nil {
			// A locked account's tokens stop working with it.
			return nil, fmt.Errorf("%w: user %s is locked", ErrNoSubject, p.UserID)
		}
		s.Admin = u.Role == store.RoleAdmin && (p.SessionID != "" || p.Scope == auth.ScopeAdmin)
		grants, err := a.Store.UserGrants(ctx, p.TenantID, p.UserID)
		if err != nil {
			return nil, err
		}
		for _, g := range grants {
			s.roles[g.FolderID] = append(s.roles[g.FolderID], Role(g.Role))
		}
		if u.Role == store.RoleAdmin {
			s.roles[p.TenantID] = append(s.roles[p.TenantID], RoleAdmin)
		}
	case strings.HasPrefix(p.ClientID, store.AgentClientPrefix):
		c, err := a.Store.OAuthClientByID(ctx, p.ClientID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (c.TenantID != p.TenantID || c.RevokedAt != nil)) {
			return nil, fmt.Errorf("%w: agent %s", ErrNoSubject, p.ClientID)
		}
		if err != nil {
			return nil, err
		}
		s.Agent, s.Room = true, c.Room
		ids, err := a.Store.RoomFolders(ctx, p.TenantID, c.Room)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			s.roles[id] = append(s.roles[id], RoleCreator)
		}
	default:
		return nil, fmt.Errorf("%w: the credential names neither a user nor an agent", ErrNoSubject)
	}
	return s, nil
}

// scoped reports whether the credential's scope allows a.
func (s *Subject) scoped(a Action) bool { return s.scope == nil || s.scope[a] }

// Can reports whether the subject may do a in folderID (granted there or above).
func (s *Subject) Can(a Action, folderID string) bool {
	if !s.scoped(a) {
		return false
	}
	if _, ok := s.parent[folderID]; !ok {
		return false
	}
	if s.Agent && !agentAction(a) {
		return false
	}
	for id, n := folderID, 0; id != "" && n <= len(s.parent); id, n = s.parent[id], n+1 {
		for _, r := range s.roles[id] {
			if r.Allows(a) {
				return true
			}
		}
	}
	return false
}

func agentAction(a Action) bool {
	for _, x := range AgentActions {
		if x == a {
			return true
		}
	}
	return false
}

// CanAnywhere reports whether the subject may do a in some folder.
func (s *Subject) CanAnywhere(a Action) bool {
	for id := range s.parent {
		if s.Can(a, id) {
			return true
		}
	}
	return false
}

// Owns reports whether an agent subject created rec (users own nothing by this test:
// their rights come from grants alone).
func (s *Subject) Owns(rec store.Recording) bool {
	return s.Agent && rec.CreatedBy == AgentCreator(s.Principal.ClientID)
}

// SeesDrafts reports whether the subject sees unpublished recordings in folderID:
// those who may edit, publish or upload there.
func (s *Subject) SeesDrafts(folderID string) bool {
	return s.Can(ActEdit, folderID) || s.Can(ActPublish, folderID) || s.Can(ActUpload, folderID)
}

// CanSee reports whether the subject may know rec exists: view in its folder (and,
// unpublished, the right to see drafts), or for an agent, having made it.
func (s *Subject) CanSee(rec store.Recording) bool {
	if s.Agent {
		return rec.CreatedBy == AgentCreator(s.Principal.ClientID) && s.Can(ActUpload, rec.FolderID)
	}
	if !s.Can(ActView, rec.FolderID) && !s.Can(ActUpload, rec.FolderID) {
		return false
	}
	return rec.PublishedAt != nil || s.SeesDrafts(rec.FolderID)
}

// CanOn reports whether the subject may do a to rec.
func (s *Subject) CanOn(a Action, rec store.Recording) bool {
	if !s.CanSee(rec) {
		return false
	}
	return s.Can(a, rec.FolderID)
}

// Visibility is which recordings the subject may list.
func (s *Subject) Visibility() store.Visibility {
	var v store.Visibility
	if s.Agent {
		return v
	}
	for id := range s.parent {
		switch {
		case s.Can(ActView, id) && s.SeesDrafts(id), s.Can(ActUpload, id):
			v.All = append(v.All, id)
		case s.Can(ActView, id):
			v.Published = append(v.Published, id)
		}
	}
	return v
}

// VisibleFolders lists the folders the subject may view or act in.
func (s *Subject) VisibleFolders() []string {
	var out []string
	for id := range s.parent {
		for _, a := range Actions {
			if s.Can(a, id) {
				out = append(out, id)
				break
			}
		}
	}
	return out
}

// Parent is the folder's parent ("" for the root or an unknown folder).
func (s *Subject) Parent(folderID string) string { return s.parent[folderID] }

// HasFolder reports whether the folder is the subject's tenant's.
func (s *Subject) HasFolder(folderID string) bool { _, ok := s.parent[folderID]; return ok }

// UserCreator and AgentCreator are the CreatedBy of a recording a user or an agent made.
func UserCreator(userID string) string    { return "user:" + userID }
func AgentCreator(clientID string) string { return "agent:" + clientID }
