package core_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUserUserGroups(t *testing.T) {
	e := newEnv(t)
	e.expect(400, "admin", "GET", "/api/user/users/usergroups", nil)
	e.expect(401, "", "GET", "/api/user/users/usergroups?id_user=1", nil)
	got := e.list("admin", "/api/user/users/usergroups?id_user_group=3")
	if len(got) != 2 || keys(got[0]) != "id_user,id_user_group,id_user_user_group,user_fullname,user_group_name" ||
		got[0]["id_user_user_group"] != float64(1) || got[0]["user_fullname"] != "Site Admin" || got[1]["id_user"] != float64(4) {
		t.Errorf("group 3: %v", got)
	}
	got = e.list("admin", "/api/user/users/usergroups?id_user=4&list=true")
	if !eqInts(ids(got, "id_user_user_group"), []int{3, 4}) || keys(got[0]) != "id_user,id_user_group,id_user_user_group" {
		t.Errorf("user2 list: %v", got)
	}
	got = e.list("admin", "/api/user/users/usergroups?id_user=4&with_empty=true")
	if len(got) != 5 || got[4]["id_user_user_group"] != nil || got[4]["id_user"] != nil || got[4]["user_group_name"] == nil {
		t.Errorf("with_empty: %v", got)
	}
	if got = e.list("user4", "/api/user/users/usergroups?id_user_group=3"); len(got) != 0 {
		t.Errorf("user4: %v", got)
	}

	e.expectPosts(400, "admin", "/api/user/users/usergroups",
		`{}`,
		`{"user_user_group": {"id_user": 6}}`,
		`{"user_user_group": {"id_user": "6", "id_user_group": 1}}`,
	)
	e.expect(400, "admin", "POST", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 1, "id_user_group": 1}}`) // superadmin
	e.expect(403, "user", "POST", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 3, "id_user_group": 1}}`)
	e.expect(403, "siteadmin", "POST", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 6, "id_user_group": 1}}`) // user4 not visible to siteadmin
	b := e.expect(200, "admin", "POST", "/api/user/users/usergroups", `{"user_user_group": [{"id_user": 6, "id_user_group": 1}, {"id_user": 3, "id_user_group": 1}]}`)
	var links []map[string]any
	_ = json.Unmarshal(b, &links)
	if len(links) != 2 || links[1]["id_user_user_group"] != float64(2) || links[0]["id_user_user_group"] == nil {
		t.Fatalf("post %s", b)
	}
	if got := e.list("user4", "/api/user/projects"); len(got) != 2 {
		t.Errorf("user4 after joining group 1: %v", got)
	}
	id := itoa(int(links[0]["id_user_user_group"].(float64)))
	e.calls("DELETE", "/api/user/users/usergroups", call{"admin", 400, ""}, call{"admin", 400, "?id=999"}, call{"user", 403, "?id=" + id},
		call{"siteadmin", 200, "?id=" + id})
	if got := e.list("user4", "/api/user/projects"); len(got) != 0 {
		t.Errorf("user4 after leaving: %v", got)
	}
}

func TestUserPreferences(t *testing.T) {
	e := newEnv(t)
	got := e.list("admin", "/api/user/users/preferences")
	if !eqInts(ids(got, "id_user_preference"), []int{1, 3}) || keys(got[0]) != "id_user,id_user_preference,user_preference_app_tag,user_preference_preference" {
		t.Errorf("admin's: %v", got)
	}
	if got = e.list("admin", "/api/user/users/preferences?app_tag=anotherapp"); len(got) != 1 || got[0]["id_user_preference"] != float64(3) {
		t.Errorf("by app: %v", got)
	}
	if got = e.list("admin", "/api/user/users/preferences?id_user=2"); len(got) != 1 || !strings.Contains(got[0]["user_preference_preference"].(string), `"en"`) {
		t.Errorf("siteadmin's: %v", got)
	}
	e.expect(403, "user", "GET", "/api/user/users/preferences?id_user=2", nil)
	if got = e.list("user4", "/api/user/users/preferences?id_user=6"); len(got) != 0 {
		t.Errorf("user4: %v", got)
	}

	e.expectPosts(400, "user4", "/api/user/users/preferences",
		`{}`,
		`{"user_preference": {"user_preference_preference": "{}"}}`,
		`{"user_preference": {"user_preference_app_tag": "x", "user_preference_preference": "{not json"}}`,
		`{"user_preference": {"user_preference_app_tag": "x", "user_preference_preference": 3}}`,
	)
	e.expect(403, "user", "POST", "/api/user/users/preferences", `{"user_preference": {"id_user": 1, "user_preference_app_tag": "x", "user_preference_preference": "{}"}}`)
	b := e.expect(200, "user4", "POST", "/api/user/users/preferences", `{"user_preference": {"user_preference_app_tag": "openteraplus", "user_preference_preference": {"language": "fr"}}}`)
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil || p["id_user"] != float64(6) || p["user_preference_preference"] != `{"language":"fr"}` {
		t.Fatalf("post %s", b)
	}
	// One per app: overwritten.
	e.expect(200, "user4", "POST", "/api/user/users/preferences", `{"user_preference": {"user_preference_app_tag": "openteraplus", "user_preference_preference": "{\"language\": \"en\"}"}}`)
	if got = e.list("user4", "/api/user/users/preferences"); len(got) != 1 || got[0]["user_preference_preference"] != `{"language": "en"}` {
		t.Errorf("overwritten: %v", got)
	}
	// Empty deletes: null answer.
	e.expectAnswer(200, "user4", "POST", "/api/user/users/preferences", `{"user_preference": {"user_preference_app_tag": "openteraplus", "user_preference_preference": ""}}`, "null")
	if got = e.list("user4", "/api/user/users/preferences"); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	// An admin of the user's site may set them.
	e.expect(200, "siteadmin", "POST", "/api/user/users/preferences", `{"user_preference": {"id_user": 3, "user_preference_app_tag": "x", "user_preference_preference": "{}"}}`)
}
