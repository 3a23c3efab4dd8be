package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
)

// /api/user/services/roles

type serviceRoles struct {
	*Service
	corev1.UnimplementedServiceRoleServiceServer
}

// queryRoles reads live roles of live services matching where (over alias r). A role scoped to
// a site or a project the caller cannot see is left out: it would name that site or project
// (OpenTera lists them all).
func queryRoles(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args pgx.NamedArgs, list bool) ([]*corev1.ServiceRole, error) {
	m := caller(ctx)
	sf, pf := m.acc.Sites(), m.acc.Projects()
	args = pf.With(sf.With(args))
	where += " AND (r.id_site IS NULL OR r.id_site IN (" + sf.SQL + ")) AND (r.id_project IS NULL OR r.id_project IN (" + pf.SQL + "))"
	rows, err := q.Query(ctx, `SELECT r.id_service_role, r.id_service, r.id_project, r.id_site, r.service_role_name,
		       s.service_name, st.site_name, p.project_name
		  FROM core.t_services_roles r
		  JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
		  LEFT JOIN core.t_sites st ON st.id_site = r.id_site
		  LEFT JOIN core.t_projects p ON p.id_project = r.id_project
		 WHERE r.deleted_at IS NULL AND `+where+` ORDER BY r.id_service_role`, args)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.ServiceRole, error) {
		sr := &corev1.ServiceRole{}
		var svc string
		var site, proj *string
		if err := row.Scan(&sr.IdServiceRole, &sr.IdService, &sr.IdProject, &sr.IdSite, &sr.ServiceRoleName, &svc, &site, &proj); err != nil {
			return nil, err
		}
		if !list {
			sr.ServiceName = &svc
			sr.SiteName, sr.ProjectName = site, proj
		}
		return sr, nil
	})
}

func (s *serviceRoles) GetServiceRoles(ctx context.Context, r *corev1.GetServiceRolesRequest) (*corev1.GetServiceRolesResponse, error) {
	m := caller(ctx)
	f := m.acc.Services()
	args := f.With(nil)
	// OpenTera leaves out OpenTeraServer's site and project roles only when asked for that
	// service by id; the full list carries them.
	where := "r.id_service IN (" + f.SQL + ")"
	if r.IdService != 0 {
		where += " AND r.id_service = @id AND s.service_key <> 'OpenTeraServer'"
		args["id"] = r.IdService
	}
	if r.Globals {
		where += " AND r.id_site IS NULL AND r.id_project IS NULL"
	}
	out, err := queryRoles(ctx, s.db, where, args, r.List)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetServiceRolesResponse{ServiceRoles: out}, nil
}

func (s *serviceRoles) PostServiceRole(ctx context.Context, r *corev1.PostServiceRoleRequest) (*corev1.PostServiceRoleResponse, error) {
	b := r.GetServiceRole()
	if b == nil {
		return nil, apierr.MissingArgument("Missing service_role")
	}
	if b.IdServiceRole == nil {
		return nil, apierr.MissingArgument("Missing id_service_role")
	}
	if b.ServiceRoleName != nil && (strings.TrimSpace(*b.ServiceRoleName) == "" || len(*b.ServiceRoleName) > 100) {
		return nil, apierr.InvalidArgument("Invalid service_role_name")
	}
	id := b.GetIdServiceRole()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if id > 0 {
			var svc int32
			var key string
			err := tx.QueryRow(ctx, `SELECT r.id_service, s.service_key FROM core.t_services_roles r
				JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
				WHERE r.id_service_role = $1 AND r.deleted_at IS NULL`, id).Scan(&svc, &key)
			if err == pgx.ErrNoRows || key == "OpenTeraServer" {
				return apierr.Forbidden("Forbidden")
			} else if err != nil {
				return err
			}
			if b.IdService != nil && *b.IdService != svc {
				return apierr.InvalidArgument("Invalid id_service: a role cannot change service")
			}
			if b.ServiceRoleName != nil {
				_, err = tx.Exec(ctx, "UPDATE core.t_services_roles SET service_role_name = $2 WHERE id_service_role = $1", id, *b.ServiceRoleName)
			}
			return err
		}
		if b.IdService == nil {
			return apierr.MissingArgument("Missing fields: ['id_service']")
		}
		if b.ServiceRoleName == nil {
			return apierr.MissingArgument("Missing fields: ['service_role_name']")
		}
		var key string
		err := tx.QueryRow(ctx, "SELECT service_key FROM core.t_services WHERE id_service = $1 AND deleted_at IS NULL", *b.IdService).Scan(&key)
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("Invalid id_service")
		} else if err != nil {
			return err
		}
		if key == "OpenTeraServer" {
			return apierr.Forbidden("Forbidden")
		}
		if b.IdSite != nil && b.IdProject != nil {
			return apierr.InvalidArgument("A role is either for a site or for a project")
		}
		return tx.QueryRow(ctx, `INSERT INTO core.t_services_roles (id_service, service_role_name, id_site, id_project)
			VALUES ($1, $2, $3, $4) RETURNING id_service_role`, *b.IdService, *b.ServiceRoleName, b.IdSite, b.IdProject).Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	out, err := queryRoles(ctx, s.db, "r.id_service_role = @id", pgx.NamedArgs{"id": id}, false)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostServiceRoleResponse{ServiceRoles: out}, nil
}

func (s *serviceRoles) DeleteServiceRole(ctx context.Context, r *corev1.DeleteServiceRoleRequest) (*corev1.DeleteServiceRoleResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var key string
		err := tx.QueryRow(ctx, `SELECT s.service_key FROM core.t_services_roles r JOIN core.t_services s ON s.id_service = r.id_service
			WHERE r.id_service_role = $1 AND r.deleted_at IS NULL`, r.GetId()).Scan(&key)
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("Invalid service role")
		} else if err != nil {
			return err
		}
		if key == "OpenTeraServer" {
			return apierr.Forbidden("Forbidden")
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_services_roles SET deleted_at = now() WHERE id_service_role = $1", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceRoleResponse{}, nil
}
