package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ServiceRegistration is an external service declared in the configuration (OpenTera's
// ServiceLauncher registry, without spawning processes): the t_services row it owns, and the
// SHA-256 of its client secret.
type ServiceRegistration struct {
	Key, Name, Hostname                               string
	Port                                              int32
	Endpoint, ClientEndpoint                          string
	EndpointUser, EndpointParticipant, EndpointDevice *string
	EditableConfig, HasAssets, HasTests               bool
	DefaultConfig                                     *string
	SecretSHA256                                      []byte // nil keeps the stored credential
}

// RegisteredService says what registering one service did.
type RegisteredService struct {
	Key       string
	IDService int32
	UUID      string
	// Skipped names why the row was left alone (deleted by an administrator, a system service).
	Skipped string
}

// registrationLock serializes registrations of every replica (pg_advisory_xact_lock key).
const registrationLock = 0x7465726173766373 // "terasvcs"

// upsertService creates the row enabled, or brings a live non-system row up to date. It never
// touches service_enabled of an existing row: an administrator who disabled a service keeps it
// disabled across restarts. Rows already equal are not written, so a restart of every replica
// produces no DatabaseEvent.
const upsertService = `INSERT INTO core.t_services AS s (service_uuid, service_name, service_key, service_hostname, service_port,
	service_endpoint, service_clientendpoint, service_endpoint_user, service_endpoint_participant, service_endpoint_device,
	service_enabled, service_system, service_editable_config, service_default_config, service_has_assets, service_has_tests)
VALUES (@uuid, @name, @key, @hostname, @port, @endpoint, @clientendpoint, @eu, @ep, @ed, true, false, @editable,
	coalesce(@default_config, '{}'), @assets, @tests)
ON CONFLICT (service_key) DO UPDATE SET service_name = EXCLUDED.service_name, service_hostname = EXCLUDED.service_hostname,
	service_port = EXCLUDED.service_port, service_endpoint = EXCLUDED.service_endpoint,
	service_clientendpoint = EXCLUDED.service_clientendpoint, service_endpoint_user = EXCLUDED.service_endpoint_user,
	service_endpoint_participant = EXCLUDED.service_endpoint_participant, service_endpoint_device = EXCLUDED.service_endpoint_device,
	service_editable_config = EXCLUDED.service_editable_config, service_default_config = EXCLUDED.service_default_config,
	service_has_assets = EXCLUDED.service_has_assets, service_has_tests = EXCLUDED.service_has_tests,
	version_id = core.epoch_ms()
WHERE s.deleted_at IS NULL AND NOT s.service_system AND
	(s.service_name, s.service_hostname, s.service_port, s.service_endpoint, s.service_clientendpoint, s.service_endpoint_user,
	 s.service_endpoint_participant, s.service_endpoint_device, s.service_editable_config, s.service_default_config,
	 s.service_has_assets, s.service_has_tests)
	IS DISTINCT FROM
	(EXCLUDED.service_name, EXCLUDED.service_hostname, EXCLUDED.service_port, EXCLUDED.service_endpoint,
	 EXCLUDED.service_clientendpoint, EXCLUDED.service_endpoint_user, EXCLUDED.service_endpoint_participant,
	 EXCLUDED.service_endpoint_device, EXCLUDED.service_editable_config, EXCLUDED.service_default_config,
	 EXCLUDED.service_has_assets, EXCLUDED.service_has_tests)`

const serviceByKey = `SELECT id_service, service_uuid, deleted_at IS NOT NULL, service_system FROM core.t_services WHERE service_key = $1`

const upsertCredential = `INSERT INTO core.t_services_credentials AS c (id_service, secret_sha256) VALUES ($1, $2)
ON CONFLICT (id_service) DO UPDATE SET secret_sha256 = EXCLUDED.secret_sha256, updated_at = now()
WHERE c.secret_sha256 <> EXCLUDED.secret_sha256`

// RegisterServices registers or updates the declared services in one transaction, under an
// advisory lock so that replicas starting together run one after the other (the second finds
// nothing to change). Safe to run at every start of every replica.
func RegisterServices(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, regs []ServiceRegistration) ([]RegisteredService, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, MapError(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(registrationLock)); err != nil {
		return nil, MapError(err)
	}
	out := make([]RegisteredService, 0, len(regs))
	for _, r := range regs {
		res, err := registerService(ctx, tx, r)
		if err != nil {
			return nil, fmt.Errorf("register service %s: %w", r.Key, err)
		}
		out = append(out, res)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, MapError(err)
	}
	return out, nil
}

func registerService(ctx context.Context, tx pgx.Tx, r ServiceRegistration) (RegisteredService, error) {
	if len(r.SecretSHA256) != 0 && len(r.SecretSHA256) != 32 {
		return RegisteredService{}, errors.New("secret hash must be 32 bytes (SHA-256)")
	}
	_, err := tx.Exec(ctx, upsertService, pgx.NamedArgs{"uuid": uuid.NewString(), "name": r.Name, "key": r.Key,
		"hostname": r.Hostname, "port": r.Port, "endpoint": r.Endpoint, "clientendpoint": r.ClientEndpoint,
		"eu": r.EndpointUser, "ep": r.EndpointParticipant, "ed": r.EndpointDevice, "editable": r.EditableConfig,
		"default_config": r.DefaultConfig, "assets": r.HasAssets, "tests": r.HasTests})
	if err != nil {
		return RegisteredService{}, MapError(err)
	}
	res := RegisteredService{Key: r.Key}
	var deleted, system bool
	if err := tx.QueryRow(ctx, serviceByKey, r.Key).Scan(&res.IDService, &res.UUID, &deleted, &system); err != nil {
		return RegisteredService{}, MapError(err)
	}
	switch {
	case deleted:
		res.Skipped = "deleted by an administrator; remove it from the configuration or restore the row"
		return res, nil
	case system:
		res.Skipped = "a system service of the fleet; external services may not take its key"
		return res, nil
	}
	if r.SecretSHA256 != nil {
		if _, err := tx.Exec(ctx, upsertCredential, res.IDService, r.SecretSHA256); err != nil {
			return RegisteredService{}, MapError(err)
		}
	}
	return res, nil
}

// ServiceCredential is what the login target checks a client credentials grant against.
type ServiceCredential struct {
	IDService    int32
	UUID         string
	Enabled      bool
	SecretSHA256 []byte
}

// GetServiceCredential returns the live service of a key with its credential; ErrNotFound when
// there is no such service or it has no credential.
func GetServiceCredential(ctx context.Context, db DB, key string) (ServiceCredential, error) {
	var c ServiceCredential
	err := db.QueryRow(ctx, `SELECT s.id_service, s.service_uuid, s.service_enabled, c.secret_sha256
		FROM core.t_services s JOIN core.t_services_credentials c ON c.id_service = s.id_service
		WHERE s.service_key = $1 AND s.deleted_at IS NULL`, key).Scan(&c.IDService, &c.UUID, &c.Enabled, &c.SecretSHA256)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, MapError(err)
}
