package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/usergroups

type userGroups struct {
	*Service
	corev1.UnimplementedUserGroupServiceServer
}

// groupRolesCTE is the group's explicit OpenTeraServer roles (@g).
const groupRolesCTE = `WITH ex AS (
	SELECT sr.id_site, sr.id_project, sr.service_role_name AS role
	  FROM core.t_services_access sa
	  JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
	  JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
	 WHERE sa.id_user_group = @g AND sa.deleted_at IS NULL)`

// groupSites is the group's role per site (explicit, or "user" inherited from a project role),
// among the caller's sites.
func (s *Service) groupSites(ctx context.Context, q access.Querier, m me, g int32) (*structpb.ListValue, error) {
	f := m.acc.Sites()
	rows, err := q.Query(ctx, groupRolesCTE+`
		SELECT s.id_site, s.site_name, s.site_2fa_required, coalesce(e.role, 'user'), e.role IS NULL
		  FROM core.t_sites s
		  LEFT JOIN (SELECT id_site, CASE WHEN bool_or(role = 'admin') THEN 'admin' ELSE 'user' END AS role
		               FROM ex WHERE id_site IS NOT NULL AND id_project IS NULL GROUP BY id_site) e ON e.id_site = s.id_site
		 WHERE s.deleted_at IS NULL AND s.id_site IN (`+f.SQL+`)
		   AND (e.id_site IS NOT NULL OR s.id_site IN (SELECT p.id_site FROM ex JOIN core.t_projects p
		                                                ON p.id_project = ex.id_project AND p.deleted_at IS NULL))
		 ORDER BY s.id_site`, f.With(pgx.NamedArgs{"g": g}))
	if err != nil {
		return nil, err
	}
	out := &structpb.ListValue{Values: []*structpb.Value{}}
	for rows.Next() {
		a := &corev1.GroupSiteAccess{}
		var inherited bool
		if err := rows.Scan(&a.IdSite, &a.SiteName, &a.Site_2FaRequired, &a.SiteAccessRole, &inherited); err != nil {
			rows.Close()
			return nil, err
		}
		if inherited {
			a.SiteAccessInherited = &inherited
		}
		v, err := messageValue(a)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out.Values = append(out.Values, v)
	}
	return out, rows.Err()
}

// groupProjects is the group's role per project (explicit, or admin inherited from a site admin
// role), among the caller's projects.
func (s *Service) groupProjects(ctx context.Context, q access.Querier, m me, g int32) (*structpb.ListValue, error) {
	f := m.acc.Projects()
	rows, err := q.Query(ctx, groupRolesCTE+`
		SELECT p.id_project, p.project_name, p.project_enabled, p.project_description,
		       CASE WHEN sa.id_site IS NOT NULL THEN 'admin' ELSE e.role END,
		       sa.id_site IS NOT NULL AND e.role IS DISTINCT FROM 'admin'
		  FROM core.t_projects p
		  LEFT JOIN (SELECT id_project, CASE WHEN bool_or(role = 'admin') THEN 'admin' ELSE 'user' END AS role
		               FROM ex WHERE id_project IS NOT NULL GROUP BY id_project) e ON e.id_project = p.id_project
		  LEFT JOIN (SELECT DISTINCT id_site FROM ex WHERE id_project IS NULL AND id_site IS NOT NULL AND role = 'admin') sa
		         ON sa.id_site = p.id_site
		 WHERE p.deleted_at IS NULL AND p.id_project IN (`+f.SQL+`) AND (e.id_project IS NOT NULL OR sa.id_site IS NOT NULL)
		 ORDER BY p.id_project`, f.With(pgx.NamedArgs{"g": g}))
	if err != nil {
		return nil, err
	}
	out := &structpb.ListValue{Values: []*structpb.Value{}}
	for rows.Next() {
		a := &corev1.GroupProjectAccess{}
		var desc *string
		var inherited bool
		if err := rows.Scan(&a.IdProject, &a.ProjectName, &a.ProjectEnabled, &desc, &a.ProjectAccessRole, &inherited); err != nil {
			rows.Close()
			return nil, err
		}
		a.ProjectDescription = strValue(desc)
		if inherited {
			a.ProjectAccessInherited = &inherited
		}
		v, err := messageValue(a)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out.Values = append(out.Values, v)
	}
	return out, rows.Err()
}

func (s *userGroups) GetUserGroups(ctx context.Context, r *corev1.GetUserGroupsRequest) (*corev1.GetUserGroupsResponse, error) {
	m := caller(ctx)
	f := m.acc.UserGroups()
	args := f.With(nil)
	where := "g.id_user_group IN (" + f.SQL + ")"
	switch {
	case r.IdUserGroup != 0:
		where += " AND g.id_user_group = @id"
		args["id"] = r.IdUserGroup
	case r.IdUser != 0:
		uf := m.acc.Users()
		args = uf.With(args)
		where += ` AND @user IN (` + uf.SQL + `) AND g.id_user_group IN (SELECT uug.id_user_group FROM core.t_users_users_groups uug
		            WHERE uug.id_user = @user AND uug.deleted_at IS NULL)`
		args["user"] = r.IdUser
	case r.IdSite != 0:
		wf := m.acc.SiteWide().UserGroups()
		args = merge(args, wf.Args) // the site-wide flag must win
		where = "g.id_user_group IN (" + wf.SQL + ")"
		where += ` AND g.id_user_group IN (SELECT sa.id_user_group FROM core.t_services_access sa
		            JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
		            LEFT JOIN core.t_projects p ON p.id_project = sr.id_project
		           WHERE sa.deleted_at IS NULL AND sa.id_user_group IS NOT NULL AND (sr.id_site = @site OR p.id_site = @site))`
		args["site"] = r.IdSite
	}
	rows, err := s.db.Query(ctx, `SELECT g.id_user_group, g.user_group_name FROM core.t_users_groups g
		WHERE g.deleted_at IS NULL AND `+where+` ORDER BY g.id_user_group`, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.UserGroup, error) {
		g := &corev1.UserGroup{}
		return g, row.Scan(&g.IdUserGroup, &g.UserGroupName)
	})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if !r.List {
		for _, g := range out {
			if g.UserGroupSitesAccess, err = s.groupSites(ctx, s.db, m, g.IdUserGroup); err != nil {
				return nil, s.dbError(ctx, err)
			}
			if g.UserGroupProjectsAccess, err = s.groupProjects(ctx, s.db, m, g.IdUserGroup); err != nil {
				return nil, s.dbError(ctx, err)
			}
		}
	}
	return &corev1.GetUserGroupsResponse{UserGroups: out}, nil
}

func (s *userGroups) PostUserGroup(ctx context.Context, r *corev1.PostUserGroupRequest) (*corev1.PostUserGroupResponse, error) {
	m := caller(ctx)
	b := r.GetUserGroup()
	if b == nil {
		return nil, apierr.MissingArgument("Missing user_group")
	}
	if b.IdUserGroup == nil {
		return nil, apierr.MissingArgument("Missing id_user_group")
	}
	for _, a := range b.UserGroupSitesAccess {
		if !validRole(a.SiteAccessRole) {
			return nil, apierr.InvalidArgument("Invalid site_access_role")
		}
	}
	for _, a := range b.UserGroupProjectsAccess {
		if !validRole(a.ProjectAccessRole) {
			return nil, apierr.InvalidArgument("Invalid project_access_role")
		}
	}
	if b.UserGroupName != nil && strings.TrimSpace(*b.UserGroupName) == "" {
		return nil, apierr.InvalidArgument("Invalid user_group_name")
	}
	id := b.GetIdUserGroup()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		adminSites, err := m.acc.AdminOnly().List(ctx, tx, access.Sites)
		if err != nil {
			return err
		}
		if len(adminSites) == 0 {
			return apierr.Forbidden("Forbidden")
		}
		isAdmin := func(site int32) bool {
			for _, a := range adminSites {
				if a == site {
					return true
				}
			}
			return false
		}
		for _, a := range b.UserGroupSitesAccess {
			if !isAdmin(a.IdSite) {
				return apierr.Forbidden("No site admin access for at a least one site in the list")
			}
		}
		for _, a := range b.UserGroupProjectsAccess {
			var site int32
			err := tx.QueryRow(ctx, "SELECT id_site FROM core.t_projects WHERE id_project = $1 AND deleted_at IS NULL", a.IdProject).Scan(&site)
			if err == pgx.ErrNoRows || (err == nil && !isAdmin(site)) {
				return apierr.Forbidden("No site admin access for at a least one project in the list")
			}
			if err != nil {
				return err
			}
		}
		if id > 0 {
			// A group the caller administers (by site), or one with no role yet.
			gf := m.acc.AdminOnly().SiteWide().UserGroups()
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_users_groups g WHERE g.id_user_group = @id AND g.deleted_at IS NULL
				AND (g.id_user_group IN (`+gf.SQL+`) OR NOT EXISTS (SELECT 1 FROM core.t_services_access sa
				     WHERE sa.id_user_group = g.id_user_group AND sa.deleted_at IS NULL)))`, gf.With(pgx.NamedArgs{"id": id})).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return apierr.Forbidden("Forbidden")
			}
			if b.UserGroupName != nil {
				if _, err := tx.Exec(ctx, "UPDATE core.t_users_groups SET user_group_name = $2 WHERE id_user_group = $1", id, *b.UserGroupName); err != nil {
					return err
				}
			}
		} else {
			if b.UserGroupName == nil {
				return apierr.MissingArgument("Missing user_group_name")
			}
			if err := tx.QueryRow(ctx, "INSERT INTO core.t_users_groups (user_group_name) VALUES ($1) RETURNING id_user_group", *b.UserGroupName).Scan(&id); err != nil {
				return err
			}
		}
		for _, a := range b.UserGroupSitesAccess {
			if err := setGroupRole(ctx, tx, id, "id_site", a.IdSite, a.SiteAccessRole); err != nil {
				return err
			}
		}
		for _, a := range b.UserGroupProjectsAccess {
			if err := setGroupRole(ctx, tx, id, "id_project", a.IdProject, a.ProjectAccessRole); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	g := &corev1.UserGroup{IdUserGroup: id}
	if err := s.db.QueryRow(ctx, "SELECT user_group_name FROM core.t_users_groups WHERE id_user_group = $1", id).Scan(&g.UserGroupName); err != nil {
		return nil, s.dbError(ctx, err)
	}
	if len(b.UserGroupProjectsAccess) > 0 {
		if g.UserGroupProjectsAccess, err = s.groupProjects(ctx, s.db, m, id); err != nil {
			return nil, s.dbError(ctx, err)
		}
	}
	if len(b.UserGroupSitesAccess) > 0 {
		if g.UserGroupSitesAccess, err = s.groupSites(ctx, s.db, m, id); err != nil {
			return nil, s.dbError(ctx, err)
		}
	}
	return &corev1.PostUserGroupResponse{UserGroups: []*corev1.UserGroup{g}}, nil
}

func validRole(r string) bool { return r == "" || r == "admin" || r == "user" }

// setGroupRole gives group g the OpenTeraServer role on one site or project (scope is "id_site"
// or "id_project"), replacing its other role there; an empty role removes it. Access rows are
// soft-inserted (a removed grant is restored rather than duplicated).
func setGroupRole(ctx context.Context, tx pgx.Tx, g int32, scope string, id int32, role string) error {
	other := "id_project"
	if scope == "id_project" {
		other = "id_site"
	}
	roles := `SELECT sr.id_service_role FROM core.t_services_roles sr
		JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
		WHERE sr.` + scope + ` = @id AND sr.` + other + ` IS NULL AND sr.deleted_at IS NULL`
	args := pgx.NamedArgs{"g": g, "id": id, "role": role}
	if _, err := tx.Exec(ctx, `UPDATE core.t_services_access SET deleted_at = now()
		WHERE id_user_group = @g AND deleted_at IS NULL AND id_service_role IN (`+roles+` AND sr.service_role_name <> @role)`, args); err != nil {
		return err
	}
	if role == "" {
		return nil
	}
	var roleID int32
	if err := tx.QueryRow(ctx, roles+` AND sr.service_role_name = @role`, args).Scan(&roleID); err != nil {
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("No such role for " + scope)
		}
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE core.t_services_access SET deleted_at = NULL
		WHERE id_user_group = $1 AND id_service_role = $2 AND id_device IS NULL AND id_participant_group IS NULL AND deleted_at IS NOT NULL`, g, roleID)
	if err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO core.t_services_access (id_user_group, id_service_role)
		SELECT $1::int, $2::int WHERE NOT EXISTS (SELECT 1 FROM core.t_services_access
		 WHERE id_user_group = $1 AND id_service_role = $2 AND deleted_at IS NULL)`, g, roleID)
	return err
}

func (s *userGroups) DeleteUserGroup(ctx context.Context, r *corev1.DeleteUserGroupRequest) (*corev1.DeleteUserGroupResponse, error) {
	m := caller(ctx)
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM core.t_users_groups WHERE id_user_group = $1 AND deleted_at IS NULL)", r.GetId()).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return apierr.Forbidden("Forbidden")
		}
		if !m.superadmin {
			// Admin of a site the group has a role on (directly or through one of its projects).
			sf := m.acc.AdminOnly().Sites()
			var ok bool
			if err := tx.QueryRow(ctx, groupRolesCTE+`
				SELECT EXISTS (SELECT 1 FROM ex LEFT JOIN core.t_projects p ON p.id_project = ex.id_project
				                WHERE coalesce(ex.id_site, p.id_site) IN (`+sf.SQL+`))`, sf.With(pgx.NamedArgs{"g": r.GetId()})).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return apierr.Forbidden("Forbidden")
			}
		}
		_, err := tx.Exec(ctx, "UPDATE core.t_users_groups SET deleted_at = now() WHERE id_user_group = $1 AND deleted_at IS NULL", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteUserGroupResponse{}, nil
}
