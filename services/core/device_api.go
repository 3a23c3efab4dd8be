package core

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/device/{devices,participants,sessions,sessions/events,assets}: the user API's resources
// through the device's own access scope (OpenTera's DeviceQuery* handlers).

type deviceSurface struct {
	*Service
	corev1.UnimplementedDeviceSurfaceServiceServer
}

// forbiddenForSecurity is OpenTera's answer to the device reads and deletes it refuses.
func forbiddenForSecurity() error { return apierr.Forbidden("Forbidden for security reasons") }

// self is the calling device's row.
func (s *deviceSurface) self(ctx context.Context, db store.DB) (store.DeviceRow, error) {
	id := int32(authn.FromContext(ctx).ID)
	rows, err := store.ListDevices(ctx, db, caller(ctx).acc, store.DeviceFilter{ID: &id})
	if err == nil && len(rows) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.DeviceRow{}, err
	}
	return rows[0], nil
}

func (s *deviceSurface) GetDeviceSelf(ctx context.Context, _ *corev1.GetDeviceSelfRequest) (*corev1.GetDeviceSelfResponse, error) {
	m := caller(ctx)
	d, err := s.self(ctx, s.db)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	info, err := deviceItem(d, false)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	info.DeviceSubtype = nil // TeraDevice.to_json leaves the subtype object out
	parts, err := store.ListParticipants(ctx, s.db, m.acc, store.ParticipantFilter{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	types, err := store.ListSessionTypes(ctx, s.db, m.acc, store.SessionTypeFilter{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := &corev1.GetDeviceSelfResponse{DeviceInfo: info, ParticipantsInfo: []*corev1.ParticipantInfo{}, SessionTypesInfo: []*corev1.SessionType{}}
	for _, p := range parts {
		out.ParticipantsInfo = append(out.ParticipantsInfo, &corev1.ParticipantInfo{ParticipantName: p.ParticipantName, ParticipantUuid: p.ParticipantUUID})
	}
	for _, t := range types {
		out.SessionTypesInfo = append(out.SessionTypesInfo, sessionTypeProto(t, false))
	}
	return out, nil
}

func (s *deviceSurface) PostDeviceSelf(ctx context.Context, r *corev1.PostDeviceSelfRequest) (*corev1.PostDeviceSelfResponse, error) {
	b := r.GetDevice()
	me := int32(authn.FromContext(ctx).ID)
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing device schema")
	case b.DeviceConfig == nil:
		return nil, apierr.MissingArgument("Missing config")
	case b.IdDevice != nil && b.GetIdDevice() != me:
		return nil, apierr.Forbidden("Forbidden")
	}
	var out *corev1.DeviceItem
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Scoped to the caller's own row; only device_config is written, as OpenTera.
		if err := store.UpdateDevice(ctx, tx, caller(ctx).acc, me, store.DevicePatch{Config: b.DeviceConfig}); err != nil {
			return orDenied(err, "Forbidden")
		}
		d, err := s.self(ctx, tx)
		if err != nil {
			return err
		}
		out, err = deviceItem(d, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostDeviceSelfResponse{Devices: []*corev1.DeviceItem{out}}, nil
}

func (s *deviceSurface) GetDeviceParticipants(ctx context.Context, _ *corev1.GetDeviceParticipantsRequest) (*corev1.GetDeviceParticipantsResponse, error) {
	d, err := s.self(ctx, s.db)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if !d.DeviceOnlineable {
		return nil, apierr.Forbidden("Invalid request")
	}
	rows, err := store.ListParticipants(ctx, s.db, caller(ctx).acc, store.ParticipantFilter{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := &corev1.GetDeviceParticipantsResponse{ParticipantsInfo: []*corev1.ParticipantSelf{}}
	for _, row := range rows {
		p := participantSelfProto(row, false)
		// A participant's credential is not its device's to hold (see the proto).
		p.ParticipantToken = structpb.NewNullValue()
		out.ParticipantsInfo = append(out.ParticipantsInfo, p)
	}
	return out, nil
}

func (s *deviceSurface) GetDeviceSessions(context.Context, *corev1.GetDeviceSessionsRequest) (*corev1.GetDeviceSessionsResponse, error) {
	return nil, forbiddenForSecurity()
}

func (s *deviceSurface) PostDeviceSession(ctx context.Context, r *corev1.PostDeviceSessionRequest) (*corev1.PostDeviceSessionResponse, error) {
	out, err := s.postOwnSession(ctx, r.GetSession())
	if err != nil {
		return nil, err
	}
	return &corev1.PostDeviceSessionResponse{Session: out}, nil
}

func (s *deviceSurface) DeleteDeviceSession(context.Context, *corev1.DeleteDeviceSessionRequest) (*corev1.DeleteDeviceSessionResponse, error) {
	return nil, forbiddenForSecurity()
}

func (s *deviceSurface) GetDeviceSessionEvents(_ context.Context, r *corev1.GetDeviceSessionEventsRequest) (*corev1.GetDeviceSessionEventsResponse, error) {
	if r.IdSession == 0 {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	return nil, forbiddenForSecurity()
}

// PostDeviceSessionEvent is the user API's event write: its session checks (store.CanSession)
// give a device the sessions it created or is invited to, OpenTera's DeviceQuerySessionEvents.
func (s *deviceSurface) PostDeviceSessionEvent(ctx context.Context, r *corev1.PostDeviceSessionEventRequest) (*corev1.PostDeviceSessionEventResponse, error) {
	out, err := (&sessionEvents{Service: s.Service}).PostSessionEvent(ctx, &corev1.PostSessionEventRequest{SessionEvent: r.GetSessionEvent()})
	if err != nil {
		return nil, err
	}
	return &corev1.PostDeviceSessionEventResponse{SessionEvents: out.SessionEvents}, nil
}

func (s *deviceSurface) DeleteDeviceSessionEvent(context.Context, *corev1.DeleteDeviceSessionEventRequest) (*corev1.DeleteDeviceSessionEventResponse, error) {
	return nil, forbiddenForSecurity()
}

func (s *deviceSurface) GetDeviceAssets(ctx context.Context, r *corev1.GetDeviceAssetsRequest) (*corev1.GetDeviceAssetsResponse, error) {
	out, err := s.ownAssets(ctx, r.IdAsset, r.AssetUuid, r.IdSession, r.WithUrls, r.WithOnlyToken)
	if err != nil {
		return nil, err
	}
	return &corev1.GetDeviceAssetsResponse{Assets: out}, nil
}
