package core_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// invitationBody is one new invitation as OpenTera's tests post it.
func invitationBody(kv ...any) map[string]any {
	return fields(append([]any{"id_test_invitation", 0, "test_invitation_max_count", 1, "test_invitation_count", 0,
		"test_invitation_expiration_date", time.Now().Add(24 * time.Hour).Format("2006-01-02T15:04:05.000000")}, kv...)...)
}

func invitations(items ...map[string]any) map[string]any {
	return map[string]any{"tests_invitations": items}
}

// postInvitations creates invitations and returns their ids.
func (e *env) postInvitations(who, base string, items ...map[string]any) []int {
	e.t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(e.expect(200, who, "POST", base, invitations(items...)), &out); err != nil {
		e.t.Fatal(err)
	}
	return ids(out, "id_test_invitation")
}

func TestTestInvitationsAPI(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/tests/invitations"
	e.expect(200, "admin", "GET", p, nil)
	if got := e.list("admin", p); len(got) != 0 {
		t.Fatalf("fixture has invitations: %v", got)
	}
	// a: type 2 (web), project 1, participant 1, session 2;
	// b: type 1, project 2, user 3 ("user");
	// c: type 3, project 3 (site 2), participant 4; d: type 2, project 1, device 1.
	creates := e.events("test_invitation", 1)
	got := e.postInvitations("admin", p,
		invitationBody("id_test_type", 2, "id_project", 1, "id_participant", 1, "id_session", 2, "test_invitation_message", "Hello"),
		invitationBody("id_test_type", 1, "id_project", 2, "id_user", 3),
		invitationBody("id_test_type", 3, "id_project", 3, "id_participant", 4),
		invitationBody("id_test_type", 2, "id_project", 1, "id_device", 1, "test_invitation_max_count", 3))
	if len(got) != 4 {
		t.Fatalf("created %v", got)
	}
	creates(4)
	a, b, c, d := got[0], got[1], got[2], got[3]

	all := e.list("admin", p+"?full=true")
	byID := map[int]map[string]any{}
	for _, o := range all {
		byID[int(o["id_test_invitation"].(float64))] = o
	}
	ia := byID[a]
	key := ia["test_invitation_key"].(string)
	if len(key) != 16 || strings.Trim(key, "0123456789abcdef") != "" || ia["test_invitation_count"] != 0.0 || ia["test_invitation_message"] != "Hello" {
		t.Errorf("a: %v", ia)
	}
	if tt := ia["test_invitation_test_type"].(map[string]any); tt["test_type_name"] != "Post-session evaluation" || tt["test_type_key"] != nil {
		t.Errorf("a type: %v", tt)
	}
	if ia["test_invitation_participant"].(map[string]any)["participant_name"] != "Participant #1" || ia["test_invitation_session"] == nil ||
		ia["test_invitation_project"].(map[string]any)["project_name"] != "Default Project #1" {
		t.Errorf("a full: %v", ia)
	}
	if _, ok := ia["test_invitation_user"]; ok {
		t.Errorf("a has a user: %v", ia)
	}
	if u := byID[b]["test_invitation_user"].(map[string]any); u["user_firstname"] != "Site" || byID[b]["test_invitation_session"] != nil {
		t.Errorf("b full: %v", byID[b])
	}
	if byID[d]["test_invitation_device"] == nil || byID[d]["test_invitation_max_count"] != 3.0 {
		t.Errorf("d full: %v", byID[d])
	}
	minimal := e.list("admin", fmt.Sprintf("%s?id_test_invitation=%d", p, a))[0]
	if len(minimal) != 13 || minimal["id_session"] != 2.0 || minimal["id_user"] != nil {
		t.Errorf("minimal: %v", minimal)
	}
	// Type 2 has a web page, type 1 none: the URL key is absent, as in OpenTera.
	urls := e.list("admin", fmt.Sprintf("%s?id_test_invitation=%d&with_urls=true", p, a))
	if urls[0]["test_invitation_url"] != "https://tera.test/rehab/viewer?invitation_key="+key {
		t.Errorf("url: %v", urls[0])
	}
	if u := e.list("admin", fmt.Sprintf("%s?id_user=3&with_urls=true", p)); len(u) != 1 || u[0]["test_invitation_url"] != nil {
		t.Errorf("no web page: %v", u)
	}

	uuidOf := func(path, key string) string { return e.list("admin", path)[0][key].(string) }
	e.lists(p, "id_test_invitation", []listCase{
		{"admin", "", []int{a, b, c, d}},
		{"user4", "", []int{}},
		{"user3", "", []int{a, d}},
		{"user", "", []int{a, b, d}},
		{"siteadmin", "", []int{a, b, d}},
		{"admin", fmt.Sprint("id_test_invitation=", a), []int{a}},
		{"user4", fmt.Sprint("id_test_invitation=", a), []int{}},
		{"admin", "test_invitation_key=" + key, []int{a}},
		{"admin", "id_user=3", []int{b}},
		{"admin", "user_uuid=" + uuidOf("/api/user/users?id_user=3", "user_uuid"), []int{b}},
		{"admin", "id_participant=1", []int{a}},
		{"admin", "participant_uuid=" + uuidOf("/api/user/participants?id_participant=4", "participant_uuid"), []int{c}},
		{"user3", "id_participant=4", []int{}},
		{"admin", "id_device=1", []int{d}},
		{"admin", "device_uuid=" + uuidOf("/api/user/devices?id_device=1", "device_uuid"), []int{d}},
		{"admin", "id_session=2", []int{a}},
		{"admin", "id_session=0", []int{}},
		{"admin", "session_uuid=" + uuidOf("/api/user/sessions?id_session=2", "session_uuid"), []int{a}},
		{"admin", "id_test_type=2", []int{a, d}},
		{"admin", "test_type_uuid=" + uuidOf("/api/user/testtypes?id_test_type=3", "test_type_uuid"), []int{c}},
		{"admin", "id_project=1", []int{a, d}},
		{"admin", "id_project=0", []int{}},
		{"user4", "id_project=1", []int{}},
		// An unknown uuid leaves the id selector as it is.
		{"admin", "user_uuid=nobody", []int{}},
		{"admin", "user_uuid=nobody&id_user=3", []int{b}},
		// Selectors concatenate, in OpenTera's order.
		{"admin", fmt.Sprint("id_project=1&id_test_invitation=", c), []int{c, a, d}},
	})
	e.expect(400, "admin", "GET", p+"?id_project=x", nil)
	e.expect(401, "", "GET", p, nil)

	// Malformed bodies and refusals; nothing is written by a refused POST.
	count := len(e.list("admin", p))
	for _, body := range []any{`{}`, `[]`, `[{"invalid": "invalid"}]`, `{"tests_invitations": []}`, `{"tests_invitations": [{"invalid": "x"}]}`,
		`{"tests_invitations": {"id_test_invitation": 0}}`, `{"tests_invitations": [{"id_test_invitation": "x"}]}`, `not json`,
		invitations(invitationBody("id_test_type", 2, "id_project", 1)),
		invitations(invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "id_participant", 1)),
		invitations(invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "id_device", 1)),
		invitations(invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "id_participant", 1, "id_device", 1)),
		invitations(invitationBody("id_project", 1, "id_user", 1)),
		invitations(invitationBody("id_test_type", 2, "id_user", 1)),
		invitations(invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "test_invitation_key", "0123456789abcdef")),
		invitations(invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "test_invitation_expiration_date", "tomorrow")),
		invitations(map[string]any{"id_test_invitation": 0, "id_test_type": 2, "id_project": 1, "id_user": 1}),
		invitations(invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1), invitationBody("id_test_type", 2, "id_project", 1)),
		invitations(map[string]any{"id_test_invitation": a}),
		invitations(map[string]any{"id_test_invitation": a, "test_invitation_message": "x"}),
	} {
		if st, out := e.do("admin", "POST", p, body); st != 400 {
			t.Errorf("POST %v: %d %s, want 400", body, st, out)
		}
	}
	for _, c := range []struct {
		who  string
		body map[string]any
	}{
		{"admin", invitationBody("id_test_type", 2, "id_project", 1, "id_user", 0)},
		{"admin", invitationBody("id_test_type", 2, "id_project", 1, "id_participant", 0)},
		{"admin", invitationBody("id_test_type", 2, "id_project", 1, "id_device", 0)},
		{"admin", invitationBody("id_test_type", 2, "id_project", 0, "id_user", 1)},
		{"admin", invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "id_session", 0)},
		{"admin", invitationBody("id_test_type", 9, "id_project", 1, "id_user", 1)},
		{"user4", invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1)},
		{"user3", invitationBody("id_test_type", 1, "id_project", 1, "id_participant", 4)},
		{"user3", invitationBody("id_test_type", 3, "id_project", 1, "id_participant", 1)},
		{"user3", invitationBody("id_test_type", 1, "id_project", 2, "id_participant", 1)},
		// Checks come before the 400s, as in OpenTera.
		{"user4", invitationBody("id_test_type", 2, "id_project", 1, "id_user", 1, "id_device", 1)},
		{"user4", map[string]any{"id_test_invitation": a, "test_invitation_count": 1}},
		{"user4", map[string]any{"id_test_invitation": a}},
		{"admin", map[string]any{"id_test_invitation": 999, "test_invitation_count": 1}},
	} {
		if st, out := e.do(c.who, "POST", p, invitations(c.body)); st != 403 {
			t.Errorf("POST %s %v: %d %s, want 403", c.who, c.body, st, out)
		}
	}
	if n := len(e.list("admin", p)); n != count {
		t.Fatalf("refused POSTs wrote: %d invitations, want %d", n, count)
	}

	// Several invitees in one POST (user3: its project's participants 1 and 2), then an update.
	got = e.postInvitations("user3", p, invitationBody("id_test_type", 1, "id_project", 1, "id_participant", 1),
		invitationBody("id_test_type", 1, "id_project", 1, "id_participant", 2))
	if len(got) != 2 || got[0] == got[1] {
		t.Fatalf("two invitees: %v", got)
	}
	updates := e.events("test_invitation", 2)
	up := e.post("user3", p, invitations(map[string]any{"id_test_invitation": got[0], "test_invitation_count": 1,
		"test_invitation_expiration_date": "2030-01-02T03:04:05+00:00", "id_test_type": 2}))
	if up["test_invitation_count"] != 1.0 || up["test_invitation_expiration_date"] != "2030-01-02T03:04:05+00:00" || up["id_test_type"] != 1.0 ||
		up["test_invitation_test_type"] == nil {
		t.Errorf("update: %v", up)
	}
	if _, ok := up["test_invitation_url"]; ok {
		t.Errorf("type 1 has no web page: %v", up)
	}
	updates(1)

	e.expect(400, "admin", "DELETE", p, nil)
	e.expect(403, "user4", "DELETE", fmt.Sprint(p, "?id=", a), nil)
	e.expect(403, "user3", "DELETE", fmt.Sprint(p, "?id=", c), nil)
	e.expect(403, "admin", "DELETE", p+"?id=999", nil)
	deletes := e.events("test_invitation", 3)
	e.expect(200, "user3", "DELETE", fmt.Sprint(p, "?id=", a), nil)
	deletes(1)
	if got := ids(e.list("admin", p+"?id_project=1"), "id_test_invitation"); len(got) != 3 || got[0] == a {
		t.Errorf("after delete: %v", got)
	}
	e.expect(403, "admin", "DELETE", fmt.Sprint(p, "?id=", a), nil)
}
