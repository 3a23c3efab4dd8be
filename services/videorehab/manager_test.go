package videorehab_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/presence"
)

// fixture uuids
type ids struct {
	admin, user, user3, part1, part2, part4, dev1 string
}

func (e *env) ids() ids {
	u := func(name string) string {
		return e.scalar(`SELECT user_uuid FROM core.t_users WHERE user_username = $1`, name)
	}
	p := func(id int) string {
		return e.scalar(`SELECT participant_uuid FROM core.t_participants WHERE id_participant = $1`, id)
	}
	return ids{admin: u("admin"), user: u("user"), user3: u("user3"), part1: p(1), part2: p(2), part4: p(4),
		dev1: e.scalar(`SELECT device_uuid FROM core.t_devices WHERE id_device = 1`)}
}

const (
	admin = "basic:admin:admin"
	user  = "basic:user:user"
)

// A session goes through every action: start (a new session, in progress, SESSION_START, each
// invitee invited with its kind's URL), invite, remove, invite_reply and stop (completed, its
// duration accumulated, everyone told), each answered as OpenTera's VideoRehabService answers.
func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1}, "session_users": []string{f.user}, "parameters": map[string]any{"layout": "grid"}}))
	key, uuid := s["session_key"].(string), s["session_uuid"].(string)
	if len(key) != 36 || s["session_url_users"] != "https://tera.test/rehab/users?key="+key ||
		s["session_url_participants"] != "https://tera.test/rehab/participants?key="+key ||
		s["session_url_devices"] != "https://tera.test/rehab/devices?key="+key {
		t.Fatalf("session urls: %v", s)
	}
	if !slices.Equal(strs(s["session_participants"]), []string{f.part1}) || !slices.Equal(strs(s["session_users"]), []string{f.user}) ||
		len(s["session_devices"].([]any)) != 0 || s["session_creator_uuid"] != f.admin || s["id_creator_user"] != 1.0 ||
		s["session_status"] != 1.0 || s["id_session_type"] != 1.0 {
		t.Fatalf("started session: %v", s)
	}
	if evs := s["session_events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["id_session_event_type"] != 3.0 ||
		evs[0].(map[string]any)["session_event_context"] != "VideoRehabService" {
		t.Fatalf("session events: %v", s["session_events"])
	}
	if p, _ := json.Marshal(s["session_parameters"]); string(p) != `{"layout":"grid"}` {
		t.Fatalf("session_parameters: %s", p)
	}
	if st, _ := e.sessionRow(s["id_session"]); st != 1 {
		t.Fatalf("status %d, want in progress", st)
	}
	j := take(e.events, presence.SubjectClient("participant", f.part1), func(m *eventsv1.JoinSessionEvent) bool { return m.SessionUuid == uuid })
	if j.SessionUrl != s["session_url_participants"] || j.SessionCreatorName != "Super Admin" || j.JoinMsg != "Join me!" ||
		j.SessionParameters != `{"layout":"grid"}` || !slices.Equal(j.SessionParticipants, []string{f.part1}) || j.ServiceUuid == "" {
		t.Fatalf("participant's invitation: %v", j)
	}
	if j := take(e.events, presence.SubjectClient("user", f.user), (func(*eventsv1.JoinSessionEvent) bool)(nil)); j.SessionUrl != s["session_url_users"] {
		t.Fatalf("user's invitation: %v", j)
	}
	take(e.events, "tera.session."+uuid+".join", (func(*eventsv1.JoinSessionEvent) bool)(nil))

	// invite: device 1 joins; everyone is invited again so its list is current.
	e.events.clear()
	a := e.manage(admin, map[string]any{"action": "invite", "id_session": s["id_session"], "session_devices": []string{f.dev1},
		"session_participants": []string{}, "session_users": []string{}})
	if a["status"] != "invited" || !slices.Equal(strs(a["session"].(map[string]any)["session_devices"]), []string{f.dev1}) ||
		!slices.Equal(strs(a["session"].(map[string]any)["session_participants"]), []string{f.part1}) {
		t.Fatalf("invite answered %v", a)
	}
	if j := take(e.events, presence.SubjectClient("device", f.dev1), (func(*eventsv1.JoinSessionEvent) bool)(nil)); j.SessionUrl != s["session_url_devices"] ||
		!slices.Equal(j.SessionDevices, []string{f.dev1}) {
		t.Fatalf("device's invitation: %v", j)
	}
	take(e.events, presence.SubjectClient("participant", f.part1), (func(*eventsv1.JoinSessionEvent) bool)(nil))
	if n := e.scalar(`SELECT count(*)::text FROM core.t_sessions_devices WHERE id_session = $1 AND deleted_at IS NULL`, int(s["id_session"].(float64))); n != "1" {
		t.Fatalf("device links: %s", n)
	}

	// remove: the user leaves; every invitee (the user included) is told.
	e.events.clear()
	a = e.manage(admin, map[string]any{"action": "remove", "session_uuid": uuid, "session_users": []string{f.user},
		"session_participants": []string{}, "session_devices": []string{}})
	if a["status"] != "removed" || len(a["session"].(map[string]any)["session_users"].([]any)) != 0 {
		t.Fatalf("remove answered %v", a)
	}
	for _, sub := range []string{presence.SubjectClient("user", f.user), presence.SubjectClient("participant", f.part1), presence.SubjectClient("device", f.dev1)} {
		if l := take(e.events, sub, (func(*eventsv1.LeaveSessionEvent) bool)(nil)); !slices.Equal(l.LeavingUsers, []string{f.user}) {
			t.Fatalf("leave on %s: %v", sub, l)
		}
	}
	// The session keeps the trace that the user was invited.
	if n := e.scalar(`SELECT count(*)::text FROM core.t_sessions_users WHERE id_session = $1 AND deleted_at IS NULL`, int(s["id_session"].(float64))); n != "1" {
		t.Fatalf("user links after remove: %s", n)
	}

	// invite_reply from the service API on the participant's behalf: accepted, told to the others.
	e.events.clear()
	a = e.manageSvc(e.serviceToken("VideoRehabService"), map[string]any{"action": "invite_reply", "id_session": s["id_session"],
		"parameters": map[string]any{"reply_code": "accept", "participant_uuid": f.part1, "reply_msg": "coming"}})
	if a["status"] != "OK" {
		t.Fatalf("invite_reply answered %v", a)
	}
	if r := take(e.events, presence.SubjectClient("device", f.dev1), (func(*eventsv1.JoinSessionReplyEvent) bool)(nil)); r.JoinReply != eventsv1.JoinSessionReplyEvent_REPLY_ACCEPTED ||
		r.ParticipantUuid != f.part1 || r.ReplyMsg != "coming" {
		t.Fatalf("reply: %v", r)
	}

	// stop: completed, duration accumulated, everyone told.
	e.events.clear()
	if _, err := e.db.Exec(context.Background(), `UPDATE videorehab.live_sessions SET started_at = started_at - interval '90 seconds'`); err != nil {
		t.Fatal(err)
	}
	a = e.manage(admin, map[string]any{"action": "stop", "id_session": s["id_session"]})
	ss := a["session"].(map[string]any)
	if a["status"] != "stopped" || ss["session_status"] != 2.0 || ss["session_duration"].(float64) < 90 {
		t.Fatalf("stop answered %v", a)
	}
	for _, sub := range []string{presence.SubjectClient("participant", f.part1), presence.SubjectClient("device", f.dev1), "tera.session." + uuid + ".stop"} {
		take(e.events, sub, (func(*eventsv1.StopSessionEvent) bool)(nil))
	}
	none[*eventsv1.StopSessionEvent](e.events, e.nc, presence.SubjectClient("user", f.user)) // removed before the stop
	if got := e.eventTypes(s["id_session"]); !slices.Equal(got, []int{3, 12, 13, 4}) {
		t.Fatalf("session events %v, want start, join, leave, stop", got)
	}
	if a := e.manage(admin, map[string]any{"action": "stop", "id_session": s["id_session"]}); a["status"] != "error" || a["error_text"] != "No matching session" {
		t.Fatalf("second stop answered %v", a)
	}

	// start on the existing (completed) session: in progress again, a new room, the duration
	// adds up at the next stop.
	s2 := started(t, e.manage(admin, map[string]any{"action": "start", "id_session": s["id_session"]}))
	if s2["session_key"] == key || s2["session_status"] != 1.0 || !slices.Equal(strs(s2["session_users"]), []string{f.user}) {
		t.Fatalf("restarted session: %v", s2)
	}
	_, before := e.sessionRow(s["id_session"])
	if _, err := e.db.Exec(context.Background(), `UPDATE videorehab.live_sessions SET started_at = started_at - interval '30 seconds'`); err != nil {
		t.Fatal(err)
	}
	e.manage(admin, map[string]any{"action": "stop", "id_session": s["id_session"]})
	if st, d := e.sessionRow(s["id_session"]); st != 2 || d < before+30 {
		t.Fatalf("after the second stop: status %d duration %d (was %d)", st, d, before)
	}
}

// invite_reply's refusals (deny, busy, timeout, by name or number) take the invitee out of the
// session and are recorded; the creator's refusal ends the session (OpenTera issue 260).
func TestInviteReplies(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1}, "session_users": []string{f.admin, f.user, f.user3}}))
	id := s["id_session"]
	svc := e.serviceToken("VideoRehabService")
	for _, c := range []struct {
		who     string
		code    any
		want    eventsv1.JoinSessionReplyEvent_ReplyType
		refuser string
	}{
		{user, "deny", eventsv1.JoinSessionReplyEvent_REPLY_DENIED, f.user},
		{"basic:user3:user3", 4, eventsv1.JoinSessionReplyEvent_REPLY_TIMEOUT, f.user3},
	} {
		e.events.clear()
		a := e.manage(c.who, map[string]any{"action": "invite_reply", "id_session": id, "parameters": map[string]any{"reply_code": c.code}})
		if a["status"] != "OK" || slices.Contains(strs(a["session"].(map[string]any)["session_users"]), c.refuser) {
			t.Fatalf("reply %v answered %v", c.code, a)
		}
		r := take(e.events, presence.SubjectClient("participant", f.part1), (func(*eventsv1.JoinSessionReplyEvent) bool)(nil))
		if r.JoinReply != c.want || r.UserUuid != c.refuser {
			t.Fatalf("reply event %v", r)
		}
		take(e.events, "tera.session."+s["session_uuid"].(string)+".reply", (func(*eventsv1.JoinSessionReplyEvent) bool)(nil))
	}
	a := e.manageSvc(svc, map[string]any{"action": "invite_reply", "id_session": id,
		"parameters": map[string]any{"reply_code": 3, "participant_uuid": f.part1}})
	if a["status"] != "OK" || len(a["session"].(map[string]any)["session_participants"].([]any)) != 0 {
		t.Fatalf("participant's busy reply answered %v", a)
	}
	if got := e.eventTypes(id); !slices.Equal(got, []int{3, 14, 14, 14}) {
		t.Fatalf("events %v, want start and three refusals", got)
	}
	// The creator refuses: the session ends (its invitees are not left waiting).
	e.events.clear()
	a = e.manage(admin, map[string]any{"action": "invite_reply", "id_session": id, "parameters": map[string]any{"reply_code": "reject"}})
	if a["status"] != "error" || a["error_text"] != "Creator refused to join session - session ended" {
		t.Fatalf("creator's refusal answered %v", a)
	}
	take(e.events, presence.SubjectClient("user", f.admin), (func(*eventsv1.StopSessionEvent) bool)(nil))
	if st, _ := e.sessionRow(id); st != 2 {
		t.Fatalf("status %d after the creator refused", st)
	}
	if n := e.scalar(`SELECT count(*)::text FROM videorehab.live_sessions`); n != "0" {
		t.Fatalf("%s live sessions", n)
	}
}

// An invitee busy in another session is not invited: the server answers BUSY for it
// (OpenTera issue 267).
func TestBusyInviteeIsAnsweredBusy(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	first := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1, "session_participants": []string{f.part1}}))
	// usermanager marks the participant busy from the invitation.
	js, _ := jetstream.New(e.nc)
	kv, err := presence.NewStore(js).Presence(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for {
		if en, err := kv.Get(context.Background(), "busy.participant."+f.part1); err == nil && string(en.Value()) == first["session_uuid"] {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.events.clear()
	second := started(t, e.manage(user, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1, f.part2}}))
	if !slices.Equal(strs(second["session_participants"]), []string{f.part2}) {
		t.Fatalf("second session's participants: %v", second["session_participants"])
	}
	r := take(e.events, "tera.session."+second["session_uuid"].(string)+".reply", (func(*eventsv1.JoinSessionReplyEvent) bool)(nil))
	if r.JoinReply != eventsv1.JoinSessionReplyEvent_REPLY_BUSY || r.ParticipantUuid != f.part1 {
		t.Fatalf("busy reply: %v", r)
	}
	take(e.events, presence.SubjectClient("participant", f.part2), (func(*eventsv1.JoinSessionEvent) bool)(nil))
	none[*eventsv1.JoinSessionEvent](e.events, e.nc, presence.SubjectClient("participant", f.part1))
	if got := e.eventTypes(second["id_session"]); !slices.Equal(got, []int{3, 14}) {
		t.Fatalf("second session's events %v", got)
	}
	// invite of a busy participant: the same.
	e.events.clear()
	a := e.manage(user, map[string]any{"action": "invite", "id_session": second["id_session"], "session_participants": []string{f.part1},
		"session_users": []string{}, "session_devices": []string{}})
	if a["status"] != "invited" || slices.Contains(strs(a["session"].(map[string]any)["session_participants"]), f.part1) {
		t.Fatalf("invite of a busy participant answered %v", a)
	}
	take(e.events, "tera.session."+second["session_uuid"].(string)+".reply", (func(*eventsv1.JoinSessionReplyEvent) bool)(nil))
}

// Presence: an invitee who comes online is invited again (to it alone); an invitee who goes
// offline changes nothing; the creator going offline stops the session. A page opened after its
// websocket got the invitation finds it at /rehab/api/invitations (OpenTera issue 143).
func TestReconnectAndCreatorDisconnect(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1,
		"session_participants": []string{f.part1}, "session_users": []string{f.user}}))
	uuid := s["session_uuid"].(string)
	e.events.clear()
	publishPresence(t, e.nc, presence.Participant, f.part1, &eventsv1.ParticipantEvent{ParticipantUuid: f.part1,
		Type: eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED})
	j := take(e.events, presence.SubjectClient("participant", f.part1), (func(*eventsv1.JoinSessionEvent) bool)(nil))
	if j.SessionUuid != uuid || j.SessionUrl != s["session_url_participants"] {
		t.Fatalf("invitation again: %v", j)
	}
	none[*eventsv1.JoinSessionEvent](e.events, e.nc, presence.SubjectClient("user", f.user))

	st, body := e.do(e.participantToken(1), http.MethodGet, "/rehab/api/invitations", nil)
	var inv []map[string]any
	if st != 200 || json.Unmarshal(body, &inv) != nil || len(inv) != 1 || inv[0]["session_uuid"] != uuid ||
		inv[0]["session_url"] != s["session_url_participants"] || inv[0]["session_creator_name"] != "Super Admin" {
		t.Fatalf("participant's invitations: %d %s", st, body)
	}
	if st, body := e.do("basic:user4:user4", http.MethodGet, "/rehab/api/invitations", nil); st != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Fatalf("user4's invitations: %d %s", st, body)
	}
	if st, _ := e.do(e.serviceToken("VideoRehabService"), http.MethodGet, "/rehab/api/invitations", nil); st != 401 {
		t.Fatalf("a service's invitations: %d", st)
	}

	publishPresence(t, e.nc, presence.User, f.user, &eventsv1.UserEvent{UserUuid: f.user, Type: eventsv1.UserEvent_USER_DISCONNECTED})
	none[*eventsv1.StopSessionEvent](e.events, e.nc, presence.SubjectClient("participant", f.part1))
	if st, _ := e.sessionRow(s["id_session"]); st != 1 {
		t.Fatalf("an invitee's disconnection changed the session: status %d", st)
	}
	publishPresence(t, e.nc, presence.User, f.admin, &eventsv1.UserEvent{UserUuid: f.admin, Type: eventsv1.UserEvent_USER_DISCONNECTED})
	take(e.events, presence.SubjectClient("participant", f.part1), (func(*eventsv1.StopSessionEvent) bool)(nil))
	take(e.events, "tera.session."+uuid+".stop", (func(*eventsv1.StopSessionEvent) bool)(nil))
	if st, _ := e.sessionRow(s["id_session"]); st != 2 {
		t.Fatalf("status %d after the creator went offline", st)
	}
}

// The state is in PostgreSQL: a videorehab process restarted mid-session continues it (the
// room's key, the invitees, the time since the start).
func TestSessionSurvivesRestart(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	s := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1, "session_participants": []string{f.part1}}))
	if _, err := e.db.Exec(context.Background(), `UPDATE videorehab.live_sessions SET started_at = started_at - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}
	e.start("core,usermanager,videorehab")
	a := e.manage(admin, map[string]any{"action": "invite", "id_session": s["id_session"], "session_devices": []string{f.dev1}})
	is := a["session"].(map[string]any)
	if a["status"] != "invited" || is["session_key"] != s["session_key"] || !slices.Equal(strs(is["session_participants"]), []string{f.part1}) ||
		!slices.Equal(strs(is["session_devices"]), []string{f.dev1}) {
		t.Fatalf("invite after the restart answered %v", a)
	}
	a = e.manage(admin, map[string]any{"action": "stop", "id_session": s["id_session"]})
	if a["status"] != "stopped" || a["session"].(map[string]any)["session_duration"].(float64) < 60 {
		t.Fatalf("stop after the restart answered %v", a)
	}
}

func publishPresence(t *testing.T, nc *nats.Conn, kind, uuid string, m proto.Message) {
	t.Helper()
	if err := presence.Publish(nc, kind, uuid, m); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}
