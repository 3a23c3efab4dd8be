package websocket_test

import (
	"net/http"
	"strings"
	"testing"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
)

// GET /api/service/disconnect (OpenTera's ServiceQueryDisconnect): a service forces off what
// its projects give it; other kinds of tokens are 401.
func TestServiceDisconnect(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	f := e.fixture()
	tok, err := e.site.Signer().ServiceToken(e.scalar(`SELECT service_uuid FROM core.t_services WHERE service_key = 'VideoRehabService'`))
	if err != nil {
		t.Fatal(err)
	}
	svc := auth{token: tok}
	p := mustDial(t, base, wsPath(t, base, "participant", participant1))
	p.wantFrame(umTopic, participantEvent(f.part1UUID, eventsv1.ParticipantEvent_PARTICIPANT_CONNECTED))
	for _, c := range []struct {
		q    string
		who  auth
		code int
		body string
	}{
		{"?id_participant=1", admin, 401, ""},
		{"?id_participant=1", auth{token: f.dev1Token}, 401, ""},
		{"?id_participant=1", auth{}, 401, ""},
		{"", svc, 400, `"Invalid request"`},
		{"?id_device=abc", svc, 400, ""},
		{"?id_participant=4", svc, 403, `"Forbidden"`}, // Secret Participant: project 3
		{"?id_device=3", svc, 403, `"Forbidden"`},      // linked to no project of the service
		{"?id_user=6", svc, 403, `"Forbidden"`},        // user4: no role anywhere
		{"?user_uuid=" + f.adminUUID, svc, 200, `"Success"`},
	} {
		if r := do(t, http.MethodGet, base+"/api/service/disconnect"+c.q, c.who, ""); r.code != c.code || (c.body != "" && strings.TrimSpace(string(r.body)) != c.body) {
			t.Fatalf("service disconnect%s: %d %s", c.q, r.code, r.body)
		}
	}
	if r := do(t, http.MethodGet, base+"/api/service/disconnect?participant_uuid="+f.part1UUID, svc, ""); r.code != 200 {
		t.Fatalf("disconnect participant: %d %s", r.code, r.body)
	}
	p.wantClose(4000)
}
