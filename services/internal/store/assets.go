package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// The selectors of the user API (OpenTera's UserQueryAssets) and of the participant and device
// APIs (their own assets: those they are the id_participant / id_device of).

// Asset is a t_assets row with what OpenTera's full JSON adds (names of its session, owner
// service and creators), and the owner service's client endpoint and enabled flag for URLs.
type Asset struct {
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
	SessionName             string     `db:"session_name"`
	OwnerName               string     `db:"owner_name"`
	OwnerKey                string     `db:"owner_key"`
	OwnerEndpoint           string     `db:"owner_endpoint"`
	OwnerEnabled            bool       `db:"owner_enabled"`
	DeviceName              *string    `db:"device_name"`
	UserName                *string    `db:"user_name"`
	ParticipantName         *string    `db:"participant_name"`
	ServiceName             *string    `db:"service_name"`
}

// AssetSelector says which assets to list (OpenTera's UserQueryAssets selectors).
type AssetSelector int

const (
	AssetsOfDevice             AssetSelector = iota // invited to the asset's session, or its creator
	AssetsOfSession                                 // of one session
	AssetsOfParticipant                             // invited to the asset's session, or its creator
	AssetsOfUser                                    // invited to the asset's session, or its creator
	AssetsByCreatorService                          // t_assets.id_service
	AssetsByCreatorUser                             // t_assets.id_user
	AssetsByCreatorParticipant                      // t_assets.id_participant
	AssetsByCreatorDevice                           // t_assets.id_device
	AssetByID                                       // one asset
	AssetByUUID                                     // one asset
	AssetsOfOwner                                   // owned by the service of that uuid
	OwnAssets                                       // the calling participant's or device's
	OwnAssetByID                                    // one of them
	OwnAssetByUUID                                  // one of them
	OwnAssetsOfSession                              // those of one session
)

// ownAsset is true for an asset of the calling participant or device (OpenTera's
// get_accessible_assets of those principals).
const ownAsset = `CASE @acc_kind::text WHEN 'participant' THEN a.id_participant = @acc_id::integer
	  WHEN 'device' THEN a.id_device = @acc_id::integer ELSE false END`

// Every asset listed is in a session the caller sees (users: OpenTera's query_session, the
// session's creator, invitees and project; others: acc_sessions). OpenTera skips that check on
// the device, participant and user selectors, so an account seeing a device also saw the
// assets of sessions it cannot open; Tera does not.
const assetCols = `SELECT a.id_asset, a.id_session, a.id_device, a.id_participant, a.id_user, a.id_service, a.asset_name,
       a.asset_uuid, a.asset_service_uuid, a.asset_type, a.asset_datetime, a.asset_expiration_datetime,
       s.session_name, o.service_name AS owner_name, o.service_key AS owner_key, o.service_clientendpoint AS owner_endpoint,
       o.service_enabled AS owner_enabled, d.device_name,
       u.user_firstname || ' ' || u.user_lastname AS user_name, p.participant_name, sv.service_name
  FROM core.t_assets a
  JOIN core.t_sessions s ON s.id_session = a.id_session AND s.deleted_at IS NULL
  JOIN core.t_services o ON o.service_uuid = a.asset_service_uuid
  LEFT JOIN core.t_devices d ON d.id_device = a.id_device
  LEFT JOIN core.t_users u ON u.id_user = a.id_user
  LEFT JOIN core.t_participants p ON p.id_participant = a.id_participant
  LEFT JOIN core.t_services sv ON sv.id_service = a.id_service
 WHERE a.deleted_at IS NULL
   AND CASE WHEN @acc_kind::text = 'user' THEN core.user_can_session(@acc_id::integer, a.id_session)
            ELSE a.id_session IN (SELECT x.id FROM core.acc_sessions(@acc_kind::text, @acc_id::integer, false) x) END
   AND `

// The selector's predicate, with the access rule OpenTera applies to it (the selected object
// must be visible; one asset also needs its owner service visible).
var assetWhere = map[AssetSelector]string{
	AssetsOfDevice: `(a.id_device = @id OR a.id_session IN (SELECT sd.id_session FROM core.t_sessions_devices sd
	    WHERE sd.id_device = @id AND sd.deleted_at IS NULL))
	  AND @id IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x)`,
	AssetsOfSession: `a.id_session = @id`,
	AssetsOfParticipant: `(a.id_participant = @id OR a.id_session IN (SELECT sp.id_session FROM core.t_sessions_participants sp
	    WHERE sp.id_participant = @id AND sp.deleted_at IS NULL))
	  AND @id IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x)`,
	AssetsOfUser: `(a.id_user = @id OR a.id_session IN (SELECT su.id_session FROM core.t_sessions_users su
	    WHERE su.id_user = @id AND su.deleted_at IS NULL))
	  AND @id IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x)`,
	AssetsByCreatorService:     `a.id_service = @id AND @id IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x)`,
	AssetsByCreatorUser:        `a.id_user = @id AND @id IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x)`,
	AssetsByCreatorParticipant: `a.id_participant = @id AND @id IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x)`,
	AssetsByCreatorDevice:      `a.id_device = @id AND @id IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x)`,
	AssetByID:                  `a.id_asset = @id AND o.id_service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x)`,
	AssetByUUID:                `a.asset_uuid = @uuid AND o.id_service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x)`,
	OwnAssets:                  ownAsset,
	OwnAssetByID:               ownAsset + ` AND a.id_asset = @id`,
	OwnAssetByUUID:             ownAsset + ` AND a.asset_uuid = @uuid`,
	OwnAssetsOfSession:         ownAsset + ` AND a.id_session = @id`,
	AssetsOfOwner: `a.asset_service_uuid = @uuid
	  AND (a.id_service IS NULL OR a.id_service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x))`,
}

var assetQueries = func() map[AssetSelector]string {
	out := map[AssetSelector]string{}
	for k, w := range assetWhere {
		out[k] = assetCols + w + "\n ORDER BY a.id_asset"
	}
	return out
}()

// SelectAssets returns the assets one selector names (id for the id selectors, uuid for
// AssetByUUID and AssetsOfOwner) that the caller may see, by id. An invisible selected object
// yields none; surfaces that answer 403 for it check the object first.
func SelectAssets(ctx context.Context, db DB, scope access.Scope, by AssetSelector, id int32, uuid string) ([]Asset, error) {
	q, ok := assetQueries[by]
	if !ok {
		return nil, fmt.Errorf("select assets: unknown selector %d", by)
	}
	return list[Asset](ctx, db, "select assets", q, scope, pgx.NamedArgs{"id": id, "uuid": uuid})
}
