package core

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/assets: the user API's selectors and JSON (assets.go), and the writes a service
// makes as the owner of asset files (OpenTera's filetransfer service posts here).

const msgAssetSessionDenied = "Service can't create assets for that session"

func (s *serviceAPI) SvcGetAssets(ctx context.Context, r *corev1.SvcGetAssetsRequest) (*corev1.SvcGetAssetsResponse, error) {
	if proto.Equal(r, &corev1.SvcGetAssetsRequest{}) {
		return nil, apierr.MissingArgument("No arguments specified")
	}
	by, id, uuid, obj, msg, ok := assetSelector(&corev1.GetAssetsRequest{IdAsset: r.IdAsset, IdDevice: r.IdDevice,
		IdSession: r.IdSession, IdParticipant: r.IdParticipant, IdUser: r.IdUser, ServiceUuid: r.ServiceUuid,
		IdCreatorService: r.IdCreatorService, IdCreatorUser: r.IdCreatorUser, IdCreatorParticipant: r.IdCreatorParticipant,
		IdCreatorDevice: r.IdCreatorDevice})
	switch {
	case !ok:
		return nil, apierr.MissingArgument("Missing argument")
	case by == store.AssetByID:
		by = store.AssetInSession // OpenTera's query_asset: whatever its owner
	case by == store.AssetsByCreatorService:
		obj = "" // not checked by OpenTera; a service's scope lists its own only
	}
	if err := s.requireSelected(ctx, caller(ctx), obj, id, msg); err != nil {
		return nil, err
	}
	out, err := s.selectAssets(ctx, by, id, uuid, true, r.WithUrls, r.WithOnlyToken)
	if err != nil {
		return nil, err
	}
	return &corev1.SvcGetAssetsResponse{Assets: out}, nil
}

func (s *serviceAPI) SvcPostAsset(ctx context.Context, r *corev1.SvcPostAssetRequest) (*corev1.SvcPostAssetResponse, error) {
	b := r.GetAsset()
	w, err := s.assetWrite(ctx, b)
	if err != nil {
		return nil, err
	}
	m, id, owner := caller(ctx), b.GetIdAsset(), authn.FromContext(ctx).UUID
	err = s.write(ctx, func(tx store.DB) error {
		if id == 0 {
			id, err = store.InsertAsset(ctx, tx, m.acc, owner, w)
			return orDenied(err, msgAssetSessionDenied)
		}
		if b.AssetServiceUuid == nil {
			owner = ""
		}
		err := store.UpdateAsset(ctx, tx, m.acc, id, owner, w)
		return orSystem(orErr(err, store.ErrNotFound, apierr.InvalidArgument("Invalid asset")), msgAssetSessionDenied)
	})
	if err != nil {
		return nil, err
	}
	rows, err := store.SelectAssets(ctx, s.db, m.acc, store.AssetInSession, id, "")
	if err != nil || len(rows) == 0 {
		return nil, errOr(s.dbError(ctx, err), s.internal(ctx, store.ErrNotFound))
	}
	return &corev1.SvcPostAssetResponse{Assets: []*corev1.UserAsset{userAssetProto(rows[0], true)}}, nil
}

// assetWrite validates an {"asset": …} body as OpenTera does and resolves creators given by
// uuid among the service's principals.
func (s *serviceAPI) assetWrite(ctx context.Context, b *corev1.SvcAssetBody) (store.AssetWrite, error) {
	var w store.AssetWrite
	if b == nil {
		return w, apierr.MissingArgument("Missing asset field")
	}
	w = store.AssetWrite{Session: b.IdSession, Name: b.AssetName, Type: b.AssetType, Participant: b.IdParticipant,
		User: b.IdUser, Device: b.IdDevice, Service: b.IdService}
	create := b.GetIdAsset() == 0
	switch {
	case b.IdAsset == nil:
		return w, apierr.MissingArgument("Missing id_asset field")
	case b.GetIdAsset() < 0:
		return w, apierr.InvalidArgument("Invalid id_asset")
	case create && b.IdSession == nil || b.IdSession != nil && b.GetIdSession() < 1:
		return w, apierr.InvalidArgument("Unknown session")
	case create && b.AssetType == nil || b.AssetType != nil && strings.TrimSpace(b.GetAssetType()) == "":
		return w, apierr.InvalidArgument("Invalid asset type")
	case create && b.AssetName == nil || b.AssetName != nil && strings.TrimSpace(b.GetAssetName()) == "":
		return w, apierr.InvalidArgument("Invalid asset name")
	}
	var err error
	for _, t := range []struct {
		v, field string
		dst      **time.Time
	}{{b.GetAssetDatetime(), "asset_datetime", &w.Datetime}, {b.GetAssetExpirationDatetime(), "asset_expiration_datetime", &w.Expiration}} {
		if t.v != "" {
			if *t.dst, err = parseDatetime(t.v, t.field); err != nil {
				return w, err
			}
		}
	}
	for _, c := range []struct {
		uuid                     *string
		obj                      access.Object
		table, idCol, uuidCol, m string
		dst                      **int32
	}{{b.ParticipantUuid, access.Participants, "t_participants", "id_participant", "participant_uuid", "Invalid participant", &w.Participant},
		{b.UserUuid, access.Users, "t_users", "id_user", "user_uuid", "Invalid user", &w.User},
		{b.DeviceUuid, access.Devices, "t_devices", "id_device", "device_uuid", "Invalid device", &w.Device}} {
		if c.uuid == nil {
			continue
		}
		id, err := s.principalID(ctx, c.obj, c.table, c.idCol, c.uuidCol, *c.uuid, c.m)
		if err != nil {
			return w, err
		}
		*c.dst = &id
	}
	return w, nil
}

func (s *serviceAPI) SvcDeleteAsset(ctx context.Context, r *corev1.SvcDeleteAssetRequest) (*corev1.SvcDeleteAssetResponse, error) {
	if r.Uuid == "" {
		return nil, apierr.MissingArgument("Missing uuid")
	}
	err := s.write(ctx, func(tx store.DB) error {
		err := store.DeleteAsset(ctx, tx, caller(ctx).acc, r.Uuid)
		err = orErr(err, store.ErrNotFound, apierr.InvalidArgument("Missing arguments"))
		return orSystem(err, "Service can't delete assets for that session")
	})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcDeleteAssetResponse{}, nil
}
