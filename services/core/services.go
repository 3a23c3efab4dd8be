package core

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
)

// /api/user/services

type servicesAPI struct {
	*Service
	corev1.UnimplementedServicesServiceServer
}

const serviceCols = `s.id_service, s.service_uuid, s.service_name, s.service_key, s.service_hostname, s.service_port,
	s.service_endpoint, s.service_clientendpoint, s.service_endpoint_user, s.service_endpoint_participant,
	s.service_endpoint_device, s.service_enabled, s.service_system, s.service_editable_config,
	s.service_default_config, s.service_has_assets, s.service_has_tests`

func scanService(row pgx.Row, list bool) (*corev1.Service, error) {
	sv := &corev1.Service{}
	var cfg *string
	err := row.Scan(&sv.IdService, &sv.ServiceUuid, &sv.ServiceName, &sv.ServiceKey, &sv.ServiceHostname, &sv.ServicePort,
		&sv.ServiceEndpoint, &sv.ServiceClientendpoint, &sv.ServiceEndpointUser, &sv.ServiceEndpointParticipant,
		&sv.ServiceEndpointDevice, &sv.ServiceEnabled, &sv.ServiceSystem, &sv.ServiceEditableConfig,
		&cfg, &sv.ServiceHasAssets, &sv.ServiceHasTests)
	if err != nil {
		return nil, err
	}
	// OpenTera drops empty endpoints as well as null ones.
	for _, p := range []**string{&sv.ServiceEndpointUser, &sv.ServiceEndpointParticipant, &sv.ServiceEndpointDevice} {
		if *p != nil && **p == "" {
			*p = nil
		}
	}
	if !list {
		sv.ServiceDefaultConfig = nullable(cfg)
	}
	return sv, nil
}

// notOpenTera excludes OpenTeraServer, which the user API never lists.
const notOpenTera = "s.service_key <> 'OpenTeraServer'"

func (s *servicesAPI) GetServices(ctx context.Context, r *corev1.GetServicesRequest) (*corev1.GetServicesResponse, error) {
	m := caller(ctx)
	if r.Id != 0 {
		r.IdService = r.Id
	}
	if r.Uuid != "" {
		r.ServiceUuid = r.Uuid
	}
	if r.Key != "" {
		r.ServiceKey = r.Key
	}
	f := m.acc.Services()
	args := f.With(nil)
	visible := "s.id_service IN (" + f.SQL + ")"
	var where string
	switch {
	case r.IdService != 0:
		where, args["id"] = visible+" AND s.id_service = @id", r.IdService
	case r.ServiceUuid != "":
		where, args["uuid"] = visible+" AND s.service_uuid = @uuid", r.ServiceUuid
	case r.ServiceKey != "":
		where, args["key"] = visible+" AND s.service_key = @key", r.ServiceKey
	case r.IdProject != 0:
		pf := m.acc.Projects()
		args = pf.With(args)
		where = visible + ` AND s.id_service IN (SELECT sp.id_service FROM core.t_services_projects sp
		          WHERE sp.id_project = @project AND sp.deleted_at IS NULL AND sp.id_project IN (` + pf.SQL + `))`
		args["project"] = r.IdProject
	case r.IdSite != 0:
		sf := m.acc.Sites()
		args = sf.With(args)
		where = visible + ` AND s.id_service IN (SELECT ss.id_service FROM core.t_services_sites ss
		          WHERE ss.id_site = @site AND ss.deleted_at IS NULL AND ss.id_site IN (` + sf.SQL + `))`
		args["site"] = r.IdSite
	default:
		where = visible
	}
	if r.WithConfig {
		where += " AND s.service_editable_config"
	}
	out, err := s.query(ctx, s.db, where, args, r.List)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetServicesResponse{Services: out}, nil
}

// query reads services (with their roles and project links unless list).
func (s *servicesAPI) query(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args pgx.NamedArgs, list bool) ([]*corev1.Service, error) {
	rows, err := q.Query(ctx, `SELECT `+serviceCols+` FROM core.t_services s
		WHERE s.deleted_at IS NULL AND `+notOpenTera+` AND `+where+` ORDER BY s.id_service`, args)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.Service, error) { return scanService(row, list) })
	if err != nil || list || len(out) == 0 {
		return out, err
	}
	byID := map[int32]*corev1.Service{}
	ids := make([]int32, 0, len(out))
	for _, sv := range out {
		sv.ServiceRoles, sv.ServiceProjects = &structpb.ListValue{}, &structpb.ListValue{}
		byID[sv.IdService] = sv
		ids = append(ids, sv.IdService)
	}
	roles, err := queryRoles(ctx, q, "r.id_service = ANY(@ids)", pgx.NamedArgs{"ids": ids}, false)
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		v, err := messageValue(r)
		if err != nil {
			return nil, err
		}
		sv := byID[r.IdService]
		sv.ServiceRoles.Values = append(sv.ServiceRoles.Values, v)
	}
	// Only the links to projects the caller sees: the others would reveal those projects.
	pf := caller(ctx).acc.Projects()
	rows, err = q.Query(ctx, `SELECT sp.id_service_project, sp.id_service, sp.id_project FROM core.t_services_projects sp
		JOIN core.t_projects p ON p.id_project = sp.id_project AND p.deleted_at IS NULL
		WHERE sp.id_service = ANY(@ids) AND sp.deleted_at IS NULL AND sp.id_project IN (`+pf.SQL+`)
		ORDER BY sp.id_service_project`, pf.With(pgx.NamedArgs{"ids": ids}))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, svc, proj int32
		if err := rows.Scan(&id, &svc, &proj); err != nil {
			return nil, err
		}
		byID[svc].ServiceProjects.Values = append(byID[svc].ServiceProjects.Values, structpb.NewStructValue(&structpb.Struct{
			Fields: map[string]*structpb.Value{"id_service_project": structpb.NewNumberValue(float64(id)),
				"id_service": structpb.NewNumberValue(float64(svc)), "id_project": structpb.NewNumberValue(float64(proj))}}))
	}
	return out, rows.Err()
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
	switch k := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return nil, nil
	case *structpb.Value_StringValue:
		return &k.StringValue, nil
	}
	return nil, apierr.InvalidArgument("Invalid " + field)
}

func (s *servicesAPI) PostService(ctx context.Context, r *corev1.PostServiceRequest) (*corev1.PostServiceResponse, error) {
	b := r.GetService()
	if b == nil {
		return nil, apierr.MissingArgument("Missing service")
	}
	if b.IdService == nil {
		return nil, apierr.MissingArgument("Missing id_service")
	}
	c := newChanges()
	for col, v := range map[string]*string{"service_name": b.ServiceName, "service_key": b.ServiceKey,
		"service_hostname": b.ServiceHostname, "service_endpoint": b.ServiceEndpoint, "service_clientendpoint": b.ServiceClientendpoint} {
		if v != nil {
			if strings.TrimSpace(*v) == "" && col != "service_endpoint" {
				return nil, apierr.InvalidArgument("Invalid " + col)
			}
			c.set(col, *v)
		}
	}
	if b.ServicePort != nil {
		if *b.ServicePort < 0 || *b.ServicePort > 65535 {
			return nil, apierr.InvalidArgument("Invalid service_port")
		}
		c.set("service_port", *b.ServicePort)
	}
	for col, v := range map[string]*structpb.Value{"service_endpoint_user": b.ServiceEndpointUser,
		"service_endpoint_participant": b.ServiceEndpointParticipant, "service_endpoint_device": b.ServiceEndpointDevice} {
		if v != nil {
			t, err := optionalText(v, col)
			if err != nil {
				return nil, err
			}
			c.set(col, t)
		}
	}
	if b.ServiceDefaultConfig != nil {
		t, err := jsonText(b.ServiceDefaultConfig, "service_default_config")
		if err != nil {
			return nil, err
		}
		if t != nil && !json.Valid([]byte(*t)) {
			return nil, apierr.InvalidArgument("Invalid config json schema")
		}
		c.set("service_default_config", t)
	}
	for col, v := range map[string]*bool{"service_enabled": b.ServiceEnabled, "service_editable_config": b.ServiceEditableConfig,
		"service_has_assets": b.ServiceHasAssets, "service_has_tests": b.ServiceHasTests} {
		if v != nil {
			c.set(col, *v)
		}
	}
	for _, role := range b.Roles {
		if role.IdServiceRole == nil || (role.GetIdServiceRole() == 0 && strings.TrimSpace(role.GetServiceRoleName()) == "") ||
			(role.ServiceRoleName != nil && strings.TrimSpace(*role.ServiceRoleName) == "") {
			return nil, apierr.InvalidArgument("Invalid roles")
		}
	}
	id := b.GetIdService()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if id > 0 {
			var system bool
			err := tx.QueryRow(ctx, `SELECT s.service_system FROM core.t_services s
				WHERE s.id_service = $1 AND s.deleted_at IS NULL AND `+notOpenTera, id).Scan(&system)
			if err == pgx.ErrNoRows {
				return apierr.Forbidden("Forbidden")
			} else if err != nil {
				return err
			}
			if b.ServiceSystem != nil && *b.ServiceSystem != system {
				return apierr.Forbidden("Can't change system services from that API")
			}
			if len(c.cols) > 0 {
				if _, err := tx.Exec(ctx, "UPDATE core.t_services SET "+c.setSQL()+" WHERE id_service = @id",
					merge(c.args, pgx.NamedArgs{"id": id})); err != nil {
					return err
				}
			}
		} else {
			for _, req := range []string{"service_name", "service_key", "service_hostname", "service_port", "service_endpoint", "service_clientendpoint"} {
				if !c.has(req) {
					return apierr.MissingArgument("Missing " + req)
				}
			}
			if b.ServiceSystem != nil {
				c.set("service_system", *b.ServiceSystem)
			}
			c.set("service_uuid", uuid.NewString())
			if err := tx.QueryRow(ctx, "INSERT INTO core.t_services "+c.insertSQL()+" RETURNING id_service", c.args).Scan(&id); err != nil {
				return err
			}
		}
		return s.replaceRoles(ctx, tx, id, b.Roles)
	})
	if err != nil {
		return nil, err
	}
	out, err := s.query(ctx, s.db, "s.id_service = @id", pgx.NamedArgs{"id": id}, false)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostServiceResponse{Services: out}, nil
}

// replaceRoles makes the service's roles the given list (OpenTera's "roles" key): roles absent
// from it are deleted, id 0 creates, others are renamed. An empty list changes nothing.
func (s *servicesAPI) replaceRoles(ctx context.Context, tx pgx.Tx, id int32, roles []*corev1.ServiceRoleItem) error {
	if len(roles) == 0 {
		return nil
	}
	keep := []int32{}
	for _, r := range roles {
		if r.GetIdServiceRole() != 0 {
			keep = append(keep, r.GetIdServiceRole())
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE core.t_services_roles SET deleted_at = now()
		WHERE id_service = $1 AND deleted_at IS NULL AND NOT (id_service_role = ANY($2))`, id, keep); err != nil {
		return err
	}
	for _, r := range roles {
		if r.GetIdServiceRole() == 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO core.t_services_roles (id_service, service_role_name) VALUES ($1, $2)`,
				id, r.GetServiceRoleName()); err != nil {
				return err
			}
			continue
		}
		if r.ServiceRoleName == nil {
			continue
		}
		_, err := tx.Exec(ctx, `UPDATE core.t_services_roles SET service_role_name = $3
			WHERE id_service_role = $2 AND id_service = $1 AND deleted_at IS NULL AND service_role_name <> $3`,
			id, r.GetIdServiceRole(), r.GetServiceRoleName())
		if err != nil {
			return err
		}
	}
	var foreign bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unnest($2::int[]) k
		WHERE NOT EXISTS (SELECT 1 FROM core.t_services_roles r WHERE r.id_service_role = k AND r.id_service = $1 AND r.deleted_at IS NULL))`,
		id, keep).Scan(&foreign); err != nil {
		return err
	}
	if foreign {
		return apierr.InvalidArgument("Invalid roles: unknown id_service_role for this service")
	}
	return nil
}

func (s *servicesAPI) DeleteService(ctx context.Context, r *corev1.DeleteServiceRequest) (*corev1.DeleteServiceResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	// Superadmin only (declared on the RPC); the schema cascades and refuses.
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var system bool
		err := tx.QueryRow(ctx, `SELECT s.service_system FROM core.t_services s WHERE s.id_service = $1 AND s.deleted_at IS NULL`,
			r.GetId()).Scan(&system)
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("Invalid service")
		} else if err != nil {
			return err
		}
		if system {
			return apierr.Forbidden("Forbidden")
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_services SET deleted_at = now() WHERE id_service = $1", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceResponse{}, nil
}
