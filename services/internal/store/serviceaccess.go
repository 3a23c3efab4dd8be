package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ServiceAccessRow is a t_services_access row (a service role held by a user group, a device or
// a participant group) with its role, service, site, project and holder names.
type ServiceAccessRow struct {
	IDServiceAccess      int32   `db:"id_service_access"`
	IDUserGroup          *int32  `db:"id_user_group"`
	IDDevice             *int32  `db:"id_device"`
	IDParticipantGroup   *int32  `db:"id_participant_group"`
	IDServiceRole        int32   `db:"id_service_role"`
	IDService            int32   `db:"id_service"`
	IDSite               *int32  `db:"id_site"`
	IDProject            *int32  `db:"id_project"`
	ServiceRoleName      string  `db:"service_role_name"`
	ServiceName          string  `db:"service_name"`
	ServiceKey           string  `db:"service_key"`
	SiteName             *string `db:"site_name"`
	ProjectName          *string `db:"project_name"`
	UserGroupName        *string `db:"user_group_name"`
	DeviceName           *string `db:"device_name"`
	ParticipantGroupName *string `db:"participant_group_name"`
}

// ServiceAccessFilter selects assignments of services and holders the scope sees; nil fields
// do not filter.
type ServiceAccessFilter struct {
	IDUserGroup, IDDevice, IDParticipantGroup, IDService *int32
	// IDUser keeps the assignments of that user's groups (when the scope sees the user).
	IDUser *int32
	// IDs keeps these assignments, removed ones included (a POST answers what it removed).
	IDs []int32
}

const listServiceAccessSQL = `
SELECT sa.id_service_access, sa.id_user_group, sa.id_device, sa.id_participant_group,
       r.id_service_role, r.id_service, r.id_site, r.id_project, r.service_role_name, s.service_name, s.service_key,
       st.site_name, p.project_name, g.user_group_name, d.device_name, pg.participant_group_name
  FROM core.t_services_access sa
  JOIN core.t_services_roles r ON r.id_service_role = sa.id_service_role
  JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
  LEFT JOIN core.t_sites st ON st.id_site = r.id_site
  LEFT JOIN core.t_projects p ON p.id_project = r.id_project
  LEFT JOIN core.t_users_groups g ON g.id_user_group = sa.id_user_group
  LEFT JOIN core.t_devices d ON d.id_device = sa.id_device
  LEFT JOIN core.t_participants_groups pg ON pg.id_participant_group = sa.id_participant_group
 WHERE (sa.id_service_access = ANY(@ids::integer[]) OR @ids::integer[] IS NULL AND sa.deleted_at IS NULL AND r.deleted_at IS NULL)
   AND r.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (sa.id_user_group IS NULL OR sa.id_user_group IN
        (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean)))
   AND (sa.id_device IS NULL OR sa.id_device IN (SELECT id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (sa.id_participant_group IS NULL OR sa.id_participant_group IN
        (SELECT id FROM core.acc_participant_groups(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (@id_user_group::integer IS NULL OR sa.id_user_group = @id_user_group)
   AND (@id_device::integer IS NULL OR sa.id_device = @id_device)
   AND (@id_participant_group::integer IS NULL OR sa.id_participant_group = @id_participant_group)
   AND (@id_service::integer IS NULL OR r.id_service = @id_service)
   AND (@id_user::integer IS NULL OR
        @id_user IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, @acc_admin::boolean, @acc_wide::boolean))
        AND sa.id_user_group IN (SELECT uug.id_user_group FROM core.t_users_users_groups uug
                                  WHERE uug.id_user = @id_user AND uug.deleted_at IS NULL))
 ORDER BY r.id_service, sa.id_service_access`

// ListServiceAccess returns the assignments of the scope that match f, by service.
func ListServiceAccess(ctx context.Context, db DB, scope access.Scope, f ServiceAccessFilter) ([]ServiceAccessRow, error) {
	return list[ServiceAccessRow](ctx, db, "list service access", listServiceAccessSQL, scope, pgx.NamedArgs{
		"id_user_group": f.IDUserGroup, "id_device": f.IDDevice, "id_participant_group": f.IDParticipantGroup,
		"id_service": f.IDService, "id_user": f.IDUser, "ids": f.IDs})
}

// AccessHolder is who holds a service role: exactly one of the three is set.
type AccessHolder struct {
	UserGroup, Device, ParticipantGroup *int32
}

// IsZero reports that no holder is named.
func (h AccessHolder) IsZero() bool {
	return h.UserGroup == nil && h.Device == nil && h.ParticipantGroup == nil
}

// administers is the condition that the caller administers a holder ({ug}, {dev}, {pg}) and the
// role {role}: its service and, for a role scoped to a site or a project, that site or project
// (administering a service on one site must not hand out its roles on another; OpenTera checks
// the service only).
const (
	administersHolder = `(
  ({ug}::integer IS NULL OR {ug} IN (SELECT id FROM core.acc_user_groups(@acc_kind::text, @acc_id::integer, true, @acc_wide::boolean)))
  AND ({dev}::integer IS NULL OR {dev} IN (SELECT id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, true)))
  AND ({pg}::integer IS NULL OR {pg} IN (SELECT id FROM core.acc_participant_groups(@acc_kind::text, @acc_id::integer, true))))`
	administersRole = `EXISTS (
  SELECT 1 FROM core.t_services_roles ar JOIN core.t_services asv ON asv.id_service = ar.id_service AND asv.deleted_at IS NULL
   WHERE ar.id_service_role = {role} AND ar.deleted_at IS NULL
     AND ar.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, true))
     AND (ar.id_site IS NULL OR ar.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, true)))
     AND (ar.id_project IS NULL OR ar.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, true))))`
	// administers is the condition that the caller administers a holder ({ug}, {dev}, {pg}) and
	// the role {role}: its service and, for a role scoped to a site or a project, that site or
	// project (administering a service on one site must not hand out its roles on another;
	// OpenTera checks the service only).
	administers = "(" + administersHolder + " AND " + administersRole + ")"
)

var (
	newHolder = strings.NewReplacer("{ug}", "@id_user_group", "{dev}", "@id_device", "{pg}", "@id_participant_group",
		"{role}", "@id_service_role")
	administersNew = newHolder.Replace(administers)
	administersRow = strings.NewReplacer("{ug}", "sa.id_user_group", "{dev}", "sa.id_device", "{pg}", "sa.id_participant_group",
		"{role}", "sa.id_service_role").Replace(administers)

	checkServiceAccessSQL = `
SELECT ` + newHolder.Replace(administersHolder) + `,
       EXISTS (SELECT 1 FROM core.t_services_roles r JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
                WHERE r.id_service_role = @id_service_role AND r.deleted_at IS NULL), ` + administersNew
	currentServiceAccessSQL = `
SELECT sa.id_user_group, sa.id_device, sa.id_participant_group, sa.id_service_role
  FROM core.t_services_access sa WHERE sa.id_service_access = @id AND sa.deleted_at IS NULL AND ` + administersRow
	insertServiceAccessSQL = `
INSERT INTO core.t_services_access (id_user_group, id_device, id_participant_group, id_service_role)
SELECT @id_user_group, @id_device, @id_participant_group, @id_service_role WHERE ` + administersNew + `
ON CONFLICT ((coalesce(id_user_group, 0)), (coalesce(id_device, 0)), (coalesce(id_participant_group, 0)), id_service_role)
DO UPDATE SET deleted_at = NULL
RETURNING id_service_access`
	updateServiceAccessSQL = `
UPDATE core.t_services_access sa
   SET id_user_group = @id_user_group, id_device = @id_device, id_participant_group = @id_participant_group,
       id_service_role = @id_service_role
 WHERE sa.id_service_access = @id AND sa.deleted_at IS NULL AND ` + administersRow + ` AND ` + administersNew + `
RETURNING id_service_access`
	deleteServiceAccessSQL = `
WITH cur AS (SELECT id_service_access FROM core.t_services_access WHERE id_service_access = @id AND deleted_at IS NULL),
del AS (
  UPDATE core.t_services_access sa SET deleted_at = now() FROM cur
   WHERE sa.id_service_access = cur.id_service_access AND ` + administersRow + `
  RETURNING sa.id_service_access)
SELECT (SELECT id_service_access FROM del) FROM cur`
)

func (h AccessHolder) args(id, role int32) pgx.NamedArgs {
	return pgx.NamedArgs{"id": id, "id_service_role": role, "id_user_group": h.UserGroup, "id_device": h.Device,
		"id_participant_group": h.ParticipantGroup}
}

// ServiceAccessCheck says what of an assignment to write the scope administers.
type ServiceAccessCheck struct{ Holder, RoleExists, All bool }

// CheckServiceAccess tells whether the scope administers the holder, whether the role exists
// and whether the scope administers both (the writes check it again in their statements).
func CheckServiceAccess(ctx context.Context, db DB, scope access.Scope, h AccessHolder, role int32) (ServiceAccessCheck, error) {
	var c ServiceAccessCheck
	err := db.QueryRow(ctx, checkServiceAccessSQL, scope.Args(h.args(0, role))).Scan(&c.Holder, &c.RoleExists, &c.All)
	return c, wrap("check service access", err)
}

// CurrentServiceAccess is the holder and role of a live assignment the scope administers
// (ErrNotFound otherwise).
func CurrentServiceAccess(ctx context.Context, db DB, scope access.Scope, id int32) (AccessHolder, int32, error) {
	var h AccessHolder
	var role int32
	err := db.QueryRow(ctx, currentServiceAccessSQL, scope.Args(pgx.NamedArgs{"id": id})).Scan(&h.UserGroup, &h.Device, &h.ParticipantGroup, &role)
	return h, role, wrap("current service access", err)
}

// InsertServiceAccess soft-inserts an assignment the scope administers: the same holder and
// role give back the same assignment (ErrNotFound outside the scope).
func InsertServiceAccess(ctx context.Context, db DB, scope access.Scope, h AccessHolder, role int32) (int32, error) {
	return writeID(ctx, db, "insert service access", insertServiceAccessSQL, scope, h.args(0, role))
}

// UpdateServiceAccess gives an assignment another holder and role; the scope must administer
// both the current and the new ones (ErrNotFound otherwise).
func UpdateServiceAccess(ctx context.Context, db DB, scope access.Scope, id int32, h AccessHolder, role int32) error {
	_, err := writeID(ctx, db, "update service access", updateServiceAccessSQL, scope, h.args(id, role))
	return err
}

// DeleteServiceAccess soft-deletes an assignment the scope administers (ErrNotFound for none,
// ErrRefused outside the scope).
func DeleteServiceAccess(ctx context.Context, db DB, scope access.Scope, id int32) error {
	return guardedWrite(ctx, db, "delete service access", deleteServiceAccessSQL, scope, pgx.NamedArgs{"id": id})
}

// setGroupServiceRolesSQL makes a user group's assignments of the caller's service roles the
// set @roles, when the scope administers every one of them (else it writes nothing).
var setGroupServiceRolesSQL = `
WITH keep AS (
  SELECT r.id_service_role FROM core.t_services_roles r
   WHERE r.id_service_role = ANY(@roles::integer[]) AND ` + strings.ReplaceAll(administersRole, "{role}", "r.id_service_role") + `),
ok AS (SELECT (SELECT count(*) FROM keep) = (SELECT count(DISTINCT x) FROM unnest(@roles::integer[]) x) AS ok),
gone AS (
  UPDATE core.t_services_access sa SET deleted_at = now()
   WHERE sa.id_user_group = @id_user_group AND sa.deleted_at IS NULL AND (SELECT ok FROM ok)
     AND NOT (sa.id_service_role = ANY(@roles::integer[]))
     AND sa.id_service_role IN (SELECT r.id_service_role FROM core.t_services_roles r
                                 WHERE r.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, true)))
  RETURNING 1),
added AS (
  INSERT INTO core.t_services_access (id_user_group, id_service_role)
  SELECT @id_user_group, id_service_role FROM keep WHERE (SELECT ok FROM ok)
  ON CONFLICT ((coalesce(id_user_group, 0)), (coalesce(id_device, 0)), (coalesce(id_participant_group, 0)), id_service_role)
  DO UPDATE SET deleted_at = NULL WHERE core.t_services_access.deleted_at IS NOT NULL
  RETURNING 1)
SELECT ok FROM ok`

// SetGroupServiceRoles makes a user group's assignments of the scope's services' roles exactly
// roles (those of other services stay); ErrRefused, with nothing written, when the scope does
// not administer every role.
func SetGroupServiceRoles(ctx context.Context, db DB, scope access.Scope, group int32, roles []int32) error {
	var ok bool
	err := db.QueryRow(ctx, setGroupServiceRolesSQL, scope.Args(pgx.NamedArgs{"id_user_group": group, "roles": roles})).Scan(&ok)
	if err == nil && !ok {
		return ErrRefused
	}
	return wrap("set group service roles", err)
}
