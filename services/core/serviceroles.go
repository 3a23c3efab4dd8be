package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/services/roles

type serviceRoles struct {
	*Service
	corev1.UnimplementedServiceRoleServiceServer
}

// serviceRoleProto is a row as OpenTera's role JSON (list: without the names).
func serviceRoleProto(r store.ServiceRoleRow, list bool) *corev1.ServiceRole {
	sr := &corev1.ServiceRole{IdServiceRole: r.IDServiceRole, IdService: r.IDService, IdProject: r.IDProject,
		IdSite: r.IDSite, ServiceRoleName: r.ServiceRoleName}
	if !list {
		sr.ServiceName, sr.SiteName, sr.ProjectName = &r.ServiceName, r.SiteName, r.ProjectName
	}
	return sr
}

// listRoles reads roles as their JSON.
func (s *Service) listRoles(ctx context.Context, f store.ServiceRoleFilter, list bool) ([]*corev1.ServiceRole, error) {
	rows, err := store.ListServiceRoles(ctx, s.db, caller(ctx).acc, f)
	return mapRows(ctx, s, rows, err, func(r store.ServiceRoleRow) *corev1.ServiceRole { return serviceRoleProto(r, list) })
}

// deleteRow answers a DELETE ?id= through a store delete: no id is 400, no such row 400 with
// notFound, a row outside the caller's write scope 403 with denied.
func (s *Service) deleteRow(ctx context.Context, id *int32, notFound, denied string,
	del func(ctx context.Context, db store.DB, scope access.Scope, id int32) error) error {
	return s.deleteByID(ctx, id, func(tx pgx.Tx, id int32) error {
		err := orErr(del(ctx, tx, caller(ctx).acc, id), store.ErrNotFound, apierr.InvalidArgument(notFound))
		return orSystem(err, denied)
	})
}

func (s *serviceRoles) GetServiceRoles(ctx context.Context, r *corev1.GetServiceRolesRequest) (*corev1.GetServiceRolesResponse, error) {
	// OpenTera leaves out OpenTeraServer's site and project roles only when asked for that
	// service by id; the full list carries them.
	f := store.ServiceRoleFilter{Globals: r.Globals}
	if r.IdService != 0 {
		f.IDService = &r.IdService
	}
	out, err := s.listRoles(ctx, f, r.List)
	return &corev1.GetServiceRolesResponse{ServiceRoles: out}, err
}

func (s *serviceRoles) PostServiceRole(ctx context.Context, r *corev1.PostServiceRoleRequest) (*corev1.PostServiceRoleResponse, error) {
	b := r.GetServiceRole()
	if err := missingBody(b != nil, b != nil && b.IdServiceRole != nil, "service_role"); err != nil {
		return nil, err
	}
	if b.ServiceRoleName != nil && (strings.TrimSpace(*b.ServiceRoleName) == "" || len(*b.ServiceRoleName) > 100) {
		return nil, apierr.InvalidArgument("Invalid service_role_name")
	}
	id := b.GetIdServiceRole()
	p := store.ServiceRolePatch{IDService: b.IdService, Name: b.ServiceRoleName, IDSite: b.IdSite, IDProject: b.IdProject}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if id > 0 {
			err := store.UpdateServiceRole(ctx, tx, caller(ctx).acc, id, p)
			if errors.Is(err, store.ErrRefused) {
				return apierr.InvalidArgument("Invalid id_service: a role cannot change service")
			}
			return orDenied(err, "Forbidden")
		}
		switch {
		case b.IdService == nil:
			return apierr.MissingArgument("Missing fields: ['id_service']")
		case b.ServiceRoleName == nil:
			return apierr.MissingArgument("Missing fields: ['service_role_name']")
		case b.IdSite != nil && b.IdProject != nil:
			return apierr.InvalidArgument("A role is either for a site or for a project")
		}
		var err error
		id, err = store.InsertServiceRole(ctx, tx, caller(ctx).acc, p)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid id_service")
		}
		return orSystem(err, "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	out, err := s.listRoles(ctx, store.ServiceRoleFilter{IDServiceRole: &id}, false)
	return &corev1.PostServiceRoleResponse{ServiceRoles: out}, err
}

func (s *serviceRoles) DeleteServiceRole(ctx context.Context, r *corev1.DeleteServiceRoleRequest) (*corev1.DeleteServiceRoleResponse, error) {
	return &corev1.DeleteServiceRoleResponse{}, s.deleteRow(ctx, r.Id, "Invalid service role", "Forbidden", store.DeleteServiceRole)
}

// orSystem answers a write refused on a system service (or OpenTeraServer) with 403 and msg.
func orSystem(err error, msg string) error {
	if errors.Is(err, store.ErrRefused) {
		return apierr.Forbidden(msg)
	}
	return err
}

// ---- /api/service/roles: the calling service's own roles.

func (s *serviceAPI) SvcGetRoles(ctx context.Context, _ *corev1.SvcGetRolesRequest) (*corev1.SvcGetRolesResponse, error) {
	svc := serviceID(ctx)
	out, err := s.listRoles(ctx, store.ServiceRoleFilter{IDService: &svc}, true)
	return reply(&corev1.SvcGetRolesResponse{ServiceRoles: out}, err)
}

func (s *serviceAPI) SvcPostRole(ctx context.Context, r *corev1.SvcPostRoleRequest) (*corev1.SvcPostRoleResponse, error) {
	b := r.GetServiceRole()
	if _, err := bodyKey(b, func(b *corev1.SvcRoleBody) *int32 { return b.IdServiceRole }, "service_role field", "id_service_role"); err != nil {
		return nil, err
	}
	switch {
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
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.DeleteOwnServiceRole(ctx, tx, serviceID(ctx), id), "Forbidden")
	})
	return reply(&corev1.SvcDeleteRoleResponse{}, err)
}
