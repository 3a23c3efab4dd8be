package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// ErrRefused: the row exists but the write is refused: it belongs to a system service or to
// OpenTeraServer, or a rule of the link (a service not enabled on a project's site) forbids it.
var ErrRefused = errors.New("refused")

// ServiceRow is a t_services row.
type ServiceRow struct {
	IDService                  int32   `db:"id_service"`
	ServiceUUID                string  `db:"service_uuid"`
	ServiceName                string  `db:"service_name"`
	ServiceKey                 string  `db:"service_key"`
	ServiceHostname            string  `db:"service_hostname"`
	ServicePort                int32   `db:"service_port"`
	ServiceEndpoint            string  `db:"service_endpoint"`
	ServiceClientendpoint      string  `db:"service_clientendpoint"`
	ServiceEndpointUser        *string `db:"service_endpoint_user"`
	ServiceEndpointParticipant *string `db:"service_endpoint_participant"`
	ServiceEndpointDevice      *string `db:"service_endpoint_device"`
	ServiceEnabled             bool    `db:"service_enabled"`
	ServiceSystem              bool    `db:"service_system"`
	ServiceEditableConfig      bool    `db:"service_editable_config"`
	ServiceDefaultConfig       *string `db:"service_default_config"`
	ServiceHasAssets           bool    `db:"service_has_assets"`
	ServiceHasTests            bool    `db:"service_has_tests"`
}

// ServiceFilter selects services; nil fields do not filter.
type ServiceFilter struct {
	// WithServer lists OpenTeraServer too (the user API's services never do).
	WithServer bool
	IDService  *int32
	UUID, Key  *string
	// IDProject and IDSite keep the services linked to that project or site of the scope.
	IDProject, IDSite *int32
	// EditableConfig keeps services with an editable configuration.
	EditableConfig bool
	// Registry looks services up whatever the scope, OpenTeraServer included (the service
	// API's registry, open to every service as in OpenTera).
	Registry bool
}

const listServicesSQL = `
SELECT s.id_service, s.service_uuid, s.service_name, s.service_key, s.service_hostname, s.service_port,
       s.service_endpoint, s.service_clientendpoint, s.service_endpoint_user, s.service_endpoint_participant,
       s.service_endpoint_device, s.service_enabled, s.service_system, s.service_editable_config,
       s.service_default_config, s.service_has_assets, s.service_has_tests
  FROM core.t_services s
 WHERE s.deleted_at IS NULL
   AND (@registry::boolean OR (@with_server::boolean OR s.service_key <> 'OpenTeraServer')
        AND s.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
   AND (@id_service::integer IS NULL OR s.id_service = @id_service)
   AND (@uuid::text IS NULL OR s.service_uuid = @uuid)
   AND (@key::text IS NULL OR s.service_key = @key)
   AND (@id_project::integer IS NULL OR s.id_service IN
        (SELECT sp.id_service FROM core.t_services_projects sp WHERE sp.id_project = @id_project AND sp.deleted_at IS NULL
            AND sp.id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))))
   AND (@id_site::integer IS NULL OR s.id_service IN
        (SELECT ss.id_service FROM core.t_services_sites ss WHERE ss.id_site = @id_site AND ss.deleted_at IS NULL
            AND ss.id_site IN (SELECT id FROM core.acc_sites(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))))
   AND (NOT @editable::boolean OR s.service_editable_config)
 ORDER BY s.id_service`

// ListServices returns the services of the scope that match f, by id.
func ListServices(ctx context.Context, db DB, scope access.Scope, f ServiceFilter) ([]ServiceRow, error) {
	return list[ServiceRow](ctx, db, "list services", listServicesSQL, scope, pgx.NamedArgs{"id_service": f.IDService,
		"uuid": f.UUID, "key": f.Key, "id_project": f.IDProject, "id_site": f.IDSite, "editable": f.EditableConfig,
		"with_server": f.WithServer, "registry": f.Registry})
}

// NullText is a patch of a nullable text column: Set with a nil Value clears it.
type NullText struct {
	Set   bool
	Value *string
}

// ServicePatch is a partial update of a service; nil (or unset) fields are left unchanged.
type ServicePatch struct {
	Name, Key, Hostname, Endpoint, ClientEndpoint *string
	Port                                          *int32
	EndpointUser, EndpointParticipant             NullText
	EndpointDevice, DefaultConfig                 NullText
	Enabled, System, EditableConfig               *bool
	HasAssets, HasTests                           *bool
}

func (p ServicePatch) args(id int32) pgx.NamedArgs {
	return pgx.NamedArgs{"id_service": id, "service_name": p.Name, "service_key": p.Key, "service_hostname": p.Hostname,
		"service_endpoint": p.Endpoint, "service_clientendpoint": p.ClientEndpoint, "service_port": p.Port,
		"set_user": p.EndpointUser.Set, "service_endpoint_user": p.EndpointUser.Value,
		"set_participant": p.EndpointParticipant.Set, "service_endpoint_participant": p.EndpointParticipant.Value,
		"set_device": p.EndpointDevice.Set, "service_endpoint_device": p.EndpointDevice.Value,
		"set_config": p.DefaultConfig.Set, "service_default_config": p.DefaultConfig.Value,
		"service_enabled": p.Enabled, "service_system": p.System, "service_editable_config": p.EditableConfig,
		"service_has_assets": p.HasAssets, "service_has_tests": p.HasTests}
}

const insertServiceSQL = `
INSERT INTO core.t_services (service_uuid, service_name, service_key, service_hostname, service_port, service_endpoint,
       service_clientendpoint, service_endpoint_user, service_endpoint_participant, service_endpoint_device,
       service_enabled, service_system, service_editable_config, service_default_config, service_has_assets, service_has_tests)
SELECT gen_random_uuid()::text, @service_name, @service_key, @service_hostname, @service_port, @service_endpoint,
       @service_clientendpoint, @service_endpoint_user, @service_endpoint_participant, @service_endpoint_device,
       coalesce(@service_enabled::boolean, false), coalesce(@service_system::boolean, false),
       coalesce(@service_editable_config::boolean, false),
       CASE WHEN @set_config::boolean THEN @service_default_config::text ELSE '{}' END,
       coalesce(@service_has_assets::boolean, false), coalesce(@service_has_tests::boolean, false)
 WHERE core.is_superadmin(@acc_kind::text, @acc_id::integer)
RETURNING id_service`

// InsertService creates a service with a new uuid; only a superadmin's scope may (ErrNotFound
// otherwise).
func InsertService(ctx context.Context, db DB, scope access.Scope, p ServicePatch) (int32, error) {
	return writeID(ctx, db, "insert service", insertServiceSQL, scope, p.args(0))
}

const updateServiceSQL = `
WITH cur AS (
  SELECT id_service, service_system FROM core.t_services
   WHERE id_service = @id_service AND deleted_at IS NULL AND service_key <> 'OpenTeraServer'
     AND core.is_superadmin(@acc_kind::text, @acc_id::integer)),
upd AS (
  UPDATE core.t_services s
     SET service_name = coalesce(@service_name, s.service_name),
         service_key = coalesce(@service_key, s.service_key),
         service_hostname = coalesce(@service_hostname, s.service_hostname),
         service_port = coalesce(@service_port, s.service_port),
         service_endpoint = coalesce(@service_endpoint, s.service_endpoint),
         service_clientendpoint = coalesce(@service_clientendpoint, s.service_clientendpoint),
         service_endpoint_user = CASE WHEN @set_user::boolean THEN @service_endpoint_user ELSE s.service_endpoint_user END,
         service_endpoint_participant = CASE WHEN @set_participant::boolean THEN @service_endpoint_participant
                                             ELSE s.service_endpoint_participant END,
         service_endpoint_device = CASE WHEN @set_device::boolean THEN @service_endpoint_device ELSE s.service_endpoint_device END,
         service_default_config = CASE WHEN @set_config::boolean THEN @service_default_config ELSE s.service_default_config END,
         service_enabled = coalesce(@service_enabled, s.service_enabled),
         service_editable_config = coalesce(@service_editable_config, s.service_editable_config),
         service_has_assets = coalesce(@service_has_assets, s.service_has_assets),
         service_has_tests = coalesce(@service_has_tests, s.service_has_tests)
    FROM cur
   WHERE s.id_service = cur.id_service AND (@service_system::boolean IS NULL OR cur.service_system = @service_system)
  RETURNING s.id_service)
SELECT (SELECT id_service FROM upd) FROM cur`

// UpdateService changes a service (superadmin scope, never OpenTeraServer: ErrNotFound);
// service_system cannot change (ErrRefused).
func UpdateService(ctx context.Context, db DB, scope access.Scope, id int32, p ServicePatch) error {
	return guardedWrite(ctx, db, "update service", updateServiceSQL, scope, p.args(id))
}

const deleteServiceSQL = `
WITH cur AS (
  SELECT id_service, service_system FROM core.t_services
   WHERE id_service = @id_service AND deleted_at IS NULL AND core.is_superadmin(@acc_kind::text, @acc_id::integer)),
del AS (
  UPDATE core.t_services s SET deleted_at = now() FROM cur
   WHERE s.id_service = cur.id_service AND NOT cur.service_system RETURNING s.id_service)
SELECT (SELECT id_service FROM del) FROM cur`

// DeleteService soft-deletes a service of a superadmin's scope (ErrNotFound otherwise); system
// services stay (ErrRefused). The schema cascades and refuses.
func DeleteService(ctx context.Context, db DB, scope access.Scope, id int32) error {
	return guardedWrite(ctx, db, "delete service", deleteServiceSQL, scope, pgx.NamedArgs{"id_service": id})
}

// guardedWrite runs a statement of the form `WITH cur AS (<the row in scope>), w AS (<the write,
// if allowed> RETURNING id) SELECT (SELECT id FROM w) FROM cur`: no row is ErrNotFound, a null id
// (the row is there, the write refused) ErrRefused.
func guardedWrite(ctx context.Context, db DB, what, sql string, scope access.Scope, args pgx.NamedArgs) error {
	var id *int32
	if err := db.QueryRow(ctx, sql, scope.Args(args)).Scan(&id); err != nil {
		return wrap(what, err)
	}
	if id == nil {
		return ErrRefused
	}
	return nil
}

const serviceIDOfSQL = `
SELECT id_service FROM core.t_services
 WHERE deleted_at IS NULL AND (service_uuid = @uuid::text OR service_key = @key::text)`

// ServiceIDOf is the id of the live service with that uuid or key (the other nil; ErrNotFound
// when none). It reveals nothing the caller's scoped reads and writes do not check.
func ServiceIDOf(ctx context.Context, db DB, uuid, key *string) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, serviceIDOfSQL, pgx.NamedArgs{"uuid": uuid, "key": key}).Scan(&id)
	return id, wrap("service id", err)
}
