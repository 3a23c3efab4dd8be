package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ServiceRoleRow is a t_services_roles row with the names of its service, site and project.
type ServiceRoleRow struct {
	IDServiceRole   int32   `db:"id_service_role"`
	IDService       int32   `db:"id_service"`
	IDProject       *int32  `db:"id_project"`
	IDSite          *int32  `db:"id_site"`
	ServiceRoleName string  `db:"service_role_name"`
	ServiceName     string  `db:"service_name"`
	SiteName        *string `db:"site_name"`
	ProjectName     *string `db:"project_name"`
}

// ServiceRoleFilter selects roles; nil fields do not filter. A role scoped to a site or a
// project outside the scope is never listed: it would name that site or project (OpenTera
// lists them all).
type ServiceRoleFilter struct {
	IDServiceRole *int32
	// IDService keeps that service's roles, OpenTeraServer's never (OpenTera ignores it there).
	IDService *int32
	// IDServices keeps the roles of these services, whether or not the scope sees them (the
	// caller lists those services already, or OpenTera offers them as candidates).
	IDServices []int32
	// Globals keeps roles with neither site nor project.
	Globals bool
}

const listServiceRolesSQL = `
SELECT r.id_service_role, r.id_service, r.id_project, r.id_site, r.service_role_name,
       s.service_name, st.site_name, p.project_name
  FROM core.t_services_roles r
  JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
  LEFT JOIN core.t_sites st ON st.id_site = r.id_site
  LEFT JOIN core.t_projects p ON p.id_project = r.id_project
 WHERE r.deleted_at IS NULL
   AND (r.id_service = ANY(@id_services::integer[])
        OR @id_services::integer[] IS NULL
           AND r.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (r.id_site IS NULL OR r.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (r.id_project IS NULL
        OR r.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (@id_service_role::integer IS NULL OR r.id_service_role = @id_service_role)
   AND (@id_service::integer IS NULL OR r.id_service = @id_service AND s.service_key <> 'OpenTeraServer')
   AND (NOT @globals::boolean OR r.id_site IS NULL AND r.id_project IS NULL)
 ORDER BY r.id_service_role`

// ListServiceRoles returns the roles of the scope that match f, by id.
func ListServiceRoles(ctx context.Context, db DB, scope access.Scope, f ServiceRoleFilter) ([]ServiceRoleRow, error) {
	return list[ServiceRoleRow](ctx, db, "list service roles", listServiceRolesSQL, scope, pgx.NamedArgs{
		"id_service_role": f.IDServiceRole, "id_service": f.IDService, "id_services": f.IDServices, "globals": f.Globals})
}

// ServiceRolePatch is a role to create (every field but the scope needed) or rename.
type ServiceRolePatch struct {
	IDService *int32
	Name      *string
	IDSite    *int32
	IDProject *int32
}

func (p ServiceRolePatch) args(id int32) pgx.NamedArgs {
	return pgx.NamedArgs{"id_service_role": id, "id_service": p.IDService, "service_role_name": p.Name,
		"id_site": p.IDSite, "id_project": p.IDProject}
}

const insertServiceRoleSQL = `
WITH cur AS (SELECT id_service, service_key FROM core.t_services WHERE id_service = @id_service AND deleted_at IS NULL),
ins AS (
  INSERT INTO core.t_services_roles (id_service, service_role_name, id_site, id_project)
  SELECT cur.id_service, @service_role_name, @id_site, @id_project FROM cur
   WHERE cur.service_key <> 'OpenTeraServer' AND core.is_superadmin(@acc_kind::text, @acc_id::integer)
  RETURNING id_service_role)
SELECT (SELECT id_service_role FROM ins) FROM cur`

// InsertServiceRole creates a role of a live service (ErrNotFound otherwise); OpenTeraServer's
// roles follow its sites and projects and a non-superadmin scope writes none (ErrRefused).
func InsertServiceRole(ctx context.Context, db DB, scope access.Scope, p ServiceRolePatch) (int32, error) {
	var id *int32
	if err := db.QueryRow(ctx, insertServiceRoleSQL, scope.Args(p.args(0))).Scan(&id); err != nil {
		return 0, wrap("insert service role", err)
	}
	if id == nil {
		return 0, ErrRefused
	}
	return *id, nil
}

const updateServiceRoleSQL = `
WITH cur AS (
  SELECT r.id_service_role, r.id_service FROM core.t_services_roles r
    JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
   WHERE r.id_service_role = @id_service_role AND r.deleted_at IS NULL AND s.service_key <> 'OpenTeraServer'
     AND core.is_superadmin(@acc_kind::text, @acc_id::integer)),
upd AS (
  UPDATE core.t_services_roles r SET service_role_name = coalesce(@service_role_name, r.service_role_name) FROM cur
   WHERE r.id_service_role = cur.id_service_role AND (@id_service::integer IS NULL OR cur.id_service = @id_service)
  RETURNING r.id_service_role)
SELECT (SELECT id_service_role FROM upd) FROM cur`

// UpdateServiceRole renames a role (superadmin scope, never OpenTeraServer's: ErrNotFound); a
// role cannot change service (ErrRefused when p.IDService names another).
func UpdateServiceRole(ctx context.Context, db DB, scope access.Scope, id int32, p ServiceRolePatch) error {
	return guardedWrite(ctx, db, "update service role", updateServiceRoleSQL, scope, p.args(id))
}

const deleteServiceRoleSQL = `
WITH cur AS (
  SELECT r.id_service_role, s.service_key FROM core.t_services_roles r JOIN core.t_services s ON s.id_service = r.id_service
   WHERE r.id_service_role = @id_service_role AND r.deleted_at IS NULL),
del AS (
  UPDATE core.t_services_roles r SET deleted_at = now() FROM cur
   WHERE r.id_service_role = cur.id_service_role AND cur.service_key <> 'OpenTeraServer'
     AND core.is_superadmin(@acc_kind::text, @acc_id::integer)
  RETURNING r.id_service_role)
SELECT (SELECT id_service_role FROM del) FROM cur`

// DeleteServiceRole soft-deletes a role and, through the schema, the accesses granting it
// (ErrNotFound for an unknown role, ErrRefused for OpenTeraServer's or outside a
// superadmin's scope).
func DeleteServiceRole(ctx context.Context, db DB, scope access.Scope, id int32) error {
	return guardedWrite(ctx, db, "delete service role", deleteServiceRoleSQL, scope, pgx.NamedArgs{"id_service_role": id})
}

// DeleteOwnServiceRole soft-deletes role id of the service (the /api/service surface: a
// service deletes only its own roles); ErrNotFound when the service has no such live role.
func DeleteOwnServiceRole(ctx context.Context, db DB, service, id int32) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_services_roles SET deleted_at = now()
		WHERE id_service_role = $1 AND id_service = $2 AND deleted_at IS NULL`, id, service)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return wrap("delete own service role", err)
}

// ServiceRoleItem is an entry of a service's "roles" list: id 0 creates, others rename.
type ServiceRoleItem struct {
	ID   int32
	Name *string
}

const (
	dropServiceRolesSQL = `
UPDATE core.t_services_roles SET deleted_at = now()
 WHERE id_service = @id_service AND deleted_at IS NULL AND NOT (id_service_role = ANY(@keep::integer[]))
   AND core.is_superadmin(@acc_kind::text, @acc_id::integer)`
	addServiceRoleSQL = `
INSERT INTO core.t_services_roles (id_service, service_role_name)
SELECT @id_service, @service_role_name WHERE core.is_superadmin(@acc_kind::text, @acc_id::integer)`
	renameServiceRoleSQL = `
UPDATE core.t_services_roles SET service_role_name = @service_role_name
 WHERE id_service_role = @id_service_role AND id_service = @id_service AND deleted_at IS NULL
   AND service_role_name <> @service_role_name AND core.is_superadmin(@acc_kind::text, @acc_id::integer)`
	foreignServiceRolesSQL = `
SELECT EXISTS (SELECT 1 FROM unnest(@keep::integer[]) k
 WHERE NOT EXISTS (SELECT 1 FROM core.t_services_roles r
                    WHERE r.id_service_role = k AND r.id_service = @id_service AND r.deleted_at IS NULL))`
)

// ReplaceServiceRoles makes a service's roles the given list (OpenTera's "roles" key): roles
// absent from it are deleted, id 0 creates, others are renamed. An empty list changes nothing.
// It answers ErrNotFound when the list keeps a role of another service (nothing is kept then:
// the caller's transaction rolls back).
func ReplaceServiceRoles(ctx context.Context, db DB, scope access.Scope, idService int32, roles []ServiceRoleItem) error {
	if len(roles) == 0 {
		return nil
	}
	keep := []int32{}
	for _, r := range roles {
		if r.ID != 0 {
			keep = append(keep, r.ID)
		}
	}
	if _, err := db.Exec(ctx, dropServiceRolesSQL, scope.Args(pgx.NamedArgs{"id_service": idService, "keep": keep})); err != nil {
		return wrap("replace service roles", err)
	}
	for _, r := range roles {
		sql := renameServiceRoleSQL
		if r.ID == 0 {
			sql = addServiceRoleSQL
		} else if r.Name == nil {
			continue
		}
		args := pgx.NamedArgs{"id_service": idService, "id_service_role": r.ID, "service_role_name": r.Name}
		if _, err := db.Exec(ctx, sql, scope.Args(args)); err != nil {
			return wrap("replace service roles", err)
		}
	}
	var foreign bool
	if err := db.QueryRow(ctx, foreignServiceRolesSQL, pgx.NamedArgs{"id_service": idService, "keep": keep}).Scan(&foreign); err != nil {
		return wrap("replace service roles", err)
	}
	if foreign {
		return ErrNotFound
	}
	return nil
}
