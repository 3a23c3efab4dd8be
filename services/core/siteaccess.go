package core

import (
	"context"
	"errors"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/siteaccess and /api/user/projectaccess: one engine, two scopes.

type siteAccess struct {
	*Service
	corev1.UnimplementedSiteAccessServiceServer
}

type projectAccess struct {
	*Service
	corev1.UnimplementedProjectAccessServiceServer
}

// roleScope is the object kind of the roles: sites or projects.
type roleScope struct {
	site     bool
	name, id string
}

var (
	siteScope    = roleScope{site: true, name: "site", id: "id_site"}
	projectScope = roleScope{name: "project", id: "id_project"}
)

type accessQuery struct {
	idUser, idUserGroup, id            int32
	admins, byUsers, withEmpty, withUG bool
}

// roleUser is a by_users row with, asked for, the user's groups.
type roleUser struct {
	store.RoleUserRow
	userGroups *structpb.ListValue
}

// roleAccess reads the rows of a GET: groups or objects with roles, or (by_users, not by user)
// the members of the groups with their own role on each object.
func (s *Service) roleAccess(ctx context.Context, sc roleScope, q accessQuery) ([]store.RoleAccessRow, []roleUser, error) {
	m := caller(ctx)
	f := store.RoleAccessFilter{Site: sc.site, Admins: q.admins, WithEmpty: q.withEmpty}
	groups, objs := []int32{q.idUserGroup}, []int32{q.id}
	switch { // the last selector wins, as OpenTera
	case q.id != 0:
		f.ID, groups = &q.id, nil
	case q.idUserGroup != 0:
		f.IDUserGroup, objs = &q.idUserGroup, nil
	case q.idUser != 0:
		f.IDUser = &q.idUser
	}
	rows, err := store.ListRoleAccess(ctx, s.db, m.acc, f)
	if err != nil || !q.byUsers || f.IDUser != nil || (f.ID == nil && f.IDUserGroup == nil) {
		return rows, nil, err
	}
	for _, r := range rows {
		if f.ID != nil {
			groups = append(groups, *r.IDUserGroup)
		} else {
			objs = append(objs, *r.ID)
		}
	}
	members, err := store.ListRoleUsers(ctx, s.db, m.acc, sc.site, groups, objs)
	out := make([]roleUser, len(members))
	for i, u := range members {
		if q.admins && u.Role != nil && *u.Role != "admin" {
			u.Role, u.Inherited = nil, nil
		}
		out[i].RoleUserRow = u
		if q.withUG && err == nil {
			out[i].userGroups, err = s.memberGroups(ctx, m.acc, u.IDUser)
		}
	}
	return nil, out, err
}

// memberGroups is a user's groups in list form.
func (s *Service) memberGroups(ctx context.Context, sc access.Scope, id int32) (*structpb.ListValue, error) {
	rows, err := store.ListUserGroups(ctx, s.db, sc, store.UserGroupFilter{IDUser: &id})
	if err != nil {
		return nil, err
	}
	gs := make([]*corev1.UserGroup, len(rows))
	for i, g := range rows {
		gs[i] = &corev1.UserGroup{IdUserGroup: g.IDUserGroup, UserGroupName: g.UserGroupName}
	}
	return messageList(gs)
}

// inheritedValue is *_inherited: present when true; by_users always, true, false or null.
func inheritedValue(inh *bool, byUsers bool) *structpb.Value {
	switch {
	case inh != nil && (*inh || byUsers):
		return structpb.NewBoolValue(*inh)
	case byUsers:
		return structpb.NewNullValue()
	}
	return nil
}

func (s *siteAccess) GetSiteAccess(ctx context.Context, r *corev1.GetSiteAccessRequest) (*corev1.GetSiteAccessResponse, error) {
	if r.IdUser == 0 && r.IdUserGroup == 0 && r.IdSite == 0 && !r.Admins && !r.ByUsers && !r.WithUsergroups && !r.WithEmpty {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, users, err := s.roleAccess(ctx, siteScope, accessQuery{idUser: r.IdUser, idUserGroup: r.IdUserGroup, id: r.IdSite,
		admins: r.Admins, byUsers: r.ByUsers && r.IdUser == 0, withEmpty: r.WithEmpty, withUG: r.WithUsergroups})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := []*corev1.SiteAccess{}
	for _, a := range rows {
		x := &corev1.SiteAccess{SiteAccessRole: nullable(a.Role), SiteAccessInherited: inheritedValue(a.Inherited, false)}
		if a.IDUserGroup != nil {
			x.IdUserGroup, x.UserGroupName = a.IDUserGroup, a.UserGroupName
		} else {
			x.IdSite, x.SiteName, x.Site_2FaRequired = a.ID, a.Name, a.Flag
		}
		out = append(out, x)
	}
	for _, u := range users {
		out = append(out, &corev1.SiteAccess{IdUser: &u.IDUser, UserName: &u.UserName, UserEnabled: &u.UserEnabled, IdSite: &u.ID,
			SiteAccessRole: nullable(u.Role), SiteAccessInherited: inheritedValue(u.Inherited, true), UserGroups: u.userGroups})
	}
	return &corev1.GetSiteAccessResponse{SiteAccess: out}, nil
}

func (s *projectAccess) GetProjectAccess(ctx context.Context, r *corev1.GetProjectAccessRequest) (*corev1.GetProjectAccessResponse, error) {
	if r.IdUser == 0 && r.IdUserGroup == 0 && r.IdProject == 0 && !r.Admins && !r.ByUsers && !r.WithUsergroups && !r.WithEmpty && !r.WithSites {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, users, err := s.roleAccess(ctx, projectScope, accessQuery{idUser: r.IdUser, idUserGroup: r.IdUserGroup, id: r.IdProject,
		admins: r.Admins, byUsers: r.ByUsers && r.IdUser == 0, withEmpty: r.WithEmpty})
	var site *store.ProjectRow
	if err == nil && r.WithSites && r.IdProject != 0 {
		if p, e := store.GetProject(ctx, s.db, caller(ctx).acc, r.IdProject); e == nil {
			site = &p
		} else if !errors.Is(e, store.ErrNotFound) {
			err = e
		}
	}
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := []*corev1.ProjectAccess{}
	for _, a := range rows {
		x := &corev1.ProjectAccess{ProjectAccessRole: nullable(a.Role), ProjectAccessInherited: inheritedValue(a.Inherited, false),
			IdUserGroup: a.IDUserGroup, UserGroupName: a.UserGroupName}
		if a.IDUserGroup == nil {
			x.IdProject, x.ProjectName, x.ProjectEnabled, x.ProjectDescription = a.ID, a.Name, a.Flag, nullable(a.Descr)
		}
		if r.WithSites && a.IDUserGroup == nil {
			x.IdSite, x.SiteName = a.SiteID, a.SiteName
		}
		out = append(out, x)
	}
	for _, u := range users {
		out = append(out, &corev1.ProjectAccess{IdUser: &u.IDUser, UserName: &u.UserName, UserEnabled: &u.UserEnabled, IdProject: &u.ID,
			ProjectAccessRole: nullable(u.Role), ProjectAccessInherited: inheritedValue(u.Inherited, true)})
	}
	if site != nil {
		for _, x := range out {
			x.IdSite, x.SiteName = &site.IDSite, &site.SiteName
		}
	}
	return &corev1.GetProjectAccessResponse{ProjectAccess: out}, nil
}

// roleAccessItem is one {id_user_group, id_<scope>, <scope>_access_role | id_service_role} object.
type roleAccessItem struct {
	group, id, roleID int32
	role              string
	hasRole, hasID    bool
}

func parseAccessItems(v *structpb.Value, sc roleScope) ([]roleAccessItem, error) {
	if v == nil {
		return nil, apierr.MissingArgument("Missing " + sc.name + "_access")
	}
	var objs []*structpb.Value
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		objs = []*structpb.Value{v}
	case *structpb.Value_ListValue:
		objs = k.ListValue.GetValues()
	default:
		return nil, apierr.InvalidArgument("Invalid " + sc.name + "_access")
	}
	var out []roleAccessItem
	for _, o := range objs {
		st := o.GetStructValue()
		if st == nil {
			return nil, apierr.InvalidArgument("Invalid " + sc.name + "_access")
		}
		it, err := parseAccessItem(st.GetFields(), sc)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

// parseAccessItem reads one {id_user_group, id_<object>, <object>_access_role or
// id_service_role} item.
func parseAccessItem(f map[string]*structpb.Value, sc roleScope) (roleAccessItem, error) {
	var it roleAccessItem
	var has bool
	var err error
	if it.group, has, err = accessNumber(f, "id_user_group"); err != nil {
		return it, err
	} else if !has {
		return it, apierr.MissingArgument("Missing id_user_group")
	}
	if it.id, has, err = accessNumber(f, sc.id); err != nil {
		return it, err
	} else if !has {
		return it, apierr.MissingArgument("Missing " + sc.id)
	}
	if r, ok := f[sc.name+"_access_role"]; ok {
		sv, isStr := r.GetKind().(*structpb.Value_StringValue)
		if !isStr || !validRole(sv.StringValue) {
			return it, apierr.InvalidArgument("Invalid role name or id for that " + sc.name)
		}
		it.role, it.hasRole = sv.StringValue, true
	}
	if it.roleID, it.hasID, err = accessNumber(f, "id_service_role"); err != nil {
		return it, err
	}
	if !it.hasRole && !it.hasID {
		return it, apierr.MissingArgument("Missing role name or id")
	}
	return it, nil
}

// accessNumber is the whole number under key and whether the item has the key.
func accessNumber(f map[string]*structpb.Value, key string) (int32, bool, error) {
	x, ok := f[key]
	if !ok {
		return 0, false, nil
	}
	n, isNum := x.GetKind().(*structpb.Value_NumberValue)
	if !isNum || n.NumberValue != float64(int32(n.NumberValue)) {
		return 0, true, apierr.InvalidArgument("Invalid " + key)
	}
	return int32(n.NumberValue), true, nil
}

// writeAccess writes the items and returns the access rows written.
func (s *Service) writeAccess(ctx context.Context, sc roleScope, v *structpb.Value) ([]store.RoleAccessWritten, error) {
	m := caller(ctx)
	items, err := parseAccessItems(v, sc)
	if err != nil {
		return nil, err
	}
	var rows []store.RoleAccessWritten
	err = s.write(ctx, func(tx store.DB) error {
		var written []int32
		for _, it := range items {
			id, err := setAccessItem(ctx, tx, m.acc, sc, it)
			if err != nil {
				return err
			}
			if id != 0 {
				written = append(written, id)
			}
		}
		rows, err = store.ListRoleAccessWritten(ctx, tx, m.acc, written)
		return err
	})
	return rows, err
}

// postAccess is a POST of the scope: the access rows written as OpenTera's objects (the service
// access row with its role, and the old API's id_<scope>_access and <scope>_access_role).
func postAccess[M message](ctx context.Context, s *Service, sc roleScope, v *structpb.Value, newM func() M) ([]M, error) {
	rows, err := s.writeAccess(ctx, sc, v)
	out := make([]M, len(rows))
	for i, x := range rows {
		if out[i] = newM(); err == nil {
			err = messageFrom(map[string]any{"id_" + sc.name + "_access": x.ID, "id_service_access": x.ID, "id_user_group": x.IDUserGroup,
				"id_service_role": x.IDServiceRole, "id_service": x.IDService, sc.id: x.ObjectID, "service_role_name": x.RoleName,
				"user_group_name": x.UserGroupName, sc.name + "_access_role": x.RoleName}, out[i])
		}
	}
	return out, err
}

// setAccessItem gives the item's group its role on the item's object, which the caller must
// administer, and returns the access row holding it (0 when the role was removed).
func setAccessItem(ctx context.Context, tx store.DB, sc access.Scope, kind roleScope, it roleAccessItem) (int32, error) {
	o := store.RoleObject{Site: kind.site, ID: it.id}
	if ok, err := store.CanAdministerRoleObject(ctx, tx, sc, o); err != nil || !ok {
		return 0, orForbidden(ok, err, "Forbidden")
	}
	role := it.role
	if it.hasID {
		role = ""
		if it.roleID != 0 {
			var err error
			if role, err = store.RoleName(ctx, tx, o, it.roleID); errors.Is(err, store.ErrNotFound) {
				return 0, apierr.InvalidArgument("Invalid role name or id for that " + kind.name)
			} else if err != nil {
				return 0, err
			}
		}
	}
	if kind.site && role == "user" {
		// A "user" site role already comes from the group's project roles there: keep it implicit.
		implied, err := store.GroupHasProjectRoleOnSite(ctx, tx, it.group, it.id)
		if err != nil {
			return 0, err
		}
		if implied {
			role = ""
		}
	}
	id, err := store.SetGroupRole(ctx, tx, it.group, o, role)
	return id, noSuchRole(err, o)
}

func (s *siteAccess) PostSiteAccess(ctx context.Context, r *corev1.PostSiteAccessRequest) (*corev1.PostSiteAccessResponse, error) {
	out, err := postAccess(ctx, s.Service, siteScope, r.SiteAccess, func() *corev1.SiteAccess { return &corev1.SiteAccess{} })
	return reply(&corev1.PostSiteAccessResponse{SiteAccess: out}, err)
}

func (s *projectAccess) PostProjectAccess(ctx context.Context, r *corev1.PostProjectAccessRequest) (*corev1.PostProjectAccessResponse, error) {
	out, err := postAccess(ctx, s.Service, projectScope, r.ProjectAccess, func() *corev1.ProjectAccess { return &corev1.ProjectAccess{} })
	return reply(&corev1.PostProjectAccessResponse{ProjectAccess: out}, err)
}

// deleteAccess removes one access row of the scope; the caller must administer its object.
func (s *Service) deleteAccess(ctx context.Context, sc roleScope, id *int32) error {
	if id == nil {
		return apierr.MissingArgument("Missing id")
	}
	return s.write(ctx, func(tx store.DB) error {
		err := store.DeleteRoleAccess(ctx, tx, caller(ctx).acc, sc.site, *id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return apierr.InvalidArgument("No " + sc.name + " access to delete")
		case errors.Is(err, store.ErrForbidden):
			return apierr.Forbidden("Forbidden")
		}
		return err
	})
}

func (s *siteAccess) DeleteSiteAccess(ctx context.Context, r *corev1.DeleteSiteAccessRequest) (*corev1.DeleteSiteAccessResponse, error) {
	if err := s.deleteAccess(ctx, siteScope, r.Id); err != nil {
		return nil, err
	}
	return &corev1.DeleteSiteAccessResponse{}, nil
}

func (s *projectAccess) DeleteProjectAccess(ctx context.Context, r *corev1.DeleteProjectAccessRequest) (*corev1.DeleteProjectAccessResponse, error) {
	if err := s.deleteAccess(ctx, projectScope, r.Id); err != nil {
		return nil, err
	}
	return &corev1.DeleteProjectAccessResponse{}, nil
}
