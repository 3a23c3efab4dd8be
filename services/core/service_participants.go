package core

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/participants and /api/service/groups

func (s *serviceAPI) SvcGetParticipants(ctx context.Context, r *corev1.SvcGetParticipantsRequest) (*corev1.SvcGetParticipantsResponse, error) {
	m := caller(ctx)
	f := store.ParticipantFilter{}
	single, minimal := false, false
	switch {
	case r.ParticipantUuid != "":
		f.UUID, single = &r.ParticipantUuid, true
	case r.IdParticipant != 0:
		f.IDParticipant, single = &r.IdParticipant, true // declared: 403 outside the service
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
		if err := s.require(ctx, s.db, m, access.Projects, r.IdProject, false, "Forbidden"); err != nil {
			return nil, err
		}
	case r.IdParticipantGroup != 0:
		f.IDGroup = &r.IdParticipantGroup
		if err := s.require(ctx, s.db, m, access.ParticipantGroups, r.IdParticipantGroup, false, "Forbidden"); err != nil {
			return nil, err
		}
	case r.Name != "":
		minimal = true
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	if r.Name != "" && !single {
		f.NameContains = &r.Name
	}
	rows, err := store.ListParticipants(ctx, s.db, m.acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if single {
		if len(rows) == 0 {
			return nil, apierr.Forbidden("Forbidden")
		}
		v, err := messageValue(participantProto(rows[0], participantForm{}))
		return &corev1.SvcGetParticipantsResponse{Json: v}, err
	}
	list := listOf(rows, func(row store.ParticipantRow) *corev1.Participant {
		return participantProto(row, participantForm{minimal: minimal})
	})
	return &corev1.SvcGetParticipantsResponse{Json: structpb.NewListValue(list)}, nil
}

func (s *serviceAPI) SvcPostParticipant(ctx context.Context, r *corev1.SvcPostParticipantRequest) (*corev1.SvcPostParticipantResponse, error) {
	b := r.GetParticipant()
	// OpenTera's service checks (a body without these keys fails there with a 500).
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing arguments")
	case b.IdParticipant == nil || b.IdProject == nil || b.ParticipantName == nil || b.ParticipantEmail == nil:
		return nil, apierr.MissingArgument("Missing id_participant, id_project, participant_name or participant_email")
	case b.GetIdProject() < 1:
		return nil, apierr.Forbidden("Unknown project")
	case b.GetParticipantName() == "":
		return nil, apierr.Forbidden("Invalid participant name")
	case b.GetParticipantEmail() == "":
		return nil, apierr.Forbidden("Invalid participant email")
	}
	if b.GetIdParticipant() == 0 {
		// OpenTera's service creates participants enabled, with login enabled.
		on := true
		if b.ParticipantEnabled == nil {
			b.ParticipantEnabled = &on
		}
		if b.ParticipantLoginEnabled == nil {
			b.ParticipantLoginEnabled = &on
		}
	}
	// The user API's write, scoped to the service: the project (and the participant updated)
	// must be the service's, checked in the statement.
	res, err := (&participants{Service: s.Service}).PostParticipant(ctx, &corev1.PostParticipantRequest{Participant: b})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostParticipantResponse{Participant: res.Participants[0]}, nil
}

func (s *serviceAPI) SvcGetGroups(ctx context.Context, r *corev1.SvcGetGroupsRequest) (*corev1.SvcGetGroupsResponse, error) {
	m := caller(ctx)
	var f store.GroupFilter
	switch {
	case r.IdParticipantGroup != 0:
		f.IDGroup = &r.IdParticipantGroup // declared: 403 outside the service
	case r.IdProject != 0:
		if err := s.require(ctx, s.db, m, access.Projects, r.IdProject, false, "Forbidden"); err != nil {
			return nil, err
		}
		f.IDProject = &r.IdProject
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListGroups(ctx, s.db, m.acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	minimal := func(row store.GroupRow) *corev1.ParticipantGroup {
		g := groupProto(row)
		g.ProjectName = nil
		return g
	}
	switch {
	case len(rows) == 0:
		// OpenTera: an unknown group is 404; a project without groups falls through to 400.
		if f.IDGroup != nil {
			return nil, apierr.NotFound("Not found")
		}
		return nil, apierr.MissingArgument("Missing arguments")
	case f.IDGroup != nil:
		v, err := messageValue(minimal(rows[0]))
		return &corev1.SvcGetGroupsResponse{Json: v}, err
	}
	return &corev1.SvcGetGroupsResponse{Json: structpb.NewListValue(listOf(rows, minimal))}, nil
}

func (s *serviceAPI) SvcPostGroup(ctx context.Context, r *corev1.SvcPostGroupRequest) (*corev1.SvcPostGroupResponse, error) {
	b := r.GetParticipantGroup()
	if b == nil {
		return nil, apierr.MissingArgument("Missing participant_group")
	}
	res, err := (&groups{Service: s.Service}).PostGroup(ctx, &corev1.PostGroupRequest{ParticipantGroup: b})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostGroupResponse{ParticipantGroup: res.Groups[0]}, nil
}

func (s *serviceAPI) SvcDeleteGroup(ctx context.Context, r *corev1.SvcDeleteGroupRequest) (*corev1.SvcDeleteGroupResponse, error) {
	return &corev1.SvcDeleteGroupResponse{}, s.softDelete(ctx, store.ParticipantGroups, r.Id)
}
