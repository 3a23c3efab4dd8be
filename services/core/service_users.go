package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/service/users, /api/service/users/access and /api/service/usergroups

func (s *serviceAPI) SvcGetUsers(ctx context.Context, r *corev1.SvcGetUsersRequest) (*corev1.SvcGetUsersResponse, error) {
	if r.UserUuid == "" && r.IdUser == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	// The user API's query, scoped to the service's users (id_user is also declared).
	res, err := (&users{Service: s.Service}).GetUsers(ctx, &corev1.GetUsersRequest{UserUuid: r.UserUuid, IdUser: r.IdUser})
	if err != nil {
		return nil, err
	}
	if len(res.Users) == 0 {
		return nil, apierr.Forbidden("Service doesn't have permission to access the requested data")
	}
	return &corev1.SvcGetUsersResponse{User: res.Users[0]}, nil
}

func (s *serviceAPI) SvcGetUserAccess(ctx context.Context, r *corev1.SvcGetUserAccessRequest) (*corev1.SvcGetUserAccessResponse, error) {
	key, fn, col, obj, id := "project_role", "core.user_project_roles", "id_project", access.Projects, r.IdProject
	switch {
	case r.UuidUser == "":
		return nil, apierr.MissingArgument("Missing uuid_user")
	case r.IdProject == 0 && r.IdSite == 0:
		return nil, apierr.MissingArgument("Missing arguments")
	case r.IdProject == 0:
		key, fn, col, obj, id = "site_role", "core.user_site_roles", "id_site", access.Sites, r.IdSite
	}
	m := caller(ctx)
	users, objects := m.acc.Users(), m.acc.IDs(obj)
	var role *string
	err := s.db.QueryRow(ctx, `SELECT ur.role FROM core.t_users u, `+fn+`(u.id_user) ur
		WHERE u.user_uuid = @uuid AND u.deleted_at IS NULL AND u.id_user IN (`+users.SQL+`)
		  AND ur.`+col+` = @id AND @id IN (`+objects.SQL+`)`,
		users.With(pgx.NamedArgs{"uuid": r.UuidUser, "id": id})).Scan(&role)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.SvcGetUserAccessResponse{Access: &structpb.Struct{Fields: map[string]*structpb.Value{key: nullable(role)}}}, nil
}

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
		where += ` AND g.id_user_group IN (SELECT sa.id_user_group FROM core.t_services_access sa
		    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
		    JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
		   WHERE sa.deleted_at IS NULL AND (sr.id_project = @project OR sr.service_role_name = 'admin'
		         AND sr.id_site = (SELECT p.id_site FROM core.t_projects p WHERE p.id_project = @project)))`
	case r.IdSite != 0:
		if err := s.require(ctx, s.db, m, access.Sites, r.IdSite, false, "Forbidden"); err != nil {
			return nil, err
		}
		// A role on the site or on one of its projects (OpenTera's get_sites_roles).
		where += ` AND g.id_user_group IN (SELECT sa.id_user_group FROM core.t_services_access sa
		    JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
		    JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
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
