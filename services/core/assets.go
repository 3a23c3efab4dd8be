package core

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	errorsv1 "github.com/tera-health/tera/pkg/api/tera/errors/v1"
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
	for _, c := range []struct {
		v   int32
		by  store.AssetSelector
		obj access.Object
		msg string
	}{{r.IdDevice, store.AssetsOfDevice, "", ""}, {r.IdSession, store.AssetsOfSession, access.Sessions, "Session access denied"},
		{r.IdParticipant, store.AssetsOfParticipant, access.Participants, "Participant access denied"},
		{r.IdUser, store.AssetsOfUser, access.Users, "User access denied"},
		{r.IdCreatorService, store.AssetsByCreatorService, access.Services, "Service access denied"},
		{r.IdCreatorUser, store.AssetsByCreatorUser, access.Users, "User access denied"},
		{r.IdCreatorParticipant, store.AssetsByCreatorParticipant, access.Participants, "Participant access denied"},
		{r.IdCreatorDevice, store.AssetsByCreatorDevice, access.Devices, "Device access denied"},
		{r.IdAsset, store.AssetByID, "", ""}} {
		if c.v != 0 {
			return c.by, c.v, "", c.obj, c.msg, true
		}
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
	if err != nil {
		return nil, err
	}
	return &corev1.GetAssetsResponse{Assets: out}, nil
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

func notImplemented(msg string) error {
	return apierr.New(codes.Unimplemented, errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED, msg)
}

func (s *assets) PostAsset(context.Context, *corev1.PostAssetRequest) (*corev1.PostAssetResponse, error) {
	return nil, notImplemented("Asset information update and creation must be done directly into a service (such as Filetransfer service)")
}

func (s *assets) DeleteAsset(context.Context, *corev1.DeleteAssetRequest) (*corev1.DeleteAssetResponse, error) {
	return nil, notImplemented("Asset information deletion must be done directly into a service (such as Filetransfer service)")
}
