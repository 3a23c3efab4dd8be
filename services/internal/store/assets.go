package store

import (
	"context"
	"fmt"
	"strings"
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
	AssetInSession                                  // one asset, whatever its owner (the service API)
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
	AssetInSession:             `a.id_asset = @id`,
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

// AssetWrite is a service's write of an asset (OpenTera's ServiceQueryAssets POST); nil fields
// are left unchanged. The creators are checked visible to the caller in the write statement.
type AssetWrite struct {
	Session                            *int32
	Name, Type                         *string
	Datetime, Expiration               *time.Time
	Participant, User, Device, Service *int32
}

func (w AssetWrite) args(id int32, owner string) pgx.NamedArgs {
	return pgx.NamedArgs{"id": id, "owner": owner, "session": w.Session, "name": w.Name, "type": w.Type,
		"datetime": w.Datetime, "expiration": w.Expiration, "participant": w.Participant, "user": w.User,
		"device": w.Device, "service": w.Service}
}

// assetWritable is the condition that the caller sees the asset's session (@session, or the
// current one) and every creator named.
const assetWritable = `core.can_session(@acc_kind::text, @acc_id::integer, {session})
   AND (@participant::integer IS NULL OR @participant IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x))
   AND (@user::integer IS NULL OR @user IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x))
   AND (@device::integer IS NULL OR @device IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x))
   AND (@service::integer IS NULL OR @service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x))`

var (
	insertAssetSQL = `
INSERT INTO core.t_assets (id_session, id_participant, id_user, id_device, id_service, asset_name, asset_uuid,
       asset_service_uuid, asset_type, asset_datetime, asset_expiration_datetime)
SELECT @session, @participant, @user, @device, @service, @name, gen_random_uuid()::text, @owner, @type,
       @datetime, @expiration
 WHERE ` + strings.ReplaceAll(assetWritable, "{session}", "@session::integer") + `
RETURNING id_asset`
	// The owner becomes the caller when the body names one (OpenTera's "identity theft" guard).
	updateAssetSQL = `
WITH cur AS (SELECT a.id_asset, a.id_session FROM core.t_assets a WHERE a.id_asset = @id AND a.deleted_at IS NULL),
w AS (
  UPDATE core.t_assets a
     SET id_session = coalesce(@session, a.id_session), id_participant = coalesce(@participant, a.id_participant),
         id_user = coalesce(@user, a.id_user), id_device = coalesce(@device, a.id_device),
         id_service = coalesce(@service, a.id_service), asset_name = coalesce(@name, a.asset_name),
         asset_type = coalesce(@type, a.asset_type), asset_datetime = coalesce(@datetime, a.asset_datetime),
         asset_expiration_datetime = coalesce(@expiration, a.asset_expiration_datetime),
         asset_service_uuid = coalesce(@owner, a.asset_service_uuid)
    FROM cur
   WHERE a.id_asset = cur.id_asset AND core.can_session(@acc_kind::text, @acc_id::integer, cur.id_session)
     AND ` + strings.ReplaceAll(assetWritable, "{session}", "coalesce(@session::integer, cur.id_session)") + `
  RETURNING a.id_asset)
SELECT (SELECT id_asset FROM w) FROM cur`
	deleteAssetSQL = `
WITH cur AS (SELECT a.id_asset, a.id_session FROM core.t_assets a WHERE a.asset_uuid = @uuid AND a.deleted_at IS NULL),
w AS (
  UPDATE core.t_assets a SET deleted_at = now() FROM cur
   WHERE a.id_asset = cur.id_asset AND core.can_session(@acc_kind::text, @acc_id::integer, cur.id_session)
  RETURNING a.id_asset)
SELECT (SELECT id_asset FROM w) FROM cur`
)

// InsertAsset creates an asset owned by the service of uuid owner in a session the scope sees,
// its creators among those the scope sees (ErrNotFound otherwise).
func InsertAsset(ctx context.Context, db DB, scope access.Scope, owner string, w AssetWrite) (int32, error) {
	return writeID(ctx, db, "insert asset", insertAssetSQL, scope, w.args(0, owner))
}

// UpdateAsset changes a live asset of a session the scope sees (and may move it to another
// one); owner "" keeps its owner service. ErrNotFound for no such asset, ErrRefused outside
// the scope.
func UpdateAsset(ctx context.Context, db DB, scope access.Scope, id int32, owner string, w AssetWrite) error {
	a := w.args(id, owner)
	if owner == "" {
		a["owner"] = nil
	}
	return guardedWrite(ctx, db, "update asset", updateAssetSQL, scope, a)
}

// DeleteAsset soft-deletes the live asset of that uuid in a session the scope sees (ErrNotFound
// for none, ErrRefused outside the scope).
func DeleteAsset(ctx context.Context, db DB, scope access.Scope, uuid string) error {
	return guardedWrite(ctx, db, "delete asset", deleteAssetSQL, scope, pgx.NamedArgs{"uuid": uuid})
}
