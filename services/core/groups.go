package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
	"google.golang.org/protobuf/types/known/structpb"
)

// /api/user/groups (participant groups)

type groups struct {
	*Service
	corev1.UnimplementedGroupServiceServer
}

func (s *groups) GetGroups(ctx context.Context, r *corev1.GetGroupsRequest) (*corev1.GetGroupsResponse, error) {
	alias(&r.IdGroup, r.Id)
	f := store.GroupFilter{WithCount: r.List}
	switch {
	case r.IdGroup != 0:
		f.IDGroup = &r.IdGroup
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
	}
	rows, err := store.ListGroups(ctx, s.db, caller(ctx).acc, f)
	out, err := mapRows(ctx, s.Service, rows, err, func(row store.GroupRow) *corev1.ParticipantGroup {
		g := groupProto(row)
		if r.List {
			// OpenTera's minimal form: the participant count instead of the project's name.
			g.ProjectName = nil
		}
		return g
	})
	return reply(&corev1.GetGroupsResponse{Groups: out}, err)
}

func groupProto(r store.GroupRow) *corev1.ParticipantGroup {
	return &corev1.ParticipantGroup{IdParticipantGroup: r.IDParticipantGroup, IdProject: r.IDProject,
		ParticipantGroupName: r.ParticipantGroupName, ProjectName: &r.ProjectName, GroupParticipantCount: r.ParticipantCount}
}

func (s *groups) PostGroup(ctx context.Context, r *corev1.PostGroupRequest) (*corev1.PostGroupResponse, error) {
	m := caller(ctx)
	b := r.GetParticipantGroup()
	if b == nil {
		b = r.GetGroup()
	}
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing group")
	case b.IdParticipantGroup == nil:
		return nil, apierr.MissingArgument("Missing id_participant_group")
	case b.ParticipantGroupName != nil && strings.TrimSpace(*b.ParticipantGroupName) == "":
		return nil, apierr.InvalidArgument("Invalid participant_group_name")
	case b.GetIdParticipantGroup() == 0 && b.IdProject == nil:
		return nil, apierr.MissingArgument("Missing id_project")
	case b.GetIdParticipantGroup() == 0 && b.ParticipantGroupName == nil:
		return nil, apierr.MissingArgument("Missing participant_group_name")
	}
	patch := store.GroupPatch{IDProject: b.IdProject, Name: b.ParticipantGroupName}
	var rows []store.GroupRow
	err := s.inTx(ctx, func(tx pgx.Tx) (err error) {
		id := b.GetIdParticipantGroup()
		if id == 0 {
			id, err = store.InsertGroup(ctx, tx, m.acc.AdminOnly(), patch)
		} else {
			err = store.UpdateGroup(ctx, tx, m.acc.AdminOnly(), id, patch)
		}
		if err != nil {
			return orDenied(err, "Forbidden")
		}
		rows, err = store.ListGroups(ctx, tx, m.acc, store.GroupFilter{IDGroup: &id})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostGroupResponse{Groups: []*corev1.ParticipantGroup{groupProto(rows[0])}}, nil
}

func (s *groups) DeleteGroup(ctx context.Context, r *corev1.DeleteGroupRequest) (*corev1.DeleteGroupResponse, error) {
	return &corev1.DeleteGroupResponse{}, s.softDelete(ctx, store.ParticipantGroups, r.Id)
}

// ---- /api/service/groups

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
