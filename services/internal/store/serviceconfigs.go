package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ServiceConfigRow is a t_services_configs row with its service's name, the configuration
// specific to one client id (when asked for and present) and the ids of every specific one.
type ServiceConfigRow struct {
	IDServiceConfig int32    `db:"id_service_config"`
	IDService       int32    `db:"id_service"`
	IDUser          *int32   `db:"id_user"`
	IDParticipant   *int32   `db:"id_participant"`
	IDDevice        *int32   `db:"id_device"`
	Config          string   `db:"service_config_config"`
	ServiceName     string   `db:"service_name"`
	VersionID       int64    `db:"version_id"`
	Specific        *string  `db:"specific_config"`
	Specifics       []string `db:"specifics"`
}

// ConfigOwner is whose configuration it is: at most one of the three is set.
type ConfigOwner struct {
	User, Participant, Device *int32
}

// IsZero reports that no owner is named.
func (o ConfigOwner) IsZero() bool { return o.User == nil && o.Participant == nil && o.Device == nil }

// ServiceConfigFilter selects configurations; nil fields do not filter. With an owner, the
// configurations of that owner (when the scope sees it), of services with an editable
// configuration unless IDService is set; without one, only configurations whose owner the
// scope sees. Other owners' configurations are only of services the scope sees (one of a
// device shared with another site would name that site's services).
type ServiceConfigFilter struct {
	IDServiceConfig *int32
	IDService       *int32
	Owner           ConfigOwner
	// Specific is the client id whose specific configuration is read ("" none).
	Specific string
}

// ownerSees and ownerWrites are the conditions that the caller sees, or may write, a
// configuration owner ({u}, {p}, {d}; null when not that kind): one's own configuration is
// always one's to write.
const (
	ownerSees = `(({u}::integer IS NULL OR {u} IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, @acc_wide::boolean)))
   AND ({p}::integer IS NULL OR {p} IN (SELECT id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false)))
   AND ({d}::integer IS NULL OR {d} IN (SELECT id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false))))`
	ownerWrites = `(({u}::integer IS NULL OR @acc_kind::text = 'user' AND {u} = @acc_id::integer
         OR {u} IN (SELECT id FROM core.acc_users(@acc_kind::text, @acc_id::integer, true, @acc_wide::boolean)))
   AND ({p}::integer IS NULL OR {p} IN (SELECT id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, true)))
   AND ({d}::integer IS NULL OR {d} IN (SELECT id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, true))))`
	serviceSeen = `IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false))`
)

var (
	ofRow   = strings.NewReplacer("{u}", "c.id_user", "{p}", "c.id_participant", "{d}", "c.id_device")
	ofParam = strings.NewReplacer("{u}", "@id_user", "{p}", "@id_participant", "{d}", "@id_device")

	listServiceConfigsSQL = `
SELECT c.id_service_config, c.id_service, c.id_user, c.id_participant, c.id_device, c.service_config_config,
       s.service_name, c.version_id,
       (SELECT x.service_config_specific_config FROM core.t_services_configs_specifics x
         WHERE x.id_service_config = c.id_service_config AND x.deleted_at IS NULL AND x.service_config_specific_id = @specific
         ORDER BY x.id_service_config_specific DESC LIMIT 1) AS specific_config,
       (SELECT coalesce(array_agg(x.service_config_specific_id ORDER BY x.id_service_config_specific), '{}')
          FROM core.t_services_configs_specifics x WHERE x.id_service_config = c.id_service_config AND x.deleted_at IS NULL) AS specifics
  FROM core.t_services_configs c
  JOIN core.t_services s ON s.id_service = c.id_service AND s.deleted_at IS NULL
 WHERE c.deleted_at IS NULL
   AND (@id_service_config::integer IS NULL OR c.id_service_config = @id_service_config)
   AND (@id_service::integer IS NULL OR c.id_service = @id_service AND @id_service ` + serviceSeen + `)
   AND (@id_user::integer IS NULL OR c.id_user = @id_user)
   AND (@id_participant::integer IS NULL OR c.id_participant = @id_participant)
   AND (@id_device::integer IS NULL OR c.id_device = @id_device)
   AND CASE WHEN @owned::boolean THEN ` + ofParam.Replace(ownerSees) + ` AND (@id_service IS NOT NULL OR s.service_editable_config)
            ELSE ` + ofRow.Replace(ownerSees) + ` END
   AND (@acc_kind::text = 'user' AND @id_user = @acc_id::integer OR c.id_service ` + serviceSeen + `)
 ORDER BY c.id_service_config`
)

func (o ConfigOwner) args(a pgx.NamedArgs) pgx.NamedArgs {
	a["id_user"], a["id_participant"], a["id_device"] = o.User, o.Participant, o.Device
	return a
}

// ListServiceConfigs returns the configurations of the scope that match f, by id.
func ListServiceConfigs(ctx context.Context, db DB, scope access.Scope, f ServiceConfigFilter) ([]ServiceConfigRow, error) {
	return list[ServiceConfigRow](ctx, db, "list service configs", listServiceConfigsSQL, scope, f.Owner.args(pgx.NamedArgs{
		"id_service_config": f.IDServiceConfig, "id_service": f.IDService, "specific": f.Specific, "owned": !f.Owner.IsZero()}))
}

// ServiceConfigPatch is a configuration to create or change: nil fields are left as they are;
// a non-zero Owner replaces the owner.
type ServiceConfigPatch struct {
	IDService *int32
	Owner     ConfigOwner
	// Config is the global configuration's JSON text.
	Config *string
}

func (p ServiceConfigPatch) args(id int32) pgx.NamedArgs {
	return p.Owner.args(pgx.NamedArgs{"id": id, "id_service": p.IDService, "config": p.Config, "set_owner": !p.Owner.IsZero()})
}

var (
	insertServiceConfigSQL = `
INSERT INTO core.t_services_configs (id_service, id_user, id_participant, id_device, service_config_config)
SELECT @id_service, @id_user, @id_participant, @id_device, coalesce(@config::text, '{}')
 WHERE @id_service::integer ` + serviceSeen + ` AND ` + ofParam.Replace(ownerWrites) + `
RETURNING id_service_config`
	// Every update bumps version_id (service_config_last_update_time), also with nothing to set.
	updateServiceConfigSQL = `
UPDATE core.t_services_configs c
   SET id_service = coalesce(@id_service, c.id_service),
       id_user = CASE WHEN @set_owner::boolean THEN @id_user ELSE c.id_user END,
       id_participant = CASE WHEN @set_owner::boolean THEN @id_participant ELSE c.id_participant END,
       id_device = CASE WHEN @set_owner::boolean THEN @id_device ELSE c.id_device END,
       service_config_config = coalesce(@config, c.service_config_config)
 WHERE c.id_service_config = @id AND c.deleted_at IS NULL AND ` + ofRow.Replace(ownerWrites) + `
   AND (@id_service::integer IS NULL OR @id_service ` + serviceSeen + `) AND ` + ofParam.Replace(ownerWrites) + `
RETURNING c.id_service_config`
	setServiceConfigSpecificSQL = `
WITH cfg AS (
  SELECT c.id_service_config FROM core.t_services_configs c
   WHERE c.id_service_config = @id AND c.deleted_at IS NULL AND ` + ofRow.Replace(ownerWrites) + `),
upd AS (
  UPDATE core.t_services_configs_specifics x SET service_config_specific_config = @config FROM cfg
   WHERE x.id_service_config = cfg.id_service_config AND x.service_config_specific_id = @specific AND x.deleted_at IS NULL
  RETURNING 1),
ins AS (
  INSERT INTO core.t_services_configs_specifics (id_service_config, service_config_specific_id, service_config_specific_config)
  SELECT cfg.id_service_config, @specific, @config FROM cfg WHERE NOT EXISTS (SELECT 1 FROM upd)
  RETURNING 1),
touch AS (
  UPDATE core.t_services_configs c SET version_id = c.version_id FROM cfg WHERE c.id_service_config = cfg.id_service_config
  RETURNING c.id_service_config)
SELECT id_service_config FROM touch`
	deleteServiceConfigSQL = `
WITH cur AS (SELECT id_service_config FROM core.t_services_configs WHERE id_service_config = @id AND deleted_at IS NULL),
del AS (
  UPDATE core.t_services_configs c SET deleted_at = now() FROM cur
   WHERE c.id_service_config = cur.id_service_config AND c.id_service ` + serviceSeen + ` AND ` + ofRow.Replace(ownerWrites) + `
  RETURNING c.id_service_config)
SELECT (SELECT id_service_config FROM del) FROM cur`
)

// InsertServiceConfig creates a configuration of a service the scope sees for an owner it may
// write (ErrNotFound otherwise); its global configuration is {} unless given.
func InsertServiceConfig(ctx context.Context, db DB, scope access.Scope, p ServiceConfigPatch) (int32, error) {
	return writeID(ctx, db, "insert service config", insertServiceConfigSQL, scope, p.args(0))
}

// UpdateServiceConfig changes a configuration whose current and new owners the scope may write
// and whose new service it sees (ErrNotFound otherwise).
func UpdateServiceConfig(ctx context.Context, db DB, scope access.Scope, id int32, p ServiceConfigPatch) error {
	_, err := writeID(ctx, db, "update service config", updateServiceConfigSQL, scope, p.args(id))
	return err
}

// SetServiceConfigSpecific writes the configuration specific to one client id (a change of the
// configuration: its version moves); ErrNotFound when the scope may not write it.
func SetServiceConfigSpecific(ctx context.Context, db DB, scope access.Scope, id int32, specific, config string) error {
	_, err := writeID(ctx, db, "set service config specific", setServiceConfigSpecificSQL, scope,
		pgx.NamedArgs{"id": id, "specific": specific, "config": config})
	return err
}

// DeleteServiceConfig soft-deletes a configuration (ErrNotFound for none; ErrRefused when the
// scope does not see its service or may not write its owner).
func DeleteServiceConfig(ctx context.Context, db DB, scope access.Scope, id int32) error {
	return guardedWrite(ctx, db, "delete service config", deleteServiceConfigSQL, scope, pgx.NamedArgs{"id": id})
}
