package core

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	errorsv1 "github.com/tera-health/tera/pkg/api/tera/errors/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/participant/participants: the participants resource on the participant surface. The
// row comes from the same store query as /api/user/participants, scoped to the participant.

type participantSelf struct {
	*Service
	corev1.UnimplementedParticipantSelfServiceServer
}

func (s *participantSelf) GetParticipantSelf(ctx context.Context, r *corev1.GetParticipantSelfRequest) (*corev1.GetParticipantSelfResponse, error) {
	c := authn.FromContext(ctx)
	row, err := store.GetParticipant(ctx, s.db, caller(ctx).acc, int32(c.ID))
	if err != nil {
		return nil, orDenied(s.dbError(ctx, err), "Forbidden")
	}
	if !c.Full {
		// A static (limited) token learns its name only.
		return &corev1.GetParticipantSelfResponse{Participant: &corev1.ParticipantSelf{ParticipantName: &row.ParticipantName}}, nil
	}
	return &corev1.GetParticipantSelfResponse{Participant: participantSelfProto(row, r.List)}, nil
}

func (s *participantSelf) PostParticipantSelf(context.Context, *corev1.PostParticipantSelfRequest) (*corev1.PostParticipantSelfResponse, error) {
	return nil, apierr.New(codes.Unimplemented, errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED, "Not implemented")
}

// participantSelfProto is TeraParticipant.to_json (minimal: the list form).
func participantSelfProto(row store.ParticipantRow, minimal bool) *corev1.ParticipantSelf {
	p := &corev1.ParticipantSelf{IdParticipant: &row.IDParticipant, ParticipantUuid: &row.ParticipantUUID,
		ParticipantName: &row.ParticipantName, ParticipantEmail: nullable(row.ParticipantEmail),
		ParticipantTokenEnabled: &row.ParticipantTokenEnabled, ParticipantEnabled: &row.ParticipantEnabled,
		IdParticipantGroup: nullableInt(row.IDParticipantGroup), IdProject: &row.IDProject}
	if !minimal {
		p.ParticipantUsername, p.ParticipantToken = nullable(row.ParticipantUsername), nullable(row.ParticipantToken)
		p.ParticipantLastonline = nullable(isoTime(row.ParticipantLastonline))
		p.ParticipantLoginEnabled, p.ParticipantProjectEnabled = &row.ParticipantLoginEnabled, &row.ProjectEnabled
	}
	return p
}

// nullableInt is a google.protobuf.Value holding a number or null.
func nullableInt(p *int32) *structpb.Value {
	if p == nil {
		return structpb.NewNullValue()
	}
	return structpb.NewNumberValue(float64(*p))
}
