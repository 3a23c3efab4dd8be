package core

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/participant/{devices,sessions,assets}: the user API's resources through the
// participant's own access scope (OpenTera's ParticipantQuery* handlers). The role each
// endpoint needs (full or limited) is declared in participant_api.proto.

type participantSurface struct {
	*Service
	corev1.UnimplementedParticipantSurfaceServiceServer
}

func (s *participantSurface) GetParticipantDevices(ctx context.Context, r *corev1.GetParticipantDevicesRequest) (*corev1.GetParticipantDevicesResponse, error) {
	out, err := s.listDevices(ctx, store.DeviceFilter{ID: nonZero(r.IdDevice)}, !r.List)
	if err != nil {
		return nil, err
	}
	for _, item := range out {
		if item.DeviceToken != nil {
			// A device's credential is not its participant's to hold (see the proto).
			item.DeviceToken = structpb.NewNullValue()
		}
	}
	return &corev1.GetParticipantDevicesResponse{Devices: out}, nil
}

func (s *participantSurface) GetParticipantSessions(ctx context.Context, r *corev1.GetParticipantSessionsRequest) (*corev1.GetParticipantSessionsResponse, error) {
	if r.Limit < 0 || r.Offset < 0 {
		return nil, apierr.InvalidArgument("Invalid limit or offset")
	}
	f := store.SessionFilter{ID: nonZero(r.IdSession), Status: r.Status, Limit: r.Limit, Offset: r.Offset, Full: !r.List}
	if r.SessionUuid != "" {
		f.UUID = &r.SessionUuid
	}
	var err error
	if f.Start, err = parseDate(r.StartDate, "start_date"); err != nil {
		return nil, err
	}
	if f.End, err = parseDate(r.EndDate, "end_date"); err != nil {
		return nil, err
	}
	me := int32(authn.FromContext(ctx).ID)
	rows, err := store.ListSessions(ctx, s.db, caller(ctx).acc, store.SessionsOfParticipant, me, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.Session, 0, len(rows))
	for _, row := range rows {
		out = append(out, sessionProto(row, !r.List, false))
	}
	return &corev1.GetParticipantSessionsResponse{Sessions: out}, nil
}

func (s *participantSurface) PostParticipantSession(ctx context.Context, r *corev1.PostParticipantSessionRequest) (*corev1.PostParticipantSessionResponse, error) {
	out, err := s.postOwnSession(ctx, r.GetSession())
	if err != nil {
		return nil, err
	}
	return &corev1.PostParticipantSessionResponse{Session: out}, nil
}

func (s *participantSurface) GetParticipantAssets(ctx context.Context, r *corev1.GetParticipantAssetsRequest) (*corev1.GetParticipantAssetsResponse, error) {
	if !authn.FromContext(ctx).Full && r.IdAsset == 0 && r.AssetUuid == "" && r.IdSession == 0 {
		// A static token names what it fetches.
		return nil, apierr.Forbidden("Forbidden")
	}
	// Access tokens for the full role only (OpenTera).
	full := authn.FromContext(ctx).Full
	out, err := s.ownAssets(ctx, r.IdAsset, r.AssetUuid, r.IdSession, r.WithUrls && full, r.WithOnlyToken && full)
	if err != nil {
		return nil, err
	}
	return &corev1.GetParticipantAssetsResponse{Assets: out}, nil
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
