package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Sessions of a participant's or a device's own (OpenTera's participant and device APIs): the
// ones it created. Other callers own none here.

// ownerClause is true for a session s the scope's participant or device created.
const ownerClause = `CASE @acc_kind::text WHEN 'participant' THEN s.id_creator_participant = @acc_id::integer
       WHEN 'device' THEN s.id_creator_device = @acc_id::integer ELSE false END`

// OwnsSession reports whether the scope's participant or device created a live session
// (OpenTera's get_accessible_sessions_ids of those principals).
func OwnsSession(ctx context.Context, db DB, scope access.Scope, id int32) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_sessions s WHERE s.id_session = @id AND s.deleted_at IS NULL
		AND `+ownerClause+`)`, scope.Args(pgx.NamedArgs{"id": id})).Scan(&ok)
	return ok, wrap("owns session", err)
}

// FindOwnSession is OpenTera's query_existing_session: the first live session the scope's
// participant or device created with that name and type, starting on the same (UTC) day, whose
// participants are exactly those ids; ErrNotFound when none.
func FindOwnSession(ctx context.Context, db DB, scope access.Scope, name string, idType int32, start time.Time, participants []int32) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `SELECT s.id_session FROM core.t_sessions s
		WHERE s.deleted_at IS NULL AND `+ownerClause+` AND s.session_name = @name AND s.id_session_type = @type
		  AND (s.session_start_datetime AT TIME ZONE 'UTC')::date = (@start::timestamptz AT TIME ZONE 'UTC')::date
		  AND ARRAY(SELECT DISTINCT sp.id_participant FROM core.t_sessions_participants sp
		             WHERE sp.id_session = s.id_session AND sp.deleted_at IS NULL ORDER BY 1)
		    = ARRAY(SELECT DISTINCT x FROM unnest(@parts::integer[]) x ORDER BY 1)
		ORDER BY s.id_session LIMIT 1`,
		scope.Args(pgx.NamedArgs{"name": name, "type": idType, "start": start, "parts": participants})).Scan(&id)
	return id, wrap("find own session", err)
}

// VisibleParticipantIDs maps participant uuids to ids among the participants the scope sees;
// ok is false when one of them is unknown or not visible.
func VisibleParticipantIDs(ctx context.Context, db DB, scope access.Scope, uuids []string) (ids []int32, ok bool, err error) {
	f := scope.Participants()
	rows, err := db.Query(ctx, `SELECT DISTINCT p.id_participant FROM unnest(@uuids::text[]) u
		LEFT JOIN core.t_participants p ON p.participant_uuid = u AND p.deleted_at IS NULL AND p.id_participant IN (`+f.SQL+`)`,
		f.With(pgx.NamedArgs{"uuids": uuids}))
	if err != nil {
		return nil, false, wrap("participants by uuid", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[*int32])
	if err != nil {
		return nil, false, wrap("participants by uuid", err)
	}
	for _, p := range found {
		if p == nil {
			return nil, false, nil
		}
		ids = append(ids, *p)
	}
	return ids, true, nil
}
