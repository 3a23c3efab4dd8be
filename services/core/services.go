package core

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/services

type servicesAPI struct {
	*Service
	corev1.UnimplementedServicesServiceServer
}

// serviceProto is a row as OpenTera's service JSON (list: without service_default_config).
func serviceProto(r store.ServiceRow, list bool) *corev1.Service {
	sv := &corev1.Service{IdService: r.IDService, ServiceUuid: r.ServiceUUID, ServiceName: r.ServiceName,
		ServiceKey: r.ServiceKey, ServiceHostname: r.ServiceHostname, ServicePort: r.ServicePort,
		ServiceEndpoint: r.ServiceEndpoint, ServiceClientendpoint: r.ServiceClientendpoint,
		ServiceEndpointUser: nonEmpty(r.ServiceEndpointUser), ServiceEndpointParticipant: nonEmpty(r.ServiceEndpointParticipant),
		ServiceEndpointDevice: nonEmpty(r.ServiceEndpointDevice), ServiceEnabled: r.ServiceEnabled, ServiceSystem: r.ServiceSystem,
		ServiceEditableConfig: r.ServiceEditableConfig, ServiceHasAssets: r.ServiceHasAssets, ServiceHasTests: r.ServiceHasTests}
	if !list {
		sv.ServiceDefaultConfig = nullable(r.ServiceDefaultConfig)
	}
	return sv
}

// nonEmpty drops empty strings as well as null ones (OpenTera's endpoints).
func nonEmpty(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

func (s *servicesAPI) GetServices(ctx context.Context, r *corev1.GetServicesRequest) (*corev1.GetServicesResponse, error) {
	f := store.ServiceFilter{EditableConfig: r.WithConfig}
	// One selector is honoured, in OpenTera's order; the aliases stand for their fields.
	switch id, uuid, key := cmp.Or(r.Id, r.IdService), cmp.Or(r.Uuid, r.ServiceUuid), cmp.Or(r.Key, r.ServiceKey); {
	case id != 0:
		f.IDService = &id
	case uuid != "":
		f.UUID = &uuid
	case key != "":
		f.Key = &key
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
	case r.IdSite != 0:
		f.IDSite = &r.IdSite
	}
	out, err := s.listServices(ctx, f, r.List)
	return &corev1.GetServicesResponse{Services: out}, err
}

// listServices reads services as their JSON, with their roles and project links unless list.
func (s *Service) listServices(ctx context.Context, f store.ServiceFilter, list bool) ([]*corev1.Service, error) {
	m := caller(ctx)
	rows, err := store.ListServices(ctx, s.db, m.acc, f)
	if err != nil || len(rows) == 0 {
		return []*corev1.Service{}, s.dbError(ctx, err)
	}
	out := make([]*corev1.Service, len(rows))
	byID := map[int32]*corev1.Service{}
	ids := make([]int32, len(rows))
	for i, row := range rows {
		out[i], ids[i] = serviceProto(row, list), row.IDService
		byID[row.IDService] = out[i]
	}
	if list {
		return out, nil
	}
	for _, sv := range out {
		sv.ServiceRoles, sv.ServiceProjects = &structpb.ListValue{}, &structpb.ListValue{}
	}
	roles, err := s.listRoles(ctx, store.ServiceRoleFilter{IDServices: ids}, false)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if err := appendMessage(byID[r.IdService].ServiceRoles, r); err != nil {
			return nil, s.internal(ctx, err)
		}
	}
	// Only the links to projects the caller sees: the others would reveal those projects.
	links, err := store.ListServiceLinks(ctx, s.db, m.acc, store.ServiceProjectLinks, store.ServiceLinkFilter{IDServices: ids})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	for _, l := range links {
		byID[l.IDService].ServiceProjects.Values = append(byID[l.IDService].ServiceProjects.Values, structpb.NewStructValue(&structpb.Struct{
			Fields: map[string]*structpb.Value{"id_service_project": structpb.NewNumberValue(float64(*l.IDLink)),
				"id_service": structpb.NewNumberValue(float64(l.IDService)), "id_project": structpb.NewNumberValue(float64(l.IDOther))}}))
	}
	return out, nil
}

// appendMessage appends a message to a JSON list as the object the gateway would emit for it.
func appendMessage(l *structpb.ListValue, m proto.Message) error {
	v, err := messageValue(m)
	if err == nil {
		l.Values = append(l.Values, v)
	}
	return err
}

// jsonText accepts a JSON text (string) or a JSON object/array and returns the text to store.
func jsonText(v *structpb.Value, field string) (*string, error) {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return nil, nil
	case *structpb.Value_StringValue:
		return &k.StringValue, nil
	case *structpb.Value_StructValue, *structpb.Value_ListValue:
		j, err := json.Marshal(v.AsInterface())
		if err != nil {
			return nil, apierr.InvalidArgument("Invalid " + field)
		}
		s := string(j)
		return &s, nil
	}
	return nil, apierr.InvalidArgument("Invalid " + field)
}

// optionalText accepts a string or null.
func optionalText(v *structpb.Value, field string) (*string, error) {
	if v.GetStructValue() != nil || v.GetListValue() != nil {
		return nil, apierr.InvalidArgument("Invalid " + field)
	}
	return jsonText(v, field)
}

func (s *servicesAPI) PostService(ctx context.Context, r *corev1.PostServiceRequest) (*corev1.PostServiceResponse, error) {
	b := r.GetService()
	if err := missingBody(b != nil, b != nil && b.IdService != nil, "service"); err != nil {
		return nil, err
	}
	p, roles, err := servicePatch(b)
	if err != nil {
		return nil, err
	}
	id, m := b.GetIdService(), caller(ctx)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if id > 0 {
			err = store.UpdateService(ctx, tx, m.acc, id, p)
			if errors.Is(err, store.ErrRefused) {
				return apierr.Forbidden("Can't change system services from that API")
			}
		} else if err = requireServiceFields(p); err == nil {
			id, err = store.InsertService(ctx, tx, m.acc, p)
		}
		if err = orDenied(err, "Forbidden"); err != nil {
			return err
		}
		err := store.ReplaceServiceRoles(ctx, tx, m.acc, id, roles)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid roles: unknown id_service_role for this service")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out, err := s.listServices(ctx, store.ServiceFilter{IDService: &id}, false)
	return &corev1.PostServiceResponse{Services: out}, err
}

// requireServiceFields refuses a create without one of the fields OpenTera requires.
func requireServiceFields(p store.ServicePatch) error {
	for _, f := range []struct {
		name string
		set  bool
	}{{"service_name", p.Name != nil}, {"service_key", p.Key != nil}, {"service_hostname", p.Hostname != nil},
		{"service_port", p.Port != nil}, {"service_endpoint", p.Endpoint != nil}, {"service_clientendpoint", p.ClientEndpoint != nil}} {
		if !f.set {
			return apierr.MissingArgument("Missing " + f.name)
		}
	}
	return nil
}

// servicePatch reads the body's keys into a patch and a roles list, refusing invalid values.
func servicePatch(b *corev1.ServiceBody) (store.ServicePatch, []store.ServiceRoleItem, error) {
	p := store.ServicePatch{Name: b.ServiceName, Key: b.ServiceKey, Hostname: b.ServiceHostname, Endpoint: b.ServiceEndpoint,
		ClientEndpoint: b.ServiceClientendpoint, Port: b.ServicePort, Enabled: b.ServiceEnabled, System: b.ServiceSystem,
		EditableConfig: b.ServiceEditableConfig, HasAssets: b.ServiceHasAssets, HasTests: b.ServiceHasTests}
	for col, v := range map[string]*string{"service_name": p.Name, "service_key": p.Key, "service_hostname": p.Hostname,
		"service_clientendpoint": p.ClientEndpoint} {
		if v != nil && strings.TrimSpace(*v) == "" {
			return p, nil, apierr.InvalidArgument("Invalid " + col)
		}
	}
	if p.Port != nil && (*p.Port < 0 || *p.Port > 65535) {
		return p, nil, apierr.InvalidArgument("Invalid service_port")
	}
	var err error
	for _, e := range []struct {
		col string
		v   *structpb.Value
		dst *store.NullText
	}{{"service_endpoint_user", b.ServiceEndpointUser, &p.EndpointUser},
		{"service_endpoint_participant", b.ServiceEndpointParticipant, &p.EndpointParticipant},
		{"service_endpoint_device", b.ServiceEndpointDevice, &p.EndpointDevice}} {
		if e.v != nil {
			e.dst.Set = true
			if e.dst.Value, err = optionalText(e.v, e.col); err != nil {
				return p, nil, err
			}
		}
	}
	if b.ServiceDefaultConfig != nil {
		p.DefaultConfig.Set = true
		if p.DefaultConfig.Value, err = jsonText(b.ServiceDefaultConfig, "service_default_config"); err != nil {
			return p, nil, err
		}
		if v := p.DefaultConfig.Value; v != nil && !json.Valid([]byte(*v)) {
			return p, nil, apierr.InvalidArgument("Invalid config json schema")
		}
	}
	roles := make([]store.ServiceRoleItem, 0, len(b.Roles))
	for _, role := range b.Roles {
		if role.IdServiceRole == nil || (role.GetIdServiceRole() == 0 && strings.TrimSpace(role.GetServiceRoleName()) == "") ||
			(role.ServiceRoleName != nil && strings.TrimSpace(*role.ServiceRoleName) == "") {
			return p, nil, apierr.InvalidArgument("Invalid roles")
		}
		roles = append(roles, store.ServiceRoleItem{ID: role.GetIdServiceRole(), Name: role.ServiceRoleName})
	}
	return p, roles, nil
}

func (s *servicesAPI) DeleteService(ctx context.Context, r *corev1.DeleteServiceRequest) (*corev1.DeleteServiceResponse, error) {
	// Superadmin only (declared on the RPC and in the statement); the schema cascades and refuses.
	return &corev1.DeleteServiceResponse{}, s.deleteRow(ctx, r.Id, "Invalid service", "Forbidden", store.DeleteService)
}

// ---- /api/service/services

func (s *serviceAPI) SvcGetServices(ctx context.Context, r *corev1.SvcGetServicesRequest) (*corev1.SvcGetServicesResponse, error) {
	// OpenTera honours the last one given.
	f := store.ServiceFilter{Registry: true}
	switch {
	case r.ServiceKey != "":
		f.Key = &r.ServiceKey
	case r.UuidService != "":
		f.UUID = &r.UuidService
	case r.IdService != 0:
		f.IDService = &r.IdService
	default:
		return nil, apierr.MissingArgument("Missing service key, id or uuid")
	}
	rows, err := store.ListServices(ctx, s.db, caller(ctx).acc, f)
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.ServiceRow) *corev1.Service {
		sv := serviceProto(row, true)
		if r.WithBaseUrl {
			// Every service is behind the ingress: OpenTera's https://<server>:<port><clientendpoint>.
			sv.ServiceBaseUrl = proto.String(s.publicURL + row.ServiceClientendpoint)
		}
		return sv
	})
	return reply(&corev1.SvcGetServicesResponse{Services: out}, err)
}
