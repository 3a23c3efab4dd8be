package core

import (
	"context"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"time"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/assets

type assets struct {
	*Service
	corev1.UnimplementedAssetServiceServer
}

// WithAssetTokens lets with_urls sign asset access tokens (and build URLs on publicURL); without
// it with_urls answers 503.
func (s *Service) WithAssetTokens(signer *authn.Signer, publicURL string) *Service {
	s.signer, s.publicURL = signer, strings.TrimSuffix(publicURL, "/")
	return s
}

// assetSelector is OpenTera's if/elif order of selectors; obj/msg is the 403 check of the
// selected object (id_device is declared in proto; sessions use OpenTera's query_session).
func assetSelector(r *corev1.GetAssetsRequest) (by store.AssetSelector, id int32, uuid string, obj access.Object, msg string, ok bool) {
	if c, ok := firstSelected([]idSelector[store.AssetSelector]{{r.IdDevice, store.AssetsOfDevice, "", ""},
		{r.IdSession, store.AssetsOfSession, access.Sessions, "Session access denied"},
		{r.IdParticipant, store.AssetsOfParticipant, access.Participants, "Participant access denied"},
		{r.IdUser, store.AssetsOfUser, access.Users, "User access denied"},
		{r.IdCreatorService, store.AssetsByCreatorService, access.Services, "Service access denied"},
		{r.IdCreatorUser, store.AssetsByCreatorUser, access.Users, "User access denied"},
		{r.IdCreatorParticipant, store.AssetsByCreatorParticipant, access.Participants, "Participant access denied"},
		{r.IdCreatorDevice, store.AssetsByCreatorDevice, access.Devices, "Device access denied"},
		{r.IdAsset, store.AssetByID, "", ""}}); ok {
		return c.by, c.id, "", c.obj, c.msg, true
	}
	switch {
	case r.AssetUuid != "":
		return store.AssetByUUID, 0, r.AssetUuid, "", "", true
	case r.ServiceUuid != "":
		return store.AssetsOfOwner, 0, r.ServiceUuid, "", "", true
	}
	return 0, 0, "", "", "", false
}

func (s *assets) GetAssets(ctx context.Context, r *corev1.GetAssetsRequest) (*corev1.GetAssetsResponse, error) {
	if proto.Equal(r, &corev1.GetAssetsRequest{}) {
		return nil, apierr.MissingArgument("No arguments specified")
	}
	by, id, uuid, obj, msg, ok := assetSelector(r)
	if !ok {
		return nil, apierr.MissingArgument("Missing argument")
	}
	m := caller(ctx)
	if err := s.requireSelected(ctx, m, obj, id, msg); err != nil {
		return nil, err
	}
	out, err := s.selectAssets(ctx, by, id, uuid, r.Full, r.WithUrls, r.WithOnlyToken)
	return reply(&corev1.GetAssetsResponse{Assets: out}, err)
}

// selectAssets lists the assets of one selector in the caller's scope as OpenTera's JSON: the
// minimal or full form, with_urls adding an access token and the owner's URLs, with_only_token
// the uuid and token alone.
func (s *Service) selectAssets(ctx context.Context, by store.AssetSelector, id int32, uuid string, full, withURLs, onlyToken bool) ([]*corev1.UserAsset, error) {
	rows, err := store.SelectAssets(ctx, s.db, caller(ctx).acc, by, id, uuid)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.UserAsset, 0, len(rows))
	for _, a := range rows {
		p := &corev1.UserAsset{AssetUuid: &a.AssetUUID}
		if !onlyToken {
			p = userAssetProto(a, full)
		}
		if withURLs || onlyToken {
			tok, err := s.sign(func(sg *authn.Signer) (string, error) {
				return sg.AssetToken(authn.FromContext(ctx).UUID, []string{a.AssetUUID})
			})
			if err != nil {
				return nil, err
			}
			p.AccessToken = &tok
		}
		if withURLs && !onlyToken {
			p.AssetUrl, p.AssetInfosUrl = s.assetURLs(a)
		}
		out = append(out, p)
	}
	return out, nil
}

// sign signs one access token with the service's signer (OpenTera signs one per asset, test
// or test type too).
func (s *Service) sign(fn func(*authn.Signer) (string, error)) (string, error) {
	if s.signer == nil {
		return "", apierr.Unavailable("access tokens are not available on this server")
	}
	tok, err := fn(s.signer)
	if err != nil {
		return "", apierr.Internal("access token: " + err.Error())
	}
	return tok, nil
}

// assetURLs are the owner service's /api/assets and /api/assets/infos on the public URL (null
// when the owner is disabled). Core stores no files: assets OpenTeraServer owns are served by
// the filetransfer target (/file).
func (s *Service) assetURLs(a store.Asset) (*structpb.Value, *structpb.Value) {
	if !a.OwnerEnabled {
		return structpb.NewNullValue(), structpb.NewNullValue()
	}
	ep := strings.TrimSuffix(a.OwnerEndpoint, "/")
	if a.OwnerKey == "OpenTeraServer" {
		ep = "/file"
	}
	base := s.publicURL + ep + "/api/assets"
	return structpb.NewStringValue(base), structpb.NewStringValue(base + "/infos")
}

// idSelector is one of a GET's id selectors: the id (0: not given), what it selects, and the
// object that id must be visible as (none when "") with the message of the 403 when it is not.
type idSelector[By any] struct {
	id  int32
	by  By
	obj access.Object
	msg string
}

// firstSelected is the first selector given, in the order listed (OpenTera's if/elif order).
func firstSelected[By any](sels []idSelector[By]) (idSelector[By], bool) {
	for _, c := range sels {
		if c.id != 0 {
			return c, true
		}
	}
	return idSelector[By]{}, false
}

// requireSelected answers 403 with msg when the selected object is not visible; sessions use
// OpenTera's query_session rule.
func (s *Service) requireSelected(ctx context.Context, m me, obj access.Object, id int32, msg string) error {
	switch obj {
	case "":
		return nil
	case access.Sessions:
		ok, err := store.CanSession(ctx, s.db, m.acc, id)
		if err != nil || !ok {
			return errOr(s.dbError(ctx, err), apierr.Forbidden(msg))
		}
		return nil
	}
	return s.require(ctx, s.db, m, obj, id, false, msg)
}

func userAssetProto(a store.Asset, full bool) *corev1.UserAsset {
	p := &corev1.UserAsset{IdAsset: &a.IDAsset, IdSession: &a.IDSession, IdDevice: nullableInt(a.IDDevice),
		IdParticipant: nullableInt(a.IDParticipant), IdUser: nullableInt(a.IDUser), IdService: nullableInt(a.IDService),
		AssetName: &a.AssetName, AssetUuid: &a.AssetUUID, AssetServiceUuid: &a.AssetServiceUUID, AssetType: &a.AssetType,
		AssetDatetime: nullable(isoTime(a.AssetDatetime)), AssetExpirationDatetime: nullable(isoTime(a.AssetExpirationDatetime))}
	if full {
		p.AssetServiceOwnerName, p.AssetSessionName = &a.OwnerName, &a.SessionName
		p.AssetDevice, p.AssetUser, p.AssetParticipant, p.AssetService = a.DeviceName, a.UserName, a.ParticipantName, a.ServiceName
	}
	return p
}

func (s *assets) PostAsset(context.Context, *corev1.PostAssetRequest) (*corev1.PostAssetResponse, error) {
	return nil, notImplemented("Asset information update and creation must be done directly into a service (such as Filetransfer service)")
}

func (s *assets) DeleteAsset(context.Context, *corev1.DeleteAssetRequest) (*corev1.DeleteAssetResponse, error) {
	return nil, notImplemented("Asset information deletion must be done directly into a service (such as Filetransfer service)")
}

// ---- /api/service/assets: the user API's selectors and JSON, and the writes a service makes as
// the owner of asset files (OpenTera's filetransfer service posts here).

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
	return reply(&corev1.SvcGetAssetsResponse{Assets: out}, err)
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
		uuid *string
		l    accessList
		m    string
		dst  **int32
	}{{b.ParticipantUuid, participantAccess, "Invalid participant", &w.Participant},
		{b.UserUuid, userAccess, "Invalid user", &w.User},
		{b.DeviceUuid, deviceAccess, "Invalid device", &w.Device}} {
		if c.uuid == nil {
			continue
		}
		id, err := s.principalID(ctx, c.l, *c.uuid, c.m)
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
	return reply(&corev1.SvcDeleteAssetResponse{}, err)
}

// ---- /api/participant/assets and /api/device/assets

func (s *participantSurface) GetParticipantAssets(ctx context.Context, r *corev1.GetParticipantAssetsRequest) (*corev1.GetParticipantAssetsResponse, error) {
	if !authn.FromContext(ctx).Full && r.IdAsset == 0 && r.AssetUuid == "" && r.IdSession == 0 {
		// A static token names what it fetches.
		return nil, apierr.Forbidden("Forbidden")
	}
	// Access tokens for the full role only (OpenTera).
	full := authn.FromContext(ctx).Full
	out, err := s.ownAssets(ctx, r.IdAsset, r.AssetUuid, r.IdSession, r.WithUrls && full, r.WithOnlyToken && full)
	return reply(&corev1.GetParticipantAssetsResponse{Assets: out}, err)
}

// ownAssets lists the assets of a participant or a device (the store scopes them to the
// caller) narrowed by OpenTera's one selector: id_asset, else asset_uuid, else id_session, which
// must be a session the caller created (403).
func (s *Service) ownAssets(ctx context.Context, id int32, uuid string, session int32, withURLs, onlyToken bool) ([]*corev1.UserAsset, error) {
	if session != 0 {
		if ok, err := store.OwnsSession(ctx, s.db, caller(ctx).acc, session); err != nil || !ok {
			return nil, errOr(s.dbError(ctx, err), apierr.Forbidden("No access to session"))
		}
	}
	by, key := store.OwnAssets, int32(0)
	switch {
	case id != 0:
		by, key = store.OwnAssetByID, id
	case uuid != "":
		by = store.OwnAssetByUUID
	case session != 0:
		by, key = store.OwnAssetsOfSession, session
	}
	return s.selectAssets(ctx, by, key, uuid, true, withURLs, onlyToken)
}

func (s *deviceSurface) GetDeviceAssets(ctx context.Context, r *corev1.GetDeviceAssetsRequest) (*corev1.GetDeviceAssetsResponse, error) {
	out, err := s.ownAssets(ctx, r.IdAsset, r.AssetUuid, r.IdSession, r.WithUrls, r.WithOnlyToken)
	return reply(&corev1.GetDeviceAssetsResponse{Assets: out}, err)
}
