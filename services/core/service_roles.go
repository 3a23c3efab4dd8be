package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/roles and /api/service/serviceaccess: the calling service's own roles and their
// assignments.

func (s *serviceAPI) SvcGetRoles(ctx context.Context, _ *corev1.SvcGetRolesRequest) (*corev1.SvcGetRolesResponse, error) {
	svc := serviceID(ctx)
	out, err := s.listRoles(ctx, store.ServiceRoleFilter{IDService: &svc}, true)
	if err != nil {
		return nil, err
	}
	return &corev1.SvcGetRolesResponse{ServiceRoles: out}, nil
}

func (s *serviceAPI) SvcPostRole(ctx context.Context, r *corev1.SvcPostRoleRequest) (*corev1.SvcPostRoleResponse, error) {
	b := r.GetServiceRole()
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing service_role field")
	case b.IdServiceRole == nil:
		return nil, apierr.MissingArgument("Missing id_service_role")
	case b.ServiceRoleName != nil && (strings.TrimSpace(*b.ServiceRoleName) == "" || len(*b.ServiceRoleName) > 100):
		return nil, apierr.InvalidArgument("Invalid service_role_name")
	case b.GetIdServiceRole() == 0 && b.ServiceRoleName == nil:
		return nil, apierr.MissingArgument("Missing fields: ['service_role_name']")
	case b.IdSite != nil && b.IdProject != nil:
		return nil, apierr.InvalidArgument("A role is either for a site or for a project")
	}
	m := caller(ctx)
	sites, projects := m.acc.Sites(), m.acc.Projects()
	args := projects.With(sites.With(pgx.NamedArgs{"svc": serviceID(ctx), "id": b.GetIdServiceRole(),
		"name": b.ServiceRoleName, "site": b.IdSite, "project": b.IdProject}))
	id := b.GetIdServiceRole()
	var sql string
	if id == 0 {
		// On a site or project of the service only (OpenTera takes any).
		sql = `INSERT INTO core.t_services_roles (id_service, service_role_name, id_site, id_project)
			SELECT @svc, @name, @site, @project
			 WHERE (@site::integer IS NULL OR @site IN (` + sites.SQL + `))
			   AND (@project::integer IS NULL OR @project IN (` + projects.SQL + `))
			RETURNING id_service_role`
	} else {
		// Only the service's own roles, and only their name: OpenTera's update would move
		// another service's role to the caller.
		sql = `UPDATE core.t_services_roles SET service_role_name = coalesce(@name, service_role_name)
			WHERE id_service_role = @id AND id_service = @svc AND deleted_at IS NULL RETURNING id_service_role`
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, sql, args).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return apierr.Forbidden("Forbidden")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := s.listRoles(ctx, store.ServiceRoleFilter{IDServiceRole: &id}, true)
	if err != nil || len(out) == 0 {
		return nil, errOr(err, s.internal(ctx, store.ErrNotFound))
	}
	return &corev1.SvcPostRoleResponse{ServiceRole: out[0]}, nil
}

func (s *serviceAPI) SvcDeleteRole(ctx context.Context, r *corev1.SvcDeleteRoleRequest) (*corev1.SvcDeleteRoleResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE core.t_services_roles SET deleted_at = now()
			WHERE id_service_role = $1 AND id_service = $2 AND deleted_at IS NULL`, r.GetId(), serviceID(ctx))
		if err == nil && tag.RowsAffected() == 0 {
			return apierr.Forbidden("Forbidden")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcDeleteRoleResponse{}, nil
}

func (s *serviceAPI) SvcGetServiceAccess(ctx context.Context, r *corev1.SvcGetServiceAccessRequest) (*corev1.SvcGetServiceAccessResponse, error) {
	if r.IdUserGroup == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	svc := serviceID(ctx)
	out, err := s.listServiceAccess(ctx, store.ServiceAccessFilter{IDUserGroup: &r.IdUserGroup, IDService: &svc})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcGetServiceAccessResponse{ServiceAccess: out}, nil
}
