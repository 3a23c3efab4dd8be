package core_test

import (
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func TestDevicesGet(t *testing.T) {
	e := newEnv(t)
	e.lists("/api/user/devices", "id_device", []listCase{
		{"admin", "", []int{1, 2, 3}},
		{"siteadmin", "", []int{1, 2}},
		{"user", "", []int{1, 2}},
		{"user3", "", []int{1, 2}},
		{"user4", "", []int{}},
		{"admin", "id_site=2", []int{1}},
		{"user", "id_site=2", []int{}},
		{"user", "id_project=1", []int{1, 2}},
		{"admin", "id_project=3", []int{1}},
		{"user", "id_project=3", []int{}},
		{"user4", "id_project=1", []int{}},
		{"admin", "id_project=1&enabled=false", []int{}},
		{"admin", "id_project=1&id_device_type=1", []int{2}},
		{"admin", "id_device_type=3", []int{3}},
		{"user", "id_device_type=3", []int{}},
		{"admin", "enabled=true", []int{1, 2}},
		{"admin", "name=Robot%20A", []int{3}},
		{"user", "name=Robot%20A", []int{}},
		{"user", "id=2", []int{2}},
		{"user4", "id_device=2", []int{}},
		{"user3", "uuid=b707e0b2-e649-47e7-a938-2b949c423f73", []int{1}},
		{"admin", "device_uuid=b707e0b2-e649-47e7-a938-2b949c423f73&id_device_type=3", []int{1}},
		{"admin", "id_device_subtype=1", []int{}},
	})
	e.calls("GET", "/api/user/devices", call{"admin", 400, "?id_device=1&id_site=1"}, call{"admin", 400, "?id_site=one"}, call{"", 401, ""})

	full := e.list("user", "/api/user/devices?id_device=1")[0]
	if len(full) != 12 || full["device_name"] != "Apple Watch #W05P1" || full["id_device_type"] != 2.0 || full["id_device_subtype"] != nil ||
		full["device_onlineable"] != true || full["device_lastonline"] != nil {
		t.Errorf("full form %v", full)
	}
	if tok, _ := full["device_token"].(string); tok == "" {
		t.Errorf("no device_token in %v", full)
	}
	min := e.list("user", "/api/user/devices?id_device=1&list=true")[0]
	if len(min) != 6 || min["device_enabled"] != true {
		t.Errorf("list form %v", min)
	}
	w := e.list("user", "/api/user/devices?id_device=1&with_participants=true&with_sites=true&projects=true")[0]
	parts := anyMaps(w["device_participants"])
	if !eqInts(ids(parts, "id_participant"), []int{1, 2}) || parts[0]["project_name"] != "Default Project #1" || parts[0]["participant_name"] != "Participant #1" {
		t.Errorf("device_participants %v", parts)
	}
	// Only the sites and projects user sees (OpenTera lists them all: site 2, project 3).
	if sites := anyMaps(w["device_sites"]); !eqInts(ids(sites, "id_site"), []int{1}) || sites[0]["site_name"] != "Default Site" {
		t.Errorf("device_sites %v", sites)
	}
	projects := anyMaps(w["device_projects"])
	if !eqInts(ids(projects, "id_project"), []int{1}) || projects[0]["project"].(map[string]any)["project_name"] != "Default Project #1" {
		t.Errorf("device_projects %v", projects)
	}
	wl := e.list("user", "/api/user/devices?id_device=1&with_participants=true&with_sites=true&projects=true&list=true")[0]
	if _, ok := anyMaps(wl["device_participants"])[0]["project_name"]; ok {
		t.Error("list form participants carry project_name")
	}
	if _, ok := anyMaps(wl["device_sites"])[0]["site_name"]; ok {
		t.Error("list form sites carry site_name")
	}
	if _, ok := anyMaps(wl["device_projects"])[0]["project"]; ok {
		t.Error("list form projects carry project")
	}
	if _, ok := full["device_participants"]; ok {
		t.Error("device_participants without with_participants")
	}
}

func TestDevicesWrite(t *testing.T) {
	e := newEnv(t)
	dev := func(kv ...any) map[string]any { return wrap("device", kv...) }
	site := func(ids ...int) []map[string]any { return refs("id_site", ids...) }
	project := func(ids ...int) []map[string]any { return refs("id_project", ids...) }
	e.expectPosts(400, "admin", "/api/user/devices",
		`{}`,
		dev("device_name", "D"),
		dev("id_device", 0, "device_name", "D"),
		dev("id_device", 0, "device_name", "D", "id_device_type", 99),
		dev("id_device", 0, "device_name", "D", "id_device_type", 1, "device_sites", []any{map[string]any{"id_site": "x"}}),
	)
	// Create: superadmin, or admin of every listed site / project site.
	e.expect(403, "user", "POST", "/api/user/devices", dev("id_device", 0, "device_name", "D", "id_device_type", 1))
	e.expect(403, "siteadmin", "POST", "/api/user/devices", dev("id_device", 0, "device_name", "D", "id_device_type", 1))
	e.expect(403, "siteadmin", "POST", "/api/user/devices", dev("id_device", 0, "device_name", "D", "id_device_type", 1, "device_sites", site(2)))
	e.expect(403, "user3", "POST", "/api/user/devices", dev("id_device", 0, "device_name", "D", "id_device_type", 1, "device_projects", project(1)))
	created := e.events("device", 1)
	d := e.post("siteadmin", "/api/user/devices", dev("id_device", 0, "device_name", "D", "id_device_type", 4, "id_device_subtype", 1,
		"device_sites", site(1), "device_projects", project(2), "device_enabled", true))
	id := int(d["id_device"].(float64))
	if tok, _ := d["device_token"].(string); tok == "" || d["device_uuid"] == "" || d["device_enabled"] != true {
		t.Errorf("created %v", d)
	}
	if st, _ := d["device_subtype"].(map[string]any); st["device_subtype_name"] != "Bureau modèle #1" || st["device_subtype_parent"] != "Bureau Actif" {
		t.Errorf("device_subtype %v", d["device_subtype"])
	}
	e.wantIDs("user", "/api/user/devices?id_project=2", "id_device", id)
	created(1)
	// Update: admin of one of its sites; id_device_subtype 0 clears; the uuid never changes.
	e.expect(403, "user", "POST", "/api/user/devices", dev("id_device", id, "device_name", "x"))
	e.expect(403, "user3", "POST", "/api/user/devices", dev("id_device", 1, "device_notes", "x"))
	u := e.post("siteadmin", "/api/user/devices", dev("id_device", id, "device_name", "D2", "id_device_subtype", 0, "device_uuid", "nope", "device_notes", "n"))
	if u["device_name"] != "D2" || u["id_device_subtype"] != nil || u["device_uuid"] != d["device_uuid"] || u["device_notes"] != "n" {
		t.Errorf("updated %v", u)
	}
	// An admin of the device's site but of none of its projects' sites: only config and notes.
	x := e.post("admin", "/api/user/devices", dev("id_device", 0, "device_name", "X", "id_device_type", 1, "device_sites", site(1, 2), "device_projects", project(3)))
	xid := int(x["id_device"].(float64))
	xu := e.post("siteadmin", "/api/user/devices", dev("id_device", xid, "device_name", "renamed", "device_config", "{}", "device_sites", site()))
	if xu["device_name"] != "X" || xu["device_config"] != "{}" {
		t.Errorf("project-admin update %v", xu)
	}
	// Link sets replace the links the caller administers; removing a site removes its projects.
	e.post("admin", "/api/user/devices", dev("id_device", 1, "device_sites", site(1)))
	if got := ids(anyMaps(e.list("admin", "/api/user/devices?id_device=1&projects=true")[0]["device_projects"]), "id_project"); !eqInts(got, []int{1}) {
		t.Errorf("device 1 projects after leaving site 2: %v", got)
	}
	// Leaving site 1 would unlink project 1, where participant 1 uses the device: refused whole.
	e.expect(500, "siteadmin", "POST", "/api/user/devices", dev("id_device", 1, "device_name", "gone", "device_sites", site()))
	if got := e.list("admin", "/api/user/devices?id_device=1")[0]["device_name"]; got != "Apple Watch #W05P1" {
		t.Errorf("refused update renamed the device: %v", got)
	}

	// Delete.
	e.calls("DELETE", "/api/user/devices", call{"admin", 400, ""}, call{"admin", 400, "?id=99"}, call{"user4", 403, "?id=2"}, call{"user", 403, "?id=2"})
	e.expect(500, "admin", "DELETE", "/api/user/devices?id=1", nil) // linked to participants
	// siteadmin does not administer project 3: device X only leaves siteadmin's projects.
	e.expect(200, "siteadmin", "DELETE", "/api/user/devices?id="+itoa(xid), nil)
	e.wantIDs("admin", "/api/user/devices?id_device="+itoa(xid), "id_device", xid)
	deleted := e.events("device", 3)
	e.expect(200, "siteadmin", "DELETE", "/api/user/devices?id="+itoa(id), nil)
	e.expect(200, "admin", "DELETE", "/api/user/devices?id=3", nil)
	e.wantIDs("admin", "/api/user/devices", "id_device", 1, 2, xid)
	deleted(2)
	gone := scalar[bool](e, "SELECT deleted_at IS NOT NULL FROM core.t_devices WHERE id_device = 3")
	if !gone {
		t.Error("device 3 not soft-deleted")
	}
}

func TestDevicesGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user")
	c := corev1.NewDeviceServiceClient(conn)
	r, err := c.GetDevices(ctx, &corev1.GetDevicesRequest{IdProject: 1, List: true})
	if err != nil || len(r.Devices) != 2 || r.Devices[0].DeviceToken != nil {
		t.Fatalf("GetDevices: %v %v", r, err)
	}
	if _, err := c.PostDevice(ctx, &corev1.PostDeviceRequest{Device: &corev1.DeviceBody{IdDevice: new(int32(1)), DeviceNotes: new("x")}}); err == nil {
		t.Error("user updated a device over gRPC")
	}
}

func TestDevicesWithStatus(t *testing.T) {
	e := newEnv(t)
	// No presence in this harness: every device is offline (OpenTera: false, false, null).
	d := e.list("user", "/api/user/devices?id_device=1&with_status=true")[0]
	if v, ok := d["device_status"]; !ok || v != nil || d["device_online"] != false || d["device_busy"] != false {
		t.Errorf("with_status %v", d)
	}
	if _, ok := e.list("user", "/api/user/devices?id_device=1")[0]["device_online"]; ok {
		t.Error("device_online without with_status")
	}
}
