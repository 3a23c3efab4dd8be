package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// AssetRow is a t_assets row with the names OpenTera's asset JSON adds: its owner service's
// and session's, and those of the creators that are set.
type AssetRow struct {
	IDAsset                 int32      `db:"id_asset"`
	IDSession               int32      `db:"id_session"`
	IDDevice                *int32     `db:"id_device"`
	IDParticipant           *int32     `db:"id_participant"`
	IDUser                  *int32     `db:"id_user"`
	IDService               *int32     `db:"id_service"`
	AssetName               string     `db:"asset_name"`
	AssetUUID               string     `db:"asset_uuid"`
	AssetServiceUUID        string     `db:"asset_service_uuid"`
	AssetType               string     `db:"asset_type"`
	AssetDatetime           *time.Time `db:"asset_datetime"`
	AssetExpirationDatetime *time.Time `db:"asset_expiration_datetime"`
	ServiceOwnerName        string     `db:"service_owner_name"`
	SessionName             string     `db:"session_name"`
	DeviceName              *string    `db:"device_name"`
	UserName                *string    `db:"user_name"`
	ParticipantName         *string    `db:"participant_name"`
	ServiceName             *string    `db:"service_name"`
}

// AssetFilter narrows a list of assets; nil fields do not filter.
type AssetFilter struct {
	ID      *int32
	UUID    *string
	Session *int32
}

// AssetsQuery is the SQL of ListAssets. Which assets a caller sees: participants and devices
// those they are the id_participant / id_device of (OpenTera's participant and device access);
// users and services those of sessions they see owned by services they see (REFERENCE §2).
const AssetsQuery = `
SELECT a.id_asset, a.id_session, a.id_device, a.id_participant, a.id_user, a.id_service, a.asset_name, a.asset_uuid,
       a.asset_service_uuid, a.asset_type, a.asset_datetime, a.asset_expiration_datetime,
       so.service_name AS service_owner_name, se.session_name, d.device_name,
       u.user_firstname || ' ' || u.user_lastname AS user_name, p.participant_name, sv.service_name
  FROM core.t_assets a
  JOIN core.t_services so ON so.service_uuid = a.asset_service_uuid
  JOIN core.t_sessions se ON se.id_session = a.id_session AND se.deleted_at IS NULL
  LEFT JOIN core.t_devices d ON d.id_device = a.id_device
  LEFT JOIN core.t_users u ON u.id_user = a.id_user
  LEFT JOIN core.t_participants p ON p.id_participant = a.id_participant
  LEFT JOIN core.t_services sv ON sv.id_service = a.id_service
 WHERE a.deleted_at IS NULL
   AND CASE @acc_kind::text
       WHEN 'participant' THEN a.id_participant = @acc_id::integer
       WHEN 'device' THEN a.id_device = @acc_id::integer
       ELSE a.id_session IN (SELECT id FROM core.acc_sessions(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
        AND so.id_service IN (SELECT id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false)) END
   AND (@id::integer IS NULL OR a.id_asset = @id)
   AND (@uuid::text IS NULL OR a.asset_uuid = @uuid)
   AND (@session::integer IS NULL OR a.id_session = @session)
 ORDER BY a.id_asset`

// ListAssets returns the assets of the scope that match f.
func ListAssets(ctx context.Context, db DB, scope access.Scope, f AssetFilter) ([]AssetRow, error) {
	return list[AssetRow](ctx, db, "list assets", AssetsQuery, scope, pgx.NamedArgs{"id": f.ID, "uuid": f.UUID, "session": f.Session})
}
