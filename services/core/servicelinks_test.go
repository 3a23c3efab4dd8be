package core_test

import (
	"encoding/json"
	"testing"
)

// nullableIDs extracts an id key that may be null (-1 for null).
func nullableIDs(objs []map[string]any, key string) []int {
	out := []int{}
	for _, o := range objs {
		if f, ok := o[key].(float64); ok {
			out = append(out, int(f))
		} else {
			out = append(out, -1)
		}
	}
	return out
}

func TestServiceProjectsGet(t *testing.T) {
	e := newEnv(t)
	e.expectIDs(t, "/api/user/services/projects", "id_project", "id_service_project", []idCase{
		{"admin", "id_service=3", []int{1, 2, 3}, []int{1, 3, 4}},
		{"user", "id_service=3", []int{1, 2}, []int{1, 3}},
		{"user", "id_service=2", []int{}, []int{}},
		{"user", "id_service=6&with_projects=true", []int{1, 2}, []int{2, -1}},
		{"admin", "id_service=6&with_projects=1", []int{1, 2, 3}, []int{2, -1, -1}},
	})
	e.expectIDs(t, "/api/user/services/projects", "id_service", "id_service_project", []idCase{
		{"admin", "id_project=1", []int{3, 6}, []int{1, 2}},
		{"user", "id_project=1", []int{3, 6}, []int{1, 2}},
		{"user4", "id_project=1", []int{}, []int{}},
		{"user", "id_project=3", []int{}, []int{}},
		{"admin", "id_project=3", []int{3}, []int{4}},
		// with_services: the services of the project's site not used yet, with a null link id.
		{"admin", "id_project=1&with_services=true", []int{2, 3, 6}, []int{-1, 1, 2}},
		// id_project wins over id_service.
		{"admin", "id_project=3&id_service=6", []int{3}, []int{4}},
	})
	sp := e.list("user", "/api/user/services/projects?id_project=1")[1]
	if sp["service_key"] != "VideoRehabService" || sp["service_system"] != true || sp["project_name"] != "Default Project #1" || sp["service_name"] == nil {
		t.Errorf("item %v", sp)
	}
	for _, k := range []string{"id_site", "site_name", "service_roles"} {
		if _, has := sp[k]; has {
			t.Errorf("item has %s without its flag: %v", k, sp)
		}
	}
	l := e.list("user", "/api/user/services/projects?id_project=1&list=true")[1]
	if len(l) != 3 || l["id_service"] != float64(6) {
		t.Errorf("list item %v", l)
	}
	w := e.list("user", "/api/user/services/projects?id_project=1&with_sites=true&with_roles=true")[1]
	roles, _ := w["service_roles"].([]any)
	if w["id_site"] != float64(1) || w["site_name"] != "Default Site" || len(roles) != 2 {
		t.Errorf("with_sites/with_roles item %v", w)
	} else if _, has := roles[0].(map[string]any)["id_service"]; has {
		t.Errorf("roles keep id_service: %v", roles[0])
	}
	e.expectEach(400, "admin", "GET", "/api/user/services/projects", "/api/user/services/projects?list=true",
		"/api/user/services/projects?id_project=x")
	e.expect(401, "", "GET", "/api/user/services/projects?id_project=1", nil)
}

func TestServiceProjectsWrite(t *testing.T) {
	e := newEnv(t)
	// Project set replacement: admin of the project's site.
	body := map[string]any{"project": map[string]any{"id_project": 2, "services": []any{map[string]any{"id_service": 3}, map[string]any{"id_service": 6}}}}
	for _, who := range []string{"user", "user3", "user4"} {
		e.expect(403, who, "POST", "/api/user/services/projects", body)
	}
	b := e.expect(200, "siteadmin", "POST", "/api/user/services/projects", body)
	var added []map[string]any
	_ = json.Unmarshal(b, &added)
	if len(added) != 1 || added[0]["id_service"] != float64(6) || added[0]["id_project"] != float64(2) || added[0]["id_service_project"] == nil {
		t.Fatalf("added %s", b)
	}
	// Service links are not among OpenTera's DatabaseEvent models (REFERENCE §6): no event.
	e.wantIDs("user", "/api/user/services/projects?id_project=2", "id_service", 3, 6)
	// Replacement removes what is not listed.
	e.expect(200, "user2", "POST", "/api/user/services/projects", map[string]any{"project": map[string]any{"id_project": 2, "services": []any{map[string]any{"id_service": 6}}}})
	e.wantIDs("user", "/api/user/services/projects?id_project=2", "id_service", 6)
	// A project of a site the caller does not administer; a service not enabled on the site.
	e.expect(403, "siteadmin", "POST", "/api/user/services/projects", map[string]any{"project": map[string]any{"id_project": 3, "services": []any{}}})
	e.expect(403, "siteadmin", "POST", "/api/user/services/projects", map[string]any{"service_project": map[string]any{"id_service": 5, "id_project": 1}})
	// Single items (or lists) add; service_uuid names the service.
	uuid2 := e.uuid("service", 2)
	a := e.post("siteadmin", "/api/user/services/projects", map[string]any{"service_project": []any{map[string]any{"service_uuid": uuid2, "id_project": 1}}})
	if a["id_service"] != float64(2) || a["id_project"] != float64(1) {
		t.Errorf("added by uuid %v", a)
	}
	// Service set replacement: superadmin only.
	svcBody := map[string]any{"service": map[string]any{"id_service": 3, "projects": []any{map[string]any{"id_project": 1}}}}
	e.expect(403, "siteadmin", "POST", "/api/user/services/projects", svcBody)
	if b := e.expect(200, "admin", "POST", "/api/user/services/projects", svcBody); string(b) != "[]\n" && string(b) != "[]" {
		t.Errorf("nothing added: %s", b)
	}
	e.wantIDs("admin", "/api/user/services/projects?id_service=3", "id_project", 1)
	// Delete by link id: admin of the project's site; in-use links refused with a message.
	e.expectEach(400, "admin", "DELETE", "/api/user/services/projects", "/api/user/services/projects?id=999")
	e.expect(403, "user", "DELETE", "/api/user/services/projects?id=2", nil)
	body500 := e.expect(500, "siteadmin", "DELETE", "/api/user/services/projects?id=2", nil)
	var msg string
	if json.Unmarshal(body500, &msg) != nil || msg == "" {
		t.Errorf("integrity refusal body %s", body500)
	}
	id := int(a["id_service_project"].(float64))
	e.deleteOK("siteadmin", "/api/user/services/projects?id="+itoa(id))
	e.wantIDs("admin", "/api/user/services/projects?id_project=1", "id_service", 3, 6)
}

func TestServiceSites(t *testing.T) {
	e := newEnv(t)
	e.expectIDs(t, "/api/user/services/sites", "id_service", "id_service_site", []idCase{
		{"admin", "id_site=1", []int{2, 3, 6}, []int{3, 2, 1}},
		// Only the services the requester can access (OpenTera's query_services_sites_for_site):
		// user holds no role giving it service 2.
		{"user", "id_site=1", []int{3, 6}, []int{2, 1}},
		{"user", "id_site=2", []int{}, []int{}},
		{"user4", "id_site=1", []int{}, []int{}},
		{"admin", "id_site=2&with_services=true", []int{2, 3, 4, 5, 6, 7}, []int{-1, 4, -1, -1, -1, -1}},
	})
	e.expectIDs(t, "/api/user/services/sites", "id_site", "id_service_site", []idCase{
		{"admin", "id_service=3", []int{1, 2}, []int{2, 4}},
		{"user", "id_service=3", []int{1}, []int{2}},
		{"user", "id_service=2", []int{}, []int{}},
		{"admin", "id_service=6&with_sites=true", []int{1, 2}, []int{1, -1}},
	})
	it := e.list("user", "/api/user/services/sites?id_site=1&with_roles=true")[1]
	if it["service_key"] != "VideoRehabService" || it["site_name"] != "Default Site" || it["service_system"] != true || len(it["service_roles"].([]any)) != 2 {
		t.Errorf("item %v", it)
	}
	if l := e.list("user", "/api/user/services/sites?id_site=1&list=true")[0]; len(l) != 3 {
		t.Errorf("list item %v", l)
	}
	e.expect(400, "admin", "GET", "/api/user/services/sites", nil)
	e.expect(401, "", "GET", "/api/user/services/sites?id_site=1", nil)
}

// Writes of services/sites: superadmin only.
func TestServiceSitesWrite(t *testing.T) {
	e := newEnv(t)
	add := map[string]any{"service_site": map[string]any{"id_service": 5, "id_site": 2}}
	for _, who := range []string{"siteadmin", "user2", "user4"} {
		e.expect(403, who, "POST", "/api/user/services/sites", add)
		e.expect(403, who, "DELETE", "/api/user/services/sites?id=4", nil)
	}
	a := e.post("admin", "/api/user/services/sites", add)
	if a["id_service"] != float64(5) || a["id_site"] != float64(2) || a["id_service_site"] == nil {
		t.Fatalf("added %v", a)
	}
	// Replacing site 2's services drops service 3 there, and with it service 3's project 3 link.
	e.expect(200, "admin", "POST", "/api/user/services/sites", map[string]any{"site": map[string]any{"id_site": 2, "services": []any{map[string]any{"id_service": 5}}}})
	e.wantIDs("admin", "/api/user/services/sites?id_site=2", "id_service", 5)
	if got := e.list("admin", "/api/user/services/projects?id_project=3"); len(got) != 0 {
		t.Errorf("project 3 keeps services %v", got)
	}
	// Now service 3 cannot be used by project 3.
	e.expect(403, "admin", "POST", "/api/user/services/projects", map[string]any{"service_project": map[string]any{"id_service": 3, "id_project": 3}})
	// Service set replacement; soft-insert brings a link back with its id.
	e.expect(200, "admin", "POST", "/api/user/services/sites", map[string]any{"service": map[string]any{"id_service": 3, "sites": []any{map[string]any{"id_site": 1}, map[string]any{"id_site": 2}}}})
	if got := e.list("admin", "/api/user/services/sites?id_service=3"); !eqInts(nullableIDs(got, "id_service_site"), []int{2, 4}) {
		t.Errorf("service 3 links %v", nullableIDs(got, "id_service_site"))
	}
	e.expectEach(400, "admin", "DELETE", "/api/user/services/sites?id=999", "/api/user/services/sites")
	id := int(a["id_service_site"].(float64))
	e.deleteOK("admin", "/api/user/services/sites?id="+itoa(id))
	e.wantIDs("admin", "/api/user/services/sites?id_site=2", "id_service", 3)
}

// Malformed POST bodies of both link endpoints are 400.
func TestServiceLinksPostErrors(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []string{`{}`, `{"service": {"projects": []}}`, `{"service": {"id_service": 3}}`, `{"project": {"services": []}}`,
		`{"project": {"id_project": 1}}`, `{"project": {"id_project": 1, "services": [{"id_service": "x"}]}}`, `{"project": {"id_project": 1, "services": [3]}}`,
		`{"service_project": {"id_project": 1}}`, `{"service_project": 3}`, `{"service_project": {"id_service": 3, "id_project": 1.5}}`, `{"project": `, `[]`} {
		e.expect(400, "admin", "POST", "/api/user/services/projects", bad)
	}
	for _, bad := range []string{`{}`, `{"service": {"id_service": 3}}`, `{"site": {"services": []}}`, `{"service_site": {"id_site": 1}}`,
		`{"site": {"id_site": 1, "services": [{"id_service": true}]}}`, `{"service_site": {"service_uuid": "nope", "id_site": 1}}`} {
		e.expect(400, "admin", "POST", "/api/user/services/sites", bad)
	}
}
