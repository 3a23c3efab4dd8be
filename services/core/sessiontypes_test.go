package core_test

import (
	"testing"
)

func TestSessionTypesGet(t *testing.T) {
	e := newEnv(t)
	byName := []int{3, 2, 4, 5, 1}
	e.lists("/api/user/sessiontypes", "id_session_type", []listCase{
		{"admin", "", []int{1, 2, 3, 4, 5}},
		{"siteadmin", "", byName},
		{"user", "", byName},
		{"user3", "", byName},
		{"user4", "", []int{}},
		{"user", "id_project=1", []int{3, 2, 4, 1}},
		{"user", "id_project=2", []int{5}},
		{"user3", "id_project=2", []int{}},
		{"admin", "id_site=2", []int{4}},
		{"user", "id_site=1&list=true", byName},
		{"user3", "id_session_type=5", []int{}},
		{"user", "id_session_type=5", []int{5}},
		{"user4", "id_session_type=1", []int{}},
		{"admin", "id_session_type=99", []int{}},
	})
	e.expect(403, "user", "GET", "/api/user/sessiontypes?id_site=2", nil)
	e.expect(400, "user", "GET", "/api/user/sessiontypes?id_site=x", nil)
	full := e.list("user", "/api/user/sessiontypes?id_session_type=1")[0]
	if len(full) != 9 || full["session_type_service_key"] != "VideoRehabService" || full["session_type_online"] != true ||
		full["session_type_color"] != "#00FF00" || full["session_type_category"] != 1.0 || full["id_service"] != 6.0 {
		t.Errorf("type 1: %v", full)
	}
	if t2 := e.list("user", "/api/user/sessiontypes?id_session_type=2")[0]; len(t2) != 7 || t2["id_service"] != nil {
		t.Errorf("type 2: %v", t2)
	}
	if l := e.list("user", "/api/user/sessiontypes?id_session_type=1&list=true")[0]; len(l) != 5 {
		t.Errorf("list form: %v", l)
	}
}

func TestSessionTypesWrite(t *testing.T) {
	e := newEnv(t)
	st := func(kv ...any) map[string]any { return wrap("session_type", kv...) }
	base := []any{"id_session_type", 0, "session_type_name", "T", "session_type_color", "#123456", "session_type_online", true}
	with := func(kv ...any) map[string]any { return st(append(append([]any{}, base...), kv...)...) }

	e.expect(400, "admin", "POST", "/api/user/sessiontypes", `{}`)
	e.expect(400, "admin", "POST", "/api/user/sessiontypes", st("session_type_name", "T"))
	e.expect(400, "siteadmin", "POST", "/api/user/sessiontypes", with("session_type_category", 2))
	e.expectPosts(400, "admin", "/api/user/sessiontypes",
		with("session_type_category", 7),
		with("session_type_category", 1),
		with("session_type_category", 2, "session_type_color", "#12345678"),
		with("session_type_category", 2, "session_type_sites", []any{map[string]any{"id_site": true}}),
	)
	e.expectPosts(403, "siteadmin", "/api/user/sessiontypes",
		with("session_type_category", 2, "session_type_sites", refs("id_site", 2)),
		with("session_type_category", 1, "id_service", 5, "session_type_sites", refs("id_site", 1)),
		with("session_type_category", 2, "session_type_sites", refs("id_site", 1), "session_type_projects", refs("id_project", 3)),
	)
	e.expect(403, "user3", "POST", "/api/user/sessiontypes", with("session_type_category", 2, "session_type_sites", refs("id_site", 1)))

	created := e.events("session_type", 1)
	c := e.post("siteadmin", "/api/user/sessiontypes", with("session_type_category", 1, "id_service", 2,
		"session_type_sites", refs("id_site", 1), "session_type_projects", refs("id_project", 1)))
	id := int(c["id_session_type"].(float64))
	if c["session_type_service_key"] != "LoggingService" || c["session_type_name"] != "T" {
		t.Errorf("created %v", c)
	}
	created(1)
	linked := scalar[bool](e, "SELECT EXISTS (SELECT 1 FROM core.t_services_projects WHERE id_service = 2 AND id_project = 1 AND deleted_at IS NULL)")
	if !linked {
		t.Error("a SERVICE type linked to project 1 did not pull its service into the project")
	}
	if got := ids(e.list("user", "/api/user/sessiontypes?id_project=1"), "id_session_type"); len(got) != 5 {
		t.Errorf("project 1 types after create: %v", got)
	}

	// Update: admin of one of its sites.
	e.expect(403, "user", "POST", "/api/user/sessiontypes", st("id_session_type", 2, "session_type_name", "x"))
	u := e.post("siteadmin", "/api/user/sessiontypes", st("id_session_type", id, "session_type_name", "T2", "session_type_config", "{}"))
	if u["session_type_name"] != "T2" || u["session_type_config"] != "{}" || u["id_service"] != 2.0 {
		t.Errorf("updated %v", u)
	}
	// A project outside the type's sites is refused; removing a site removes its projects.
	e.expect(400, "admin", "POST", "/api/user/sessiontypes", st("id_session_type", 2, "session_type_projects", refs("id_project", 1, 3)))
	x := e.post("admin", "/api/user/sessiontypes", with("session_type_category", 2, "session_type_sites", refs("id_site", 1, 2),
		"session_type_projects", refs("id_project", 1, 3)))
	xid := int(x["id_session_type"].(float64))
	e.wantIDs("admin", "/api/user/sessiontypes?id_project=3", "id_session_type", xid)
	e.post("admin", "/api/user/sessiontypes", st("id_session_type", xid, "session_type_sites", refs("id_site", 1)))
	if got := e.list("admin", "/api/user/sessiontypes?id_project=3"); len(got) != 0 {
		t.Errorf("project 3 keeps a type removed from its site: %v", got)
	}

	// Delete: admin of every project of the type; refused while sessions use it.
	e.calls("DELETE", "/api/user/sessiontypes", call{"admin", 400, ""}, call{"admin", 400, "?id=99"}, call{"user", 403, "?id=4"},
		call{"admin", 500, "?id=1"})
	deleted := e.events("session_type", 3)
	e.expect(200, "user3", "DELETE", "/api/user/sessiontypes?id=4", nil)
	if got := ids(e.list("admin", "/api/user/sessiontypes"), "id_session_type"); eqInts(got[:4], []int{1, 2, 3, 5}) == false {
		t.Errorf("after delete: %v", got)
	}
	deleted(1)
	e.expect(403, "user4", "DELETE", "/api/user/sessiontypes?id="+itoa(id), nil)
}
