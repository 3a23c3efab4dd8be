package core_test

import (
	"testing"
)

func TestTestTypeLinksGet(t *testing.T) {
	e := newEnv(t)
	const sites, projects = "/api/user/testtypes/sites", "/api/user/testtypes/projects"
	// Types by name: General survey (3), Post-session evaluation (2), Pre-session evaluation (1).
	e.linkCases(sites, "id_test_type_site", []listCase{
		{"admin", "id_test_type=1", []int{1, 3}},
		{"admin", "id_test_type=1&with_sites=1", []int{1, 3}},
		{"siteadmin", "id_test_type=1&with_sites=1", []int{1}},
		{"user", "id_test_type=3", []int{}},
		{"admin", "id_site=1&with_tests_types=1", []int{-1, 2, 1}},
		{"admin", "id_site=2", []int{4, 3}},
		{"user", "id_site=1&with_tests_types=1", []int{2, 1}},
		{"user", "id_site=2", []int{}},
		{"user4", "id_site=1", []int{}},
		{"admin", "list=true", []int{}},
	})
	e.linkCases(projects, "id_test_type_project", []listCase{
		{"admin", "id_project=1", []int{2, 1}},
		{"admin", "id_project=2&with_tests_types=1", []int{-1, -1}},
		{"admin", "id_project=3", []int{3}},
		{"admin", "id_test_type=1&with_projects=1", []int{1, -1, -1}},
		{"user3", "id_test_type=1&with_projects=1", []int{1}},
		{"user", "id_project=3", []int{}},
		{"user4", "id_project=1", []int{}},
		{"admin", "with_sites=true", []int{}},
	})
	e.expect(400, "admin", "GET", sites, nil)
	e.expect(400, "admin", "GET", projects, nil)
	e.expect(400, "admin", "GET", projects+"?id_project=x", nil)
	o := e.form("admin", sites+"?id_site=1&with_tests_types=1", 0, "id_site,id_test_type,id_test_type_site,site_name,test_type_name")
	if o["test_type_name"] != "General survey" || o["id_site"] != nil {
		t.Errorf("unlinked type %v", o)
	}
	e.form("admin", sites+"?id_site=2&list=true", 0, "id_site,id_test_type,id_test_type_site")
	if o := e.list("admin", projects+"?id_test_type=1&with_sites=1")[0]; o["id_site"] != 1.0 || o["site_name"] != "Default Site" || o["project_name"] != "Default Project #1" {
		t.Errorf("with_sites %v", o)
	}
}

func TestTestTypeSitesWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/testtypes/sites"
	for _, body := range []string{`{}`, `{"test_type": {"sites": []}}`, `{"test_type": {"id_test_type": 1}}`, `{"site": {"id_site": 1}}`,
		`{"site": {"id_site": 1, "testtypes": [{"id": 1}]}}`, `{"test_type_site": [{"id_site": 1}]}`, `{"test_type_site": "x"}`, `[1]`, `nope`} {
		if st, out := e.do("admin", "POST", p, body); st != 400 {
			t.Errorf("POST %s: %d %s, want 400", body, st, out)
		}
	}
	// Type 3 is site 2's: siteadmin does not see it, so cannot add it to its site.
	e.expectAnswer(403, "siteadmin", "POST", p, `{"test_type_site": {"id_test_type": 3, "id_site": 1}}`, `"Forbidden"`)
	e.expect(403, "siteadmin", "POST", p, `{"test_type_site": {"id_test_type": 2, "id_site": 2}}`)
	e.expect(403, "siteadmin", "POST", p, `{"site": {"id_site": 2, "testtypes": []}}`)
	e.expect(403, "user", "POST", p, `{"test_type": {"id_test_type": 2, "sites": [{"id_site": 1}]}}`)
	e.expect(403, "user4", "POST", p, `{"test_type": {"id_test_type": 2, "sites": []}}`)
	out := written(t, e.expect(200, "admin", "POST", p, `{"test_type_site": [{"id_test_type": 3, "id_site": 1}]}`))
	if len(out) != 1 || out[0]["id_test_type_site"] == nil || out[0]["id_site"] != 1.0 {
		t.Fatalf("add %v", out)
	}
	e.linkCases(p, "id_test_type_site", []listCase{{"siteadmin", "id_site=1", []int{int(out[0]["id_test_type_site"].(float64)), 2, 1}}})
	// siteadmin replaces type 3's sites among those it administers: site 2's link stays.
	e.expect(200, "siteadmin", "POST", p, `{"test_type": {"id_test_type": 3, "sites": []}}`)
	e.linkCases(p, "id_test_type_site", []listCase{{"admin", "id_test_type=3", []int{4}}})
	// Type 1 has tests in project 1: removing it from site 1 (and so from the project) is refused.
	e.expect(500, "siteadmin", "POST", p, `{"test_type": {"id_test_type": 1, "sites": []}}`)
	// Type 2 has tests in project 1 (site 1): removing it from the site is refused, nothing moves.
	e.expectContains(500, "siteadmin", "POST", p, `{"site": {"id_site": 1, "testtypes": [{"id_test_type": 1}]}}`, "delete all tests")
	e.linkCases("/api/user/testtypes/projects", "id_test_type_project", []listCase{{"admin", "id_project=1", []int{2, 1}}})

	e.calls("DELETE", p, call{"admin", 400, ""}, call{"admin", 400, "?id=999"}, call{"siteadmin", 403, "?id=4"}, call{"admin", 500, "?id=2"},
		call{"admin", 200, "?id=4"})
	e.linkCases(p, "id_test_type_site", []listCase{{"admin", "id_site=2", []int{3}}})
	e.linkCases("/api/user/testtypes/projects", "id_test_type_project", []listCase{{"admin", "id_project=3", []int{}}})
}

func TestTestTypeProjectsWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/testtypes/projects"
	for _, body := range []string{`{}`, `{"test_type": {"projects": []}}`, `{"test_type": {"id_test_type": 1}}`, `{"project": {"id_project": 1}}`,
		`{"test_type_project": {"id_project": 1}}`, `{"test_type_project": [{"id_test_type": "x", "id_project": 1}]}`} {
		if st, out := e.do("admin", "POST", p, body); st != 400 {
			t.Errorf("POST %s: %d %s, want 400", body, st, out)
		}
	}
	e.expect(403, "user3", "POST", p, `{"test_type_project": {"id_test_type": 3, "id_project": 1}}`)
	e.expect(403, "user3", "POST", p, `{"test_type_project": {"id_test_type": 1, "id_project": 2}}`)
	e.expect(403, "user", "POST", p, `{"project": {"id_project": 1, "testtypes": []}}`)
	e.expect(403, "user4", "POST", p, `{"test_type": {"id_test_type": 1, "projects": []}}`)
	// Type 3 is not in project 1's site.
	e.expectContains(403, "admin", "POST", p, `{"test_type_project": {"id_test_type": 3, "id_project": 1}}`, "site of its project")
	out := written(t, e.expect(200, "admin", "POST", p, `{"test_type_project": {"id_test_type": 1, "id_project": 2}}`))
	if len(out) != 1 || out[0]["id_project"] != 2.0 {
		t.Fatalf("add %v", out)
	}
	added := int(out[0]["id_test_type_project"].(float64))
	// Adding again writes nothing new.
	if again := written(t, e.expect(200, "admin", "POST", p, `{"test_type_project": {"id_test_type": 1, "id_project": 2}}`)); len(again) != 1 ||
		int(again[0]["id_test_type_project"].(float64)) != added {
		t.Errorf("re-add %v", again)
	}
	// user3 administers project 1 only: dropping project 2 is refused.
	e.expectContains(403, "user3", "POST", p, `{"test_type": {"id_test_type": 1, "projects": [{"id_project": 1}]}}`, "at least one project")
	e.expect(200, "admin", "POST", p, `{"test_type": {"id_test_type": 1, "projects": [{"id_project": 1}]}}`)
	e.linkCases(p, "id_test_type_project", []listCase{{"admin", "id_test_type=1", []int{1}}})
	// Type 2 has tests in project 1.
	e.expect(500, "user3", "POST", p, `{"project": {"id_project": 1, "testtypes": [{"id_test_type": 1}]}}`)

	e.calls("DELETE", p, call{"admin", 400, ""}, call{"admin", 400, "?id=999"}, call{"user", 403, "?id=1"}, call{"user3", 403, "?id=3"})
	e.expectContains(500, "admin", "DELETE", p+"?id=2", nil, "delete all tests of that type in the project")
	e.expect(200, "admin", "DELETE", p+"?id=3", nil)
	e.linkCases(p, "id_test_type_project", []listCase{{"admin", "id_project=3", []int{}}})
}

func TestTestTypePost(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/testtypes"
	for _, body := range []string{`{}`, `{"test_type": {}}`, `{"test_type": {"id_test_type": "x"}}`, `[]`,
		`{"test_type": {"id_test_type": 0, "id_service": 6, "test_type_name": "X"}}`,
		`{"test_type": {"id_test_type": 1, "test_type_name": " "}}`,
		`{"test_type": {"id_test_type": 1, "test_type_sites": 5}}`,
		`{"test_type": {"id_test_type": 1, "test_type_projects": [{"id_site": 1}]}}`} {
		if st, out := e.do("siteadmin", "POST", p, body); st != 400 {
			t.Errorf("POST %s: %d %s, want 400", body, st, out)
		}
	}
	e.expect(400, "admin", "POST", p, `{"test_type": {"id_test_type": 0, "id_service": 6}}`)
	e.expect(403, "user", "POST", p, `{"test_type": {"id_test_type": 1, "test_type_description": "x"}}`)
	e.expect(403, "user4", "POST", p, `{"test_type": {"id_test_type": 1, "test_type_description": "x"}}`)
	e.expect(403, "admin", "POST", p, `{"test_type": {"id_test_type": 99, "test_type_description": "x"}}`)
	e.expect(403, "siteadmin", "POST", p, `{"test_type": {"id_test_type": 0, "test_type_name": "X", "test_type_projects": [{"id_project": 1}]}}`)
	e.expect(403, "siteadmin", "POST", p, `{"test_type": {"id_test_type": 1, "test_type_sites": [{"id_site": 2}]}}`)
	e.expect(403, "user3", "POST", p, `{"test_type": {"id_test_type": 1, "test_type_projects": [{"id_project": 2}]}}`)

	creates, updates := e.events("test_type", 1), e.events("test_type", 2)
	nt := e.post("siteadmin", p, map[string]any{"test_type": map[string]any{"id_test_type": 0, "id_service": 6, "test_type_name": "New test",
		"test_type_key": "NEW", "test_type_has_web_format": true, "test_type_sites": []any{map[string]any{"id_site": 1}},
		"test_type_projects": []any{map[string]any{"id_project": 1}}}})
	id := int(nt["id_test_type"].(float64))
	if nt["test_type_name"] != "New test" || nt["test_type_service_key"] != "VideoRehabService" || nt["test_type_has_web_format"] != true ||
		nt["test_type_has_json_format"] != false || len(nt["test_type_uuid"].(string)) != 36 {
		t.Errorf("created %v", nt)
	}
	creates(1)
	e.linkCases("/api/user/testtypes/sites", "id_site", []listCase{{"admin", "id_test_type=" + itoa(id), []int{1}}})
	e.linkCases("/api/user/testtypes/projects", "id_project", []listCase{{"user3", "id_test_type=" + itoa(id), []int{1}}})
	if got := ids(e.list("user", p+"?id_project=1"), "id_test_type"); len(got) != 3 {
		t.Errorf("user sees %v in project 1", got)
	}

	up := e.post("user3", p, map[string]any{"test_type": map[string]any{"id_test_type": id, "test_type_description": "Described"}})
	if up["test_type_description"] != "Described" || up["test_type_key"] != "NEW" {
		t.Errorf("update %v", up)
	}
	updates(1)
	e.expect(500, "admin", "POST", p, `{"test_type": {"id_test_type": 2, "test_type_key": "PRE"}}`) // duplicate key
	// A project outside the type's sites.
	e.expect(400, "admin", "POST", p, `{"test_type": {"id_test_type": 2, "test_type_projects": [{"id_project": 3}]}}`)
	// A POST replaces the projects even where tests of the type exist (OpenTera never refuses it).
	e.post("user3", p, `{"test_type": {"id_test_type": 2, "test_type_projects": []}}`)
	e.linkCases("/api/user/testtypes/projects", "id_test_type_project", []listCase{{"admin", "id_test_type=2", []int{}}})
	// Superadmins may create a type without links.
	bare := e.post("admin", p, `{"test_type": {"id_test_type": 0, "id_service": 3, "test_type_name": "Bare"}}`)
	e.linkCases("/api/user/testtypes/sites", "id_site", []listCase{{"admin", "id_test_type=" + itoa(int(bare["id_test_type"].(float64))), []int{}}})
}
