package core

import (
	"context"
	"errors"
	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
	"strings"
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
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	// Admins of a site the group has a role on (directly or through one of its projects).
	err := s.write(ctx, func(tx store.DB) error {
		return orDenied(store.Delete(ctx, tx, caller(ctx).acc.AdminOnly().SiteWide(), store.UserGroups, *r.Id), "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteUserGroupResponse{}, nil
}
