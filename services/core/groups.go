package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/groups (participant groups)

type groups struct {
	*Service
	corev1.UnimplementedGroupServiceServer
}

func (s *groups) GetGroups(ctx context.Context, r *corev1.GetGroupsRequest) (*corev1.GetGroupsResponse, error) {
	if r.Id != 0 {
		r.IdGroup = r.Id
	}
	f := store.GroupFilter{WithCount: r.List}
	switch {
	case r.IdGroup != 0:
		f.IDGroup = &r.IdGroup
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
	}
	rows, err := store.ListGroups(ctx, s.db, caller(ctx).acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.ParticipantGroup, len(rows))
	for i, row := range rows {
		out[i] = groupProto(row)
		if r.List {
			// OpenTera's minimal form: the participant count instead of the project's name.
			out[i].ProjectName = nil
		}
	}
	return &corev1.GetGroupsResponse{Groups: out}, nil
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
