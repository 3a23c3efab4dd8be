package videorehab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/sessionjson"
	"github.com/tera-health/tera/services/internal/store"
)

// OpenTera's session event types (TeraSessionEvent.SessionEventTypes) and statuses.
const (
	eventStart       = 3
	eventStop        = 4
	eventJoin        = 12
	eventLeave       = 13
	eventJoinRefused = 14

	statusInProgress = 1
	statusCompleted  = 2
)

// joinMsg is OpenTera's default invitation message.
const joinMsg = "Join me!"

// args is the session_manage object core forwards (UserSessionManager / ServiceSessionManager
// have filled id_session, id_session_type, id_service, the creator and, for an existing
// session, the invitee lists missing from the request).
type args struct {
	Action               string          `json:"action"`
	IDSession            int32           `json:"id_session"`
	IDSessionType        int32           `json:"id_session_type"`
	IDService            int32           `json:"id_service"`
	IDCreatorUser        *int32          `json:"id_creator_user"`
	IDCreatorParticipant *int32          `json:"id_creator_participant"`
	IDCreatorDevice      *int32          `json:"id_creator_device"`
	IDCreatorService     *int32          `json:"id_creator_service"`
	SessionUsers         []string        `json:"session_users"`
	SessionParticipants  []string        `json:"session_participants"`
	SessionDevices       []string        `json:"session_devices"`
	Parameters           json.RawMessage `json:"parameters"`
}

func (a *args) invitees(kind string) []string {
	switch kind {
	case presence.User:
		return a.SessionUsers
	case presence.Participant:
		return a.SessionParticipants
	}
	return a.SessionDevices
}

// replyParams are invite_reply's parameters: the code (core turned names into numbers) and who
// replies (the user API sets user_uuid to the caller).
type replyParams struct {
	ReplyCode       int32  `json:"reply_code"`
	ReplyMsg        string `json:"reply_msg"`
	UserUUID        string `json:"user_uuid"`
	ParticipantUUID string `json:"participant_uuid"`
	DeviceUUID      string `json:"device_uuid"`
}

var kinds = []string{presence.User, presence.Participant, presence.Device}

// answer is a session_manage reply: {"status": …, "session": {…}} or {"status": "error",
// "error_text": …}.
type answer map[string]any

func failed(text string) answer { return answer{"status": "error", "error_text": text} }

// sessionManage is the RPC handler: OpenTera's BaseWebRTCService.session_manage.
func (s *Service) sessionManage(ctx context.Context, req json.RawMessage) (any, error) {
	var body struct {
		SessionManage *args `json:"session_manage"`
	}
	if err := json.Unmarshal(req, &body); err != nil || body.SessionManage == nil {
		return failed("Invalid session_manage request"), nil
	}
	a := body.SessionManage
	var out answer
	var ev batch
	var err error
	switch a.Action {
	case "start":
		out, err = s.start(ctx, a, &ev)
	case "stop":
		out, err = s.inSession(ctx, a.IDSession, &ev, func(tx pgx.Tx, l *Live) (answer, error) { return s.stop(ctx, tx, l, &ev) })
	case "invite":
		out, err = s.inSession(ctx, a.IDSession, &ev, func(tx pgx.Tx, l *Live) (answer, error) { return s.invite(ctx, tx, l, a, &ev) })
	case "remove":
		out, err = s.inSession(ctx, a.IDSession, &ev, func(tx pgx.Tx, l *Live) (answer, error) { return s.remove(ctx, tx, l, a, &ev) })
	case "invite_reply":
		var p replyParams
		if err := json.Unmarshal(a.Parameters, &p); err != nil || p.ReplyCode < 1 || p.ReplyCode > 4 {
			return failed("Invalid reply code"), nil
		}
		out, err = s.inSession(ctx, a.IDSession, &ev, func(tx pgx.Tx, l *Live) (answer, error) { return s.reply(ctx, tx, l, p, &ev) })
	default:
		return failed("Unknown action: " + a.Action), nil
	}
	if err != nil {
		return nil, err
	}
	s.publish(ev)
	return out, nil
}

// errNoSession answers an action on a session that is not live.
var errNoSession = errors.New("no live session")

// inSession runs an action on a live session in one transaction, its row locked.
func (s *Service) inSession(ctx context.Context, id int32, ev *batch, fn func(pgx.Tx, *Live) (answer, error)) (answer, error) {
	var out answer
	err := pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		l, err := lockLive(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSession
		}
		if err != nil {
			return err
		}
		out, err = fn(tx, &l)
		return err
	})
	var refused *refusal
	switch {
	case errors.Is(err, errNoSession):
		*ev = batch{}
		return failed("No matching session"), nil
	case errors.As(err, &refused):
		*ev = batch{}
		return failed(refused.text), nil
	}
	if err != nil {
		*ev = batch{}
		return nil, fmt.Errorf("session_manage on session %d: %w", id, err)
	}
	return out, nil
}

// start creates the session (id_session 0) or takes an existing one of a video session type,
// records SESSION_START, sets it in progress and invites every invitee who is not busy in
// another session. Starting a live session again keeps its room and key and invites again.
func (s *Service) start(ctx context.Context, a *args, ev *batch) (answer, error) {
	_, self, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	var out answer
	err = pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		id := a.IDSession
		if id == 0 {
			if id, err = s.create(ctx, tx, a, self); err != nil {
				return err
			}
		} else if err := s.checkType(ctx, tx, id, self); err != nil {
			return err
		}
		// One start of a session at a time, whichever replica handles it.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM core.t_sessions WHERE id_session = $1 FOR UPDATE`, id); err != nil {
			return fmt.Errorf("lock session %d: %w", id, err)
		}
		row, err := store.GetSession(ctx, tx, s.scope(self), id, "", false)
		if err != nil {
			return fmt.Errorf("read session %d: %w", id, err)
		}
		l, err := lockLive(ctx, tx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			l = Live{IDSession: id, SessionUUID: row.SessionUUID, SessionKey: newKey(), JoinMsg: joinMsg,
				Parameters: row.SessionParameters, StartedAt: time.Now()}
			l.CreatorKind, l.CreatorUUID = creatorOf(row)
			if err := s.event(ctx, tx, id, eventStart, nil, l.StartedAt); err != nil {
				return err
			}
			status := int32(statusInProgress)
			if err := store.UpdateSession(ctx, tx, id, store.SessionWrite{Status: &status}); err != nil {
				return fmt.Errorf("session in progress: %w", err)
			}
			for _, k := range kinds {
				*l.invitees(k) = dedup(a.invitees(k))
			}
			if err := insertLive(ctx, tx, l); err != nil {
				return err
			}
		case err != nil:
			return err
		default: // already live: the invitees given are added, the room stays
			for _, k := range kinds {
				for _, u := range dedup(a.invitees(k)) {
					if !l.invited(k, u) {
						*l.invitees(k) = append(*l.invitees(k), u)
					}
				}
			}
		}
		if err := s.linkInvitees(ctx, tx, &l); err != nil {
			return err
		}
		if err := s.dropBusy(ctx, tx, &l, ev, l.Users, l.Participants, l.Devices); err != nil {
			return err
		}
		if err := updateInvitees(ctx, tx, l); err != nil {
			return err
		}
		s.joinAll(ev, &l, row, l.Users, l.Participants, l.Devices)
		out, err = s.info(ctx, tx, &l, self, true)
		out = answer{"status": "started", "session": out}
		return err
	})
	var refused *refusal
	if errors.As(err, &refused) {
		*ev = batch{}
		return failed(refused.text), nil
	}
	if err != nil {
		*ev = batch{}
		return nil, fmt.Errorf("start session: %w", err)
	}
	return out, nil
}

// refusal is an error answered as {"status": "error"} (a bad request), not as an RPC failure.
type refusal struct{ text string }

func (r *refusal) Error() string { return r.text }

// create inserts a new session of a video session type, with its creator and invitees, named
// as OpenTera's service API names it, in progress from now.
func (s *Service) create(ctx context.Context, tx pgx.Tx, a *args, self int32) (int32, error) {
	var name string
	err := tx.QueryRow(ctx, `SELECT st.session_type_name || ' [' || extract(year FROM now())::int || '.' || (SELECT count(*) FROM core.t_sessions) || ']'
		FROM core.t_sessions_types st WHERE st.id_session_type = $1 AND st.id_service = $2 AND st.deleted_at IS NULL`,
		a.IDSessionType, self).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, &refusal{"Invalid session type"}
	}
	if err != nil {
		return 0, fmt.Errorf("session type: %w", err)
	}
	now := time.Now()
	status := int32(statusInProgress)
	w := store.SessionWrite{IDSessionType: &a.IDSessionType, Name: &name, Start: &now, Status: &status,
		CreatorUser: a.IDCreatorUser, CreatorParticipant: a.IDCreatorParticipant, CreatorDevice: a.IDCreatorDevice,
		CreatorService: a.IDCreatorService}
	if w.CreatorUser == nil && w.CreatorParticipant == nil && w.CreatorDevice == nil && w.CreatorService == nil {
		w.CreatorService = &self
	}
	if p := parametersText(a.Parameters); p != nil {
		w.Parameters = p
	}
	id, err := store.InsertSession(ctx, tx, w)
	if err != nil {
		return 0, fmt.Errorf("create session: %w", err)
	}
	return id, nil
}

// parametersText is the session_parameters column for start's parameters: an object or array
// as JSON text, a string as is; nothing for null, "" and absent.
func parametersText(raw json.RawMessage) *string {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		if str == "" {
			return nil
		}
		return &str
	}
	t := string(raw)
	return &t
}

// checkType refuses an existing session that is not of one of the service's session types.
func (s *Service) checkType(ctx context.Context, tx pgx.Tx, id, self int32) error {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM core.t_sessions s JOIN core.t_sessions_types st ON st.id_session_type = s.id_session_type
		WHERE s.id_session = $1 AND s.deleted_at IS NULL AND st.id_service = $2)`, id, self).Scan(&ok)
	if err != nil {
		return fmt.Errorf("session type of session %d: %w", id, err)
	}
	if !ok {
		return &refusal{"Invalid session: not a session of this service"}
	}
	return nil
}

func (s *Service) scope(self int32) access.Scope { return access.For(access.ServiceCaller(self)) }

// creatorOf is the session's creator, OpenTera's order (user, participant, device, service).
func creatorOf(r store.Session) (string, string) {
	switch {
	case r.CreatorUserUUID != nil:
		return presence.User, *r.CreatorUserUUID
	case r.CreatorParticipantUUID != nil:
		return presence.Participant, *r.CreatorParticipantUUID
	case r.CreatorDeviceUUID != nil:
		return presence.Device, *r.CreatorDeviceUUID
	case r.CreatorServiceUUID != nil:
		return "service", *r.CreatorServiceUUID
	}
	return "service", ""
}

// creatorName is the JoinSessionEvent's session_creator_name (OpenTera: the user's name wins,
// then the participant's, the device's, the service's).
func creatorName(r store.Session) string {
	for _, n := range []*string{r.CreatorUser, r.CreatorParticipant, r.CreatorDevice, r.CreatorService} {
		if n != nil {
			return *n
		}
	}
	return ""
}

// linkInvitees checks the invitees exist and links them to the session in core (added only:
// the session keeps who was ever invited).
func (s *Service) linkInvitees(ctx context.Context, tx pgx.Tx, l *Live) error {
	for i, k := range kinds {
		list := *l.invitees(k)
		if len(list) == 0 {
			continue
		}
		ids, err := store.InviteeIDs(ctx, tx, k, list)
		if err != nil {
			return fmt.Errorf("invitees: %w", err)
		}
		var pairs [][2]int32
		for _, u := range list {
			id, ok := ids[u]
			if !ok {
				return &refusal{"Invalid " + k + " uuid: " + u}
			}
			pairs = append(pairs, [2]int32{l.IDSession, id})
		}
		if _, err := store.AddLinks(ctx, tx, []store.Link{store.SessionUsers, store.SessionParticipants, store.SessionDevices}[i], pairs); err != nil {
			return fmt.Errorf("link invitees: %w", err)
		}
	}
	return nil
}

// dropBusy takes out of the invitees those of the given lists who are busy in another session
// (the creator excepted), records their refusal and answers BUSY for them to the session, as
// if they had replied (OpenTera issue 267: they were invited anyway and left their session).
func (s *Service) dropBusy(ctx context.Context, tx pgx.Tx, l *Live, ev *batch, users, parts, devices []string) error {
	if s.presence == nil {
		return nil
	}
	kv, err := s.presence.Presence(ctx)
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	for i, list := range [][]string{users, parts, devices} {
		k := kinds[i]
		for _, u := range slices.Clone(list) {
			if k == l.CreatorKind && u == l.CreatorUUID {
				continue
			}
			e, err := kv.Get(ctx, "busy."+k+"."+u)
			if err != nil || string(e.Value()) == l.SessionUUID {
				continue // not busy (or busy here); a presence error invites rather than refuses
			}
			*l.invitees(k) = slices.DeleteFunc(*l.invitees(k), func(x string) bool { return x == u })
			text := label(k) + " " + u
			if err := s.event(ctx, tx, l.IDSession, eventJoinRefused, &text, time.Now()); err != nil {
				return err
			}
			r := &eventsv1.JoinSessionReplyEvent{SessionUuid: l.SessionUUID, JoinReply: eventsv1.JoinSessionReplyEvent_REPLY_BUSY,
				ReplyMsg: "Busy in another session"}
			setReplier(r, k, u)
			ev.toInvitees(l, r)
			ev.toSession(l.SessionUUID, "reply", r)
		}
	}
	return nil
}

func label(kind string) string {
	return map[string]string{presence.User: "User", presence.Participant: "Participant", presence.Device: "Device"}[kind]
}

func setReplier(r *eventsv1.JoinSessionReplyEvent, kind, uuid string) {
	switch kind {
	case presence.User:
		r.UserUuid = uuid
	case presence.Participant:
		r.ParticipantUuid = uuid
	default:
		r.DeviceUuid = uuid
	}
}

// joinAll invites the given invitees (each with its kind's URL), and tells usermanager once.
func (s *Service) joinAll(ev *batch, l *Live, row store.Session, users, parts, devices []string) {
	su, _, _ := s.self(context.Background())
	params := "{}"
	if l.Parameters != nil && *l.Parameters != "" {
		params = *l.Parameters
	}
	mk := func(kind string) *eventsv1.JoinSessionEvent {
		return &eventsv1.JoinSessionEvent{SessionUrl: s.url(kind, l.SessionKey), SessionCreatorName: creatorName(row),
			SessionUuid: l.SessionUUID, SessionUsers: nonNil(l.Users), SessionParticipants: nonNil(l.Participants),
			SessionDevices: nonNil(l.Devices), JoinMsg: l.JoinMsg, SessionParameters: params, ServiceUuid: su}
	}
	any := false
	for i, list := range [][]string{users, parts, devices} {
		for _, u := range list {
			ev.toClient(kinds[i], u, mk(kinds[i]))
			any = true
		}
	}
	if any {
		ev.toSession(l.SessionUUID, "join", mk(presence.User))
	}
}

// event records a session event of the service.
func (s *Service) event(ctx context.Context, tx pgx.Tx, id int32, typ int32, text *string, at time.Time) error {
	key := ServiceKey
	if _, err := store.InsertSessionEvent(ctx, tx, store.SessionEventWrite{IDSession: &id, Type: &typ, Datetime: &at,
		Text: text, Context: &key}); err != nil {
		return fmt.Errorf("session event %d: %w", typ, err)
	}
	return nil
}

// stop records SESSION_STOP, completes the session with the time since the last start added to
// its duration, ends the room and tells every invitee.
func (s *Service) stop(ctx context.Context, tx pgx.Tx, l *Live, ev *batch) (answer, error) {
	_, self, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if err := s.event(ctx, tx, l.IDSession, eventStop, nil, now); err != nil {
		return nil, err
	}
	status := int32(statusCompleted)
	if _, err := tx.Exec(ctx, `UPDATE core.t_sessions SET session_status = $2,
		session_duration = session_duration + greatest(0, extract(epoch FROM $3::timestamptz - $4::timestamptz))::integer
		WHERE id_session = $1 AND deleted_at IS NULL`, l.IDSession, status, now, l.StartedAt); err != nil {
		return nil, fmt.Errorf("complete session: %w", err)
	}
	if err := deleteLive(ctx, tx, l.IDSession); err != nil {
		return nil, err
	}
	su, _, _ := s.self(ctx)
	stop := &eventsv1.StopSessionEvent{SessionUuid: l.SessionUUID, ServiceUuid: su}
	ev.toInvitees(l, stop)
	ev.toSession(l.SessionUUID, "stop", stop)
	row, err := store.GetSession(ctx, tx, s.scope(self), l.IDSession, "", true)
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	v, err := sessionjson.Value(sessionjson.Session(row, true, false))
	if err != nil {
		return nil, err
	}
	return answer{"status": "stopped", "session": v.GetStructValue().AsMap()}, nil
}

// invite adds invitees (those already invited are left as they are), records SESSION_JOIN for
// each, and sends the invitation again to every invitee so their lists update (OpenTera);
// invitees busy in another session are answered BUSY instead.
func (s *Service) invite(ctx context.Context, tx pgx.Tx, l *Live, a *args, ev *batch) (answer, error) {
	_, self, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	var added [3][]string
	for i, k := range kinds {
		for _, u := range dedup(a.invitees(k)) {
			if !l.invited(k, u) {
				added[i] = append(added[i], u)
			}
		}
	}
	probe := *l
	probe.Users, probe.Participants, probe.Devices = added[0], added[1], added[2]
	if err := s.linkInvitees(ctx, tx, &probe); err != nil {
		return nil, err
	}
	for i, k := range kinds {
		*l.invitees(k) = append(*l.invitees(k), added[i]...)
	}
	if err := s.dropBusy(ctx, tx, l, ev, added[0], added[1], added[2]); err != nil {
		return nil, err
	}
	for _, k := range kinds {
		for _, u := range added[slices.Index(kinds, k)] {
			if !l.invited(k, u) {
				continue // busy
			}
			text := label(k) + ": " + u
			if err := s.event(ctx, tx, l.IDSession, eventJoin, &text, time.Now()); err != nil {
				return nil, err
			}
		}
	}
	if err := updateInvitees(ctx, tx, *l); err != nil {
		return nil, err
	}
	row, err := store.GetSession(ctx, tx, s.scope(self), l.IDSession, "", false)
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s.joinAll(ev, l, row, l.Users, l.Participants, l.Devices)
	info, err := s.info(ctx, tx, l, self, true)
	return answer{"status": "invited", "session": info}, err
}

// remove takes invitees out of the session (never its creator, who stops it instead), records
// SESSION_LEAVE for each and tells every invitee (those removed included) who leaves.
func (s *Service) remove(ctx context.Context, tx pgx.Tx, l *Live, a *args, ev *batch) (answer, error) {
	_, self, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	before := *l
	before.Users, before.Participants, before.Devices = slices.Clone(l.Users), slices.Clone(l.Participants), slices.Clone(l.Devices)
	leave := &eventsv1.LeaveSessionEvent{SessionUuid: l.SessionUUID}
	leave.ServiceUuid, _, _ = s.self(ctx)
	for i, k := range kinds {
		for _, u := range dedup(a.invitees(k)) {
			if !l.invited(k, u) || (k == l.CreatorKind && u == l.CreatorUUID) {
				continue
			}
			*l.invitees(k) = slices.DeleteFunc(*l.invitees(k), func(x string) bool { return x == u })
			text := label(k) + ": " + u
			if err := s.event(ctx, tx, l.IDSession, eventLeave, &text, time.Now()); err != nil {
				return nil, err
			}
			switch i {
			case 0:
				leave.LeavingUsers = append(leave.LeavingUsers, u)
			case 1:
				leave.LeavingParticipants = append(leave.LeavingParticipants, u)
			default:
				leave.LeavingDevices = append(leave.LeavingDevices, u)
			}
		}
	}
	if err := updateInvitees(ctx, tx, *l); err != nil {
		return nil, err
	}
	ev.toInvitees(&before, leave)
	ev.toSession(l.SessionUUID, "leave", leave)
	info, err := s.info(ctx, tx, l, self, true)
	return answer{"status": "removed", "session": info}, err
}

// reply is invite_reply: a refusal (deny, busy, timeout) takes the invitee out and is
// recorded; the creator's refusal ends the session (OpenTera issue 260). Every remaining
// invitee gets the reply.
func (s *Service) reply(ctx context.Context, tx pgx.Tx, l *Live, p replyParams, ev *batch) (answer, error) {
	_, self, err := s.self(ctx)
	if err != nil {
		return nil, err
	}
	r := &eventsv1.JoinSessionReplyEvent{SessionUuid: l.SessionUUID, JoinReply: eventsv1.JoinSessionReplyEvent_ReplyType(p.ReplyCode),
		ReplyMsg: p.ReplyMsg, UserUuid: p.UserUUID, ParticipantUuid: p.ParticipantUUID, DeviceUuid: p.DeviceUUID}
	if r.JoinReply != eventsv1.JoinSessionReplyEvent_REPLY_ACCEPTED {
		for i, u := range []string{p.UserUUID, p.ParticipantUUID, p.DeviceUUID} {
			k := kinds[i]
			if u == "" {
				continue
			}
			if k == l.CreatorKind && u == l.CreatorUUID {
				if _, err := s.stop(ctx, tx, l, ev); err != nil {
					return nil, err
				}
				return failed("Creator refused to join session - session ended"), nil
			}
			*l.invitees(k) = slices.DeleteFunc(*l.invitees(k), func(x string) bool { return x == u })
			text := label(k) + " " + u
			if err := s.event(ctx, tx, l.IDSession, eventJoinRefused, &text, time.Now()); err != nil {
				return nil, err
			}
		}
		if err := updateInvitees(ctx, tx, *l); err != nil {
			return nil, err
		}
	}
	ev.toInvitees(l, r)
	ev.toSession(l.SessionUUID, "reply", r)
	info, err := s.info(ctx, tx, l, self, true)
	return answer{"status": "OK", "session": info}, err
}

// info is the session as OpenTera's VideoRehabService answers it: the session JSON with its
// events, the invitee lists as uuids, the key, the creator's uuid and the session URLs.
func (s *Service) info(ctx context.Context, tx pgx.Tx, l *Live, self int32, full bool) (map[string]any, error) {
	scope := s.scope(self)
	row, err := store.GetSession(ctx, tx, scope, l.IDSession, "", full)
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	v, err := sessionjson.Value(sessionjson.Session(row, full, false))
	if err != nil {
		return nil, err
	}
	out := v.GetStructValue().AsMap()
	events, err := store.ListSessionEvents(ctx, tx, scope, l.IDSession)
	if err != nil {
		return nil, fmt.Errorf("session events: %w", err)
	}
	list := []any{}
	for _, e := range events {
		ev, err := sessionjson.Value(sessionjson.Event(e))
		if err != nil {
			return nil, err
		}
		list = append(list, ev.AsInterface())
	}
	out["session_events"] = list
	out["session_users"], out["session_participants"], out["session_devices"] = anyList(l.Users), anyList(l.Participants), anyList(l.Devices)
	out["session_key"] = l.SessionKey
	out["session_creator_uuid"] = l.CreatorUUID
	out["session_url_users"] = s.url(presence.User, l.SessionKey)
	out["session_url_participants"] = s.url(presence.Participant, l.SessionKey)
	out["session_url_devices"] = s.url(presence.Device, l.SessionKey)
	return out, nil
}

func anyList(l []string) []any {
	out := make([]any, 0, len(l))
	for _, x := range l {
		out = append(out, x)
	}
	return out
}

func dedup(l []string) []string {
	var out []string
	for _, x := range l {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
