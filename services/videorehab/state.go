package videorehab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
)

// Live is a live video session (a row of videorehab.live_sessions).
type Live struct {
	IDSession   int32
	SessionUUID string
	// SessionKey is the room's secret, in the session URLs.
	SessionKey               string
	CreatorKind, CreatorUUID string
	// The current invitees by kind (presence.User, presence.Participant, presence.Device).
	Users, Participants, Devices []string
	Parameters                   *string
	JoinMsg                      string
	// StartedAt is when the last SESSION_START was recorded.
	StartedAt time.Time
}

// invitees returns the list of a kind.
func (l *Live) invitees(kind string) *[]string {
	switch kind {
	case presence.User:
		return &l.Users
	case presence.Participant:
		return &l.Participants
	}
	return &l.Devices
}

// invited reports whether a principal is one of the current invitees.
func (l *Live) invited(kind, uuid string) bool { return slices.Contains(*l.invitees(kind), uuid) }

const liveCols = `id_session, session_uuid, session_key, creator_kind, creator_uuid, session_users, session_participants,
	session_devices, session_parameters, join_msg, started_at`

func scanLive(row pgx.Row) (Live, error) {
	var l Live
	err := row.Scan(&l.IDSession, &l.SessionUUID, &l.SessionKey, &l.CreatorKind, &l.CreatorUUID, &l.Users, &l.Participants,
		&l.Devices, &l.Parameters, &l.JoinMsg, &l.StartedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, store.ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("read live session: %w", err)
	}
	return l, nil
}

// lockLive reads a live session and locks it until the transaction ends, so requests on one
// session from several replicas apply one after the other; ErrNotFound when it is not live.
func lockLive(ctx context.Context, tx pgx.Tx, id int32) (Live, error) {
	return scanLive(tx.QueryRow(ctx, `SELECT `+liveCols+` FROM videorehab.live_sessions WHERE id_session = $1 FOR UPDATE`, id))
}

// LiveByKey returns the live session whose room key is key (ErrNotFound when none): the SFU's
// signalling admits a client to a room with it.
func LiveByKey(ctx context.Context, db store.DBTX, key string) (Live, error) {
	return scanLive(db.QueryRow(ctx, `SELECT `+liveCols+` FROM videorehab.live_sessions WHERE session_key = $1`, key))
}

// liveOf lists the live sessions a principal is invited to or created.
func liveOf(ctx context.Context, db store.DBTX, kind, uuid string) ([]Live, error) {
	col := map[string]string{presence.User: "session_users", presence.Participant: "session_participants",
		presence.Device: "session_devices"}[kind]
	if col == "" {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	rows, err := db.Query(ctx, `SELECT `+liveCols+` FROM videorehab.live_sessions
		WHERE `+col+` @> ARRAY[$2::text] OR (creator_kind = $1 AND creator_uuid = $2) ORDER BY id_session`, kind, uuid)
	if err != nil {
		return nil, fmt.Errorf("live sessions of %s %s: %w", kind, uuid, err)
	}
	defer rows.Close()
	var out []Live
	for rows.Next() {
		l, err := scanLive(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func insertLive(ctx context.Context, tx pgx.Tx, l Live) error {
	_, err := tx.Exec(ctx, `INSERT INTO videorehab.live_sessions (id_session, session_uuid, session_key, creator_kind, creator_uuid,
		session_users, session_participants, session_devices, session_parameters, join_msg, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, l.IDSession, l.SessionUUID, l.SessionKey, l.CreatorKind, l.CreatorUUID,
		nonNil(l.Users), nonNil(l.Participants), nonNil(l.Devices), l.Parameters, l.JoinMsg, l.StartedAt)
	if err != nil {
		return fmt.Errorf("record live session: %w", err)
	}
	return nil
}

func updateInvitees(ctx context.Context, tx pgx.Tx, l Live) error {
	_, err := tx.Exec(ctx, `UPDATE videorehab.live_sessions SET session_users = $2, session_participants = $3, session_devices = $4
		WHERE id_session = $1`, l.IDSession, nonNil(l.Users), nonNil(l.Participants), nonNil(l.Devices))
	if err != nil {
		return fmt.Errorf("update live session invitees: %w", err)
	}
	return nil
}

func deleteLive(ctx context.Context, tx pgx.Tx, id int32) error {
	if _, err := tx.Exec(ctx, `DELETE FROM videorehab.live_sessions WHERE id_session = $1`, id); err != nil {
		return fmt.Errorf("end live session: %w", err)
	}
	return nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}
