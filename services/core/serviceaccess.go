package core

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/services/access: service roles held by user groups, devices and participant groups.

type serviceAccess struct {
	*Service
	corev1.UnimplementedServiceAccessServiceServer
}

func serviceAccessProto(r store.ServiceAccessRow) *corev1.ServiceAccess {
	a := &corev1.ServiceAccess{IdServiceAccess: r.IDServiceAccess, IdUserGroup: r.IDUserGroup, IdDevice: r.IDDevice,
		IdParticipantGroup: r.IDParticipantGroup, IdServiceRole: r.IDServiceRole, IdService: r.IDService, IdSite: r.IDSite,
		IdProject: r.IDProject, ServiceRoleName: r.ServiceRoleName, ServiceAccessRoleName: r.ServiceRoleName,
		ServiceName: r.ServiceName, ServiceKey: r.ServiceKey, SiteName: r.SiteName, ProjectName: r.ProjectName}
	if r.IDUserGroup != nil {
		a.UserGroupName = r.UserGroupName
	}
	if r.IDDevice != nil {
		a.DeviceName = r.DeviceName
	}
	if r.IDParticipantGroup != nil {
		a.ParticipantGroupName = r.ParticipantGroupName
	}
	return a
}

func (s *Service) listServiceAccess(ctx context.Context, f store.ServiceAccessFilter) ([]*corev1.ServiceAccess, error) {
	rows, err := store.ListServiceAccess(ctx, s.db, caller(ctx).acc, f)
	return mapRows(ctx, s, rows, err, serviceAccessProto)
}

func (s *serviceAccess) GetServiceAccess(ctx context.Context, r *corev1.GetServiceAccessRequest) (*corev1.GetServiceAccessResponse, error) {
	// One selector is honoured, in OpenTera's order.
	var f store.ServiceAccessFilter
	set := false
	for _, sel := range []struct {
		id  *int32
		dst **int32
	}{{&r.IdUserGroup, &f.IDUserGroup}, {&r.IdUser, &f.IDUser}, {&r.IdParticipantGroup, &f.IDParticipantGroup},
		{&r.IdDevice, &f.IDDevice}, {&r.IdService, &f.IDService}} {
		if *sel.id != 0 {
			*sel.dst, set = sel.id, true
			break
		}
	}
	if !set {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	out, err := s.listServiceAccess(ctx, f)
	return &corev1.GetServiceAccessResponse{ServiceAccess: out}, err
}

// svcAccessItem is one entry of a {"service_access": …} body: id 0 creates, a role-less
// entry with an id removes, others change the holder (when given) and the role.
type svcAccessItem struct {
	id, role int32
	holder   store.AccessHolder
}

func parseServiceAccessItems(v *structpb.Value) ([]svcAccessItem, error) {
	items := []*structpb.Value{v}
	if l, ok := v.GetKind().(*structpb.Value_ListValue); ok {
		items = l.ListValue.Values
	} else if _, ok := v.GetKind().(*structpb.Value_StructValue); !ok {
		return nil, apierr.MissingArgument("Missing service_access")
	}
	out := make([]svcAccessItem, 0, len(items))
	for _, it := range items {
		a, err := parseServiceAccessItem(it.GetStructValue())
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func parseServiceAccessItem(st *structpb.Struct) (svcAccessItem, error) {
	var a svcAccessItem
	if st == nil {
		return a, apierr.InvalidArgument("Badly formatted request")
	}
	if _, has := st.Fields["id_service_access"]; !has {
		return a, apierr.MissingArgument("Missing id_service_access")
	}
	id, ok := intField(st, "id_service_access")
	if !ok || id < 0 {
		return a, apierr.InvalidArgument("Invalid id_service_access")
	}
	a.id = id
	for _, h := range []struct {
		col string
		dst **int32
	}{{"id_user_group", &a.holder.UserGroup}, {"id_device", &a.holder.Device}, {"id_participant_group", &a.holder.ParticipantGroup}} {
		if hv, has := st.Fields[h.col]; !has || isNull(hv) {
			continue
		}
		if !a.holder.IsZero() {
			return a, apierr.InvalidArgument("Can't combine id_user_group, id_participant_group and id_device in request")
		}
		n, ok := intField(st, h.col)
		if !ok || n <= 0 {
			return a, apierr.InvalidArgument("Invalid " + h.col)
		}
		*h.dst = &n
	}
	if rv, has := st.Fields["id_service_role"]; has {
		switch k := rv.GetKind().(type) {
		case *structpb.Value_StringValue:
			if k.StringValue != "" {
				return a, apierr.InvalidArgument("Invalid id_service_role")
			}
		case *structpb.Value_NullValue:
		default:
			if a.role, ok = intField(st, "id_service_role"); !ok || a.role <= 0 {
				return a, apierr.InvalidArgument("Invalid id_service_role")
			}
		}
	}
	if a.id == 0 && a.role == 0 {
		return a, apierr.MissingArgument("Missing id_service_role")
	}
	if a.id == 0 && a.holder.IsZero() {
		return a, apierr.MissingArgument("Missing at least one id field")
	}
	return a, nil
}

func isNull(v *structpb.Value) bool {
	_, null := v.GetKind().(*structpb.Value_NullValue)
	return null
}

// checkServiceAccess checks, as OpenTera does before writing anything, that the caller
// administers each entry's current assignment and the one it writes; an entry without a holder
// keeps the current one.
func checkServiceAccess(ctx context.Context, tx pgx.Tx, m me, items []svcAccessItem) error {
	for i := range items {
		it := &items[i]
		if it.id > 0 {
			holder, _, err := store.CurrentServiceAccess(ctx, tx, m.acc, it.id)
			if err = orDenied(err, "Forbidden"); err != nil {
				return err
			}
			if it.holder.IsZero() {
				it.holder = holder
			}
			if it.role == 0 {
				continue // removal
			}
		}
		c, err := store.CheckServiceAccess(ctx, tx, m.acc, it.holder, it.role)
		switch {
		case err != nil:
			return err
		case !c.Holder:
			return apierr.Forbidden("Forbidden")
		case !c.RoleExists:
			return apierr.InvalidArgument("Bad id_service_role")
		case !c.All:
			return apierr.Forbidden("Forbidden")
		}
	}
	return nil
}

func (s *serviceAccess) PostServiceAccess(ctx context.Context, r *corev1.PostServiceAccessRequest) (*corev1.PostServiceAccessResponse, error) {
	out, err := s.postServiceAccess(ctx, r.ServiceAccess)
	return reply(&corev1.PostServiceAccessResponse{ServiceAccess: out}, err)
}

// postServiceAccess is the POST of the user and service APIs (a service's scope covers its
// own roles only): it writes every entry in one transaction and answers them as written.
func (s *Service) postServiceAccess(ctx context.Context, body *structpb.Value) ([]*corev1.ServiceAccess, error) {
	m := caller(ctx)
	if body == nil {
		return nil, apierr.MissingArgument("Missing service_access")
	}
	items, err := parseServiceAccessItems(body)
	if err != nil {
		return nil, err
	}
	written := make([]int32, 0, len(items))
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := checkServiceAccess(ctx, tx, m, items); err != nil {
			return err
		}
		for _, it := range items {
			var err error
			switch {
			case it.id > 0 && it.role == 0:
				err = store.DeleteServiceAccess(ctx, tx, m.acc, it.id)
			case it.id > 0:
				err = store.UpdateServiceAccess(ctx, tx, m.acc, it.id, it.holder, it.role)
			default:
				it.id, err = store.InsertServiceAccess(ctx, tx, m.acc, it.holder, it.role)
			}
			if err = orSystem(orDenied(err, "Forbidden"), "Forbidden"); err != nil {
				return err
			}
			written = append(written, it.id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.listServiceAccess(ctx, store.ServiceAccessFilter{IDs: written})
}

func (s *serviceAccess) DeleteServiceAccess(ctx context.Context, r *corev1.DeleteServiceAccessRequest) (*corev1.DeleteServiceAccessResponse, error) {
	return &corev1.DeleteServiceAccessResponse{}, s.deleteRow(ctx, r.Id, "Not found", "Forbidden", store.DeleteServiceAccess)
}

// ---- /api/service/serviceaccess: assignments of the calling service's own roles.

func (s *serviceAPI) SvcPostServiceAccess(ctx context.Context, r *corev1.SvcPostServiceAccessRequest) (*corev1.SvcPostServiceAccessResponse, error) {
	out, err := s.postServiceAccess(ctx, r.ServiceAccess)
	return reply(&corev1.SvcPostServiceAccessResponse{ServiceAccess: out}, err)
}

func (s *serviceAPI) SvcDeleteServiceAccess(ctx context.Context, r *corev1.SvcDeleteServiceAccessRequest) (*corev1.SvcDeleteServiceAccessResponse, error) {
	return &corev1.SvcDeleteServiceAccessResponse{}, s.deleteRow(ctx, r.Id, "Not found", "Forbidden", store.DeleteServiceAccess)
}

func (s *serviceAPI) SvcGetServiceAccess(ctx context.Context, r *corev1.SvcGetServiceAccessRequest) (*corev1.SvcGetServiceAccessResponse, error) {
	if r.IdUserGroup == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	svc := serviceID(ctx)
	out, err := s.listServiceAccess(ctx, store.ServiceAccessFilter{IDUserGroup: &r.IdUserGroup, IDService: &svc})
	return reply(&corev1.SvcGetServiceAccessResponse{ServiceAccess: out}, err)
}
