package core

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/services/configs: per-owner configurations of services, with per-client specific
// overrides (t_services_configs_specifics) merged over the global configuration on request.

type serviceConfigs struct {
	*Service
	corev1.UnimplementedServiceConfigServiceServer
}

// configOwners are the columns naming whose configuration a row is.
var configOwners = []struct {
	col string
	obj access.Object
}{
	{"id_user", access.Users},
	{"id_participant", access.Participants},
	{"id_device", access.Devices},
}

// queryConfigs reads live configurations matching where (alias c, service s). specific, when
// not empty, is merged over the global configuration of the configs that have it.
func queryConfigs(ctx context.Context, q access.Querier, where string, args pgx.NamedArgs, specific string, list bool) ([]*corev1.ServiceConfig, error) {
	args["specific"] = specific
	rows, err := q.Query(ctx, `SELECT c.id_service_config, c.id_service, c.id_user, c.id_participant, c.id_device,
		       c.service_config_config, s.service_name, c.version_id,
		       (SELECT x.service_config_specific_config FROM core.t_services_configs_specifics x
		         WHERE x.id_service_config = c.id_service_config AND x.deleted_at IS NULL
		           AND x.service_config_specific_id = @specific ORDER BY x.id_service_config_specific DESC LIMIT 1),
		       (SELECT coalesce(array_agg(x.service_config_specific_id ORDER BY x.id_service_config_specific), '{}')
		          FROM core.t_services_configs_specifics x WHERE x.id_service_config = c.id_service_config AND x.deleted_at IS NULL)
		  FROM core.t_services_configs c
		  JOIN core.t_services s ON s.id_service = c.id_service AND s.deleted_at IS NULL
		 WHERE c.deleted_at IS NULL AND `+where+` ORDER BY c.id_service_config`, args)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.ServiceConfig, error) {
		c := &corev1.ServiceConfig{}
		var id int32
		var global string
		var spec *string
		var version int64
		var specifics []string
		if err := row.Scan(&id, &c.IdService, &c.IdUser, &c.IdParticipant, &c.IdDevice, &global, &c.ServiceConfigName,
			&version, &spec, &specifics); err != nil {
			return nil, err
		}
		c.IdServiceConfig = wrapperspb.Int32(id)
		t := time.UnixMilli(version)
		c.ServiceConfigLastUpdateTime = strValue(isoTime(&t))
		cfg := map[string]any{}
		// Stored configurations are JSON objects (POST checks it); anything else reads as {}.
		_ = json.Unmarshal([]byte(global), &cfg)
		if spec != nil {
			over := map[string]any{}
			_ = json.Unmarshal([]byte(*spec), &over)
			for k, v := range over {
				cfg[k] = v
			}
			c.ServiceConfigSpecificId = wrapperspb.String(specific)
		}
		v, err := structpb.NewValue(cfg)
		if err != nil {
			return nil, err
		}
		c.ServiceConfigConfig = v
		if list {
			c.ServiceConfigSpecifics = &structpb.ListValue{}
			for _, sp := range specifics {
				c.ServiceConfigSpecifics.Values = append(c.ServiceConfigSpecifics.Values, structpb.NewStringValue(sp))
			}
		}
		return c, nil
	})
}

func (s *serviceConfigs) GetServiceConfigs(ctx context.Context, r *corev1.GetServiceConfigsRequest) (*corev1.GetServiceConfigsResponse, error) {
	m := caller(ctx)
	if r.ServiceKey != "" && r.IdService == 0 {
		err := s.db.QueryRow(ctx, "SELECT id_service FROM core.t_services WHERE service_key = $1 AND deleted_at IS NULL", r.ServiceKey).Scan(&r.IdService)
		if err == pgx.ErrNoRows {
			return nil, apierr.InvalidArgument("Not found")
		} else if err != nil {
			return nil, s.dbError(ctx, err)
		}
	}
	owners := map[string]int32{"id_user": r.IdUser, "id_participant": r.IdParticipant, "id_device": r.IdDevice}
	n := 0
	for _, v := range owners {
		if v != 0 {
			n++
		}
	}
	if n > 1 {
		return nil, apierr.InvalidArgument("Can't combine id_user, id_participant and id_device in request")
	}
	if n == 0 && r.IdService == 0 {
		owners["id_user"] = m.id // no parameter: the caller's own configurations
	}
	args := pgx.NamedArgs{}
	where := "true"
	if r.IdService != 0 {
		sf := m.acc.Services()
		args = sf.With(args)
		where += " AND c.id_service = @svc AND @svc IN (" + sf.SQL + ")"
		args["svc"] = r.IdService
	}
	owned := false
	for _, o := range configOwners {
		id := owners[o.col]
		if id == 0 {
			continue
		}
		owned = true
		f := m.acc.IDs(o.obj)
		args = f.With(args)
		where += " AND c." + o.col + " = @owner AND @owner IN (" + f.SQL + ")"
		args["owner"] = id
		if r.IdService == 0 {
			where += " AND s.service_editable_config"
		}
	}
	if owners["id_user"] != m.id {
		// Another's configurations: only of services the caller sees (one of a device shared
		// with another site would name that site's services).
		sf := m.acc.Services()
		args = sf.With(args)
		where += " AND c.id_service IN (" + sf.SQL + ")"
	}
	if !owned {
		// A service's configurations: only those of owners the caller can see.
		for _, o := range configOwners {
			f := m.acc.IDs(o.obj)
			args = f.With(args)
			where += " AND (c." + o.col + " IS NULL OR c." + o.col + " IN (" + f.SQL + "))"
		}
	}
	out, err := queryConfigs(ctx, s.db, where, args, r.IdSpecific, r.List)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if r.WithEmpty && (len(out) > 0 || s.visibleSelection(ctx, m, r.IdService, owners)) {
		have := []int32{}
		for _, c := range out {
			have = append(have, c.IdService)
		}
		sf := m.acc.Services()
		rows, err := s.db.Query(ctx, `SELECT s.id_service, s.service_name FROM core.t_services s
			WHERE s.deleted_at IS NULL AND s.service_editable_config AND s.id_service IN (`+sf.SQL+`)
			  AND NOT (s.id_service = ANY(@have)) ORDER BY s.id_service`, sf.With(pgx.NamedArgs{"have": have}))
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		empty, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.ServiceConfig, error) {
			c := &corev1.ServiceConfig{ServiceConfigConfig: structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{}})}
			if r.List {
				c.ServiceConfigSpecifics = &structpb.ListValue{}
			}
			return c, row.Scan(&c.IdService, &c.ServiceConfigName)
		})
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		out = append(out, empty...)
	}
	return &corev1.GetServiceConfigsResponse{ServiceConfigs: out}, nil
}

// visibleSelection reports whether the service and owner asked for are visible (with_empty
// adds nothing for a selection the caller cannot see).
func (s *serviceConfigs) visibleSelection(ctx context.Context, m me, svc int32, owners map[string]int32) bool {
	if svc != 0 {
		if ok, err := s.can(ctx, s.db, m, access.Services, svc, false); err != nil || !ok {
			return false
		}
	}
	for _, o := range configOwners {
		if id := owners[o.col]; id != 0 {
			if ok, err := s.can(ctx, s.db, m, o.obj, id, false); err != nil || !ok {
				return false
			}
		}
	}
	return true
}

// canWriteConfigOwner: one's own configuration, or that of a user, participant or device the
// caller administers.
func (s *Service) canWriteConfigOwner(ctx context.Context, tx pgx.Tx, m me, col string, obj access.Object, id int32) error {
	if col == "id_user" && id == m.id {
		return nil
	}
	if err := s.require(ctx, tx, m, obj, id, true, "Forbidden"); err != nil {
		return err
	}
	return nil
}

func (s *Service) canSeeService(ctx context.Context, tx pgx.Tx, m me, svc int32) error {
	if err := s.require(ctx, tx, m, access.Services, svc, false, "Forbidden"); err != nil {
		return err
	}
	return nil
}

// configText returns the JSON text of a configuration given as an object or as its text.
func configText(v *structpb.Value) (string, error) {
	t, err := jsonText(v, "service_config_config")
	if err != nil || t == nil {
		return "", apierr.InvalidArgument("Invalid config format provided")
	}
	var obj map[string]any
	if json.Unmarshal([]byte(*t), &obj) != nil || obj == nil {
		return "", apierr.InvalidArgument("Invalid config format provided")
	}
	return *t, nil
}

func (s *serviceConfigs) PostServiceConfig(ctx context.Context, r *corev1.PostServiceConfigRequest) (*corev1.PostServiceConfigResponse, error) {
	m := caller(ctx)
	b := r.GetServiceConfig()
	if b == nil {
		return nil, apierr.MissingArgument("Missing service_config")
	}
	if b.IdServiceConfig == nil {
		return nil, apierr.MissingArgument("Missing id_service_config")
	}
	var cfg *string
	if b.ServiceConfigConfig != nil {
		t, err := configText(b.ServiceConfigConfig)
		if err != nil {
			return nil, err
		}
		cfg = &t
	}
	// 0 means absent for the owner ids.
	owners := map[string]*int32{"id_user": b.IdUser, "id_participant": b.IdParticipant, "id_device": b.IdDevice}
	ownerCol, ownerID := "", int32(0)
	var ownerObj access.Object
	for _, o := range configOwners {
		p := owners[o.col]
		if p == nil || *p == 0 {
			continue
		}
		if ownerCol != "" {
			return nil, apierr.InvalidArgument("Can't combine id_user, id_participant and id_device in request")
		}
		if *p < 0 {
			return nil, apierr.InvalidArgument("Invalid " + o.col)
		}
		ownerCol, ownerID, ownerObj = o.col, *p, o.obj
	}
	id := b.GetIdServiceConfig()
	if id < 0 {
		return nil, apierr.InvalidArgument("Invalid id_service_config")
	}
	specific := b.GetIdSpecific()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var svc *int32
		if b.ServiceKey != nil && b.IdService == nil {
			var k int32
			err := tx.QueryRow(ctx, "SELECT id_service FROM core.t_services WHERE service_key = $1 AND deleted_at IS NULL", *b.ServiceKey).Scan(&k)
			if err == pgx.ErrNoRows {
				return apierr.InvalidArgument("Invalid service_key")
			} else if err != nil {
				return err
			}
			svc = &k
		} else if b.IdService != nil {
			svc = b.IdService
		}
		if svc != nil {
			if err := s.canSeeService(ctx, tx, m, *svc); err != nil {
				return err
			}
		}
		if ownerCol != "" {
			if err := s.canWriteConfigOwner(ctx, tx, m, ownerCol, ownerObj, ownerID); err != nil {
				return err
			}
		}
		if id > 0 {
			// The stored configuration must be writable too.
			var curSvc int32
			var cur [3]*int32
			err := tx.QueryRow(ctx, `SELECT id_service, id_user, id_participant, id_device FROM core.t_services_configs
				WHERE id_service_config = $1 AND deleted_at IS NULL`, id).Scan(&curSvc, &cur[0], &cur[1], &cur[2])
			if err == pgx.ErrNoRows {
				return apierr.Forbidden("Forbidden")
			} else if err != nil {
				return err
			}
			for i, o := range configOwners {
				if cur[i] != nil {
					if err := s.canWriteConfigOwner(ctx, tx, m, o.col, o.obj, *cur[i]); err != nil {
						return err
					}
				}
			}
			c := newChanges()
			if svc != nil {
				c.set("id_service", *svc)
			}
			if ownerCol != "" {
				for _, o := range configOwners {
					c.set(o.col, nil)
				}
				c.args[ownerCol] = ownerID
			}
			if cfg != nil && specific == "" {
				c.set("service_config_config", *cfg)
			}
			if len(c.cols) > 0 {
				if _, err := tx.Exec(ctx, "UPDATE core.t_services_configs SET "+c.setSQL()+" WHERE id_service_config = @id",
					merge(c.args, pgx.NamedArgs{"id": id})); err != nil {
					return err
				}
			} else if _, err := tx.Exec(ctx, "UPDATE core.t_services_configs SET version_id = version_id WHERE id_service_config = $1", id); err != nil {
				return err
			}
		} else {
			if svc == nil {
				return apierr.MissingArgument("Missing id_service")
			}
			if ownerCol == "" {
				return apierr.MissingArgument("Missing at least one id field")
			}
			global := "{}"
			if cfg != nil && specific == "" {
				global = *cfg
			}
			if err := tx.QueryRow(ctx, `INSERT INTO core.t_services_configs (id_service, `+ownerCol+`, service_config_config)
				VALUES ($1, $2, $3) RETURNING id_service_config`, *svc, ownerID, global).Scan(&id); err != nil {
				return err
			}
		}
		if cfg != nil && specific != "" {
			tag, err := tx.Exec(ctx, `UPDATE core.t_services_configs_specifics SET service_config_specific_config = $3
				WHERE id_service_config = $1 AND service_config_specific_id = $2 AND deleted_at IS NULL`, id, specific, *cfg)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO core.t_services_configs_specifics
					(id_service_config, service_config_specific_id, service_config_specific_config) VALUES ($1, $2, $3)`, id, specific, *cfg); err != nil {
					return err
				}
			}
			// A specific change is a change of the configuration (service_config_last_update_time).
			if _, err := tx.Exec(ctx, "UPDATE core.t_services_configs SET version_id = version_id WHERE id_service_config = $1", id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := queryConfigs(ctx, s.db, "c.id_service_config = @id", pgx.NamedArgs{"id": id}, specific, false)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostServiceConfigResponse{ServiceConfigs: out}, nil
}

func (s *serviceConfigs) DeleteServiceConfig(ctx context.Context, r *corev1.DeleteServiceConfigRequest) (*corev1.DeleteServiceConfigResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	m := caller(ctx)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var svc int32
		var cur [3]*int32
		err := tx.QueryRow(ctx, `SELECT id_service, id_user, id_participant, id_device FROM core.t_services_configs
			WHERE id_service_config = $1 AND deleted_at IS NULL`, r.GetId()).Scan(&svc, &cur[0], &cur[1], &cur[2])
		if err == pgx.ErrNoRows {
			return apierr.InvalidArgument("Not found")
		} else if err != nil {
			return err
		}
		if err := s.canSeeService(ctx, tx, m, svc); err != nil {
			return err
		}
		for i, o := range configOwners {
			if cur[i] != nil {
				if err := s.canWriteConfigOwner(ctx, tx, m, o.col, o.obj, *cur[i]); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_services_configs SET deleted_at = now() WHERE id_service_config = $1", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteServiceConfigResponse{}, nil
}
