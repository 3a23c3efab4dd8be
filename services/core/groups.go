package core

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/user/groups (participant groups)

type groups struct {
	*Service
	corev1.UnimplementedGroupServiceServer
}

const groupCols = `g.id_participant_group, g.id_project, g.participant_group_name, p.project_name`

func scanGroup(row pgx.Row) (*corev1.ParticipantGroup, error) {
	g := &corev1.ParticipantGroup{}
	return g, row.Scan(&g.IdParticipantGroup, &g.IdProject, &g.ParticipantGroupName, &g.ProjectName)
}

func (s *groups) GetGroups(ctx context.Context, r *corev1.GetGroupsRequest) (*corev1.GetGroupsResponse, error) {
	m := caller(ctx)
	if r.Id != 0 {
		r.IdGroup = r.Id
	}
	f := m.acc.ParticipantGroups()
	args := f.With(nil)
	where := "true"
	switch {
	case r.IdGroup != 0:
		where, args["id"] = "g.id_participant_group = @id", r.IdGroup
	case r.IdProject != 0:
		where, args["project"] = "g.id_project = @project", r.IdProject
	}
	rows, err := s.db.Query(ctx, `SELECT `+groupCols+` FROM core.t_participants_groups g
		JOIN core.t_projects p ON p.id_project = g.id_project
		WHERE g.deleted_at IS NULL AND g.id_participant_group IN (`+f.SQL+`) AND `+where+`
		ORDER BY g.id_participant_group`, args)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*corev1.ParticipantGroup, error) { return scanGroup(row) })
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.GetGroupsResponse{Groups: out}, nil
}

func (s *groups) PostGroup(ctx context.Context, r *corev1.PostGroupRequest) (*corev1.PostGroupResponse, error) {
	m := caller(ctx)
	b := r.GetParticipantGroup()
	if b == nil {
		b = r.GetGroup()
	}
	if b == nil {
		return nil, apierr.MissingArgument("Missing group")
	}
	if b.IdParticipantGroup == nil {
		return nil, apierr.MissingArgument("Missing id_participant_group")
	}
	c := newChanges()
	if b.IdProject != nil {
		c.set("id_project", b.GetIdProject())
	}
	if b.ParticipantGroupName != nil {
		if strings.TrimSpace(*b.ParticipantGroupName) == "" {
			return nil, apierr.InvalidArgument("Invalid participant_group_name")
		}
		c.set("participant_group_name", *b.ParticipantGroupName)
	}
	id := b.GetIdParticipantGroup()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if b.IdProject != nil {
			// Project admin of the (new) project.
			if err := s.require(ctx, tx, m, access.Projects, b.GetIdProject(), true, "Forbidden"); err != nil {
				return err
			}
		}
		if id > 0 {
			err := s.require(ctx, tx, m, access.ParticipantGroups, id, true, "Forbidden")
			if err != nil {
				return err
			}
			if len(c.cols) == 0 {
				return nil
			}
			_, err = tx.Exec(ctx, "UPDATE core.t_participants_groups SET "+c.setSQL()+" WHERE id_participant_group = @id AND deleted_at IS NULL",
				merge(c.args, pgx.NamedArgs{"id": id}))
			return err
		}
		if b.IdProject == nil {
			return apierr.MissingArgument("Missing id_project")
		}
		if !c.has("participant_group_name") {
			return apierr.MissingArgument("Missing participant_group_name")
		}
		return tx.QueryRow(ctx, "INSERT INTO core.t_participants_groups "+c.insertSQL()+" RETURNING id_participant_group", c.args).Scan(&id)
	})
	if err != nil {
		return nil, err
	}
	g, err := scanGroup(s.db.QueryRow(ctx, `SELECT `+groupCols+` FROM core.t_participants_groups g
		JOIN core.t_projects p ON p.id_project = g.id_project WHERE g.id_participant_group = $1`, id))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostGroupResponse{Groups: []*corev1.ParticipantGroup{g}}, nil
}

func (s *groups) DeleteGroup(ctx context.Context, r *corev1.DeleteGroupRequest) (*corev1.DeleteGroupResponse, error) {
	m := caller(ctx)
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := s.require(ctx, tx, m, access.ParticipantGroups, r.GetId(), true, "Forbidden")
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE core.t_participants_groups SET deleted_at = now() WHERE id_participant_group = $1 AND deleted_at IS NULL", r.GetId())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteGroupResponse{}, nil
}
