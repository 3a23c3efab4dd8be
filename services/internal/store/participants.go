package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Participant is a t_participants row without its secrets.
type Participant struct {
	IDParticipant           int32      `db:"id_participant"`
	ParticipantUUID         string     `db:"participant_uuid"`
	ParticipantName         string     `db:"participant_name"`
	ParticipantUsername     *string    `db:"participant_username"`
	ParticipantEmail        *string    `db:"participant_email"`
	ParticipantTokenEnabled bool       `db:"participant_token_enabled"`
	ParticipantToken        *string    `db:"participant_token"`
	ParticipantLastonline   *time.Time `db:"participant_lastonline"`
	ParticipantEnabled      bool       `db:"participant_enabled"`
	ParticipantLoginEnabled bool       `db:"participant_login_enabled"`
	IDParticipantGroup      *int32     `db:"id_participant_group"`
	IDProject               int32      `db:"id_project"`
	VersionID               int64      `db:"version_id"`
	ProjectEnabled          bool       `db:"participant_project_enabled"`
}

// ParticipantsQuery is the SQL of ListProjectParticipants (exported for EXPLAIN in benchmarks).
const ParticipantsQuery = `SELECT p.id_participant, p.participant_uuid, p.participant_name, p.participant_username,
	p.participant_email, p.participant_token_enabled, p.participant_token, p.participant_lastonline,
	p.participant_enabled, p.participant_login_enabled, p.id_participant_group, p.id_project, p.version_id,
	pr.project_enabled AS participant_project_enabled
  FROM core.t_participants p
  JOIN core.t_projects pr ON pr.id_project = p.id_project
 WHERE p.deleted_at IS NULL AND p.id_project = @id_project AND p.id_participant > @after
   AND p.id_project IN (`

// ListProjectParticipants returns the participants of a project the caller may see, ordered by
// id, at most limit of them after id `after` (keyset paging; 0 for the first page).
func ListProjectParticipants(ctx context.Context, db DBTX, scope access.Scope, idProject, after int32, limit int) ([]Participant, error) {
	f := scope.Projects()
	rows, err := db.Query(ctx, ParticipantsQuery+f.SQL+`) ORDER BY p.id_participant LIMIT @limit`,
		f.With(pgx.NamedArgs{"id_project": idProject, "after": after, "limit": limit}))
	if err != nil {
		return nil, mapErr(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Participant])
	return out, mapErr(err)
}
