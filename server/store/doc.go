// Package store is the Aula server's metadata store: tenants, users, tokens, sessions,
// recordings, their tracks and segments. One schema and one set of parameterised queries
// serve both SQLite (embedded default) and PostgreSQL (several servers, one database).
//
// # Tenancy
//
// Every row carries its tenant, and every method that is given a tenant ID scopes its
// query by it, so another tenant's row answers [ErrNotFound] exactly as a missing one
// does. Only the finders that establish the tenant read across tenants: [Store.Tenant],
// [Store.TenantByName], [Store.UsersByEmail], [Store.TokenByHash], [Store.SessionByHash]
// (and [Store.TouchSession] and [Store.DeleteSession], which find the session's tenant by
// its hash first). On PostgreSQL, row-level security is a second guard: each method runs
// in a transaction that declares its tenant with set_config('app.tenant_id', ...), and
// the policies hide every other tenant's rows even from a query that forgot its WHERE
// clause; the finders declare app.tenant_lookup instead, which grants reading only.
//
// # Representations
//
// Times are stored as BIGINT Unix nanoseconds and come back in UTC, identical to the
// nanosecond on both databases (PostgreSQL's timestamptz keeps microseconds only). The
// zero [time.Time] is stored as 0 and comes back as the zero time; optional times
// (revocation, completion) are NULL when unset. IDs are TEXT; the store makes UUIDv7
// strings for tenants, users and tokens created without one, while recording IDs are the
// agent's own UUIDv7. Hashes and wrapped keys are BLOB/BYTEA.
//
// # Caveats
//
// Times must fall within 1678–2261 (the range of Unix nanoseconds in an int64), and the
// instant 1970-01-01T00:00:00Z reads back as the zero time. E-mail addresses are compared
// after [strings.ToLower], done in Go so that both databases fold case alike; the caller
// normalises anything else (NFKC, whitespace). On PostgreSQL, row-level security binds
// the role that connects only if it is neither a superuser nor has BYPASSRLS; the store
// forces the policies on the tables' owner, so the role that runs the migrations may be
// the one that serves requests.
package store
