package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// SessionTypeRow is a t_sessions_types row with its service's key and uuid.
type SessionTypeRow struct {
	IDSessionType       int32   `db:"id_session_type"`
	IDService           *int32  `db:"id_service"`
	SessionTypeName     string  `db:"session_type_name"`
	SessionTypeOnline   bool    `db:"session_type_online"`
	SessionTypeConfig   *string `db:"session_type_config"`
	SessionTypeColor    string  `db:"session_type_color"`
	SessionTypeCategory int32   `db:"session_type_category"`
	ServiceKey          *string `db:"service_key"`
	ServiceUUID         *string `db:"service_uuid"`
}

// SessionTypeFilter selects session types; nil fields do not filter.
type SessionTypeFilter struct {
	// ID keeps that type if it is linked to one of the caller's projects (superadmins: any).
	ID *int32
	// Project keeps the visible types linked to that project, if the project is accessible
	// (safer than OpenTera, which lists them for any project).
	Project *int32
	// Site keeps every type linked to that site, visible or not (OpenTera's session types of a
	// site; the caller checks the site).
	Site *int32
	// TypeID keeps that type, without ID's project rule (with Scoped).
	TypeID *int32
	// Scoped keeps only the types the scope sees (acc_session_types), whatever the selector.
	Scoped bool
}

const listSessionTypesSQL = `
SELECT st.id_session_type, st.id_service, st.session_type_name, st.session_type_online, st.session_type_config,
       st.session_type_color, st.session_type_category, sv.service_key, sv.service_uuid
  FROM core.t_sessions_types st
  LEFT JOIN core.t_services sv ON sv.id_service = st.id_service
 WHERE st.deleted_at IS NULL
   AND (@site::integer IS NOT NULL OR @id::integer IS NOT NULL
        OR st.id_session_type IN (SELECT id FROM core.acc_session_types(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (@id::integer IS NULL OR (st.id_session_type = @id AND (core.is_superadmin(@acc_kind::text, @acc_id::integer)
        OR st.id_session_type IN (SELECT stp.id_session_type FROM core.t_sessions_types_projects stp
             WHERE stp.deleted_at IS NULL AND stp.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, false))))))
   AND (@project::integer IS NULL OR (st.id_session_type IN (SELECT stp.id_session_type FROM core.t_sessions_types_projects stp
        WHERE stp.id_project = @project AND stp.deleted_at IS NULL)
        AND @project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, false))))
   AND (@site::integer IS NULL OR st.id_session_type IN (SELECT sts.id_session_type FROM core.t_sessions_types_sites sts
        WHERE sts.id_site = @site AND sts.deleted_at IS NULL))
   AND (@type_id::integer IS NULL OR st.id_session_type = @type_id)
   AND (NOT @scoped::boolean
        OR st.id_session_type IN (SELECT id FROM core.acc_session_types(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
 ORDER BY CASE WHEN core.is_superadmin(@acc_kind::text, @acc_id::integer) AND @project::integer IS NULL AND @site::integer IS NULL
          THEN NULL ELSE st.session_type_name END, st.id_session_type`

// ListSessionTypes returns the session types matching f.
func ListSessionTypes(ctx context.Context, db DB, scope access.Scope, f SessionTypeFilter) ([]SessionTypeRow, error) {
	return list[SessionTypeRow](ctx, db, "list session types", listSessionTypesSQL, scope,
		pgx.NamedArgs{"id": f.ID, "project": f.Project, "site": f.Site, "type_id": f.TypeID, "scoped": f.Scoped})
}

// SessionTypeProjectRow is a session type - project link with the names.
type SessionTypeProjectRow struct {
	ID              int32  `db:"id_session_type_project"`
	IDSessionType   int32  `db:"id_session_type"`
	IDProject       int32  `db:"id_project"`
	SessionTypeName string `db:"session_type_name"`
	ProjectName     string `db:"project_name"`
	IDSite          int32  `db:"id_site"`
	SiteName        string `db:"site_name"`
}

// The links between the scope's session types and the scope's projects.
const listSessionTypeProjectsSQL = `
SELECT stp.id_session_type_project, stp.id_session_type, stp.id_project, st.session_type_name, p.project_name,
       p.id_site, s.site_name
  FROM core.t_sessions_types_projects stp
  JOIN core.t_sessions_types st ON st.id_session_type = stp.id_session_type AND st.deleted_at IS NULL
  JOIN core.t_projects p ON p.id_project = stp.id_project AND p.deleted_at IS NULL
  JOIN core.t_sites s ON s.id_site = p.id_site
 WHERE stp.deleted_at IS NULL
   AND stp.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND stp.id_session_type IN (SELECT id FROM core.acc_session_types(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_project::integer IS NULL OR stp.id_project = @id_project)
   AND (@id_session_type::integer IS NULL OR stp.id_session_type = @id_session_type)
 ORDER BY stp.id_session_type_project`

// ListSessionTypeProjects returns the session type - project links of the scope, of one
// project or one session type (nil: any).
func ListSessionTypeProjects(ctx context.Context, db DB, scope access.Scope, idProject, idSessionType *int32) ([]SessionTypeProjectRow, error) {
	return list[SessionTypeProjectRow](ctx, db, "list session type projects", listSessionTypeProjectsSQL, scope,
		pgx.NamedArgs{"id_project": idProject, "id_session_type": idSessionType})
}

// SessionTypePatch is a partial write of a session type; nil fields are left unchanged.
type SessionTypePatch struct {
	Service      *int32
	ClearService bool
	Name         *string
	Online       *bool
	Config       *string
	Color        *string
	Category     *int32
}

func (p SessionTypePatch) args() pgx.NamedArgs {
	return pgx.NamedArgs{"service": p.Service, "clear_service": p.ClearService, "name": p.Name, "online": p.Online,
		"config": p.Config, "color": p.Color, "category": p.Category}
}

// InsertSessionType creates a session type.
func InsertSessionType(ctx context.Context, db DB, p SessionTypePatch) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_sessions_types (id_service, session_type_name, session_type_online,
		session_type_config, session_type_color, session_type_category)
		VALUES (@service, @name, coalesce(@online, false), @config, @color, @category) RETURNING id_session_type`, p.args()).Scan(&id)
	return id, wrap("insert session type", err)
}

// UpdateSessionType changes a live session type the scope covers (ErrNotFound otherwise).
func UpdateSessionType(ctx context.Context, db DB, scope access.Scope, id int32, p SessionTypePatch) error {
	a := p.args()
	a["id"] = id
	tag, err := db.Exec(ctx, `UPDATE core.t_sessions_types
		SET id_service = CASE WHEN @clear_service::boolean THEN NULL ELSE coalesce(@service, id_service) END,
		    session_type_name = coalesce(@name, session_type_name), session_type_online = coalesce(@online, session_type_online),
		    session_type_config = coalesce(@config, session_type_config), session_type_color = coalesce(@color, session_type_color),
		    session_type_category = coalesce(@category, session_type_category)
		WHERE id_session_type = @id AND deleted_at IS NULL
		  AND id_session_type IN (SELECT id FROM core.acc_session_types(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))`,
		scope.Args(a))
	return affected(tag.RowsAffected(), err)
}

// SessionTypeInfo returns a live type's category, service and the number of its project
// links inside and outside the fragment's project set; ErrNotFound when absent.
func SessionTypeInfo(ctx context.Context, db DB, id int32, projects access.Fragment) (category int32, service *int32, inside, outside int, err error) {
	err = db.QueryRow(ctx, `SELECT st.session_type_category, st.id_service,
		(SELECT count(*) FROM core.t_sessions_types_projects stp WHERE stp.id_session_type = st.id_session_type
		   AND stp.deleted_at IS NULL AND stp.id_project IN (`+projects.SQL+`)),
		(SELECT count(*) FROM core.t_sessions_types_projects stp WHERE stp.id_session_type = st.id_session_type
		   AND stp.deleted_at IS NULL AND stp.id_project NOT IN (`+projects.SQL+`))
		FROM core.t_sessions_types st WHERE st.id_session_type = @id AND st.deleted_at IS NULL`,
		projects.With(pgx.NamedArgs{"id": id})).Scan(&category, &service, &inside, &outside)
	return category, service, inside, outside, wrap("session type", err)
}

// SitesWithoutService returns the sites of sites where the service is not enabled.
func SitesWithoutService(ctx context.Context, db DB, service int32, sites []int32) ([]int32, error) {
	rows, err := db.Query(ctx, `SELECT s FROM unnest($2::integer[]) s WHERE NOT EXISTS (SELECT 1 FROM core.t_services_sites ss
		WHERE ss.id_service = $1 AND ss.id_site = s AND ss.deleted_at IS NULL) ORDER BY s`, service, sites)
	if err != nil {
		return nil, wrap("service sites", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	return out, wrap("service sites", err)
}

// SessionTypeWritten reads back a session type the caller has just written in its transaction
// (the write was checked against its scope; the type may lie outside what it can list).
func SessionTypeWritten(ctx context.Context, db DB, id int32) (SessionTypeRow, error) {
	return one[SessionTypeRow](ctx, db, "session type", `SELECT st.id_session_type, st.id_service, st.session_type_name,
		st.session_type_online, st.session_type_config, st.session_type_color, st.session_type_category, sv.service_key, sv.service_uuid
		FROM core.t_sessions_types st LEFT JOIN core.t_services sv ON sv.id_service = st.id_service
		WHERE st.id_session_type = @id AND st.deleted_at IS NULL`, access.Scope{}, pgx.NamedArgs{"id": id})
}

// ProjectSitePairs maps each (x, project) pair to (x, the project's site), for links that need
// the site's first; unknown projects are left out.
func ProjectSitePairs(ctx context.Context, db DB, pairs [][2]int32) ([][2]int32, error) {
	xs, projects := make([]int32, len(pairs)), make([]int32, len(pairs))
	for i, p := range pairs {
		xs[i], projects[i] = p[0], p[1]
	}
	rows, err := db.Query(ctx, `SELECT DISTINCT u.x, p.id_site FROM unnest($1::integer[], $2::integer[]) u(x, project)
		JOIN core.t_projects p ON p.id_project = u.project ORDER BY 1, 2`, xs, projects)
	if err != nil {
		return nil, wrap("project sites", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int32, error) {
		var p [2]int32
		return p, r.Scan(&p[0], &p[1])
	})
	return out, wrap("project sites", err)
}

// ParticipantProjects returns the projects of the participants, ascending.
func ParticipantProjects(ctx context.Context, db DB, participants []int32) ([]int32, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT id_project FROM core.t_participants WHERE id_participant = ANY($1) ORDER BY 1`, participants)
	if err != nil {
		return nil, wrap("participant projects", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	return out, wrap("participant projects", err)
}
