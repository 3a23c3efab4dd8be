package websocket_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/presence"
)

const umTopic = presence.Topic

var (
	admin        = auth{user: "admin", pass: "admin"}
	user4        = auth{user: "user4", pass: "user4"}
	participant1 = auth{user: "participant1", pass: "opentera"}
)

type fixture struct {
	adminUUID, user4UUID, part1UUID, dev1UUID, dev1Token string
}

func (e *env) fixture() fixture {
	return fixture{
		adminUUID: e.scalar(`SELECT user_uuid FROM core.t_users WHERE user_username = 'admin'`),
		user4UUID: e.scalar(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`),
		part1UUID: e.scalar(`SELECT participant_uuid FROM core.t_participants WHERE id_participant = 1`),
		dev1UUID:  e.scalar(`SELECT device_uuid FROM core.t_devices WHERE id_device = 1`),
		dev1Token: e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`),
	}
}

func userEvent(uuid string, t eventsv1.UserEvent_EventType, name string) *eventsv1.UserEvent {
	return &eventsv1.UserEvent{UserUuid: uuid, Type: t, UserFullname: name}
}

func participantEvent(uuid string, t eventsv1.ParticipantEvent_EventType) *eventsv1.ParticipantEvent {
	return &eventsv1.ParticipantEvent{ParticipantUuid: uuid, Type: t, ParticipantName: "Participant #1",
		ParticipantProjectName: "Default Project #1", ParticipantSiteName: "Default Site"}
}

func TestHandshake(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	if r := do(t, http.MethodGet, base+"/wss/user?id=abc", auth{}, ""); r.code != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d %s", r.code, r.body)
	}
	for _, path := range []string{"/wss/user", "/wss/user?id=", "/wss/user?id=0123456789abcdef0123456789abcdef", "/wss/device?id=../x"} {
		if _, resp, err := dial(t, base, path); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
	}
	// A participant's key on the user path is refused and stays usable on its own path, once.
	p := wsPath(t, base, "participant", participant1)
	query := p[strings.Index(p, "?"):]
	for _, wrong := range []string{"/wss/user", "/wss/device"} {
		if _, resp, err := dial(t, base, wrong+query); err == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("participant key on %s: %v", wrong, err)
		}
	}
	f := e.fixture()
	s := mustDial(t, base, p)
	s.wantFrame(umTopic, participantEvent(f.part1UUID, eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED))
	if _, resp, err := dial(t, base, p); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("key used twice: %v", err)
	}
	// Server → client only.
	if err := s.c.Write(context.Background(), websocket.MessageText, []byte(`{"hello": 1}`)); err != nil {
		t.Fatal(err)
	}
	if got := string(s.next()); got != "Not allowed to send message" {
		t.Fatalf("reply to a client message: %q", got)
	}
}

func TestPresenceRoutingAndEndpoints(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()

	a := mustDial(t, base, wsPath(t, base, "user", admin))
	a.wantFrame(umTopic, userEvent(f.adminUUID, eventsv1.UserEvent_USER_CONNECTED, "Super Admin"))
	u4 := mustDial(t, base, wsPath(t, base, "user", user4))
	u4.wantFrame(umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_CONNECTED, "No Access User!"))
	a.wantFrame(umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_CONNECTED, "No Access User!"))

	p := mustDial(t, base, wsPath(t, base, "participant", participant1))
	p.wantFrame(umTopic, participantEvent(f.part1UUID, eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED))
	a.wantFrame(umTopic, participantEvent(f.part1UUID, eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED))

	d := mustDial(t, base, wsPath(t, base, "device", auth{token: f.dev1Token}))
	devConnected := &eventsv1.DeviceEvent{DeviceUuid: f.dev1UUID, Type: eventsv1.DeviceEvent_DEVICE_CONNECTED, DeviceName: "Apple Watch #W05P1"}
	d.wantFrame(umTopic, devConnected)
	a.wantFrame(umTopic, devConnected)
	p.wantFrame(umTopic, devConnected) // participant 1 is linked to device 1

	// user4 can access nobody: it saw only itself.
	if got := e.barrier("tera.presence.barrier", u4, a, p, d); len(got[0])+len(got[1])+len(got[2])+len(got[3]) != 0 {
		t.Fatalf("unexpected frames: %v", got)
	}

	if got := online(t, base, "user", admin); len(got) != 2 || !contains(got, f.adminUUID) || !contains(got, f.user4UUID) {
		t.Fatalf("users online for admin: %v", got)
	}
	if got := online(t, base, "user", user4); len(got) != 1 || got[0] != f.user4UUID {
		t.Fatalf("users online for user4: %v", got)
	}
	if got := online(t, base, "participant", user4); len(got) != 0 {
		t.Fatalf("participants online for user4: %v", got)
	}
	r := do(t, http.MethodGet, base+"/api/user/participants/online?with_projects=1&with_sites=true", admin, "")
	if l := r.list(t); r.code != 200 || len(l) != 1 || l[0]["participant_uuid"] != f.part1UUID || l[0]["project_name"] != "Default Project #1" ||
		l[0]["site_name"] != "Default Site" || l[0]["participant_online"] != true || l[0]["participant_busy"] != false {
		t.Fatalf("participants online: %d %s", r.code, r.body)
	}
	if r := do(t, http.MethodGet, base+"/api/user/users/online", auth{}, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("online without auth: %d", r.code)
	}
	if r := do(t, http.MethodPost, base+"/api/user/users/online", admin, "{}"); r.code != http.StatusMethodNotAllowed {
		t.Fatalf("POST online: %d", r.code)
	}

	// Device status: recorded, pushed as DEVICE_STATUS_CHANGED, listed with the device.
	r = do(t, http.MethodPost, base+"/api/device/status", auth{token: f.dev1Token}, `{"status": {"battery": 12.50, "ok": true}, "timestamp": 1764681300}`)
	if r.code != http.StatusOK || string(r.body) != `{"uuid": "`+f.dev1UUID+`", "status": "{\"battery\": 12.5, \"ok\": true}", "timestamp": 1764681300}`+"\n" {
		t.Fatalf("device status: %d %s", r.code, r.body)
	}
	statusChanged := &eventsv1.DeviceEvent{DeviceUuid: f.dev1UUID, Type: eventsv1.DeviceEvent_DEVICE_STATUS_CHANGED, DeviceName: "Apple Watch #W05P1",
		DeviceStatus: `{"status": "{\"battery\": 12.5, \"ok\": true}", "timestamp": 1764681300}`}
	a.wantFrame(umTopic, statusChanged)
	p.wantFrame(umTopic, statusChanged)
	d.wantFrame(umTopic, statusChanged)
	r = do(t, http.MethodGet, base+"/api/user/devices/online", admin, "")
	if l := r.list(t); r.code != 200 || len(l) != 1 || l[0]["device_uuid"] != f.dev1UUID ||
		!strings.Contains(string(r.body), `"device_status":{"online":true,"busy":false,"status":{"status":"{\"battery\": 12.5, \"ok\": true}","timestamp":1764681300}}`) {
		t.Fatalf("devices online: %d %s", r.code, r.body)
	}
	if r := do(t, http.MethodPost, base+"/api/device/status", auth{token: f.dev1Token}, `{"timestamp": 1}`); r.code != http.StatusBadRequest {
		t.Fatalf("status without status: %d %s", r.code, r.body)
	}
	dev2 := e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 2`)
	if r := do(t, http.MethodPost, base+"/api/device/status", auth{token: dev2}, `{"status": {}, "timestamp": 1}`); r.code != http.StatusForbidden ||
		string(r.body) != "\"Status update forbidden on offline device.\"\n" {
		t.Fatalf("offline device status: %d %s", r.code, r.body)
	}

	// Forced disconnect: 4000, then offline everywhere.
	for _, c := range []struct {
		q    string
		who  auth
		code int
		body string
	}{
		{"", admin, 400, `"Invalid request"`},
		{"?id_user=abc", admin, 400, ""},
		{"?user_uuid=" + f.adminUUID, admin, 400, `"Use Logout instead to disconnect current user"`},
		{"?id_participant=1", user4, 403, `"Forbidden"`},
		{"?device_uuid=" + f.dev1UUID, user4, 403, `"Forbidden"`},
	} {
		if r := do(t, http.MethodGet, base+"/api/user/disconnect"+c.q, c.who, ""); r.code != c.code || (c.body != "" && strings.TrimSpace(string(r.body)) != c.body) {
			t.Fatalf("disconnect%s: %d %s", c.q, r.code, r.body)
		}
	}
	if r := do(t, http.MethodGet, base+"/api/user/disconnect?id_participant=1", admin, ""); r.code != 200 {
		t.Fatalf("disconnect participant: %d %s", r.code, r.body)
	}
	p.wantClose(4000)
	a.wantFrame(umTopic, participantEvent(f.part1UUID, eventsv1.ParticipantEvent_PARTICIPANT_DISCONNECTED))
	if got := online(t, base, "participant", admin); len(got) != 0 {
		t.Fatalf("participants online after disconnect: %v", got)
	}

	// A client's own close is answered and makes it offline.
	_ = u4.c.Close(websocket.StatusNormalClosure, "bye")
	a.wantFrame(umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_DISCONNECTED, "No Access User!"))
	if got := online(t, base, "user", admin); len(got) != 1 || got[0] != f.adminUUID {
		t.Fatalf("users online after user4 left: %v", got)
	}
}

// OpenTera processes a socket closed before its connect handler ran offline-then-online, and
// the client stays online forever. Here each connection's reports are ordered.
func TestCloseRightAfterHandshakeEndsOffline(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	a := mustDial(t, base, wsPath(t, base, "user", admin))
	a.wantFrame(umTopic, userEvent(f.adminUUID, eventsv1.UserEvent_USER_CONNECTED, "Super Admin"))
	for range 5 {
		s := mustDial(t, base, wsPath(t, base, "user", user4))
		s.c.CloseNow()
		a.wantFrame(umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_CONNECTED, "No Access User!"))
		a.wantFrame(umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_DISCONNECTED, "No Access User!"))
	}
	if got := online(t, base, "user", admin); len(got) != 1 || got[0] != f.adminUUID {
		t.Fatalf("users online: %v", got)
	}
}

// A close while usermanager is down (restarting) is reported once it is back. Before, a close
// got six quick attempts (with no responder, each fails at once), and the client then stayed
// listed online for as long as its replica lived.
func TestDisconnectReportedAfterUsermanagerOutage(t *testing.T) {
	e := newEnv(t)
	base := e.process("login,core,websocket")
	um, stopUM := e.stoppableProcess("usermanager")
	f := e.fixture()
	s := mustDial(t, base, wsPath(t, base, "user", user4))
	eventually(t, "user4 online", func() bool { return contains(online(t, um, "user", admin), f.user4UUID) })
	stopUM()
	s.c.CloseNow()
	// Longer than the six attempts lasted (0.5 s apart).
	time.Sleep(5 * time.Second)
	um = e.process("usermanager")
	eventually(t, "user4 offline", func() bool { return !contains(online(t, um, "user", admin), f.user4UUID) })
}

func TestDisabledOrDeletedClientsAreDisconnected(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	p := mustDial(t, base, wsPath(t, base, "participant", participant1))
	p.wantFrame(umTopic, participantEvent(f.part1UUID, eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED))
	d := mustDial(t, base, wsPath(t, base, "device", auth{token: f.dev1Token}))
	d.next()
	u := mustDial(t, base, wsPath(t, base, "user", user4))
	u.next()
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `UPDATE core.t_participants SET participant_enabled = false WHERE id_participant = 1`); err != nil {
		t.Fatal(err)
	}
	p.wantClose(4000)
	if _, err := e.db.Exec(ctx, `UPDATE core.t_devices SET device_enabled = false WHERE id_device = 1`); err != nil {
		t.Fatal(err)
	}
	d.wantClose(4000)
	if _, err := e.db.Exec(ctx, `UPDATE core.t_users SET deleted_at = now() WHERE user_username = 'user4'`); err != nil {
		t.Fatal(err)
	}
	u.wantClose(4000)
}

func TestLogoutClosesSocket(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	r := do(t, http.MethodGet, base+"/api/user/login?with_websocket=true", user4, "")
	m := r.obj(t)
	raw := m["websocket_url"].(string)
	s := mustDial(t, base, raw[strings.Index(raw, "/wss/"):])
	s.next()
	if r := do(t, http.MethodGet, base+"/api/user/logout", auth{token: m["user_token"].(string)}, ""); r.code != 200 {
		t.Fatalf("logout: %d %s", r.code, r.body)
	}
	s.wantClose(4000)
}

// The rows of REFERENCE §5's table that are not presence.
func TestSessionArchiveAndDirectEventRouting(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	a := mustDial(t, base, wsPath(t, base, "user", admin))
	a.next()
	u4 := mustDial(t, base, wsPath(t, base, "user", user4))
	u4.next()
	a.next()
	p := mustDial(t, base, wsPath(t, base, "participant", participant1))
	p.next()
	a.next()
	d := mustDial(t, base, wsPath(t, base, "device", auth{token: f.dev1Token}))
	d.next()
	a.next()
	p.next()
	a.who, u4.who, p.who, d.who = "user."+f.adminUUID, "user."+f.user4UUID, "participant."+f.part1UUID, "device."+f.dev1UUID
	socks := []*socket{a, u4, p, d}
	publish := func(subject, topic string, msgs ...proto.Message) {
		t.Helper()
		ev := &eventsv1.TeraEvent{Header: &eventsv1.TeraEvent_Header{Version: 1, Time: 1764681300.5, Topic: topic}}
		for _, m := range msgs {
			x, _ := anypb.New(m)
			ev.Events = append(ev.Events, x)
		}
		b, _ := proto.Marshal(ev)
		if err := e.nc.Publish(subject, b); err != nil {
			t.Fatal(err)
		}
	}
	// expect checks which sockets got exactly one frame of the published event, the others none.
	expect := func(what, subject string, got ...bool) {
		t.Helper()
		frames := e.barrier(subject, socks...)
		for i := range frames {
			// usermanager's JOINED/LEFT_SESSION events (TestBusyInSession) are not under test here.
			kept := frames[i][:0]
			for _, f := range frames[i] {
				if !strings.Contains(f, `_SESSION"`) {
					kept = append(kept, f)
				}
			}
			frames[i] = kept
		}
		for i, want := range got {
			if (len(frames[i]) == 1) != want || len(frames[i]) > 1 {
				t.Fatalf("%s: socket %d got %v, want a frame: %v", what, i, frames[i], want)
			}
		}
	}
	// A session participant 1 and device 1 are in, and no user.
	session := e.scalar(`SELECT s.session_uuid FROM core.t_sessions s
		JOIN core.t_sessions_participants sp ON sp.id_session = s.id_session AND sp.id_participant = 1
		JOIN core.t_sessions_devices sd ON sd.id_session = s.id_session AND sd.id_device = 1
		WHERE s.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM core.t_sessions_users su WHERE su.id_session = s.id_session)
		ORDER BY s.id_session LIMIT 1`)

	join := &eventsv1.JoinSessionEvent{SessionUuid: session, SessionUsers: []string{f.user4UUID}, SessionParticipants: []string{f.part1UUID}}
	leave := &eventsv1.LeaveSessionEvent{SessionUuid: session}
	reply := &eventsv1.JoinSessionReplyEvent{SessionUuid: session, ParticipantUuid: f.part1UUID, JoinReply: eventsv1.JoinSessionReplyEvent_REPLY_ACCEPTED}
	stop := &eventsv1.StopSessionEvent{SessionUuid: session}
	// A session's own subject is for usermanager and the SFU: no client hears it.
	for _, ev := range []struct {
		name string
		m    proto.Message
	}{{"join", join}, {"leave", leave}, {"reply", reply}, {"stop", stop}} {
		publish("tera.session."+session+"."+ev.name, "service.VideoRehabService.events", ev.m)
		expect(ev.name+" on the session's subject", "tera.session."+session+"."+ev.name, false, false, false, false)
	}
	// Each invitee gets them on its own subject (OpenTera's websocket.<kind>.<uuid>.events),
	// filtered as OpenTera filters them.
	direct := func(what, kind, uuid string, m proto.Message, got ...bool) {
		t.Helper()
		publish(presence.SubjectClient(kind, uuid), "websocket."+kind+"."+uuid+".events", m)
		expect(what, presence.SubjectClient(kind, uuid), got...)
	}
	direct("join to participant 1", "participant", f.part1UUID, join, false, false, true, false)
	direct("join to admin, not invited", "user", f.adminUUID, join, false, false, false, false)
	direct("leave to participant 1", "participant", f.part1UUID, leave, false, false, true, false)
	direct("leave to user 4, not in the session", "user", f.user4UUID, leave, false, false, false, false)
	direct("reply of participant 1 to device 1", "device", f.dev1UUID, reply, false, false, false, true)
	direct("reply of participant 1 to itself", "participant", f.part1UUID, reply, false, false, false, false)
	direct("stop to admin", "user", f.adminUUID, stop, true, false, false, false)
	publish("tera.service.FileTransferService.events", "service.FileTransferService.events",
		&eventsv1.ArchiveEvent{ArchiveUuid: "ar-1", OwnerUuid: f.user4UUID, Status: eventsv1.ArchiveEvent_STATUS_COMPLETED})
	expect("archive", "tera.service.FileTransferService.events", false, true, false, false)
	publish(presence.SubjectClient("user", f.adminUUID), "module.TeraServer.DatabaseModule.events.participant",
		&eventsv1.DatabaseEvent{Type: eventsv1.DatabaseEvent_DB_UPDATE, ObjectType: "participant", ObjectValue: "{}"})
	expect("database event", presence.SubjectClient("user", f.adminUUID), false, false, false, false)
	publish(presence.SubjectClient("user", f.user4UUID), "websocket.user."+f.user4UUID+".events",
		&eventsv1.JoinSessionEvent{SessionUuid: session, SessionUsers: []string{f.user4UUID}})
	expect("direct join", presence.SubjectClient("user", f.user4UUID), false, true, false, false)
	// Of a mixed frame each client gets the events it may see, under the original header.
	stop = &eventsv1.StopSessionEvent{SessionUuid: "s-mixed"}
	archive := &eventsv1.ArchiveEvent{ArchiveUuid: "ar-2", OwnerUuid: f.part1UUID}
	publish("tera.service.FileTransferService.events", "service.FileTransferService.events", stop, archive)
	p.wantFrameSkipping(`_SESSION"`, "service.FileTransferService.events", stop, archive)
	u4.wantFrameSkipping(`_SESSION"`, "service.FileTransferService.events", stop)
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

// OpenTera's "already logged in" answers, from usermanager's presence.
func TestAlreadyLoggedIn(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	u := mustDial(t, base, wsPath(t, base, "user", user4))
	u.next()
	p := mustDial(t, base, wsPath(t, base, "participant", participant1))
	p.next()
	d := mustDial(t, base, wsPath(t, base, "device", auth{token: f.dev1Token}))
	d.next()
	for _, c := range []struct {
		path string
		who  auth
		code int
		body string
	}{
		{"/api/user/login?with_websocket=true", user4, 403, `"User already logged in."`},
		{"/api/participant/login?with_websocket=true", participant1, 403, `"Participant already logged in."`},
		{"/api/device/login", auth{token: f.dev1Token}, 403, `"Device already logged in."`},
		{"/api/user/login", user4, 200, ""},
		{"/api/participant/login", participant1, 200, ""},
	} {
		r := do(t, http.MethodGet, base+c.path, c.who, "")
		if r.code != c.code || (c.body != "" && strings.TrimSpace(string(r.body)) != c.body) {
			t.Fatalf("%s: %d %s", c.path, r.code, r.body)
		}
		if c.code == 200 && strings.Contains(string(r.body), "websocket_url") {
			t.Fatalf("%s: a websocket_url without with_websocket: %s", c.path, r.body)
		}
	}
	tok := do(t, http.MethodGet, base+"/api/user/login", user4, "").obj(t)["user_token"].(string)
	if r := do(t, http.MethodGet, base+"/api/user/refresh_token?with_websocket=true", auth{token: tok}, ""); r.code != 200 || strings.Contains(string(r.body), "websocket_url") {
		t.Fatalf("refresh of an online user: %d %s", r.code, r.body)
	}
	u.c.CloseNow()
	eventually(t, "user4 may log in with a websocket again", func() bool {
		return do(t, http.MethodGet, base+"/api/user/login?with_websocket=true", user4, "").code == 200
	})
}

// Session events make their invitees busy (JOINED_SESSION) until they leave, refuse or the
// session stops (LEFT_SESSION), as OpenTera's UserManagerModule.
func TestBusyInSession(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	a := mustDial(t, base, wsPath(t, base, "user", admin))
	a.next()
	u4 := mustDial(t, base, wsPath(t, base, "user", user4))
	u4.next()
	a.next()
	publish := func(m proto.Message) {
		t.Helper()
		ev, _ := presence.Event(m)
		b, _ := proto.Marshal(ev)
		if err := e.nc.Publish("tera.session.s-busy.event", b); err != nil {
			t.Fatal(err)
		}
	}
	busy := func() bool {
		t.Helper()
		for _, u := range do(t, http.MethodGet, base+"/api/user/users/online", admin, "").list(t) {
			if u["user_uuid"] == f.user4UUID {
				return u["user_busy"] == true
			}
		}
		t.Fatal("user4 not online")
		return false
	}
	publish(&eventsv1.JoinSessionEvent{SessionUuid: "s-busy", SessionUsers: []string{f.user4UUID}})
	a.wantFrameSkipping("StopSessionEvent", umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_JOINED_SESSION, "No Access User!"))
	if !busy() {
		t.Fatal("user4 not busy in its session")
	}
	publish(&eventsv1.JoinSessionReplyEvent{SessionUuid: "s-busy", UserUuid: f.user4UUID, JoinReply: eventsv1.JoinSessionReplyEvent_REPLY_ACCEPTED})
	publish(&eventsv1.StopSessionEvent{SessionUuid: "s-busy"})
	a.wantFrameSkipping("StopSessionEvent", umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_LEFT_SESSION, "No Access User!"))
	if busy() {
		t.Fatal("user4 still busy after the session stopped")
	}
	publish(&eventsv1.JoinSessionEvent{SessionUuid: "s-busy", SessionUsers: []string{f.user4UUID}})
	a.wantFrameSkipping("StopSessionEvent", umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_JOINED_SESSION, "No Access User!"))
	publish(&eventsv1.JoinSessionReplyEvent{SessionUuid: "s-busy", UserUuid: f.user4UUID, JoinReply: eventsv1.JoinSessionReplyEvent_REPLY_BUSY})
	a.wantFrameSkipping("StopSessionEvent", umTopic, userEvent(f.user4UUID, eventsv1.UserEvent_USER_LEFT_SESSION, "No Access User!"))
	if busy() {
		t.Fatal("user4 still busy after refusing")
	}
}

// A report of a connection's opening applied after the report of its close (a retried request,
// or one queued on another usermanager replica) leaves the principal offline.
func TestOpenReportedAfterCloseIsIgnored(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	a := mustDial(t, base, wsPath(t, base, "user", admin))
	a.next()
	c := presence.Conn{Kind: "user", UUID: f.user4UUID, Replica: "elsewhere", ID: "c1", Name: "No Access User!"}
	b, _ := json.Marshal(c)
	for _, subj := range []string{presence.SubjectDisconnect, presence.SubjectConnect} {
		m, err := e.nc.Request(subj, b, 10*time.Second)
		if err != nil || !strings.Contains(string(m.Data), `"ok":true`) {
			t.Fatalf("%s: %v %s", subj, err, m.Data)
		}
	}
	if got := e.barrier("tera.presence.barrier", a); len(got[0]) != 0 {
		t.Fatalf("events of a closed connection: %v", got[0])
	}
	if got := online(t, base, "user", admin); len(got) != 1 || got[0] != f.adminUUID {
		t.Fatalf("users online: %v", got)
	}
}

// core's participant_online/_busy and user_online/_busy (with_status) come from presence.
func TestCoreStatusFieldsFromPresence(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	field := func(path, key string) any {
		t.Helper()
		r := do(t, http.MethodGet, base+path, admin, "")
		l := r.list(t)
		if r.code != 200 || len(l) != 1 {
			t.Fatalf("%s: %d %s", path, r.code, r.body)
		}
		return l[0][key]
	}
	if v := field("/api/user/participants?id_participant=1", "participant_online"); v != false {
		t.Fatalf("participant_online before connecting: %v", v)
	}
	p := mustDial(t, base, wsPath(t, base, "participant", participant1))
	p.next()
	u := mustDial(t, base, wsPath(t, base, "user", user4))
	u.next()
	eventually(t, "participant_online", func() bool { return field("/api/user/participants?id_participant=1", "participant_online") == true })
	eventually(t, "user_online", func() bool { return field("/api/user/users?id_user=6&with_status=true", "user_online") == true })
	ev, _ := presence.Event(&eventsv1.JoinSessionEvent{SessionUuid: "s-core", SessionParticipants: []string{f.part1UUID}})
	b, _ := proto.Marshal(ev)
	if err := e.nc.Publish("tera.session.s-core.join", b); err != nil {
		t.Fatal(err)
	}
	eventually(t, "participant_busy", func() bool { return field("/api/user/participants?id_participant=1", "participant_busy") == true })
	p.c.CloseNow()
	eventually(t, "participant offline", func() bool {
		return field("/api/user/participants?id_participant=1", "participant_online") == false &&
			field("/api/user/participants?id_participant=1", "participant_busy") == false
	})
}
