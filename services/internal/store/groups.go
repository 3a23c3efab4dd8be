package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// GroupRow is a t_participants_groups row with its project's name and, when asked, its count
// of participants.
type GroupRow struct {
	IDParticipantGroup   int32  `db:"id_participant_group"`
	IDProject            int32  `db:"id_project"`
	ParticipantGroupName string `db:"participant_group_name"`
	ProjectName          string `db:"project_name"`
	ParticipantCount     *int32 `db:"group_participant_count"`
}

// GroupFilter selects participant groups; nil fields do not filter.
type GroupFilter struct {
	IDGroup   *int32
	IDProject *int32
	// WithCount fills ParticipantCount.
	WithCount bool
}

const listGroupsSQL = `
SELECT g.id_participant_group, g.id_project, g.participant_group_name, p.project_name,
       CASE WHEN @with_count::boolean THEN (SELECT count(*)::int FROM core.t_participants pa
                                             WHERE pa.id_participant_group = g.id_participant_group AND pa.deleted_at IS NULL) END
         AS group_participant_count
  FROM core.t_participants_groups g
  JOIN core.t_projects p ON p.id_project = g.id_project
 WHERE g.deleted_at IS NULL
   AND g.id_participant_group IN (SELECT id FROM core.acc_participant_groups(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_group::integer IS NULL OR g.id_participant_group = @id_group)
   AND (@id_project::integer IS NULL OR g.id_project = @id_project)
 ORDER BY g.id_participant_group`

// ListGroups returns the participant groups of the scope that match f, by id.
func ListGroups(ctx context.Context, db DB, scope access.Scope, f GroupFilter) ([]GroupRow, error) {
	return list[GroupRow](ctx, db, "list groups", listGroupsSQL, scope, pgx.NamedArgs{
		"id_group": f.IDGroup, "id_project": f.IDProject, "with_count": f.WithCount})
}

// GroupPatch is a partial write of a participant group; nil fields are left unchanged.
type GroupPatch struct {
	IDProject *int32
	Name      *string
}

func (p GroupPatch) args(id int32) pgx.NamedArgs {
	return pgx.NamedArgs{"id_participant_group": id, "id_project": p.IDProject, "participant_group_name": p.Name}
}

const insertGroupSQL = `
INSERT INTO core.t_participants_groups (id_project, participant_group_name)
SELECT @id_project, @participant_group_name
 WHERE @id_project::integer IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
RETURNING id_participant_group`

const updateGroupSQL = `
UPDATE core.t_participants_groups
   SET id_project = coalesce(@id_project, id_project),
       participant_group_name = coalesce(@participant_group_name, participant_group_name)
 WHERE id_participant_group = @id_participant_group AND deleted_at IS NULL
   AND id_participant_group IN (SELECT id FROM core.acc_participant_groups(@acc_kind::text, @acc_id::integer, @acc_admin::boolean))
   AND (@id_project::integer IS NULL
        OR @id_project IN (SELECT id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, @acc_admin::boolean)))
RETURNING id_participant_group`

// InsertGroup creates a group in a project of the scope (ErrNotFound otherwise).
func InsertGroup(ctx context.Context, db DB, scope access.Scope, p GroupPatch) (int32, error) {
	return writeID(ctx, db, "insert group", insertGroupSQL, scope, p.args(0))
}

// UpdateGroup changes a group of the scope, moving it only to a project of the scope.
func UpdateGroup(ctx context.Context, db DB, scope access.Scope, id int32, p GroupPatch) error {
	_, err := writeID(ctx, db, "update group", updateGroupSQL, scope, p.args(id))
	return err
}
