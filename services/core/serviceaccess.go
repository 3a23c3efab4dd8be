package core

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/services/access: service roles held by user groups, devices and participant groups.

type serviceAccess struct {
	*Service
	corev1.UnimplementedServiceAccessServiceServer
}

// holders are the columns of t_services_access naming who holds a role, with the object kind
// whose access rules decide who may see or administer it.
var accessHolders = []struct {
	col string
	obj access.Object
}{
	{"id_user_group", access.UserGroups},
	{"id_device", access.Devices},
	{"id_participant_group", access.ParticipantGroups},
}

// queryServiceAccess reads assignments matching where (over alias sa; role r, service s),
// deleted ones included when withDeleted (the POST answer lists removed assignments).
func queryServiceAccess(ctx context.Context, q access.Querier, where string, args pgx.NamedArgs, withDeleted bool) ([]*corev1.ServiceAccess, error) {
	live := "sa.deleted_at IS NULL AND r.deleted_at IS NULL AND "
	if withDeleted {
		live = ""
	}
	rows, err := q.Query(ctx, `SELECT sa.id_service_access, sa.id_user_group, sa.id_device, sa.id_participant_group,
		       r.id_service_role, r.id_service, r.id_site, r.id_project, r.service_role_name, s.service_name, s.service_key,
		       st.site_name, p.project_name, g.user_group_name, d.device_name, pg.participant_group_name
		  FROM core.t_services_access sa
		  JOIN core.t_services_roles r ON r.id_service_role = sa.id_service_role
		  JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
		  LEFT JOIN core.t_sites st ON st.id_site = r.id_site
		  LEFT JOIN core.t_projects p ON p.id_project = r.id_project
		  LEFT JOIN core.t_users_groups g ON g.id_user_group = sa.id_user_group
		  LEFT JOIN core.t_devices d ON d.id_device = sa.id_device
		  LEFT JOIN core.t_participants_groups pg ON pg.id_participant_group = sa.id_participant_group
		 WHERE `+live+where+` ORDER BY r.id_service, sa.id_service_access`, args)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.ServiceAccess, error) {
		a := &corev1.ServiceAccess{}
		err := row.Scan(&a.IdServiceAccess, &a.IdUserGroup, &a.IdDevice, &a.IdParticipantGroup,
			&a.IdServiceRole, &a.IdService, &a.IdSite, &a.IdProject, &a.ServiceRoleName, &a.ServiceName, &a.ServiceKey,
			&a.SiteName, &a.ProjectName, &a.UserGroupName, &a.DeviceName, &a.ParticipantGroupName)
		a.ServiceAccessRoleName = a.ServiceRoleName
		if a.IdUserGroup == nil {
			a.UserGroupName = nil
		}
		if a.IdDevice == nil {
			a.DeviceName = nil
		}
		if a.IdParticipantGroup == nil {
			a.ParticipantGroupName = nil
		}
		return a, err
	})
}

// visibleAccess restricts assignments (alias sa, role r) to services and holders the caller
// can see.
func visibleAccess(m me, args pgx.NamedArgs) (string, pgx.NamedArgs) {
	sf := m.acc.Services()
	args = sf.With(args)
	where := "r.id_service IN (" + sf.SQL + ")"
	for _, h := range accessHolders {
		f := m.acc.IDs(h.obj)
		args = f.With(args)
		where += " AND (sa." + h.col + " IS NULL OR sa." + h.col + " IN (" + f.SQL + "))"
	}
	return where, args
}

func (s *serviceAccess) GetServiceAccess(ctx context.Context, r *corev1.GetServiceAccessRequest) (*corev1.GetServiceAccessResponse, error) {
	m := caller(ctx)
	where, args := visibleAccess(m, pgx.NamedArgs{})
	switch {
	case r.IdUserGroup != 0:
		where, args["sel"] = where+" AND sa.id_user_group = @sel", r.IdUserGroup
	case r.IdUser != 0:
		uf := m.acc.Users()
		args = uf.With(args)
		where += ` AND @sel IN (` + uf.SQL + `) AND sa.id_user_group IN (SELECT uug.id_user_group FROM core.t_users_users_groups uug
			WHERE uug.id_user = @sel AND uug.deleted_at IS NULL)`
		args["sel"] = r.IdUser
	case r.IdParticipantGroup != 0:
		where, args["sel"] = where+" AND sa.id_participant_group = @sel", r.IdParticipantGroup
	case r.IdDevice != 0:
		where, args["sel"] = where+" AND sa.id_device = @sel", r.IdDevice
	case r.IdService != 0:
		where, args["sel"] = where+" AND r.id_service = @sel", r.IdService
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	out, err := queryServiceAccess(ctx, s.db, where, args, false)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetServiceAccessResponse{ServiceAccess: out}, nil
}

// svcAccessItem is one entry of a {"service_access": …} body.
type svcAccessItem struct {
	id         int32
	role       int32 // 0: none given (or "")
	hasRole    bool
	holderCol  string
	holderObj  access.Object
	holderID   int32
	holderSeen bool
}

func parseServiceAccessItems(v *structpb.Value) ([]svcAccessItem, error) {
	var items []*structpb.Value
	switch k := v.GetKind().(type) {
	case *structpb.Value_StructValue:
		items = []*structpb.Value{v}
	case *structpb.Value_ListValue:
		items = k.ListValue.Values
	default:
		return nil, apierr.MissingArgument("Missing service_access")
	}
	out := make([]svcAccessItem, 0, len(items))
	for _, it := range items {
		st := it.GetStructValue()
		if st == nil {
			return nil, apierr.InvalidArgument("Badly formatted request")
		}
		var a svcAccessItem
		if _, has := st.Fields["id_service_access"]; !has {
			return nil, apierr.MissingArgument("Missing id_service_access")
		}
		id, ok := intField(st, "id_service_access")
		if !ok || id < 0 {
			return nil, apierr.InvalidArgument("Invalid id_service_access")
		}
		a.id = id
		for _, h := range accessHolders {
			hv, has := st.Fields[h.col]
			if !has {
				continue
			}
			if _, null := hv.GetKind().(*structpb.Value_NullValue); null {
				continue
			}
			if a.holderSeen {
				return nil, apierr.InvalidArgument("Can't combine id_user_group, id_participant_group and id_device in request")
			}
			n, ok := intField(st, h.col)
			if !ok || n <= 0 {
				return nil, apierr.InvalidArgument("Invalid " + h.col)
			}
			a.holderSeen, a.holderCol, a.holderObj, a.holderID = true, h.col, h.obj, n
		}
		if rv, has := st.Fields["id_service_role"]; has {
			switch k := rv.GetKind().(type) {
			case *structpb.Value_StringValue:
				if k.StringValue != "" {
					return nil, apierr.InvalidArgument("Invalid id_service_role")
				}
			case *structpb.Value_NullValue:
			default:
				n, ok := intField(st, "id_service_role")
				if !ok || n <= 0 {
					return nil, apierr.InvalidArgument("Invalid id_service_role")
				}
				a.role, a.hasRole = n, true
			}
		}
		if a.id == 0 {
			if !a.hasRole {
				return nil, apierr.MissingArgument("Missing id_service_role")
			}
			if !a.holderSeen {
				return nil, apierr.MissingArgument("Missing at least one id field")
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// canAdminAccess checks that the caller administers an assignment's holder, the service of its
// role and, for a role scoped to a site or a project, that site or project: administering a
// service on one site must not hand out its roles on another (OpenTera checks the service only).
func (s *Service) canAdminAccess(ctx context.Context, tx pgx.Tx, m me, obj access.Object, holder, role int32) error {
	if err := s.require(ctx, tx, m, obj, holder, true, "Forbidden"); err != nil {
		return err
	}
	var svc int32
	var site, project *int32
	err := tx.QueryRow(ctx, `SELECT r.id_service, r.id_site, r.id_project FROM core.t_services_roles r
		JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
		WHERE r.id_service_role = $1 AND r.deleted_at IS NULL`, role).Scan(&svc, &site, &project)
	if err == pgx.ErrNoRows {
		return apierr.InvalidArgument("Bad id_service_role")
	} else if err != nil {
		return err
	}
	if err := s.require(ctx, tx, m, access.Services, svc, true, "Forbidden"); err != nil {
		return err
	}
	if site != nil {
		if err := s.require(ctx, tx, m, access.Sites, *site, true, "Forbidden"); err != nil {
			return err
		}
	}
	if project != nil {
		return s.require(ctx, tx, m, access.Projects, *project, true, "Forbidden")
	}
	return nil
}

// existingAccess reads a live assignment's holder and role.
func existingAccess(ctx context.Context, tx pgx.Tx, id int32) (col string, obj access.Object, holder, role int32, err error) {
	var ug, dev, pg *int32
	err = tx.QueryRow(ctx, `SELECT id_user_group, id_device, id_participant_group, id_service_role
		FROM core.t_services_access WHERE id_service_access = $1 AND deleted_at IS NULL`, id).Scan(&ug, &dev, &pg, &role)
	if err != nil {
		return "", "", 0, 0, err
	}
	for i, p := range []*int32{ug, dev, pg} {
		if p != nil {
			return accessHolders[i].col, accessHolders[i].obj, *p, role, nil
		}
	}
	return "", "", 0, role, nil
}

func (s *serviceAccess) PostServiceAccess(ctx context.Context, r *corev1.PostServiceAccessRequest) (*corev1.PostServiceAccessResponse, error) {
	m := caller(ctx)
	if r.ServiceAccess == nil {
		return nil, apierr.MissingArgument("Missing service_access")
	}
	items, err := parseServiceAccessItems(r.ServiceAccess)
	if err != nil {
		return nil, err
	}
	var written []int32
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// Check every item first, as OpenTera does, then write.
		for i := range items {
			it := &items[i]
			if it.id > 0 {
				col, obj, holder, role, err := existingAccess(ctx, tx, it.id)
				if err == pgx.ErrNoRows {
					return apierr.Forbidden("Forbidden")
				} else if err != nil {
					return err
				}
				// The current assignment must be administered by the caller…
				if err := s.canAdminAccess(ctx, tx, m, obj, holder, role); err != nil {
					return err
				}
				if !it.holderSeen {
					it.holderCol, it.holderObj, it.holderID = col, obj, holder
				}
				if !it.hasRole {
					continue // removal
				}
			}
			// … and so must the one written.
			if err := s.canAdminAccess(ctx, tx, m, it.holderObj, it.holderID, it.role); err != nil {
				return err
			}
		}
		for _, it := range items {
			switch {
			case it.id > 0 && !it.hasRole:
				if _, err := tx.Exec(ctx, "UPDATE core.t_services_access SET deleted_at = now() WHERE id_service_access = $1", it.id); err != nil {
					return err
				}
			case it.id > 0:
				set := ""
				for _, h := range accessHolders {
					if h.col == it.holderCol {
						set += h.col + " = $2, "
					} else {
						set += h.col + " = NULL, "
					}
				}
				if _, err := tx.Exec(ctx, `UPDATE core.t_services_access SET `+set+`id_service_role = $3 WHERE id_service_access = $1`,
					it.id, it.holderID, it.role); err != nil {
					return err
				}
			default:
				// Soft insert: the same holder and role give back the same assignment.
				if err := tx.QueryRow(ctx, `INSERT INTO core.t_services_access (`+it.holderCol+`, id_service_role) VALUES ($1, $2)
					ON CONFLICT ((coalesce(id_user_group, 0)), (coalesce(id_device, 0)), (coalesce(id_participant_group, 0)), id_service_role)
					DO UPDATE SET deleted_at = NULL RETURNING id_service_access`, it.holderID, it.role).Scan(&it.id); err != nil {
					return err
				}
			}
			written = append(written, it.id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := queryServiceAccess(ctx, s.db, "sa.id_service_access = ANY(@ids)", pgx.NamedArgs{"ids": written}, true)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostServiceAccessResponse{ServiceAccess: out}, nil
}

func (s *serviceAccess) DeleteServiceAccess(ctx context.Context, r *corev1.DeleteServiceAccessRequest) (*corev1.DeleteServiceAccessResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	m := caller(ctx)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, obj, holder, role, err := existingAccess(ctx, tx, r.GetId())
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("Not found")
		} else if err != nil {
			return err
		}
		if err := s.canAdminAccess(ctx, tx, m, obj, holder, role); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_services_access SET deleted_at = now() WHERE id_service_access = $1", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceAccessResponse{}, nil
}
