package core_test

import (
	"testing"
)

func TestServiceAPITestsRefuseOtherKinds(t *testing.T) {
	e := newEnv(t)
	e.otherKindsRefused(append(gets("/api/service/tests?id_session=2", "/api/service/tests/invitations", "/api/service/testtypes",
		"/api/service/testtypes/projects?id_project=1"), request{"POST", "/api/service/tests", `{"test": {"id_test": 0}}`})...)
}

func TestServiceAPITests(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	const p = "/api/service/tests"
	secret := e.secretSession()
	e.lists(p, "id_test", []listCase{
		{vr, "id_session=2", []int{1, 3, 2}},
		{ft, "id_session=2", []int{1, 3, 2}},
		{vr, "id_participant=1", []int{1, 4}},
		{vr, "id_test=2", []int{2}},
		{vr, "id_session=2&id_test=4", []int{1, 3, 2}},
		{vr, "service_uuid=nobody", []int{}},
	})
	e.calls("GET", p, call{vr, 400, ""}, call{vr, 400, "?with_urls=true"}, call{vr, 400, "?id_session=x"}, call{vr, 403, "?id_participant=4"},
		call{vr, 403, "?id_session=" + itoa(secret)}, call{vr, 403, "?id_user=99"})
	if o := e.list(vr, p+"?id_session=2&with_only_token=true"); len(o) != 3 || len(o[0]) != 2 || o[0]["access_token"] == nil {
		t.Errorf("with_only_token: %v", o)
	}
	if u := e.list(vr, p+"?id_test=2&with_urls=true"); u[0]["test_answers_web_url"] != "https://tera.test/rehab/api/tests/answers/web" {
		t.Errorf("with_urls: %v", u)
	}

	for _, body := range []string{`{}`, `{"test": {}}`, `{"test": {"id_test": "x"}}`, `{"test": {"id_test": 0, "id_test_type": 1}}`,
		`{"test": {"id_test": 0, "session_uuid": "nope", "id_test_type": 1}}`, `{"test": {"id_test": 0, "id_session": 2}}`,
		`{"test": {"id_test": 0, "id_session": 2, "id_test_type": 3}}`, `{"test": {"id_test": 0, "id_session": 2, "test_type_uuid": "nope"}}`,
		`{"test": {"id_test": 0, "id_session": 2, "id_test_type": 1, "id_participant": 4}}`,
		`{"test": {"id_test": 0, "id_session": 2, "id_test_type": 1, "user_uuid": "nobody"}}`,
		`{"test": {"id_test": 0, "id_session": 2, "id_test_type": 1, "test_datetime": "soon"}}`} {
		if st, out := e.do(vr, "POST", p, body); st != 400 {
			t.Errorf("POST %s: %d %s, want 400", body, st, out)
		}
	}
	e.expectPosts(403, vr, p,
		`{"test": {"id_test": 0, "id_session": `+itoa(secret)+`, "id_test_type": 1}}`,
		`{"test": {"id_test": 0, "id_session": 2, "id_test_type": 1, "id_service": 3}}`,
		`{"test": {"id_test": 999, "test_status": 1}}`,
	)

	creates := e.events("test", 1)
	nt := e.post(vr, p, `{"test": {"id_test": 0, "id_session": 2, "id_test_type": 1, "id_participant": 1}}`)
	if nt["test_name"] != "PRE #3" || nt["id_service"] != 6.0 || nt["id_participant"] != 1.0 || nt["test_status"] != 0.0 {
		t.Errorf("created %v", nt)
	}
	creates(1)
	id := int(nt["id_test"].(float64))
	up := e.post(vr, p, `{"test": {"id_test": `+itoa(id)+`, "test_status": 2, "test_summary": "{\"score\": 3}"}}`)
	if up["test_status"] != 2.0 || up["test_summary"] != `{"score": 3}` || up["test_name"] != "PRE #3" {
		t.Errorf("updated %v", up)
	}
	e.expect(403, vr, "POST", p, `{"test": {"id_test": `+itoa(id)+`, "id_session": `+itoa(secret)+`}}`)
	e.wantIDs(vr, p+"?service_uuid="+e.serviceUUID("VideoRehabService"), "id_test", id)

	e.expect(400, vr, "DELETE", p, nil)
	e.expect(400, vr, "DELETE", p+"?uuid=nope", nil)
	deletes := e.events("test", 3)
	e.expect(200, vr, "DELETE", p+"?uuid="+nt["test_uuid"].(string), nil)
	deletes(1)
	e.expect(400, vr, "DELETE", p+"?uuid="+nt["test_uuid"].(string), nil)
}

func TestServiceAPITestInvitations(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	const p = "/api/service/tests/invitations"
	mine := e.postInvitations(vr, p, invitationBody("id_test_type", 1, "id_project", 1, "id_participant", 1))
	users := e.postInvitations("admin", "/api/user/tests/invitations", invitationBody("id_test_type", 3, "id_project", 3, "id_participant", 4))
	if got := ids(e.list(vr, p), "id_test_invitation"); !eqInts(got, mine) {
		t.Errorf("vr sees %v, want %v", got, mine)
	}
	if got := ids(e.list(ft, p+"?full=true"), "id_test_invitation"); !eqInts(got, users) {
		t.Errorf("ft sees %v, want %v", got, users)
	}
	if got := e.list(vr, p+"?id_participant=1&with_urls=true"); len(got) != 1 || got[0]["test_invitation_url"] != nil {
		t.Errorf("type 1 has no web page: %v", got)
	}
	e.expect(403, ft, "POST", p, invitations(invitationBody("id_test_type", 1, "id_project", 1, "id_participant", 1)))
	e.expect(403, vr, "POST", p, invitations(invitationBody("id_test_type", 1, "id_project", 3, "id_participant", 4)))
	e.expect(403, vr, "POST", p, invitations(map[string]any{"id_test_invitation": users[0], "test_invitation_count": 1}))
	e.expect(400, vr, "POST", p, `{"tests_invitations": []}`)
	if up := e.post(vr, p, invitations(map[string]any{"id_test_invitation": mine[0], "test_invitation_max_count": 5})); up["test_invitation_max_count"] != 5.0 {
		t.Errorf("update %v", up)
	}
	e.expect(403, ft, "DELETE", p+"?id="+itoa(mine[0]), nil)
	e.expect(200, vr, "DELETE", p+"?id="+itoa(mine[0]), nil)
	if got := e.list(vr, p); len(got) != 0 {
		t.Errorf("after delete %v", got)
	}
}

func TestServiceAPITestTypes(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	const p = "/api/service/testtypes"
	tt1 := e.list("admin", "/api/user/testtypes?id_test_type=1")[0]["test_type_uuid"].(string)
	tt3 := e.list("admin", "/api/user/testtypes?id_test_type=3")[0]["test_type_uuid"].(string)
	e.lists(p, "id_test_type", []listCase{
		{vr, "", []int{1, 2}}, {ft, "", []int{3}},
		{vr, "id_site=1", []int{2, 1}}, {vr, "id_site=2", []int{}}, {ft, "id_site=1", []int{}},
		{vr, "id_project=1", []int{2, 1}}, {vr, "id_participant=1", []int{2, 1}}, {vr, "id_participant=4", []int{}},
		{vr, "id_test_type=3", []int{}}, {vr, "test_type_key=PRE", []int{1}}, {vr, "test_type_uuid=" + tt1, []int{1}},
		{ft, "test_type_uuid=" + tt1, []int{}},
	})
	if o := e.list(vr, p+"?id_test_type=1")[0]; o["test_type_service_key"] != "VideoRehabService" {
		t.Errorf("full: %v", o)
	}

	for _, body := range []string{`{}`, `{"test_type": {}}`, `{"test_type": {"id_test_type": 0}}`, `{"test_type": {"id_test_type": 0, "test_type_name": ""}}`,
		`{"test_type": {"id_test_type": "x"}}`} {
		if st, out := e.do(vr, "POST", p, body); st != 400 {
			t.Errorf("POST %s: %d %s, want 400", body, st, out)
		}
	}
	e.expectPosts(403, vr, p,
		`{"test_type": {"id_test_type": 0, "id_service": 3, "test_type_name": "X"}}`,
		`{"test_type": {"id_test_type": 3, "test_type_name": "Mine now"}}`,
		`{"test_type": {"test_type_uuid": "`+tt3+`", "test_type_name": "Mine now"}}`,
		`{"test_type": {"test_type_uuid": "nope", "test_type_name": "X"}}`,
	)
	creates := e.events("test_type", 1)
	nt := e.postObject(vr, p, `{"test_type": {"id_test_type": 0, "id_service": 6, "test_type_name": "VR new", "test_type_has_web_format": true}}`)
	if nt["id_service"] != 6.0 || nt["test_type_name"] != "VR new" || nt["test_type_has_web_format"] != true {
		t.Errorf("created %v", nt)
	}
	creates(1)
	if up := e.postObject(vr, p, `{"test_type": {"test_type_uuid": "`+tt1+`", "test_type_description": "New words"}}`); up["test_type_description"] != "New words" || up["id_test_type"] != 1.0 {
		t.Errorf("updated %v", up)
	}
	// The new type has no site: the service still sees it (its own), users do not.
	if got := ids(e.list(vr, p), "id_test_type"); len(got) != 3 {
		t.Errorf("after create %v", got)
	}

	e.calls("DELETE", p, call{vr, 400, ""}, call{vr, 400, "?uuid=nope"}, call{vr, 403, "?uuid=" + tt3})
	e.expect(500, vr, "DELETE", p+"?uuid="+tt1, nil) // tests use it
	e.expect(200, vr, "DELETE", p+"?uuid="+nt["test_type_uuid"].(string), nil)
}

func TestServiceAPITestTypeProjects(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	const p = "/api/service/testtypes/projects"
	e.linkCases(p, "id_test_type_project", []listCase{
		{vr, "id_project=1", []int{2, 1}}, {ft, "id_project=1", []int{}}, {ft, "id_test_type=3", []int{3}},
		{vr, "id_test_type=3", []int{}}, {vr, "id_project=3", []int{}},
	})
	if o := e.list(ft, p+"?id_test_type=3&with_sites=true")[0]; o["id_site"] != 2.0 || o["site_name"] != "Top Secret Site" || o["test_type_name"] != "General survey" {
		t.Errorf("with_sites %v", o)
	}
	e.expect(400, vr, "GET", p, nil)
	for _, body := range []string{`{}`, `{"test_type": {"projects": []}}`, `{"project": {"id_project": 1}}`, `{"test_type_project": {"id_project": 1}}`} {
		if st, out := e.do(vr, "POST", p, body); st != 400 {
			t.Errorf("POST %s: %d %s, want 400", body, st, out)
		}
	}
	e.expectPosts(403, vr, p,
		`{"test_type_project": {"id_test_type": 3, "id_project": 1}}`,
		`{"test_type_project": {"id_test_type": 1, "id_project": 3}}`,
		`{"test_type": {"id_test_type": 3, "projects": []}}`,
	)
	// Type 3 is in site 2 only: joining project 1 links it to site 1 first.
	out := written(t, e.expect(200, ft, "POST", p, `{"test_type_project": {"id_test_type": 3, "id_project": 1}}`))
	if len(out) != 1 || out[0]["id_test_type_project"] == nil {
		t.Fatalf("add %v", out)
	}
	e.linkCases("/api/user/testtypes/sites", "id_site", []listCase{{"admin", "id_test_type=3", []int{1, 2}}})
	// Type 2 has tests in project 1.
	e.expectContains(500, vr, "POST", p, `{"project": {"id_project": 1, "testtypes": [{"id_test_type": 1}]}}`, "delete all tests")
	// VideoRehab replaces project 1's types among its own: FileTransfer's type 3 stays.
	e.expect(200, vr, "POST", p, `{"project": {"id_project": 1, "testtypes": [{"id_test_type": 1}, {"id_test_type": 2}]}}`)
	e.linkCases("/api/user/testtypes/projects", "id_test_type", []listCase{{"admin", "id_project=1", []int{3, 2, 1}}})

	e.calls("DELETE", p, call{vr, 400, ""}, call{vr, 400, "?id=999"}, call{vr, 403, "?id=" + itoa(int(out[0]["id_test_type_project"].(float64)))},
		call{ft, 200, "?id=" + itoa(int(out[0]["id_test_type_project"].(float64)))}, call{vr, 500, "?id=2"})
}
