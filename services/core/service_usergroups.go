package core

import (
	"context"
	"slices"
	"strings"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/usergroups (writes) and /api/service/serviceaccess (writes): user groups and
// assignments of the calling service's own roles. The service is the caller of the user API's
// store writes, whose SQL scopes it to its roles, sites and projects.

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
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostUserGroupResponse{UserGroup: g}, nil
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
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.write(ctx, func(tx store.DB) error {
		return orDenied(store.Delete(ctx, tx, caller(ctx).acc, store.UserGroups, *r.Id), "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcDeleteUserGroupResponse{}, nil
}

func (s *serviceAPI) SvcPostServiceAccess(ctx context.Context, r *corev1.SvcPostServiceAccessRequest) (*corev1.SvcPostServiceAccessResponse, error) {
	res, err := (&serviceAccess{Service: s.Service}).PostServiceAccess(ctx, &corev1.PostServiceAccessRequest{ServiceAccess: r.ServiceAccess})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostServiceAccessResponse{ServiceAccess: res.ServiceAccess}, nil
}

func (s *serviceAPI) SvcDeleteServiceAccess(ctx context.Context, r *corev1.SvcDeleteServiceAccessRequest) (*corev1.SvcDeleteServiceAccessResponse, error) {
	return &corev1.SvcDeleteServiceAccessResponse{}, s.deleteRow(ctx, r.Id, "Not found", "Forbidden", store.DeleteServiceAccess)
}
