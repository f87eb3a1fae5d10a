package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// foldersVersion is the Go migration that puts migration 11's tables under row-level
// security on PostgreSQL.
const foldersVersion = 12

func init() {
	registerIsolation(foldersVersion, nil, folderTables...)
}

// folderTables are migration 11's tables; each carries tenant_id.
var folderTables = []string{"folders", "grants", "room_folders"}

// Folder is a node of a tenant's folder tree. The root's ID is the tenant's ID and its
// ParentID is empty.
type Folder struct {
	TenantID  string
	ID        string
	ParentID  string
	Name      string
	CreatedAt time.Time
}

// Grant gives a user or a group (exactly one of UserID, GroupID) a role on a folder and
// everything below it.
type Grant struct {
	TenantID  string
	ID        string
	FolderID  string
	UserID    string
	GroupID   string
	Role      string
	CreatedAt time.Time
	CreatedBy string
}

// MaxFolderName bounds a folder's name, in characters.
const MaxFolderName = 200

const folderColumns = `tenant_id, id, parent_id, name, created_at`

const grantColumns = `tenant_id, id, folder_id, user_id, group_id, role, created_at, created_by`

// CheckFolderName says what is wrong with a folder name, in a sentence, or nil.
func CheckFolderName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("a folder needs a name: %w", ErrInvalid)
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxFolderName:
		return fmt.Errorf("a folder name has at most %d characters: %w", MaxFolderName, ErrInvalid)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("a folder name may not contain control characters: %w", ErrInvalid)
	}
	return nil
}

// ensureRoot makes the tenant's root folder if it has none (tenants made before
// migration 11 got theirs there).
func ensureRoot(ctx context.Context, q querier, t Tenant) error {
	_, err := q.ExecContext(ctx, `INSERT INTO folders (`+folderColumns+`) VALUES ($1, $1, NULL, $2, $3)
		ON CONFLICT DO NOTHING`, t.ID, t.Name, nanos(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create root folder: %w", err)
	}
	return nil
}

// CreateFolder makes a folder below f.ParentID (required: the root is made with its
// tenant). A sibling of the same name answers ErrExists; an unknown parent ErrNotFound.
func (s *Store) CreateFolder(ctx context.Context, f Folder) (Folder, error) {
	if err := CheckFolderName(f.Name); err != nil {
		return Folder{}, err
	}
	if f.ParentID == "" {
		return Folder{}, fmt.Errorf("a folder needs a parent: %w", ErrInvalid)
	}
	f.Name = strings.TrimSpace(f.Name)
	if f.ID == "" {
		id, err := newID()
		if err != nil {
			return Folder{}, err
		}
		f.ID = id
	}
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.now()
	}
	f.CreatedAt = roundTrip(f.CreatedAt)
	err := s.write(ctx, f.TenantID, func(q querier) error {
		var one int
		if err := q.QueryRowContext(ctx, `SELECT 1 FROM folders WHERE tenant_id = $1 AND id = $2`, f.TenantID, f.ParentID).Scan(&one); err != nil {
			return notFound(err, "folder %q", f.ParentID)
		}
		n, err := rowsAffected(q.ExecContext(ctx, `INSERT INTO folders (`+folderColumns+`) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT DO NOTHING`, f.TenantID, f.ID, f.ParentID, f.Name, nanos(f.CreatedAt)))
		if err != nil {
			return fmt.Errorf("create folder: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("folder %q: %w", f.Name, ErrExists)
		}
		return nil
	})
	if err != nil {
		return Folder{}, err
	}
	return f, nil
}

// Folder finds the tenant's folder.
func (s *Store) Folder(ctx context.Context, tenantID, id string) (Folder, error) {
	var f Folder
	err := s.read(ctx, tenantID, func(q querier) error {
		var err error
		f, err = scanFolder(q.QueryRowContext(ctx, `SELECT `+folderColumns+` FROM folders WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		return notFound(err, "folder %q", id)
	})
	return f, err
}

// Folders lists the tenant's folders, the root first, then by parent and name.
func (s *Store) Folders(ctx context.Context, tenantID string) ([]Folder, error) {
	var out []Folder
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+folderColumns+` FROM folders WHERE tenant_id = $1
			ORDER BY parent_id IS NOT NULL, parent_id, name`, tenantID)
		if err != nil {
			return fmt.Errorf("list folders: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			f, err := scanFolder(rows)
			if err != nil {
				return fmt.Errorf("list folders: %w", err)
			}
			out = append(out, f)
		}
		return rows.Err()
	})
	return out, err
}

func scanFolder(r scanner) (Folder, error) {
	var (
		f       Folder
		parent  sql.NullString
		created int64
	)
	if err := r.Scan(&f.TenantID, &f.ID, &parent, &f.Name, &created); err != nil {
		return Folder{}, err
	}
	f.ParentID, f.CreatedAt = parent.String, fromNanos(created)
	return f, nil
}

// RenameFolder renames the tenant's folder.
func (s *Store) RenameFolder(ctx context.Context, tenantID, id, name string) error {
	if err := CheckFolderName(name); err != nil {
		return err
	}
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE folders SET name = $3 WHERE tenant_id = $1 AND id = $2`,
			tenantID, id, strings.TrimSpace(name)))
		if isUniqueViolation(err) {
			return fmt.Errorf("folder %q: %w", name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("rename folder: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("folder %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeleteFolder deletes an empty folder (no subfolders, no recordings); its grants and
// room bindings go with it. The root cannot be deleted (ErrConflict), nor a folder that
// is not empty (ErrConflict).
func (s *Store) DeleteFolder(ctx context.Context, tenantID, id string) error {
	if id == tenantID {
		return fmt.Errorf("the root folder cannot be deleted: %w", ErrConflict)
	}
	return s.write(ctx, tenantID, func(q querier) error {
		var children, recs int
		if err := q.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM folders WHERE tenant_id = $1 AND parent_id = $2),
			(SELECT COUNT(*) FROM recordings WHERE tenant_id = $1 AND folder_id = $2)`, tenantID, id).Scan(&children, &recs); err != nil {
			return fmt.Errorf("delete folder: %w", err)
		}
		if children > 0 || recs > 0 {
			return fmt.Errorf("the folder still holds %d folders and %d recordings: %w", children, recs, ErrConflict)
		}
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM folders WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		if err != nil {
			return fmt.Errorf("delete folder: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("folder %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// AddGrant stores g; an empty ID gets a new UUIDv7. The same grant again answers
// ErrExists; an unknown folder, user or group ErrNotFound.
func (s *Store) AddGrant(ctx context.Context, g Grant) (Grant, error) {
	if (g.UserID == "") == (g.GroupID == "") {
		return Grant{}, fmt.Errorf("a grant names a user or a group: %w", ErrInvalid)
	}
	if g.ID == "" {
		id, err := newID()
		if err != nil {
			return Grant{}, err
		}
		g.ID = id
	}
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	g.CreatedAt = roundTrip(g.CreatedAt)
	err := s.write(ctx, g.TenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO grants (`+grantColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			g.TenantID, g.ID, g.FolderID, nullString(g.UserID), nullString(g.GroupID), g.Role, nanos(g.CreatedAt), g.CreatedBy)
		switch {
		case isUniqueViolation(err):
			return fmt.Errorf("grant of %s: %w", g.Role, ErrExists)
		case isForeignKeyViolation(err):
			return fmt.Errorf("folder, user or group: %w", ErrNotFound)
		case err != nil:
			return fmt.Errorf("add grant: %w", err)
		}
		return nil
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}

// RemoveGrant deletes the grant from folderID.
func (s *Store) RemoveGrant(ctx context.Context, tenantID, folderID, id string) (Grant, error) {
	var g Grant
	err := s.write(ctx, tenantID, func(q querier) error {
		var err error
		g, err = scanGrant(q.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM grants WHERE tenant_id = $1 AND folder_id = $2 AND id = $3`,
			tenantID, folderID, id))
		if err != nil {
			return notFound(err, "grant %q", id)
		}
		_, err = q.ExecContext(ctx, `DELETE FROM grants WHERE tenant_id = $1 AND id = $2`, tenantID, id)
		return err
	})
	return g, err
}

// FolderGrants lists the grants made on the folder itself.
func (s *Store) FolderGrants(ctx context.Context, tenantID, folderID string) ([]Grant, error) {
	return s.queryGrants(ctx, tenantID, `SELECT `+grantColumns+` FROM grants WHERE tenant_id = $1 AND folder_id = $2
		ORDER BY created_at, id`, tenantID, folderID)
}

// UserGrants lists the grants that apply to the user: its own and its groups'.
func (s *Store) UserGrants(ctx context.Context, tenantID, userID string) ([]Grant, error) {
	return s.queryGrants(ctx, tenantID, `SELECT `+grantColumns+` FROM grants WHERE tenant_id = $1 AND (user_id = $2
		OR group_id IN (SELECT group_id FROM group_members WHERE tenant_id = $1 AND user_id = $2))
		ORDER BY created_at, id`, tenantID, userID)
}

func (s *Store) queryGrants(ctx context.Context, tenantID, query string, args ...any) ([]Grant, error) {
	var out []Grant
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("list grants: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			g, err := scanGrant(rows)
			if err != nil {
				return fmt.Errorf("list grants: %w", err)
			}
			out = append(out, g)
		}
		return rows.Err()
	})
	return out, err
}

func scanGrant(r scanner) (Grant, error) {
	var (
		g           Grant
		user, group sql.NullString
		created     int64
	)
	if err := r.Scan(&g.TenantID, &g.ID, &g.FolderID, &user, &group, &g.Role, &created, &g.CreatedBy); err != nil {
		return Grant{}, err
	}
	g.UserID, g.GroupID, g.CreatedAt = user.String, group.String, fromNanos(created)
	return g, nil
}

// BindRoom lets the room's agents record into the folder.
func (s *Store) BindRoom(ctx context.Context, tenantID, room, folderID string) error {
	if room == "" {
		return fmt.Errorf("room name empty: %w", ErrInvalid)
	}
	return s.write(ctx, tenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO room_folders (tenant_id, room, folder_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, tenantID, room, folderID)
		if isForeignKeyViolation(err) {
			return fmt.Errorf("folder %q: %w", folderID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("bind room: %w", err)
		}
		return nil
	})
}

// UnbindRoom takes the folder from the room's agents.
func (s *Store) UnbindRoom(ctx context.Context, tenantID, room, folderID string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM room_folders WHERE tenant_id = $1 AND room = $2 AND folder_id = $3`,
			tenantID, room, folderID))
		if err != nil {
			return fmt.Errorf("unbind room: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("room %q in folder %q: %w", room, folderID, ErrNotFound)
		}
		return nil
	})
}

// RoomFolders lists the folders the room is bound to, oldest binding first.
func (s *Store) RoomFolders(ctx context.Context, tenantID, room string) ([]string, error) {
	var out []string
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT folder_id FROM room_folders WHERE tenant_id = $1 AND room = $2 ORDER BY folder_id`, tenantID, room)
		if err != nil {
			return fmt.Errorf("room folders: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			out = append(out, id)
		}
		return rows.Err()
	})
	return out, err
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Visibility says which recordings a caller may list: every recording in All, and the
// published ones in Published. Nil sets mean none.
type Visibility struct {
	All       []string
	Published []string
}

// ListVisibleRecordings is ListRecordings narrowed to what v lets the caller see.
func (s *Store) ListVisibleRecordings(ctx context.Context, tenantID string, v Visibility, limit, offset int) ([]Recording, error) {
	if len(v.All) == 0 && len(v.Published) == 0 {
		return nil, nil
	}
	var args []any
	in := func(ids []string) string {
		if len(ids) == 0 {
			return "FALSE"
		}
		first := len(args) + 4
		for _, id := range ids {
			args = append(args, id)
		}
		return "folder_id IN (" + placeholders(first, len(ids)) + ")"
	}
	where := in(v.All) + " OR (" + in(v.Published) + " AND published_at IS NOT NULL)"
	return s.listRecordings(ctx, tenantID, where, args, limit, offset)
}

// SetPublished publishes the recording at *at, or unpublishes it (nil).
func (s *Store) SetPublished(ctx context.Context, tenantID, id string, at *time.Time) error {
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE recordings SET published_at = $3, updated_at = $4
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, nullNanos(at), nanos(s.now())))
		if err != nil {
			return fmt.Errorf("publish recording %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("recording %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// EditRecording changes the recording's title (if title is not nil) and folder (if
// folderID is not empty).
func (s *Store) EditRecording(ctx context.Context, tenantID, id string, title *string, folderID string) error {
	return s.write(ctx, tenantID, func(q querier) error {
		if folderID != "" {
			var one int
			if err := q.QueryRowContext(ctx, `SELECT 1 FROM folders WHERE tenant_id = $1 AND id = $2`, tenantID, folderID).Scan(&one); err != nil {
				return notFound(err, "folder %q", folderID)
			}
		}
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE recordings SET
			title = COALESCE($3, title),
			folder_id = CASE WHEN $4 = '' THEN folder_id ELSE $4 END,
			updated_at = $5
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, title, folderID, nanos(s.now())))
		if err != nil {
			return fmt.Errorf("edit recording %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("recording %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// RoomBinding is one folder a room's agents record into.
type RoomBinding struct {
	Room     string
	FolderID string
}

// RoomBindings lists the tenant's room bindings by room.
func (s *Store) RoomBindings(ctx context.Context, tenantID string) ([]RoomBinding, error) {
	var out []RoomBinding
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT room, folder_id FROM room_folders WHERE tenant_id = $1 ORDER BY room, folder_id`, tenantID)
		if err != nil {
			return fmt.Errorf("room bindings: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var b RoomBinding
			if err := rows.Scan(&b.Room, &b.FolderID); err != nil {
				return err
			}
			out = append(out, b)
		}
		return rows.Err()
	})
	return out, err
}
