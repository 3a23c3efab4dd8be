package core_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// written decodes a POST answer.
func written(t testing.TB, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return out
}

func TestDeviceSitesGet(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/devices/sites"
	e.linkCases(p, "id_device_site", []listCase{
		{"admin", "id_site=1", []int{1, 2}},
		{"admin", "id_site=1&with_devices=1", []int{1, 2, -1}},
		{"admin", "id_site=10", []int{}},
		{"siteadmin", "id_site=1&with_devices=1", []int{1, 2}},
		{"user", "id_site=1", []int{1, 2}},
		{"user", "id_site=1&with_devices=1", []int{1, 2}},
		{"user", "id_site=2", []int{}},
		{"user3", "id_site=1", []int{1, 2}},
		{"user4", "id_site=1", []int{}},
		{"admin", "id_device=1", []int{1, 3}},
		{"admin", "id_device=3&with_sites=1", []int{-1, -1}},
		{"admin", "id_device=30", []int{}},
		{"user", "id_device=1", []int{1}},
		{"user", "id_device=1&with_sites=1", []int{1}},
		{"user", "id_device=2", []int{2}},
		{"user4", "id_device=1", []int{}},
		// id_device first, as OpenTera.
		{"admin", "id_device=2&id_site=2", []int{2}},
		{"admin", "list=true", []int{}},
	})
	e.calls("GET", p, call{"admin", 400, ""}, call{"admin", 400, "?list=false"}, call{"admin", 400, "?id_site=x"}, call{"", 401, "?id_site=1"})

	full := e.list("admin", p+"?id_site=1&with_devices=1")
	if keys(full[0]) != "device_available,device_name,id_device,id_device_site,id_site,site_name" ||
		full[0]["device_name"] != "Apple Watch #W05P1" || full[0]["site_name"] != "Default Site" || full[0]["device_available"] != false {
		t.Errorf("full form %v", full[0])
	}
	// The unlinked device: null site, no participant so available.
	if o := full[2]; o["id_device"] != 3.0 || o["id_site"] != nil || o["site_name"] != nil || o["device_name"] != "Robot A" || o["device_available"] != true {
		t.Errorf("unlinked device %v", o)
	}
	// Any value of list is the minimal form (OpenTera tests the parameter's presence).
	if min := e.list("user", p+"?id_device=1&list=0&with_sites=1"); len(min) != 1 || keys(min[0]) != "id_device,id_device_site,id_site" {
		t.Errorf("list form %v", min)
	}
	if o := e.list("admin", p+"?id_device=3&with_sites=1")[0]; o["id_device"] != nil || o["device_name"] != nil || o["device_available"] != false {
		t.Errorf("unlinked site %v", o)
	}
}

func TestDeviceSitesWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/devices/sites"
	e.expect(403, "siteadmin", "POST", p, map[string]any{"device_site": map[string]any{"id_device": 3, "id_site": 1}})
	for body, msg := range map[string]string{
		`{}`:                           ``,
		`{"device": {"sites": []}}`:    `Missing id_device`,
		`{"device": {"id_device": 3}}`: `Missing sites`,
		`{"device": {"id_device": 3, "sites": 1}}`:         `Missing sites`,
		`{"site": {"id_site": 1}}`:                         `Missing devices`,
		`{"site": {"devices": []}}`:                        `Missing site ID`,
		`{"device_site": {"id_device": 3}}`:                `Badly formatted request`,
		`{"device_site": [{"id_site": "1"}]}`:              `Badly formatted request`,
		`{"device_site": {"device_uuid": "nope"}}`:         `Invalid device_uuid`,
		`{"device_site": {"id_device": 3, "id_site": 99}}`: `Badly formatted request`,
	} {
		e.expectAnswer(400, "admin", "POST", p, body, `"`+msg+`"`)
	}
	// The add form answers every listed link with its id; the device's uuid stands for its id.
	out := written(t, e.expect(200, "admin", "POST", p, `{"device_site": [{"id_device": 3, "id_site": 1},
		{"device_uuid": "b707e0b2-e649-47e7-a938-2b949c423f73", "id_site": 1}]}`))
	if len(out) != 2 || out[0]["id_device"] != 3.0 || out[1]["id_device_site"] != 1.0 || out[1]["id_device"] != 1.0 {
		t.Errorf("add form %v", out)
	}
	// The set forms answer the added links only.
	out = written(t, e.expect(200, "admin", "POST", p, `{"device": {"id_device": 3, "sites": [{"id_site": 1}, {"id_site": 2}]}}`))
	if len(out) != 1 || out[0]["id_site"] != 2.0 || out[0]["id_device"] != 3.0 {
		t.Errorf("device form %v", out)
	}
	// Removing a site removes the device's project links there.
	e.expect(200, "admin", "POST", "/api/user/devices/projects", `{"device_project": {"id_device": 3, "id_project": 3}}`)
	e.expect(200, "admin", "POST", p, `{"site": {"id_site": 2, "devices": [{"id_device": 1}]}}`)
	if got := e.list("admin", "/api/user/devices/projects?id_device=3"); len(got) != 0 {
		t.Errorf("device 3 projects after leaving site 2: %v", got)
	}
	// Device 1 has participants in project 1 (site 1): its site link cannot go.
	body := e.expect(500, "admin", "POST", p, `{"device": {"id_device": 1, "sites": [{"id_site": 2}]}}`)
	if !strings.Contains(string(body), "Can't delete device from site") {
		t.Errorf("refusal %s", body)
	}
	if got := nullableIDs(e.list("admin", p+"?id_device=1"), "id_site"); !eqInts(got, []int{1, 2}) {
		t.Errorf("refused replacement changed links: %v", got)
	}

	// DELETE by link id.
	e.expect(400, "admin", "DELETE", p, nil)
	e.expectAnswer(400, "admin", "DELETE", p+"?id=99", nil, `"Bad parameter"`)
	id := written(t, e.expect(200, "admin", "POST", p, `{"device_site": {"id_device": 3, "id_site": 2}}`))[0]["id_device_site"].(float64)
	q := p + "?id=" + itoa(int(id))
	e.expect(403, "siteadmin", "DELETE", q, nil) // not admin of site 2
	e.expect(403, "user", "DELETE", p+"?id=2", nil)
	e.expect(500, "siteadmin", "DELETE", p+"?id=1", nil) // device 1 has participants in project 1
	e.expect(200, "admin", "DELETE", q, nil)
	e.expect(400, "admin", "DELETE", q, nil)
}

func TestDeviceProjectsGet(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/devices/projects"
	e.linkCases(p, "id_device_project", []listCase{
		{"admin", "id_device=1", []int{1, 3}},
		{"admin", "id_device=1&with_projects=1", []int{1, -1, 3}},
		{"siteadmin", "id_device=1&with_projects=1", []int{1, -1}},
		{"user", "id_device=1", []int{1}},
		{"user3", "id_device=1&with_projects=1", []int{1}},
		{"user4", "id_device=1", []int{}},
		{"admin", "id_project=1", []int{1, 2}},
		{"admin", "id_project=2&with_devices=1", []int{-1, -1}},
		{"admin", "id_project=3&with_devices=1", []int{3}},
		{"user", "id_project=1", []int{1, 2}},
		{"user", "id_project=3", []int{}},
		{"user3", "id_project=2", []int{}},
		{"user4", "id_project=1", []int{}},
		{"admin", "id_device=2&id_project=3", []int{2}},
	})
	e.expect(400, "user", "GET", p, nil)
	full := e.list("admin", p+"?id_device=1&with_projects=1&with_sites=1")
	if keys(full[0]) != "device_available,device_name,id_device,id_device_project,id_project,id_site,project_name,site_name" ||
		full[2]["site_name"] != "Top Secret Site" || full[2]["id_site"] != 2.0 || full[1]["project_name"] != "Default Project #2" || full[1]["id_device"] != nil {
		t.Errorf("full form with sites %v", full)
	}
	if o := e.form("admin", p+"?id_project=1", 1, "device_available,device_name,id_device,id_device_project,id_project,project_name"); o["device_name"] != "Kit Télé #1" {
		t.Errorf("full form %v", o)
	}
	e.form("admin", p+"?id_project=1&list=1&with_sites=1", 0, "id_device,id_device_project,id_project")
}

func TestDeviceProjectsWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/devices/projects"
	e.expectPosts(400, "siteadmin", p, `{"devices": {}}`, `{"project": {"devices": []}}`, `{"device_project": {"id_project": 1}}`)
	// Site admin rights on the project's site: user and the project admin user3 have none.
	for _, who := range []string{"user", "user3", "user4"} {
		e.expectAnswer(403, who, "POST", p, `{"device_project": {"id_device": 2, "id_project": 2}}`, `"Access denied"`)
	}
	e.expect(403, "user3", "POST", p, `{"project": {"id_project": 1, "devices": []}}`)
	out := written(t, e.expect(200, "siteadmin", "POST", p, `{"device_project": {"id_device": 2, "id_project": 2}}`))
	if len(out) != 1 || out[0]["id_device_project"] == nil || out[0]["id_project"] != 2.0 {
		t.Errorf("add %v", out)
	}
	// A device outside the project's site.
	e.expectContains(403, "admin", "POST", p, `{"device_project": {"id_device": 3, "id_project": 1}}`, "not part of the allowed device")
	// Removing project 3 (site 2) needs site 2's admin.
	e.expect(403, "siteadmin", "POST", p, `{"device": {"id_device": 1, "projects": [{"id_project": 1}]}}`)
	if out := written(t, e.expect(200, "siteadmin", "POST", p, `{"project": {"id_project": 2, "devices": []}}`)); len(out) != 0 {
		t.Errorf("emptying project 2 answered %v", out)
	}
	// Device 1 serves participants of project 1.
	e.expectContains(500, "admin", "POST", p, `{"device": {"id_device": 1, "projects": [{"id_project": 3}]}}`, "Can't delete device from project")
	e.expectAnswer(500, "siteadmin", "DELETE", p+"?id=1", nil, `"Can't delete device from project: please remove all participants with device before deleting."`)
	e.expect(400, "admin", "DELETE", p+"?id=99", nil)
	e.expect(403, "user", "DELETE", p+"?id=3", nil)
	e.expect(403, "siteadmin", "DELETE", p+"?id=3", nil) // project 3 is on site 2
	id := written(t, e.expect(200, "siteadmin", "POST", p, `{"device_project": {"id_device": 2, "id_project": 2}}`))[0]["id_device_project"].(float64)
	e.expect(200, "siteadmin", "DELETE", p+"?id="+itoa(int(id)), nil)
}

func TestDeviceParticipantsGet(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/devices/participants"
	e.linkCases(p, "id_device_participant", []listCase{
		{"admin", "id_device=1", []int{1, 2}},
		{"user", "id_device=1", []int{1, 2}},
		{"user3", "id_device=2", []int{3}},
		{"user4", "id_device=1", []int{}},
		{"admin", "id_participant=2", []int{2, 3}},
		{"admin", "id_participant=2&id_device_type=1", []int{3}},
		{"user", "id_participant=2&id_device_type=2", []int{2}},
		{"user4", "id_participant=2", []int{}},
		{"admin", "id_site=1", []int{1, 2, 3}},
		{"admin", "id_site=2", []int{}},
		{"user", "id_site=2", []int{}},
		{"admin", "id_device_type=1", []int{}},
	})
	e.expect(400, "admin", "GET", p, nil)
	o := e.form("user", p+"?id_device=2", 0, "device_name,device_participant_device,id_device,id_device_participant,id_participant,participant_name")
	d, _ := o["device_participant_device"].(map[string]any)
	if o["participant_name"] != "Participant #2" || d["device_name"] != "Kit Télé #1" || len(d) != 12 {
		t.Errorf("full form %v", o)
	}
	e.form("user", p+"?id_device=2&list=1", 0, "id_device,id_device_participant,id_participant")
}

func TestDeviceParticipantsWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/devices/participants"
	e.expect(400, "admin", "POST", p, `{}`)
	e.expect(400, "admin", "POST", p, `{"device_participant": {"id_device": 1}}`)
	e.expectAnswer(403, "user", "POST", p, `{"device_participant": {"id_device": 1, "id_participant": 3}}`, `"User is not admin of the participant's project"`)
	e.expect(403, "user4", "POST", p, `{"device_participant": {"id_device": 1, "id_participant": 3}}`)
	// user3 administers project 1 and sees device 1.
	out := written(t, e.expect(200, "user3", "POST", p, `{"device_participant": [{"id_device": 1, "id_participant": 3}, {"id_device": 1, "id_participant": 1}]}`))
	if len(out) != 2 || out[0]["participant_name"] != "Participant #3" || out[0]["device_name"] != "Apple Watch #W05P1" ||
		out[1]["id_device_participant"] != 1.0 || out[1]["participant_name"] != nil {
		t.Errorf("add %v", out)
	}
	// Device 2 is not in project 3; nothing of the request is written.
	e.expectAnswer(403, "admin", "POST", p, `{"device_participant": [{"id_device": 1, "id_participant": 4}, {"id_device": 2, "id_participant": 4}]}`, `"Device not assigned to project or participant"`)
	if got := e.list("admin", p+"?id_participant=4"); len(got) != 0 {
		t.Errorf("partial write %v", got)
	}
	e.expect(400, "admin", "DELETE", p+"?id=99", nil)
	e.expect(403, "user", "DELETE", p+"?id=1", nil)
	id := out[0]["id_device_participant"].(float64)
	e.expect(200, "user3", "DELETE", p+"?id="+itoa(int(id)), nil)
	if got := nullableIDs(e.list("admin", p+"?id_participant=3"), "id_device"); len(got) != 0 {
		t.Errorf("after delete %v", got)
	}
}
