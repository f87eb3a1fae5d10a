package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// oauthVersion is the Go migration that puts the tenant tables of migration 7 under
// row-level security on PostgreSQL.
const oauthVersion = 8

func init() {
	registerIsolation(oauthVersion, oauthTables, oauthTables...)
}

// oauthTables are migration 7's tables that carry a tenant; the finders read them across
// tenants (a client by its ID, a code or token by its hash), so each also gets the lookup
// policy. oauth_auth_requests and oauth_device_codes are not among them: a request belongs
// to no tenant until a user approves it, lives minutes, and holds no tenant data but the
// approving user's IDs.
var oauthTables = []string{"oauth_clients", "oauth_enrollments", "oauth_refresh_tokens"}

// Errors of one-time codes and rotating tokens.
var (
	// ErrUsed means a one-time code or refresh token was used already.
	ErrUsed = errors.New("used already")
	// ErrExpired means a code or token is past its expiry.
	ErrExpired = errors.New("expired")
	// ErrRevoked means the credential was revoked.
	ErrRevoked = errors.New("revoked")
)

// AgentClientPrefix starts every agent's client ID.
const AgentClientPrefix = "agent-"

// OAuthClient is an agent's credential: a client ID and a secret kept only as a hash.
type OAuthClient struct {
	TenantID   string
	ID         string
	Room       string
	SecretHash []byte
	CreatedAt  time.Time
	RevokedAt  *time.Time
}

const oauthClientColumns = `tenant_id, id, room, secret_hash, created_at, revoked_at`

func scanOAuthClient(r scanner) (OAuthClient, error) {
	var (
		c       OAuthClient
		created int64
		revoked sql.NullInt64
	)
	if err := r.Scan(&c.TenantID, &c.ID, &c.Room, &c.SecretHash, &created, &revoked); err != nil {
		return OAuthClient{}, err
	}
	c.CreatedAt, c.RevokedAt = fromNanos(created), fromNullNanos(revoked)
	return c, nil
}

// OAuthClientByID finds an agent's credential in any tenant by its client ID.
func (s *Store) OAuthClientByID(ctx context.Context, id string) (OAuthClient, error) {
	var c OAuthClient
	err := s.lookup(ctx, func(q querier) error {
		var err error
		c, err = scanOAuthClient(q.QueryRowContext(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE id = $1`, id))
		return notFound(err, "client %q", id)
	})
	return c, err
}

// OAuthClients returns the tenant's agent credentials, oldest first.
func (s *Store) OAuthClients(ctx context.Context, tenantID string) ([]OAuthClient, error) {
	var out []OAuthClient
	err := s.read(ctx, tenantID, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT `+oauthClientColumns+` FROM oauth_clients WHERE tenant_id = $1 ORDER BY created_at, id`, tenantID)
		if err != nil {
			return fmt.Errorf("list clients: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanOAuthClient(rows)
			if err != nil {
				return fmt.Errorf("list clients: %w", err)
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// RevokeOAuthClient revokes the tenant's agent credential at at, and with it every access
// token issued to it, in one transaction. Revoking it again keeps the first time.
func (s *Store) RevokeOAuthClient(ctx context.Context, tenantID, id string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.write(ctx, tenantID, func(q querier) error {
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE oauth_clients SET revoked_at = COALESCE(revoked_at, $3)
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, nanos(at)))
		if err != nil {
			return fmt.Errorf("revoke client %q: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("client %q: %w", id, ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, $3)
			WHERE tenant_id = $1 AND client_id = $2`, tenantID, id, nanos(at)); err != nil {
			return fmt.Errorf("revoke tokens of client %q: %w", id, err)
		}
		return nil
	})
}

// CreateClientToken stores an access token issued to the OAuth client clientID, as
// CreateToken does, and links it to the client. When clientID names an agent's
// credential, that credential must not be revoked (ErrRevoked), checked in the same
// transaction, so a token is never issued after the revocation committed.
func (s *Store) CreateClientToken(ctx context.Context, t Token, clientID string) (Token, error) {
	switch {
	case len(t.Hash) == 0:
		return Token{}, fmt.Errorf("token hash empty: %w", ErrInvalid)
	case t.ExpiresAt.IsZero():
		return Token{}, fmt.Errorf("token without expiry: %w", ErrInvalid)
	case clientID == "":
		return Token{}, fmt.Errorf("token without client: %w", ErrInvalid)
	}
	if err := checkTimes(t.CreatedAt, t.ExpiresAt); err != nil {
		return Token{}, err
	}
	if t.ID == "" {
		id, err := newID()
		if err != nil {
			return Token{}, err
		}
		t.ID = id
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = roundTrip(t.CreatedAt), roundTrip(t.ExpiresAt), nil
	user := sql.NullString{String: t.UserID, Valid: t.UserID != ""}
	err := s.write(ctx, t.TenantID, func(q querier) error {
		if strings.HasPrefix(clientID, AgentClientPrefix) {
			var revoked sql.NullInt64
			err := q.QueryRowContext(ctx, `SELECT revoked_at FROM oauth_clients WHERE tenant_id = $1 AND id = $2`,
				t.TenantID, clientID).Scan(&revoked)
			if err != nil {
				return notFound(err, "client %q", clientID)
			}
			if revoked.Valid {
				return fmt.Errorf("client %q: %w", clientID, ErrRevoked)
			}
		}
		_, err := q.ExecContext(ctx, `
			INSERT INTO tokens (tenant_id, id, user_id, hash, scope, created_at, expires_at, client_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			t.TenantID, t.ID, user, t.Hash, t.Scope, nanos(t.CreatedAt), nanos(t.ExpiresAt), clientID)
		switch {
		case isForeignKeyViolation(err):
			return fmt.Errorf("tenant %q or user %q: %w", t.TenantID, t.UserID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("create token: %w", err)
		}
		return nil
	})
	if err != nil {
		return Token{}, err
	}
	return t, nil
}

// ClientTokenByHash finds an access token by hash in any tenant, as TokenByHash does,
// with the client it was issued to ("" for tokens made otherwise).
func (s *Store) ClientTokenByHash(ctx context.Context, hash []byte) (Token, string, error) {
	var (
		t      Token
		client sql.NullString
	)
	err := s.lookup(ctx, func(q querier) error {
		var (
			user             sql.NullString
			created, expires int64
			revoked          sql.NullInt64
		)
		err := q.QueryRowContext(ctx, `SELECT tenant_id, id, user_id, hash, scope, created_at, expires_at, revoked_at, client_id
			FROM tokens WHERE hash = $1`, hash).
			Scan(&t.TenantID, &t.ID, &user, &t.Hash, &t.Scope, &created, &expires, &revoked, &client)
		if err != nil {
			return notFound(err, "token")
		}
		t.UserID = user.String
		t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromNanos(created), fromNanos(expires), fromNullNanos(revoked)
		return nil
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, client.String, nil
}

// RefreshToken is a rotating refresh token of a signed-in user's client, kept only as a
// hash.
type RefreshToken struct {
	TenantID  string
	ID        string
	Family    string // the first token's ID; every rotation keeps it
	Hash      []byte
	ClientID  string
	UserID    string
	Scopes    []string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	RevokedAt *time.Time
}

const refreshColumns = `tenant_id, id, family, hash, client_id, user_id, scopes, auth_time, created_at, expires_at, used_at, revoked_at`

func scanRefresh(r scanner) (RefreshToken, error) {
	var (
		t                         RefreshToken
		scopes                    string
		authTime, created, expire int64
		used, revoked             sql.NullInt64
	)
	if err := r.Scan(&t.TenantID, &t.ID, &t.Family, &t.Hash, &t.ClientID, &t.UserID, &scopes, &authTime, &created, &expire, &used, &revoked); err != nil {
		return RefreshToken{}, err
	}
	t.Scopes = strings.Fields(scopes)
	t.AuthTime, t.CreatedAt, t.ExpiresAt = fromNanos(authTime), fromNanos(created), fromNanos(expire)
	t.UsedAt, t.RevokedAt = fromNullNanos(used), fromNullNanos(revoked)
	return t, nil
}

// insertRefresh stores t (ID and Family made when empty) in q.
func (s *Store) insertRefresh(ctx context.Context, q querier, t *RefreshToken) error {
	switch {
	case len(t.Hash) == 0:
		return fmt.Errorf("refresh token hash empty: %w", ErrInvalid)
	case t.ExpiresAt.IsZero():
		return fmt.Errorf("refresh token without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(t.AuthTime, t.CreatedAt, t.ExpiresAt); err != nil {
		return err
	}
	if t.ID == "" {
		id, err := newID()
		if err != nil {
			return err
		}
		t.ID = id
	}
	if t.Family == "" {
		t.Family = t.ID
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	_, err := q.ExecContext(ctx, `INSERT INTO oauth_refresh_tokens (tenant_id, id, family, hash, client_id, user_id, scopes,
		auth_time, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.TenantID, t.ID, t.Family, t.Hash, t.ClientID, t.UserID, strings.Join(t.Scopes, " "),
		nanos(t.AuthTime), nanos(t.CreatedAt), nanos(t.ExpiresAt))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("tenant %q user %q: %w", t.TenantID, t.UserID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return nil
}

// CreateRefreshToken stores the first refresh token of a new family.
func (s *Store) CreateRefreshToken(ctx context.Context, t RefreshToken) (RefreshToken, error) {
	err := s.write(ctx, t.TenantID, func(q querier) error { return s.insertRefresh(ctx, q, &t) })
	return t, err
}

// RefreshTokenByHash finds a refresh token by hash in any tenant. It does not check use,
// expiry or revocation: the caller does.
func (s *Store) RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error) {
	var t RefreshToken
	err := s.lookup(ctx, func(q querier) error {
		var err error
		t, err = scanRefresh(q.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM oauth_refresh_tokens WHERE hash = $1`, hash))
		return notFound(err, "refresh token")
	})
	return t, err
}

// RotateRefreshToken uses the refresh token with oldHash at at and stores next, of the
// same family, in its place. A token used before is a sign that a copy was stolen: the
// whole family is revoked (that change is kept) and ErrUsed returned. A revoked token
// answers ErrRevoked, an expired one ErrExpired, an unknown one ErrNotFound.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash []byte, next RefreshToken, at time.Time) (RefreshToken, error) {
	if err := checkTimes(at); err != nil {
		return RefreshToken{}, err
	}
	var reused error
	err := s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := s.declare(ctx, tx, settingLookup, "on"); err != nil {
			return err
		}
		old, err := scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshColumns+` FROM oauth_refresh_tokens WHERE hash = $1`, oldHash))
		if err != nil {
			return notFound(err, "refresh token")
		}
		if err := s.declare(ctx, tx, settingTenant, old.TenantID); err != nil {
			return err
		}
		switch {
		case old.RevokedAt != nil:
			return fmt.Errorf("refresh token: %w", ErrRevoked)
		case old.UsedAt != nil:
			if _, err := tx.ExecContext(ctx, `UPDATE oauth_refresh_tokens SET revoked_at = COALESCE(revoked_at, $3)
				WHERE tenant_id = $1 AND family = $2`, old.TenantID, old.Family, nanos(at)); err != nil {
				return fmt.Errorf("revoke refresh family: %w", err)
			}
			reused = fmt.Errorf("refresh token: %w", ErrUsed)
			return nil // commit the revocation
		case !at.Before(old.ExpiresAt):
			return fmt.Errorf("refresh token: %w", ErrExpired)
		}
		n, err := rowsAffected(tx.ExecContext(ctx, `UPDATE oauth_refresh_tokens SET used_at = $3
			WHERE tenant_id = $1 AND id = $2 AND used_at IS NULL`, old.TenantID, old.ID, nanos(at)))
		if err != nil {
			return fmt.Errorf("use refresh token: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("refresh token: %w", ErrUsed)
		}
		next.ID, next.Family, next.TenantID, next.UserID, next.ClientID = "", old.Family, old.TenantID, old.UserID, old.ClientID
		if next.AuthTime.IsZero() {
			next.AuthTime = old.AuthTime
		}
		return s.insertRefresh(ctx, tx, &next)
	})
	if err == nil {
		err = reused
	}
	if err != nil {
		return RefreshToken{}, err
	}
	return next, nil
}

// RevokeRefreshFamily revokes every refresh token of the family at at.
func (s *Store) RevokeRefreshFamily(ctx context.Context, tenantID, family string, at time.Time) error {
	return s.write(ctx, tenantID, func(q querier) error {
		_, err := q.ExecContext(ctx, `UPDATE oauth_refresh_tokens SET revoked_at = COALESCE(revoked_at, $3)
			WHERE tenant_id = $1 AND family = $2`, tenantID, family, nanos(at))
		if err != nil {
			return fmt.Errorf("revoke refresh family: %w", err)
		}
		return nil
	})
}

// AuthRequest is an authorization request of the code grant, between /authorize and the
// token exchange.
type AuthRequest struct {
	ID            string
	ClientID      string
	RedirectURI   string
	State         string
	Nonce         string
	Scopes        []string
	ResponseType  string
	ResponseMode  string
	CodeChallenge string
	CodeMethod    string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// Set when a signed-in user approves the request.
	TenantID string
	UserID   string
	AuthTime time.Time
	Done     bool
}

const authRequestColumns = `id, client_id, redirect_uri, state, nonce, scopes, response_type, response_mode,
	code_challenge, code_method, created_at, expires_at, tenant_id, user_id, auth_time, done`

func scanAuthRequest(r scanner) (AuthRequest, error) {
	var (
		a                          AuthRequest
		scopes                     string
		created, expires, authTime int64
	)
	if err := r.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.State, &a.Nonce, &scopes, &a.ResponseType, &a.ResponseMode,
		&a.CodeChallenge, &a.CodeMethod, &created, &expires, &a.TenantID, &a.UserID, &authTime, &a.Done); err != nil {
		return AuthRequest{}, err
	}
	a.Scopes = strings.Fields(scopes)
	a.CreatedAt, a.ExpiresAt, a.AuthTime = fromNanos(created), fromNanos(expires), fromNanos(authTime)
	return a, nil
}

// CreateAuthRequest stores a new authorization request (ID made when empty) and deletes
// the pending requests and device codes that expired.
func (s *Store) CreateAuthRequest(ctx context.Context, a AuthRequest) (AuthRequest, error) {
	if a.ExpiresAt.IsZero() {
		return AuthRequest{}, fmt.Errorf("auth request without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(a.CreatedAt, a.ExpiresAt); err != nil {
		return AuthRequest{}, err
	}
	if a.ID == "" {
		id, err := newID()
		if err != nil {
			return AuthRequest{}, err
		}
		a.ID = id
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = s.now()
	}
	a.CreatedAt, a.ExpiresAt = roundTrip(a.CreatedAt), roundTrip(a.ExpiresAt)
	a.TenantID, a.UserID, a.AuthTime, a.Done = "", "", time.Time{}, false
	err := s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := purgePending(ctx, tx, a.CreatedAt); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_auth_requests (`+authRequestColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', '', 0, FALSE)`,
			a.ID, a.ClientID, a.RedirectURI, a.State, a.Nonce, strings.Join(a.Scopes, " "), a.ResponseType, a.ResponseMode,
			a.CodeChallenge, a.CodeMethod, nanos(a.CreatedAt), nanos(a.ExpiresAt))
		if err != nil {
			return fmt.Errorf("create auth request: %w", err)
		}
		return nil
	})
	if err != nil {
		return AuthRequest{}, err
	}
	return a, nil
}

// purgePending deletes authorization requests and device codes that expired before now.
func purgePending(ctx context.Context, q querier, now time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM oauth_auth_requests WHERE expires_at < $1`, nanos(now)); err != nil {
		return fmt.Errorf("purge auth requests: %w", err)
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM oauth_device_codes WHERE expires_at < $1`, nanos(now)); err != nil {
		return fmt.Errorf("purge device codes: %w", err)
	}
	return nil
}

// AuthRequestByID finds an authorization request. It does not check expiry.
func (s *Store) AuthRequestByID(ctx context.Context, id string) (AuthRequest, error) {
	var a AuthRequest
	err := s.tx(ctx, true, func(tx *sql.Tx) error {
		var err error
		a, err = scanAuthRequest(tx.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE id = $1`, id))
		return notFound(err, "auth request %q", id)
	})
	return a, err
}

// AuthRequestByCodeHash finds the authorization request whose code has this hash.
func (s *Store) AuthRequestByCodeHash(ctx context.Context, hash []byte) (AuthRequest, error) {
	var a AuthRequest
	err := s.tx(ctx, true, func(tx *sql.Tx) error {
		var err error
		a, err = scanAuthRequest(tx.QueryRowContext(ctx, `SELECT `+authRequestColumns+` FROM oauth_auth_requests WHERE code_hash = $1`, hash))
		return notFound(err, "authorization code")
	})
	return a, err
}

// ApproveAuthRequest records that the user of the tenant approved the pending, unexpired
// request at at. A request approved before, or expired, answers ErrNotFound.
func (s *Store) ApproveAuthRequest(ctx context.Context, id, tenantID, userID string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, `UPDATE oauth_auth_requests SET tenant_id = $2, user_id = $3, auth_time = $4, done = TRUE
			WHERE id = $1 AND NOT done AND expires_at > $4`, id, tenantID, userID, nanos(at)))
		if err != nil {
			return fmt.Errorf("approve auth request: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("pending auth request %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// SaveAuthCode sets the hash of the approved request's one code; a request that has a
// code already, or is not approved, answers ErrNotFound.
func (s *Store) SaveAuthCode(ctx context.Context, id string, codeHash []byte) error {
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, `UPDATE oauth_auth_requests SET code_hash = $2
			WHERE id = $1 AND done AND code_hash IS NULL`, id, codeHash))
		if err != nil {
			return fmt.Errorf("save auth code: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("approved auth request %q without code: %w", id, ErrNotFound)
		}
		return nil
	})
}

// DeleteAuthRequest deletes the request, and so its code; a missing one is no error.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_auth_requests WHERE id = $1`, id); err != nil {
			return fmt.Errorf("delete auth request: %w", err)
		}
		return nil
	})
}

// Device code states.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// DeviceCode is a device authorization request (RFC 8628): the device polls with the
// device code, kept as a hash; the user types the user code.
type DeviceCode struct {
	DeviceHash []byte
	UserCode   string
	ClientID   string
	Scopes     []string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	State      string
	// Set when a signed-in user approves it.
	TenantID string
	UserID   string
	AuthTime time.Time
}

const deviceColumns = `device_hash, user_code, client_id, scopes, created_at, expires_at, state, tenant_id, user_id, auth_time`

func scanDevice(r scanner) (DeviceCode, error) {
	var (
		d                          DeviceCode
		scopes                     string
		created, expires, authTime int64
	)
	if err := r.Scan(&d.DeviceHash, &d.UserCode, &d.ClientID, &scopes, &created, &expires, &d.State, &d.TenantID, &d.UserID, &authTime); err != nil {
		return DeviceCode{}, err
	}
	d.Scopes = strings.Fields(scopes)
	d.CreatedAt, d.ExpiresAt, d.AuthTime = fromNanos(created), fromNanos(expires), fromNanos(authTime)
	return d, nil
}

// CreateDeviceCode stores a pending device authorization and deletes the expired
// pending requests. A user code in use answers ErrExists.
func (s *Store) CreateDeviceCode(ctx context.Context, d DeviceCode) error {
	switch {
	case len(d.DeviceHash) == 0 || d.UserCode == "":
		return fmt.Errorf("device code without codes: %w", ErrInvalid)
	case d.ExpiresAt.IsZero():
		return fmt.Errorf("device code without expiry: %w", ErrInvalid)
	}
	if err := checkTimes(d.CreatedAt, d.ExpiresAt); err != nil {
		return err
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.now()
	}
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		if err := purgePending(ctx, tx, d.CreatedAt); err != nil {
			return err
		}
		n, err := rowsAffected(tx.ExecContext(ctx, `INSERT INTO oauth_device_codes (`+deviceColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, 'pending', '', '', 0) ON CONFLICT DO NOTHING`,
			d.DeviceHash, d.UserCode, d.ClientID, strings.Join(d.Scopes, " "), nanos(d.CreatedAt), nanos(d.ExpiresAt)))
		if err != nil {
			return fmt.Errorf("create device code: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("device or user code: %w", ErrExists)
		}
		return nil
	})
}

// DeviceCodeByUserCode finds a device authorization by its user code.
func (s *Store) DeviceCodeByUserCode(ctx context.Context, userCode string) (DeviceCode, error) {
	var d DeviceCode
	err := s.tx(ctx, true, func(tx *sql.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM oauth_device_codes WHERE user_code = $1`, userCode))
		return notFound(err, "user code")
	})
	return d, err
}

// DecideDeviceCode approves (for the user of the tenant) or denies the pending,
// unexpired device authorization with userCode, at at; otherwise ErrNotFound.
func (s *Store) DecideDeviceCode(ctx context.Context, userCode string, approve bool, tenantID, userID string, at time.Time) error {
	if err := checkTimes(at); err != nil {
		return err
	}
	state := DeviceDenied
	if approve {
		state = DeviceApproved
	}
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, `UPDATE oauth_device_codes SET state = $2, tenant_id = $3, user_id = $4, auth_time = $5
			WHERE user_code = $1 AND state = 'pending' AND expires_at > $5`, userCode, state, tenantID, userID, nanos(at)))
		if err != nil {
			return fmt.Errorf("decide device code: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("pending user code: %w", ErrNotFound)
		}
		return nil
	})
}

// PollDeviceCode returns the device authorization with deviceHash for clientID. An
// approved one is deleted as it is returned, so its tokens are issued once.
func (s *Store) PollDeviceCode(ctx context.Context, clientID string, deviceHash []byte) (DeviceCode, error) {
	var d DeviceCode
	err := s.tx(ctx, false, func(tx *sql.Tx) error {
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM oauth_device_codes
			WHERE device_hash = $1 AND client_id = $2`, deviceHash, clientID))
		if err != nil {
			return notFound(err, "device code")
		}
		if d.State == DeviceApproved {
			n, err := rowsAffected(tx.ExecContext(ctx, `DELETE FROM oauth_device_codes WHERE device_hash = $1 AND state = 'approved'`, deviceHash))
			if err != nil {
				return fmt.Errorf("use device code: %w", err)
			}
			if n == 0 {
				return fmt.Errorf("device code: %w", ErrUsed)
			}
		}
		return nil
	})
	return d, err
}

// ConsumeAuthRequest deletes the approved request as its tokens are issued; a request
// consumed before (a code exchanged twice at once) answers ErrUsed.
func (s *Store) ConsumeAuthRequest(ctx context.Context, id string) error {
	return s.tx(ctx, false, func(tx *sql.Tx) error {
		n, err := rowsAffected(tx.ExecContext(ctx, `DELETE FROM oauth_auth_requests WHERE id = $1 AND done`, id))
		if err != nil {
			return fmt.Errorf("consume auth request: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("auth request %q: %w", id, ErrUsed)
		}
		return nil
	})
}
