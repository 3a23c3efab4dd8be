package core

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/services/configs: per-owner configurations of services, with per-client specific
// overrides (t_services_configs_specifics) merged over the global configuration on request.

type serviceConfigs struct {
	*Service
	corev1.UnimplementedServiceConfigServiceServer
}

// serviceConfigProto is a row as OpenTera's JSON: the specific configuration (when read) merged
// over the global one; list adds the ids of the specific ones.
func serviceConfigProto(r store.ServiceConfigRow, specific string, list bool) (*corev1.ServiceConfig, error) {
	t := time.UnixMilli(r.VersionID)
	c := &corev1.ServiceConfig{IdServiceConfig: wrapperspb.Int32(r.IDServiceConfig), IdService: r.IDService, IdUser: r.IDUser,
		IdParticipant: r.IDParticipant, IdDevice: r.IDDevice, ServiceConfigName: r.ServiceName,
		ServiceConfigLastUpdateTime: strValue(isoTime(&t))}
	cfg := map[string]any{}
	// Stored configurations are JSON objects (POST checks it); anything else reads as {}.
	_ = json.Unmarshal([]byte(r.Config), &cfg)
	if r.Specific != nil {
		over := map[string]any{}
		_ = json.Unmarshal([]byte(*r.Specific), &over)
		for k, v := range over {
			cfg[k] = v
		}
		c.ServiceConfigSpecificId = wrapperspb.String(specific)
	}
	v, err := structpb.NewValue(cfg)
	c.ServiceConfigConfig = v
	if list {
		c.ServiceConfigSpecifics = &structpb.ListValue{}
		for _, sp := range r.Specifics {
			c.ServiceConfigSpecifics.Values = append(c.ServiceConfigSpecifics.Values, structpb.NewStringValue(sp))
		}
	}
	return c, err
}

func (s *Service) listConfigs(ctx context.Context, f store.ServiceConfigFilter, list bool) ([]*corev1.ServiceConfig, error) {
	rows, err := store.ListServiceConfigs(ctx, s.db, caller(ctx).acc, f)
	return tryRows(ctx, s, rows, err, func(r store.ServiceConfigRow) (*corev1.ServiceConfig, error) {
		return serviceConfigProto(r, f.Specific, list)
	})
}

// configOwner reads the owner ids of a request or body (0 and nil are absent), refusing more
// than one.
func configOwner(user, participant, device *int32) (store.ConfigOwner, error) {
	var o store.ConfigOwner
	for _, id := range []struct {
		col string
		v   *int32
		dst **int32
	}{{"id_user", user, &o.User}, {"id_participant", participant, &o.Participant}, {"id_device", device, &o.Device}} {
		if id.v == nil || *id.v == 0 {
			continue
		}
		if !o.IsZero() {
			return o, apierr.InvalidArgument("Can't combine id_user, id_participant and id_device in request")
		}
		if *id.v < 0 {
			return o, apierr.InvalidArgument("Invalid " + id.col)
		}
		*id.dst = id.v
	}
	return o, nil
}

func (s *serviceConfigs) GetServiceConfigs(ctx context.Context, r *corev1.GetServiceConfigsRequest) (*corev1.GetServiceConfigsResponse, error) {
	m := caller(ctx)
	if r.ServiceKey != "" && r.IdService == 0 {
		id, err := store.ServiceIDOf(ctx, s.db, nil, &r.ServiceKey)
		if err != nil {
			return nil, s.dbError(ctx, orErr(err, store.ErrNotFound, apierr.InvalidArgument("Not found")))
		}
		r.IdService = id
	}
	owner, err := configOwner(&r.IdUser, &r.IdParticipant, &r.IdDevice)
	if err != nil {
		return nil, err
	}
	f := store.ServiceConfigFilter{Owner: owner, Specific: r.IdSpecific}
	if r.IdService != 0 {
		f.IDService = &r.IdService
	} else if owner.IsZero() {
		f.Owner.User = &m.id // no parameter: the caller's own configurations
	}
	out, err := s.listConfigs(ctx, f, r.List)
	if err != nil {
		return nil, err
	}
	if r.WithEmpty && (len(out) > 0 || s.visibleSelection(ctx, m, f)) {
		if out, err = s.withEmptyConfigs(ctx, out, r.List); err != nil {
			return nil, err
		}
	}
	return &corev1.GetServiceConfigsResponse{ServiceConfigs: out}, nil
}

// withEmptyConfigs adds an empty configuration of every editable service the caller sees that
// has none in out.
func (s *Service) withEmptyConfigs(ctx context.Context, out []*corev1.ServiceConfig, list bool) ([]*corev1.ServiceConfig, error) {
	rows, err := store.ListServices(ctx, s.db, caller(ctx).acc, store.ServiceFilter{EditableConfig: true, WithServer: true})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	for _, sv := range rows {
		if slices.ContainsFunc(out, func(c *corev1.ServiceConfig) bool { return c.IdService == sv.IDService }) {
			continue
		}
		c := &corev1.ServiceConfig{IdService: sv.IDService, ServiceConfigName: sv.ServiceName,
			ServiceConfigConfig: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{}})}
		if list {
			c.ServiceConfigSpecifics = &structpb.ListValue{}
		}
		out = append(out, c)
	}
	return out, nil
}

// visibleSelection reports whether the service and owner asked for are visible (with_empty
// adds nothing for a selection the caller cannot see).
func (s *serviceConfigs) visibleSelection(ctx context.Context, m me, f store.ServiceConfigFilter) bool {
	for _, o := range []struct {
		obj access.Object
		id  *int32
	}{{access.Services, f.IDService}, {access.Users, f.Owner.User}, {access.Participants, f.Owner.Participant}, {access.Devices, f.Owner.Device}} {
		if o.id == nil {
			continue
		}
		if ok, err := s.can(ctx, s.db, m, o.obj, *o.id, false); err != nil || !ok {
			return false
		}
	}
	return true
}

// configText returns the JSON text of a configuration given as an object or as its text.
func configText(v *structpb.Value) (*string, error) {
	if v == nil {
		return nil, nil
	}
	t, err := jsonText(v, "service_config_config")
	var obj map[string]any
	if err != nil || t == nil || json.Unmarshal([]byte(*t), &obj) != nil || obj == nil {
		return nil, apierr.InvalidArgument("Invalid config format provided")
	}
	return t, nil
}

func (s *serviceConfigs) PostServiceConfig(ctx context.Context, r *corev1.PostServiceConfigRequest) (*corev1.PostServiceConfigResponse, error) {
	b := r.GetServiceConfig()
	if err := missingBody(b != nil, b != nil && b.IdServiceConfig != nil, "service_config"); err != nil {
		return nil, err
	}
	cfg, err := configText(b.ServiceConfigConfig)
	if err != nil {
		return nil, err
	}
	owner, err := configOwner(b.IdUser, b.IdParticipant, b.IdDevice)
	if err != nil {
		return nil, err
	}
	id, specific := b.GetIdServiceConfig(), b.GetIdSpecific()
	if id < 0 {
		return nil, apierr.InvalidArgument("Invalid id_service_config")
	}
	p := store.ServiceConfigPatch{IDService: b.IdService, Owner: owner}
	if specific == "" {
		p.Config = cfg // a specific configuration leaves the global one as it is
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.resolveConfigService(ctx, tx, b, &p); err != nil {
			return err
		}
		if id, err = s.writeConfig(ctx, tx, id, p); err != nil || cfg == nil || specific == "" {
			return err
		}
		return orDenied(store.SetServiceConfigSpecific(ctx, tx, caller(ctx).acc, id, specific, *cfg), "Forbidden")
	})
	if err != nil {
		return nil, err
	}
	out, err := s.listConfigs(ctx, store.ServiceConfigFilter{IDServiceConfig: &id, Specific: specific}, false)
	return &corev1.PostServiceConfigResponse{ServiceConfigs: out}, err
}

// resolveConfigService names the body's service by service_key when it has no id_service.
func (s *Service) resolveConfigService(ctx context.Context, tx pgx.Tx, b *corev1.ServiceConfigBody, p *store.ServiceConfigPatch) error {
	if b.ServiceKey == nil || b.IdService != nil {
		return nil
	}
	id, err := store.ServiceIDOf(ctx, tx, nil, b.ServiceKey)
	p.IDService = &id
	return orErr(err, store.ErrNotFound, apierr.InvalidArgument("Invalid service_key"))
}

// writeConfig creates (id 0) or changes a configuration, answering its id.
func (s *Service) writeConfig(ctx context.Context, tx pgx.Tx, id int32, p store.ServiceConfigPatch) (int32, error) {
	m := caller(ctx)
	if id > 0 {
		return id, orDenied(store.UpdateServiceConfig(ctx, tx, m.acc, id, p), "Forbidden")
	}
	if p.IDService == nil {
		return 0, apierr.MissingArgument("Missing id_service")
	}
	if p.Owner.IsZero() {
		return 0, apierr.MissingArgument("Missing at least one id field")
	}
	id, err := store.InsertServiceConfig(ctx, tx, m.acc, p)
	return id, orDenied(err, "Forbidden")
}

func (s *serviceConfigs) DeleteServiceConfig(ctx context.Context, r *corev1.DeleteServiceConfigRequest) (*corev1.DeleteServiceConfigResponse, error) {
	return &corev1.DeleteServiceConfigResponse{}, s.deleteRow(ctx, r.Id, "Not found", "Forbidden", store.DeleteServiceConfig)
}
