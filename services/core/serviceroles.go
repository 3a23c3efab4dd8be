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
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.ServiceRole, len(rows))
	for i, r := range rows {
		out[i] = serviceRoleProto(r, list)
	}
	return out, nil
}

func (s *serviceRoles) GetServiceRoles(ctx context.Context, r *corev1.GetServiceRolesRequest) (*corev1.GetServiceRolesResponse, error) {
	// OpenTera leaves out OpenTeraServer's site and project roles only when asked for that
	// service by id; the full list carries them.
	f := store.ServiceRoleFilter{Globals: r.Globals}
	if r.IdService != 0 {
		f.IDService = &r.IdService
	}
	out, err := s.listRoles(ctx, f, r.List)
	if err != nil {
		return nil, err
	}
	return &corev1.GetServiceRolesResponse{ServiceRoles: out}, nil
}

func (s *serviceRoles) PostServiceRole(ctx context.Context, r *corev1.PostServiceRoleRequest) (*corev1.PostServiceRoleResponse, error) {
	b := r.GetServiceRole()
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing service_role")
	case b.IdServiceRole == nil:
		return nil, apierr.MissingArgument("Missing id_service_role")
	case b.ServiceRoleName != nil && (strings.TrimSpace(*b.ServiceRoleName) == "" || len(*b.ServiceRoleName) > 100):
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
	if err != nil {
		return nil, err
	}
	return &corev1.PostServiceRoleResponse{ServiceRoles: out}, nil
}

func (s *serviceRoles) DeleteServiceRole(ctx context.Context, r *corev1.DeleteServiceRoleRequest) (*corev1.DeleteServiceRoleResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := store.DeleteServiceRole(ctx, tx, caller(ctx).acc, r.GetId())
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid service role")
		}
		return orSystem(err, "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceRoleResponse{}, nil
}

// orSystem answers a write refused on a system service (or OpenTeraServer) with 403 and msg.
func orSystem(err error, msg string) error {
	if errors.Is(err, store.ErrRefused) {
		return apierr.Forbidden(msg)
	}
	return err
}
