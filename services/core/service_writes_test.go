package core_test

import (
	"testing"
)

// The service API's writes of user groups, service access, session types and session type -
// project links, from OpenTera's test_ServiceQueryUserGroups, test_ServiceQueryServiceAccess,
// test_ServiceQuerySessionTypes and test_ServiceQuerySessionTypeProjects. VideoRehabService
// (id 6: roles 9 admin and 10 user, project 1, site 1, session type 1) is the caller.

func TestServiceAPIWritesRefuseOtherKinds(t *testing.T) {
	e := newEnv(t)
	var reqs []request
	for _, path := range []string{"/api/service/usergroups", "/api/service/serviceaccess", "/api/service/sessiontypes",
		"/api/service/sessiontypes/projects"} {
		reqs = append(reqs, request{"POST", path + "?id=1", map[string]any{}})
		if path != "/api/service/sessiontypes" {
			reqs = append(reqs, request{"DELETE", path + "?id=1", map[string]any{}})
		}
	}
	e.otherKindsRefused(reqs...)
}

func TestServiceAPIUserGroupsWrite(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	const path = "/api/service/usergroups"
	access := func(g int) int {
		return scalar[int](e, `SELECT count(*) FROM core.t_services_access sa JOIN core.t_services_roles r USING (id_service_role)
			WHERE sa.id_user_group = $1 AND sa.deleted_at IS NULL AND r.id_service = 6`, g)
	}
	ug := map[string]any{}
	body := map[string]any{"user_group": ug}
	e.expect(400, vr, "POST", path, map[string]any{"id_user_group": 0, "user_group_name": "Testing123"})
	e.expect(400, vr, "POST", path, body) // no id_user_group
	ug["id_user_group"] = 0
	e.expect(400, vr, "POST", path, body) // no name
	ug["user_group_name"] = "Testing123"
	e.expect(400, vr, "POST", path, body) // no service access
	for _, c := range []struct {
		st  int
		acc []any
	}{
		{400, []any{map[string]any{"id_service": 1}}},
		{403, []any{map[string]any{"service_role_name": "admin", "id_service": 1}}},
		{403, []any{map[string]any{"service_role_name": "admin", "id_project": 3}}},
		{403, []any{map[string]any{"service_role_name": "admin", "id_site": 2}}},
		{400, []any{map[string]any{"service_role_name": "Bad role"}}},
		{403, []any{map[string]any{"id_service_role": 1}}},   // another service's role
		{403, []any{map[string]any{"id_service_role": 999}}}, // none
		{400, []any{"admin"}},
		{400, []any{map[string]any{"id_service_role": "x"}}},
	} {
		ug["user_group_services_access"] = c.acc
		if st, b := e.do(vr, "POST", path, body); st != c.st {
			t.Errorf("access %v: %d %s, want %d", c.acc, st, b, c.st)
		}
	}
	e.expect(400, vr, "POST", path, map[string]any{"user_group": "x"})
	e.expect(400, vr, "POST", path, map[string]any{"user_group": map[string]any{"id_user_group": 0, "user_group_name": " ",
		"user_group_services_access": []any{map[string]any{"id_service_role": 9}}}})
	if n := scalar[int](e, "SELECT count(*) FROM core.t_users_groups WHERE user_group_name = 'Testing123'"); n != 0 {
		t.Fatalf("a refused POST created %d groups", n)
	}

	ug["user_group_services_access"] = []any{map[string]any{"service_role_name": "admin"}, map[string]any{"service_role_name": "user"}}
	g := e.postObject(vr, path, body)
	id := int(g["id_user_group"].(float64))
	if g["user_group_name"] != "Testing123" || access(id) != 2 {
		t.Fatalf("created %v with %d accesses", g, access(id))
	}
	// Another service's role on the group is not the caller's to remove.
	if _, err := e.db.Exec(t.Context(), "INSERT INTO core.t_services_access (id_user_group, id_service_role) VALUES ($1, 3)", id); err != nil {
		t.Fatal(err)
	}
	if g := e.postObject(vr, path, map[string]any{"user_group": map[string]any{"id_user_group": id, "user_group_name": "New name"}}); g["user_group_name"] != "New name" || access(id) != 2 {
		t.Errorf("renamed: %v, %d accesses", g, access(id))
	}
	e.postObject(vr, path, map[string]any{"user_group": map[string]any{"id_user_group": id,
		"user_group_services_access": []any{map[string]any{"service_role_name": "admin"}}}})
	if access(id) != 1 || scalar[int](e, "SELECT count(*) FROM core.t_services_access WHERE id_user_group = $1 AND id_service_role = 3 AND deleted_at IS NULL", id) != 1 {
		t.Errorf("after setting [admin]: %d of the service's accesses", access(id))
	}
	// Groups holding none of its roles are not the service's, even one holding no role at all.
	e.expect(403, vr, "POST", path, map[string]any{"user_group": map[string]any{"id_user_group": 2, "user_group_name": "stolen"}})
	e.expect(403, vr, "POST", path, map[string]any{"user_group": map[string]any{"id_user_group": 5, "user_group_name": "stolen"}})
	e.expect(403, vr, "DELETE", path+"?id=2", nil)
	e.expect(400, vr, "DELETE", path, nil)

	if _, err := e.db.Exec(t.Context(), "INSERT INTO core.t_users_users_groups (id_user, id_user_group) VALUES (5, $1)", id); err != nil {
		t.Fatal(err)
	}
	e.expect(500, vr, "DELETE", path+"?id="+itoa(id), nil)
	if _, err := e.db.Exec(t.Context(), "DELETE FROM core.t_users_users_groups WHERE id_user_group = $1", id); err != nil {
		t.Fatal(err)
	}
	e.expect(200, vr, "DELETE", path+"?id="+itoa(id), nil)
	e.expect(403, vr, "DELETE", path+"?id="+itoa(id), nil)
}

func TestServiceAPIServiceAccessWrite(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	const path = "/api/service/serviceaccess"
	g := e.postObject(vr, "/api/service/usergroups", map[string]any{"user_group": map[string]any{"id_user_group": 0, "user_group_name": "VR",
		"user_group_services_access": []any{map[string]any{"id_service_role": 10}}}})
	group := int(g["id_user_group"].(float64))
	sa := func(fields map[string]any) map[string]any {
		return map[string]any{"service_access": fields}
	}
	e.posts(vr, path, []postCase{
		{400, map[string]any{}},
		{400, map[string]any{"service_access": 5}},
		{400, sa(map[string]any{"id_user_group": group, "id_service_role": 9})},
		{400, sa(map[string]any{"id_service_access": 0, "id_user_group": group})},
		{400, sa(map[string]any{"id_service_access": 0, "id_service_role": 9})},
		{400, sa(map[string]any{"id_service_access": 0, "id_user_group": group, "id_device": 1, "id_service_role": 9})},
		{400, sa(map[string]any{"id_service_access": 0, "id_user_group": group, "id_service_role": 999})},
		{400, sa(map[string]any{"id_service_access": "x", "id_user_group": group, "id_service_role": 9})},
		{403, sa(map[string]any{"id_service_access": 0, "id_user_group": group, "id_service_role": 1})},
		{403, sa(map[string]any{"id_service_access": 0, "id_user_group": 2, "id_service_role": 9})},
		{403, sa(map[string]any{"id_service_access": 0, "id_device": 3, "id_service_role": 9})},
		{403, sa(map[string]any{"id_service_access": 0, "id_participant_group": 2, "id_service_role": 9})},
		{403, sa(map[string]any{"id_service_access": 1})}, // another service's assignment
	})
	out := e.postList(vr, path, map[string]any{"service_access": []any{
		map[string]any{"id_service_access": 0, "id_user_group": group, "id_service_role": 9},
		map[string]any{"id_service_access": 0, "id_device": 1, "id_service_role": 9},
		map[string]any{"id_service_access": 0, "id_participant_group": 1, "id_service_role": 10}}})
	if len(out) != 3 || out[0]["id_user_group"] != float64(group) || out[1]["id_device"] != 1.0 || out[2]["id_participant_group"] != 1.0 {
		t.Fatalf("created: %v", out)
	}
	e.wantIDs(vr, path+"?id_user_group="+itoa(group), "id_service_role", 10, 9)
	// An entry with an id and no role removes it.
	e.postList(vr, path, sa(map[string]any{"id_service_access": out[0]["id_service_access"]}))
	e.wantIDs(vr, path+"?id_user_group="+itoa(group), "id_service_role", 10)

	e.calls("DELETE", path, call{vr, 400, ""}, call{vr, 400, "?id=999"}, call{vr, 403, "?id=1"})
	dev := int(out[1]["id_service_access"].(float64))
	e.expect(200, vr, "DELETE", path+"?id="+itoa(dev), nil)
	if n := scalar[int](e, "SELECT count(*) FROM core.t_services_access WHERE id_service_access = $1 AND deleted_at IS NULL", dev); n != 0 {
		t.Errorf("deleted assignment still live")
	}
}

func TestServiceAPISessionTypesWrite(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	const path = "/api/service/sessiontypes"
	st := func(links map[string]any, fields map[string]any) map[string]any {
		links["session_type"] = fields
		return map[string]any{"service_session_type": links}
	}
	newType := map[string]any{"id_session_type": 0, "session_type_name": "Questionnaire", "session_type_online": false,
		"session_type_color": "#112233", "session_type_category": 1, "session_type_config": "{}", "id_service": 3}
	e.posts(vr, path, []postCase{
		{400, map[string]any{}},
		{400, map[string]any{"service_session_type": map[string]any{}}},
		{400, st(map[string]any{}, map[string]any{})},
		{400, st(map[string]any{}, map[string]any{"id_session_type": 0})},
		{400, st(map[string]any{}, map[string]any{"id_session_type": 0, "session_type_name": "x", "session_type_color": "#000000", "session_type_category": 9})},
		{400, st(map[string]any{"id_sites": "1"}, newType)},
		{400, st(map[string]any{"id_sites": []any{"x"}}, newType)},
		{403, st(map[string]any{"id_sites": []any{2}}, newType)},
		{403, st(map[string]any{"id_projects": []any{2}}, newType)},
		{403, st(map[string]any{"id_participants": []any{4}}, newType)},
		{403, st(map[string]any{"id_projects": []any{1}}, map[string]any{"id_session_type": 2})}, // not the service's
	})
	if n := scalar[int](e, "SELECT count(*) FROM core.t_sessions_types WHERE session_type_name = 'Questionnaire'"); n != 0 {
		t.Fatalf("a refused POST created %d types", n)
	}
	links := func(id int) (sites, projects []int) {
		for _, q := range []struct {
			sql string
			dst *[]int
		}{{"SELECT id_site FROM core.t_sessions_types_sites WHERE id_session_type = $1 AND deleted_at IS NULL ORDER BY 1", &sites},
			{"SELECT id_project FROM core.t_sessions_types_projects WHERE id_session_type = $1 AND deleted_at IS NULL ORDER BY 1", &projects}} {
			rows, err := e.db.Query(t.Context(), q.sql, id)
			if err != nil {
				t.Fatal(err)
			}
			*q.dst = []int{}
			for rows.Next() {
				var x int
				_ = rows.Scan(&x)
				*q.dst = append(*q.dst, x)
			}
			rows.Close()
		}
		return sites, projects
	}
	for _, c := range []struct {
		links         map[string]any
		sites, projts []int
	}{
		{map[string]any{"id_sites": []any{1}}, []int{1}, []int{}},
		{map[string]any{"id_projects": []any{1}}, []int{1}, []int{1}},
		{map[string]any{"id_participants": []any{1}}, []int{1}, []int{1}},
		{map[string]any{}, []int{}, []int{}},
	} {
		got := e.postObject(vr, path, st(c.links, newType))
		id := int(got["id_session_type"].(float64))
		if got["id_service"] != 6.0 || got["session_type_name"] != "Questionnaire" || got["session_type_category"] != 1.0 {
			t.Errorf("created %v", got)
		}
		if s, p := links(id); !eqInts(s, c.sites) || !eqInts(p, c.projts) {
			t.Errorf("%v: sites %v projects %v, want %v %v", c.links, s, p, c.sites, c.projts)
		}
	}
	// An existing type of the service gets links; its fields stay (OpenTera).
	got := e.postObject(vr, path, st(map[string]any{"id_projects": []any{1}}, map[string]any{"id_session_type": 1, "session_type_name": "renamed"}))
	if got["id_session_type"] != 1.0 || got["session_type_name"] == "renamed" {
		t.Errorf("existing type: %v", got)
	}
}

func TestServiceAPISessionTypeProjectsWrite(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	const path = "/api/service/sessiontypes/projects"
	created := e.postObject(vr, "/api/service/sessiontypes", map[string]any{"service_session_type": map[string]any{"session_type": map[string]any{
		"id_session_type": 0, "session_type_name": "Q", "session_type_color": "#112233", "session_type_category": 1}}})
	typ := int(created["id_session_type"].(float64))
	siteLinks := func() int {
		return scalar[int](e, "SELECT count(*) FROM core.t_sessions_types_sites WHERE id_session_type = $1 AND id_site = 1 AND deleted_at IS NULL", typ)
	}
	e.posts(vr, path, []postCase{
		{400, map[string]any{}},
		{400, map[string]any{"session_type": map[string]any{"projects": []any{}}}},
		{400, map[string]any{"session_type": map[string]any{"id_session_type": typ}}},
		{400, map[string]any{"project": map[string]any{"sessions_types": []any{}}}},
		{400, map[string]any{"project": map[string]any{"id_project": 1}}},
		{400, map[string]any{"sessions_types_projects": map[string]any{"id_project": 1}}},
		{400, map[string]any{"sessions_types_projects": "x"}},
		{403, map[string]any{"sessions_types_projects": map[string]any{"id_session_type": typ, "id_project": 2}}},
		{403, map[string]any{"sessions_types_projects": map[string]any{"id_session_type": 2, "id_project": 1}}},
		{403, map[string]any{"session_type": map[string]any{"id_session_type": 2, "projects": []any{}}}},
		{403, map[string]any{"project": map[string]any{"id_project": 2, "sessions_types": []any{}}}},
		{403, map[string]any{"session_type": map[string]any{"id_session_type": typ, "projects": []any{map[string]any{"id_project": 2}}}}},
	})
	if siteLinks() != 0 {
		t.Fatal("a refused POST linked the type to a site")
	}
	// The list form links the type to the project's site too.
	out := e.postList(vr, path, map[string]any{"sessions_types_projects": []any{map[string]any{"id_session_type": typ, "id_project": 1}}})
	if len(out) != 1 || out[0]["id_session_type"] != float64(typ) || out[0]["id_project"] != 1.0 || siteLinks() != 1 {
		t.Fatalf("added: %v (site links %d)", out, siteLinks())
	}
	// The session type form replaces its projects.
	if out := e.postList(vr, path, map[string]any{"session_type": map[string]any{"id_session_type": typ, "projects": []any{}}}); len(out) != 0 {
		t.Errorf("emptied: %v", out)
	}
	if got := ids(e.list(vr, path+"?id_session_type="+itoa(typ)), "id_project"); len(got) != 0 {
		t.Errorf("projects after emptying: %v", got)
	}
	// The project form: types of other services stay in the project.
	before := scalar[int](e, "SELECT count(*) FROM core.t_sessions_types_projects WHERE id_project = 1 AND deleted_at IS NULL")
	out = e.postList(vr, path, map[string]any{"project": map[string]any{"id_project": 1,
		"sessions_types": []any{map[string]any{"id_session_type": 1}, map[string]any{"id_session_type": typ}}}})
	if len(out) != 1 || out[0]["id_session_type"] != float64(typ) {
		t.Errorf("project form: %v", out)
	}
	if after := scalar[int](e, "SELECT count(*) FROM core.t_sessions_types_projects WHERE id_project = 1 AND deleted_at IS NULL"); after != before+1 {
		t.Errorf("project 1 links: %d, then %d", before, after)
	}
	link := int(out[0]["id_session_type_project"].(float64))

	e.expect(400, vr, "DELETE", path, nil)
	e.expect(400, vr, "DELETE", path+"?id=999", nil)
	e.expect(403, vr, "DELETE", path+"?id=5", nil) // FileTransfer's type in project 2
	e.expect(403, vr, "DELETE", path+"?id=2", nil) // another type in project 1
	e.expect(200, vr, "DELETE", path+"?id="+itoa(link), nil)
	e.expect(400, vr, "DELETE", path+"?id="+itoa(link), nil)
}
