// Package store is the data access layer of core on pgx/v5: one file per resource, every query
// a named, static SQL string.
//
// How a resource is written here (sites.go is the smallest complete one, participants.go the
// richest):
//
//   - A row type (SiteRow) holding the columns every surface needs, scanned by name
//     (pgx.RowToStructByName), so a query and its row type cannot drift apart silently.
//   - A filter type (SiteFilter) of typed optional fields: nil means "no filter". The query tests
//     each one as `(@x::type IS NULL OR col = @x)`, the way River's riverpgxv5 queries use
//     sqlc.narg, so one static statement serves every combination and PostgreSQL plans it with
//     the actual values.
//   - A patch type (SitePatch) of optional fields for partial updates: nil leaves the column as
//     it is (`col = coalesce(@col, col)`); nullable columns carry an explicit Set flag.
//   - Functions List<R>(ctx, db, scope, filter), Insert<R>, Update<R>(ctx, db, scope, id, patch)
//     and Delete(ctx, db, scope, Table, id). Every one of them takes the caller's access.Scope
//     and joins the SQL access function of its object (core.acc_<object>(kind, id, admin_only),
//     migration 00005_access.sql) in the same statement: a read returns only visible rows, a
//     write touches only rows the scope covers and answers ErrNotFound otherwise. Nothing is
//     filtered in Go. The caller picks the scope (scope.AdminOnly() to administer).
//   - Errors go through MapError once, so surfaces see ErrNotFound, *ConflictError,
//     *IntegrityError or *InvalidValueError, never a pgconn error; the surface maps those to its
//     status codes.
//
// Every function takes a DB, so it runs on a pool, a connection or inside a transaction; writes
// that must produce a DatabaseEvent run in the caller's transaction, whose outbox rows the
// schema's triggers write.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tera-health/tera/services/internal/access"
)

// DB is what store functions need: *pgxpool.Pool, *pgx.Conn and pgx.Tx all satisfy it.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DBTX is DB under the name River and sqlc use.
type DBTX = DB

var (
	// ErrNotFound: no live row matched, or none the scope covers.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness violation or a lost optimistic-lock race (version_id moved).
	ErrConflict = errors.New("conflict")
)

// IntegrityError is an integrity refusal with OpenTera's message (the API answers 500 with it).
type IntegrityError struct{ Message string }

func (e *IntegrityError) Error() string { return e.Message }

// InvalidValueError is a value PostgreSQL refused as data (NUL bytes, out-of-range numbers, too
// long strings): the client's input.
type InvalidValueError struct{ Message string }

func (e *InvalidValueError) Error() string { return e.Message }

// PasswordPolicyError is a password refused by OpenTera's policy.
type PasswordPolicyError struct{ Message string }

func (e *PasswordPolicyError) Error() string { return e.Message }

// ConflictError wraps ErrConflict with the violated constraint.
type ConflictError struct{ Constraint, Detail string }

func (e *ConflictError) Error() string { return "conflict: " + e.Detail }
func (e *ConflictError) Unwrap() error { return ErrConflict }

// MapError turns PostgreSQL errors into the package's typed errors; other errors (and nil) pass
// unchanged. It is the one place SQLSTATEs are read.
func MapError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return err
	}
	switch {
	case pg.Code == "TI001": // integrity refusals raised by the schema's triggers
		return &IntegrityError{Message: pg.Message}
	case pg.Code == "23505": // unique_violation
		return &ConflictError{Constraint: pg.ConstraintName, Detail: pg.Detail}
	case pg.Code == "23503":
		return &IntegrityError{Message: "Database error: unknown reference (" + pg.ConstraintName + ")"}
	case strings.HasPrefix(pg.Code, "23"):
		return &IntegrityError{Message: "Database error: " + pg.Message}
	case strings.HasPrefix(pg.Code, "22"):
		return &InvalidValueError{Message: pg.Message}
	}
	return err
}

func mapErr(err error) error { return MapError(err) }

// wrap maps err and names the query it came from.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, MapError(err))
}

// list runs a static query with the scope's access arguments and collects its rows by name.
func list[T any](ctx context.Context, db DB, what, sql string, scope access.Scope, args pgx.NamedArgs) ([]T, error) {
	rows, err := db.Query(ctx, sql, scope.Args(args))
	if err != nil {
		return nil, wrap(what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[T])
	return out, wrap(what, err)
}

// writeID runs a scoped INSERT or UPDATE … RETURNING <id> (ErrNotFound when the scope covers no
// row).
func writeID(ctx context.Context, db DB, what, sql string, scope access.Scope, args pgx.NamedArgs) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, sql, scope.Args(args)).Scan(&id)
	return id, wrap(what, err)
}

// one is list for a statement returning at most one row (ErrNotFound when none).
func one[T any](ctx context.Context, db DB, what, sql string, scope access.Scope, args pgx.NamedArgs) (T, error) {
	rows, err := db.Query(ctx, sql, scope.Args(args))
	if err != nil {
		var zero T
		return zero, wrap(what, err)
	}
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[T])
	return out, wrap(what, err)
}

// Table is a core table with soft delete and the access object that guards it: a row is in a
// scope when its Guard column (the primary key when empty) is among the scope's Object ids.
type Table struct {
	Name, PK string
	Object   access.Object
	Guard    string
}

var (
	Sites             = Table{"t_sites", "id_site", access.Sites, ""}
	Projects          = Table{"t_projects", "id_project", access.Projects, ""}
	ParticipantGroups = Table{"t_participants_groups", "id_participant_group", access.ParticipantGroups, ""}
	Participants      = Table{"t_participants", "id_participant", access.Participants, ""}
	Users             = Table{"t_users", "id_user", access.Users, ""}
	UserGroups        = Table{"t_users_groups", "id_user_group", access.UserGroups, ""}
	Devices           = Table{"t_devices", "id_device", access.Devices, ""}
	Services          = Table{"t_services", "id_service", access.Services, ""}
	SessionTypes      = Table{"t_sessions_types", "id_session_type", access.SessionTypes, ""}
	Sessions          = Table{"t_sessions", "id_session", access.Sessions, ""}
	// ProjectsBySite is t_projects guarded by its site: site admins delete projects (OpenTera).
	ProjectsBySite = Table{"t_projects", "id_project", access.Sites, "id_site"}
)

// Delete soft-deletes a live row the scope covers (ErrNotFound otherwise: unknown and
// inaccessible look the same). Cascades and refusals run in the database: a refusal comes back
// as *IntegrityError and nothing is changed.
func Delete(ctx context.Context, db DB, scope access.Scope, t Table, id int32) error {
	f := scope.IDs(t.Object)
	guard := t.Guard
	if guard == "" {
		guard = t.PK
	}
	tag, err := db.Exec(ctx, fmt.Sprintf("UPDATE core.%s SET deleted_at = now() WHERE %s = @id AND deleted_at IS NULL AND %s IN (%s)",
		t.Name, t.PK, guard, f.SQL), f.With(pgx.NamedArgs{"id": id}))
	if err != nil {
		return wrap("delete "+t.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Update sets columns of a live row if its version_id is still `version` (optimistic lock) and
// returns the new version. Column names come from code, never from clients.
func Update(ctx context.Context, db DB, t Table, id int32, version int64, values map[string]any) (int64, error) {
	if len(values) == 0 {
		return version, nil
	}
	set := ""
	args := []any{id, version}
	for col, v := range values {
		if set != "" {
			set += ", "
		}
		args = append(args, v)
		set += fmt.Sprintf("%s = $%d", pgx.Identifier{col}.Sanitize(), len(args))
	}
	var nv int64
	err := db.QueryRow(ctx, fmt.Sprintf("UPDATE core.%s SET %s WHERE %s = $1 AND version_id = $2 AND deleted_at IS NULL RETURNING version_id",
		t.Name, set, t.PK), args...).Scan(&nv)
	if errors.Is(err, pgx.ErrNoRows) {
		var exists bool
		if e := db.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM core.%s WHERE %s = $1 AND deleted_at IS NULL)", t.Name, t.PK), id).Scan(&exists); e != nil {
			return 0, mapErr(e)
		}
		if exists {
			return 0, &ConflictError{Detail: "row was modified concurrently (version_id changed)"}
		}
		return 0, ErrNotFound
	}
	return nv, mapErr(err)
}

// Link is a soft-insert association table.
type Link struct{ Name, PK, A, B string }

var (
	UserUserGroups      = Link{"t_users_users_groups", "id_user_user_group", "id_user", "id_user_group"}
	DeviceSites         = Link{"t_devices_sites", "id_device_site", "id_device", "id_site"}
	DeviceProjects      = Link{"t_devices_projects", "id_device_project", "id_device", "id_project"}
	DeviceParticipants  = Link{"t_devices_participants", "id_device_participant", "id_device", "id_participant"}
	ServiceProjects     = Link{"t_services_projects", "id_service_project", "id_service", "id_project"}
	ServiceSites        = Link{"t_services_sites", "id_service_site", "id_service", "id_site"}
	SessionTypeSites    = Link{"t_sessions_types_sites", "id_session_type_site", "id_session_type", "id_site"}
	SessionTypeProjects = Link{"t_sessions_types_projects", "id_session_type_project", "id_session_type", "id_project"}
	SessionTypeServices = Link{"t_sessions_types_services", "id_session_type_service", "id_session_type", "id_service"}
	TestTypeSites       = Link{"t_tests_types_sites", "id_test_type_site", "id_test_type", "id_site"}
	TestTypeProjects    = Link{"t_tests_types_projects", "id_test_type_project", "id_test_type", "id_project"}
	SessionParticipants = Link{"t_sessions_participants", "id_session_participant", "id_session", "id_participant"}
	SessionUsers        = Link{"t_sessions_users", "id_session_user", "id_session", "id_user"}
	SessionDevices      = Link{"t_sessions_devices", "id_session_device", "id_session", "id_device"}
)

// InsertLink soft-inserts (a, b): an existing link, live or soft-deleted, is restored and
// returned instead of duplicated. Link prerequisites (device-project needs device-site, …) are
// refused with *IntegrityError.
func InsertLink(ctx context.Context, db DB, l Link, a, b int32) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, fmt.Sprintf(`
		INSERT INTO core.%[1]s AS l (%[3]s, %[4]s) VALUES ($1, $2)
		ON CONFLICT (%[3]s, %[4]s) DO UPDATE SET deleted_at = NULL
		RETURNING %[2]s`, l.Name, l.PK, l.A, l.B), a, b).Scan(&id)
	return id, mapErr(err)
}

// DeleteLink soft-deletes the live link (a, b).
func DeleteLink(ctx context.Context, db DB, l Link, a, b int32) error {
	tag, err := db.Exec(ctx, fmt.Sprintf("UPDATE core.%s SET deleted_at = now() WHERE %s = $1 AND %s = $2 AND deleted_at IS NULL", l.Name, l.A, l.B), a, b)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// orNotFound is err, or ErrNotFound for an empty result.
func orNotFound(err error) error {
	if err == nil {
		return ErrNotFound
	}
	return err
}
