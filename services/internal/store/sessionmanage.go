package store

import "context"

// The lookups of the session manager (/api/user/sessions/manager, /api/service/sessions/manager).
// The caller's access is checked by the manager with CanSession and Inaccessible before or after
// each of them; these only resolve names.

// ManagedSession is a live session as the session manager completes a request with it.
type ManagedSession struct {
	IDSessionType int32
	IDService     *int32 // the session type's service
	// The live invitees' uuids, in invitation order.
	Users, Participants, Devices []string
}

const managedSessionSQL = `SELECT s.id_session_type, st.id_service,
	ARRAY(SELECT u.user_uuid FROM core.t_sessions_users x JOIN core.t_users u ON u.id_user = x.id_user
	       WHERE x.id_session = s.id_session AND x.deleted_at IS NULL AND u.deleted_at IS NULL ORDER BY x.id_session_user),
	ARRAY(SELECT p.participant_uuid FROM core.t_sessions_participants x JOIN core.t_participants p ON p.id_participant = x.id_participant
	       WHERE x.id_session = s.id_session AND x.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY x.id_session_participant),
	ARRAY(SELECT d.device_uuid FROM core.t_sessions_devices x JOIN core.t_devices d ON d.id_device = x.id_device
	       WHERE x.id_session = s.id_session AND x.deleted_at IS NULL AND d.deleted_at IS NULL ORDER BY x.id_session_device)
	FROM core.t_sessions s JOIN core.t_sessions_types st ON st.id_session_type = s.id_session_type
	WHERE s.id_session = $1 AND s.deleted_at IS NULL`

// GetManagedSession reads the live session id; ErrNotFound when there is none.
func GetManagedSession(ctx context.Context, db DB, id int32) (ManagedSession, error) {
	var m ManagedSession
	err := db.QueryRow(ctx, managedSessionSQL, id).Scan(&m.IDSessionType, &m.IDService, &m.Users, &m.Participants, &m.Devices)
	return m, wrap("managed session", err)
}

// SessionIDByUUID is the id of the live session with that uuid; ErrNotFound when none.
func SessionIDByUUID(ctx context.Context, db DB, uuid string) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `SELECT id_session FROM core.t_sessions WHERE session_uuid = $1 AND deleted_at IS NULL`, uuid).Scan(&id)
	return id, wrap("session by uuid", err)
}

// SessionTypeService is the service of the live session type id (nil for none); ErrNotFound
// when there is no such type.
func SessionTypeService(ctx context.Context, db DB, id int32) (*int32, error) {
	var svc *int32
	err := db.QueryRow(ctx, `SELECT id_service FROM core.t_sessions_types WHERE id_session_type = $1 AND deleted_at IS NULL`, id).Scan(&svc)
	return svc, wrap("session type service", err)
}

// ServiceKeyOf is the key of the live service id; ErrNotFound when there is none.
func ServiceKeyOf(ctx context.Context, db DB, id int32) (string, error) {
	var key string
	err := db.QueryRow(ctx, `SELECT service_key FROM core.t_services WHERE id_service = $1 AND deleted_at IS NULL`, id).Scan(&key)
	return key, wrap("service key", err)
}
