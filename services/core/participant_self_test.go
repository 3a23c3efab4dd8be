package core_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// /api/participant/participants: the participant reads itself (OpenTera's
// ParticipantQueryParticipants and its test).
func TestParticipantSurfaceSelf(t *testing.T) {
	e := newEnv(t)
	object := func(who, path string) map[string]any {
		t.Helper()
		var got map[string]any
		if err := json.Unmarshal(e.expect(200, who, "GET", path, nil), &got); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return got
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	full := object("participant1", "/api/participant/participants")
	want := []string{"id_participant", "id_participant_group", "id_project", "participant_email", "participant_enabled",
		"participant_lastonline", "participant_login_enabled", "participant_name", "participant_project_enabled",
		"participant_token", "participant_token_enabled", "participant_username", "participant_uuid"}
	if !slices.Equal(keys(full), want) {
		t.Errorf("keys %v, want %v", keys(full), want)
	}
	// The same values as the user API shows for that participant.
	user := e.list("admin", "/api/user/participants?id_participant=1")[0]
	for _, k := range want {
		if b1, _ := json.Marshal(full[k]); string(b1) != func() string { b, _ := json.Marshal(user[k]); return string(b) }() {
			t.Errorf("%s: participant API %s, user API %v", k, b1, user[k])
		}
	}
	minimal := object("participant1", "/api/participant/participants?list=true")
	if _, has := minimal["participant_username"]; len(minimal) != 8 || has || minimal["id_participant"] != float64(1) {
		t.Errorf("list form %v", minimal)
	}
	// A static token is limited: the name only.
	static := e.field("participant", 1, "token")
	limited := object("token:"+static, "/api/participant/participants")
	if len(limited) != 1 || limited["participant_name"] != "Participant #1" {
		t.Errorf("limited form %v", limited)
	}
	// POST is OpenTera's 501 for a full participant, 403 for a limited one.
	e.expect(http.StatusNotImplemented, "participant1", "POST", "/api/participant/participants", `{"participant": {}}`)
	e.expect(403, "token:"+static, "POST", "/api/participant/participants", `{"participant": {}}`)
	// Users are not participants.
	if code, _ := e.do("admin", "GET", "/api/participant/participants", nil); code != 401 && code != 403 {
		t.Errorf("user on the participant API: %d", code)
	}
	e.expect(401, "", "GET", "/api/participant/participants", nil)
}
