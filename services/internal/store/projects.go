package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ProjectRow is a t_projects row with its site's name, the caller's role on it (users only) and,
// when asked, its counts of groups and participants.
type ProjectRow struct {
	IDProject          int32   `db:"id_project"`
	IDSite             int32   `db:"id_site"`
	ProjectName        string  `db:"project_name"`
	ProjectEnabled     bool    `db:"project_enabled"`
	ProjectDescription *string `db:"project_description"`
	SiteName           string  `db:"site_name"`
	Role               *string `db:"project_role"`
	GroupCount         *int32  `db:"project_participant_group_count"`
	ParticipantCount   *int32  `db:"project_participant_count"`
}

// ProjectFilter selects projects; nil fields do not filter.
type ProjectFilter struct {
	IDProject *int32
	IDSite    *int32
	Name      *string
	Enabled   *bool
	// UserUUID keeps the projects where that user holds a role.
	UserUUID *string
	// IDService keeps the projects linked to that service (which the scope must reach).
	IDService *int32
	// WithCounts fills GroupCount and ParticipantCount.
	WithCounts bool
}

const listProjectsSQL = `
SELECT p.id_project, p.id_site, p.project_name, p.project_enabled, p.project_description, s.site_name,
       r.role AS project_role,
       CASE WHEN @with_counts::boolean THEN (SELECT count(*)::int FROM core.t_participants_groups g
                                              WHERE g.id_project = p.id_project AND g.deleted_at IS NULL) END
         AS project_participant_group_count,
       CASE WHEN @with_counts::boolean THEN (SELECT count(*)::int FROM core.t_participants pa
                                              WHERE pa.id_project = p.id_project AND pa.deleted_at IS NULL) END
         AS project_participant_count
  FROM core.t_projects p
  JOIN core.t_sites s ON s.id_site = p.id_site AND s.deleted_at IS NULL
  LEFT JOIN core.user_project_roles(@acc_id::integer) r ON r.id_project = p.id_project AND @acc_kind::text = 'user'
 WHERE p.deleted_at IS NULL
   AND p.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_project::integer IS NULL OR p.id_project = @id_project)
   AND (@id_site::integer IS NULL OR p.id_site = @id_site)
   AND (@name::text IS NULL OR p.project_name = @name)
   AND (@enabled::boolean IS NULL OR p.project_enabled = @enabled)
   AND (@user_uuid::text IS NULL OR p.id_project IN
        (SELECT ur.id_project FROM core.t_users u, core.user_project_roles(u.id_user) ur
          WHERE u.user_uuid = @user_uuid AND u.deleted_at IS NULL))
   AND (@id_service::integer IS NULL OR (p.id_project IN
        (SELECT sp.id_project FROM core.t_services_projects sp WHERE sp.id_service = @id_service AND sp.deleted_at IS NULL)
        AND @id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))))
 ORDER BY p.id_project`

// ListProjects returns the projects of the scope that match f, by id.
func ListProjects(ctx context.Context, db DB, scope access.Scope, f ProjectFilter) ([]ProjectRow, error) {
	return list[ProjectRow](ctx, db, "list projects", listProjectsSQL, scope, pgx.NamedArgs{
		"id_project": f.IDProject, "id_site": f.IDSite, "name": f.Name, "enabled": f.Enabled, "user_uuid": f.UserUUID,
		"id_service": f.IDService, "with_counts": f.WithCounts})
}

// GetProject is one project of the scope (ErrNotFound otherwise).
func GetProject(ctx context.Context, db DB, scope access.Scope, id int32) (ProjectRow, error) {
	rows, err := ListProjects(ctx, db, scope, ProjectFilter{IDProject: &id})
	if err != nil || len(rows) == 0 {
		return ProjectRow{}, orNotFound(err)
	}
	return rows[0], nil
}

// ProjectPatch is a partial write of a project; nil fields are left unchanged (or take the
// column default on insert). The description is nullable: SetDescription says whether to write it.
type ProjectPatch struct {
	IDSite         *int32
	Name           *string
	Enabled        *bool
	SetDescription bool
	Description    *string
}

func (p ProjectPatch) args(id int32) pgx.NamedArgs {
	return pgx.NamedArgs{"id_project": id, "id_site": p.IDSite, "project_name": p.Name, "project_enabled": p.Enabled,
		"set_description": p.SetDescription, "project_description": p.Description}
}

// A project is created on a site the scope administers (OpenTera: site admin).
const insertProjectSQL = `
INSERT INTO core.t_projects (id_site, project_name, project_enabled, project_description)
SELECT @id_site, @project_name, coalesce(@project_enabled::boolean, true), @project_description
 WHERE @id_site::integer IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
RETURNING id_project`

// A project the scope administers; moving it needs the same right on the destination site.
const updateProjectSQL = `
UPDATE core.t_projects
   SET id_site = coalesce(@id_site, id_site),
       project_name = coalesce(@project_name, project_name),
       project_enabled = coalesce(@project_enabled, project_enabled),
       project_description = CASE WHEN @set_description::boolean THEN @project_description ELSE project_description END
 WHERE id_project = @id_project AND deleted_at IS NULL
   AND id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_site::integer IS NULL OR @id_site = id_site
        OR @id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
RETURNING id_project`

// InsertProject creates a project on a site of the scope (ErrNotFound otherwise).
func InsertProject(ctx context.Context, db DB, scope access.Scope, p ProjectPatch) (int32, error) {
	return writeID(ctx, db, "insert project", insertProjectSQL, scope, p.args(0))
}

// UpdateProject changes a project of the scope (ErrNotFound otherwise, or when moved to a site
// outside it).
func UpdateProject(ctx context.Context, db DB, scope access.Scope, id int32, p ProjectPatch) error {
	_, err := writeID(ctx, db, "update project", updateProjectSQL, scope, p.args(id))
	return err
}

// SessionTypeCheck counts the wanted session types the scope cannot see and those not linked to
// the site.
func SessionTypeCheck(ctx context.Context, db DB, scope access.Scope, site int32, wanted []int32) (inaccessible, offSite int, err error) {
	err = db.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE w NOT IN (SELECT id FROM core.acc_session_types(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))),
		       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM core.t_sessions_types_sites ts
		                          WHERE ts.id_session_type = w AND ts.id_site = @site AND ts.deleted_at IS NULL))
		  FROM unnest(@wanted::int[]) w`, scope.Args(pgx.NamedArgs{"wanted": wanted, "site": site})).Scan(&inaccessible, &offSite)
	return inaccessible, offSite, wrap("check session types", err)
}

// SetProjectSessionTypes makes a project's session types the wanted set, touching only the links
// of types the scope can see. It must run in a transaction: it unlinks types that have sessions
// in the project, as OpenTera's project POST does, by turning the link's delete check off for
// that transaction only (migration 00018).
func SetProjectSessionTypes(ctx context.Context, db DB, scope access.Scope, id int32, wanted []int32) error {
	args := scope.Args(pgx.NamedArgs{"wanted": wanted, "id": id})
	if _, err := db.Exec(ctx, `SELECT set_config('tera.session_type_project_check', 'off', true)`); err != nil {
		return wrap("link project session types", err)
	}
	if _, err := db.Exec(ctx, `
		INSERT INTO core.t_sessions_types_projects AS l (id_session_type, id_project)
		SELECT DISTINCT w, @id::int FROM unnest(@wanted::int[]) w
		ON CONFLICT (id_session_type, id_project) DO UPDATE SET deleted_at = NULL WHERE l.deleted_at IS NOT NULL`, args); err != nil {
		return wrap("link project session types", err)
	}
	_, err := db.Exec(ctx, `
		UPDATE core.t_sessions_types_projects SET deleted_at = now()
		 WHERE id_project = @id AND deleted_at IS NULL AND NOT (id_session_type = ANY(@wanted::int[]))
		   AND id_session_type IN (SELECT id FROM core.acc_session_types(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))`, args)
	return wrap("unlink project session types", err)
}
