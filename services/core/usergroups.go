package core

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/usergroups

type userGroups struct {
	*Service
	corev1.UnimplementedUserGroupServiceServer
}

// groupRoles fills a group's site and project roles (among the caller's sites and projects).
func (s *Service) groupRoles(ctx context.Context, db store.DB, sc access.Scope, g *corev1.UserGroup, sites, projects bool) error {
	if sites {
		rows, err := store.GroupSiteRoles(ctx, db, sc, g.IdUserGroup)
		out := make([]*corev1.GroupSiteAccess, len(rows))
		for i, r := range rows {
			out[i] = &corev1.GroupSiteAccess{IdSite: r.IDSite, SiteName: r.SiteName, Site_2FaRequired: r.Site2FARequired,
				SiteAccessRole: r.Role, SiteAccessInherited: trueOrNil(r.Inherited)}
		}
		if err == nil {
			g.UserGroupSitesAccess, err = messageList(out)
		}
		if err != nil {
			return s.dbError(ctx, err)
		}
	}
	if !projects {
		return nil
	}
	rows, err := store.GroupProjectRoles(ctx, db, sc, g.IdUserGroup)
	out := make([]*corev1.GroupProjectAccess, len(rows))
	for i, r := range rows {
		out[i] = &corev1.GroupProjectAccess{IdProject: r.IDProject, ProjectName: r.ProjectName, ProjectEnabled: r.ProjectEnabled,
			ProjectDescription: strValue(r.ProjectDescription), ProjectAccessRole: r.Role, ProjectAccessInherited: trueOrNil(r.Inherited)}
	}
	if err == nil {
		g.UserGroupProjectsAccess, err = messageList(out)
	}
	return s.dbError(ctx, err)
}

// trueOrNil is OpenTera's *_inherited flag: present only when true.
func trueOrNil(b bool) *bool {
	if b {
		return &b
	}
	return nil
}

func (s *userGroups) GetUserGroups(ctx context.Context, r *corev1.GetUserGroupsRequest) (*corev1.GetUserGroupsResponse, error) {
	m := caller(ctx)
	// One selector, in OpenTera's order; by site, the groups of the caller's sites.
	sc, f := m.acc, store.UserGroupFilter{IDUserGroup: nonZero(r.IdUserGroup)}
	if f.IDUserGroup == nil {
		f.IDUser = nonZero(r.IdUser)
	}
	if f.IDUserGroup == nil && f.IDUser == nil && r.IdSite != 0 {
		sc, f.IDSite = sc.SiteWide(), &r.IdSite
	}
	rows, err := store.ListUserGroups(ctx, s.db, sc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.UserGroup, len(rows))
	for i, row := range rows {
		out[i] = &corev1.UserGroup{IdUserGroup: row.IDUserGroup, UserGroupName: row.UserGroupName}
		if err := s.groupRoles(ctx, s.db, m.acc, out[i], !r.List, !r.List); err != nil {
			return nil, err
		}
	}
	return &corev1.GetUserGroupsResponse{UserGroups: out}, nil
}

func (s *userGroups) PostUserGroup(ctx context.Context, r *corev1.PostUserGroupRequest) (*corev1.PostUserGroupResponse, error) {
	m, b := caller(ctx), r.GetUserGroup()
	id, roles, err := userGroupRoles(b)
	if err != nil {
		return nil, err
	}
	g := &corev1.UserGroup{}
	err = s.write(ctx, func(tx store.DB) error {
		if err := userGroupRolesCheck(ctx, tx, m.acc, roles); err != nil {
			return err
		}
		if id == 0 {
			if b.UserGroupName == nil {
				return apierr.MissingArgument("Missing user_group_name")
			}
			id, err = store.InsertUserGroup(ctx, tx, m.acc, *b.UserGroupName)
		} else {
			err = store.UpdateUserGroup(ctx, tx, m.acc, id, b.UserGroupName)
		}
		if err != nil {
			return orDenied(err, "Forbidden")
		}
		for _, x := range roles {
			if _, err := store.SetGroupRole(ctx, tx, id, x.RoleObject, x.role); err != nil {
				return noSuchRole(err, x.RoleObject)
			}
		}
		g.IdUserGroup = id
		if g.UserGroupName, err = store.UserGroupName(ctx, tx, id); err != nil {
			return err
		}
		return s.groupRoles(ctx, tx, m.acc, g, len(b.UserGroupSitesAccess) > 0, len(b.UserGroupProjectsAccess) > 0)
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostUserGroupResponse{UserGroups: []*corev1.UserGroup{g}}, nil
}

// groupRole is one role of a user group body ("" removes the group's role there).
type groupRole struct {
	store.RoleObject
	role string
}

// userGroupRoles reads the body's id and its site and project roles, refusing invalid ones.
func userGroupRoles(b *corev1.UserGroupBody) (int32, []groupRole, error) {
	id, err := bodyID(b, func(b *corev1.UserGroupBody) *int32 { return b.IdUserGroup }, "user_group")
	if err != nil {
		return 0, nil, err
	}
	var out []groupRole
	for _, a := range b.UserGroupSitesAccess {
		if !validRole(a.SiteAccessRole) {
			return 0, nil, apierr.InvalidArgument("Invalid site_access_role")
		}
		out = append(out, groupRole{store.RoleObject{Site: true, ID: a.IdSite}, a.SiteAccessRole})
	}
	for _, a := range b.UserGroupProjectsAccess {
		if !validRole(a.ProjectAccessRole) {
			return 0, nil, apierr.InvalidArgument("Invalid project_access_role")
		}
		out = append(out, groupRole{store.RoleObject{ID: a.IdProject}, a.ProjectAccessRole})
	}
	if b.UserGroupName != nil && strings.TrimSpace(*b.UserGroupName) == "" {
		return 0, nil, apierr.InvalidArgument("Invalid user_group_name")
	}
	return id, out, nil
}

// userGroupRolesCheck: a group's roles are set by the admins of their sites.
func userGroupRolesCheck(ctx context.Context, db store.DB, sc access.Scope, roles []groupRole) error {
	var sites, projects []int32
	for _, x := range roles {
		if x.Site {
			sites = append(sites, x.ID)
		} else {
			projects = append(projects, x.ID)
		}
	}
	admin, allSites, allProjects, err := store.UserGroupRolesCheck(ctx, db, sc, sites, projects)
	switch {
	case err != nil:
		return err
	case !admin:
		return apierr.Forbidden("Forbidden")
	case !allSites:
		return apierr.Forbidden("No site admin access for at a least one site in the list")
	case !allProjects:
		return apierr.Forbidden("No site admin access for at a least one project in the list")
	}
	return nil
}

func validRole(r string) bool { return r == "" || r == "admin" || r == "user" }

// noSuchRole answers a role the object does not have with 400.
func noSuchRole(err error, o store.RoleObject) error {
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if o.Site {
		return apierr.InvalidArgument("No such role for id_site")
	}
	return apierr.InvalidArgument("No such role for id_project")
}

func (s *userGroups) DeleteUserGroup(ctx context.Context, r *corev1.DeleteUserGroupRequest) (*corev1.DeleteUserGroupResponse, error) {
	// Admins of a site the group has a role on (directly or through one of its projects).
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.Delete(ctx, tx, caller(ctx).acc.AdminOnly().SiteWide(), store.UserGroups, id), "Forbidden")
	})
	return reply(&corev1.DeleteUserGroupResponse{}, err)
}

// ---- /api/service/usergroups: user groups holding the calling service's own roles. The
// service is the caller of the user API's store writes, whose SQL scopes it to its roles,
// sites and projects.

// groupsWithServerRole narrows to the groups assigned a live OpenTeraServer role sr; the
// statement's own JOINs and WHERE on sr (and sa, the assignment) follow, and close it.
const groupsWithServerRole = ` AND g.id_user_group IN (SELECT sa.id_user_group FROM core.t_services_access sa
		    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
		    JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'`

func (s *serviceAPI) SvcGetUserGroups(ctx context.Context, r *corev1.SvcGetUserGroupsRequest) (*corev1.SvcGetUserGroupsResponse, error) {
	m := caller(ctx)
	f := m.acc.UserGroups() // groups holding one of the service's roles
	args := f.With(pgx.NamedArgs{"id": r.IdUserGroup, "project": r.IdProject, "site": r.IdSite})
	where := "g.id_user_group IN (" + f.SQL + ")"
	switch {
	case r.IdUserGroup != 0:
		where += " AND g.id_user_group = @id"
	case r.IdProject != 0:
		if err := s.require(ctx, s.db, m, access.Projects, r.IdProject, false, "Forbidden"); err != nil {
			return nil, err
		}
		// A role on the project, or admin of its site (OpenTera's get_projects_roles).
		where += groupsWithServerRole + `
		   WHERE sa.deleted_at IS NULL AND (sr.id_project = @project OR sr.service_role_name = 'admin'
		         AND sr.id_site = (SELECT p.id_site FROM core.t_projects p WHERE p.id_project = @project)))`
	case r.IdSite != 0:
		if err := s.require(ctx, s.db, m, access.Sites, r.IdSite, false, "Forbidden"); err != nil {
			return nil, err
		}
		// A role on the site or on one of its projects (OpenTera's get_sites_roles).
		where += groupsWithServerRole + `
		    LEFT JOIN core.t_projects p ON p.id_project = sr.id_project
		   WHERE sa.deleted_at IS NULL AND (sr.id_site = @site OR p.id_site = @site))`
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
	return &corev1.SvcGetUserGroupsResponse{UserGroups: out}, nil
}

func (s *serviceAPI) SvcPostUserGroup(ctx context.Context, r *corev1.SvcPostUserGroupRequest) (*corev1.SvcPostUserGroupResponse, error) {
	b := r.GetUserGroup()
	id, err := bodyID(b, func(b *corev1.SvcUserGroupBody) *int32 { return b.IdUserGroup }, "user_group")
	switch {
	case err != nil:
		return nil, err
	case b.UserGroupName != nil && strings.TrimSpace(b.GetUserGroupName()) == "":
		return nil, apierr.InvalidArgument("Invalid user_group_name")
	case id <= 0 && len(b.UserGroupServicesAccess) == 0:
		return nil, apierr.InvalidArgument("A new usergroup must have at least one service access")
	case id <= 0 && b.UserGroupName == nil:
		return nil, apierr.MissingArgument("Missing user_group_name")
	}
	svc := serviceID(ctx)
	for _, a := range b.UserGroupServicesAccess {
		switch {
		case a.IdServiceRole == nil && a.ServiceRoleName == nil:
			return nil, apierr.InvalidArgument("Missing service role name or id_service_role")
		case a.IdService != nil && a.GetIdService() != svc:
			return nil, apierr.Forbidden("Can't set access to service other than self")
		}
	}
	m := caller(ctx)
	g := &corev1.UserGroup{}
	err = s.write(ctx, func(tx store.DB) error {
		roles, err := s.groupServiceRoles(ctx, tx, m, svc, b.UserGroupServicesAccess)
		if err != nil {
			return err
		}
		if id <= 0 {
			id, err = store.InsertUserGroup(ctx, tx, m.acc, b.GetUserGroupName())
		} else {
			err = store.UpdateUserGroup(ctx, tx, m.acc, id, b.UserGroupName)
		}
		if err != nil {
			return orDenied(err, "Forbidden")
		}
		if len(roles) > 0 {
			if err := orSystem(store.SetGroupServiceRoles(ctx, tx, m.acc, id, roles), "Forbidden"); err != nil {
				return err
			}
		}
		g.IdUserGroup = id
		g.UserGroupName, err = store.UserGroupName(ctx, tx, id)
		return err
	})
	return reply(&corev1.SvcPostUserGroupResponse{UserGroup: g}, err)
}

// groupServiceRoles resolves a body's service accesses to roles of the service, with
// OpenTera's answers: a role by id must be the service's, on its sites and projects (403); a
// role by name is looked up on the site or project given, which must be the service's (403),
// and must exist (400). SetGroupServiceRoles checks the roles again in its statement.
func (s *serviceAPI) groupServiceRoles(ctx context.Context, db store.DB, m me, svc int32, list []*corev1.SvcUserGroupAccess) ([]int32, error) {
	if len(list) == 0 {
		return nil, nil
	}
	own, err := store.ListServiceRoles(ctx, db, m.acc, store.ServiceRoleFilter{IDService: &svc})
	if err != nil {
		return nil, err
	}
	out := make([]int32, 0, len(list))
	for _, a := range list {
		if a.IdServiceRole != nil {
			i := slices.IndexFunc(own, func(r store.ServiceRoleRow) bool { return r.IDServiceRole == a.GetIdServiceRole() })
			if i < 0 {
				return nil, apierr.Forbidden("Forbidden")
			}
			out = append(out, own[i].IDServiceRole)
			continue
		}
		for _, c := range []struct {
			id  *int32
			obj access.Object
			msg string
		}{{a.IdProject, access.Projects, "No access for at a least one project in the list"},
			{a.IdSite, access.Sites, "No access for at a least one site in the list"}} {
			if c.id == nil {
				continue
			}
			if ok, err := m.acc.Can(ctx, db, c.obj, *c.id); err != nil || !ok {
				return nil, orForbidden(ok, err, c.msg)
			}
		}
		i := slices.IndexFunc(own, func(r store.ServiceRoleRow) bool {
			return r.ServiceRoleName == a.GetServiceRoleName() && eqPtr(r.IDSite, a.IdSite) && eqPtr(r.IDProject, a.IdProject)
		})
		if i < 0 {
			return nil, apierr.InvalidArgument("Bad role name for service")
		}
		out = append(out, own[i].IDServiceRole)
	}
	return out, nil
}

func eqPtr(a, b *int32) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

func (s *serviceAPI) SvcDeleteUserGroup(ctx context.Context, r *corev1.SvcDeleteUserGroupRequest) (*corev1.SvcDeleteUserGroupResponse, error) {
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.Delete(ctx, tx, caller(ctx).acc, store.UserGroups, id), "Forbidden")
	})
	return reply(&corev1.SvcDeleteUserGroupResponse{}, err)
}
