package core_test

import (
	"testing"
)

func TestServiceAPIParticipants(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	p4uuid, p1uuid := e.uuid("participant", 4), e.uuid("participant", 1)

	e.calls("GET", "/api/service/participants", call{vr, 400, ""}, call{vr, 403, "?id_participant=4"}, call{vr, 403, "?participant_uuid=" + p4uuid},
		call{vr, 403, "?id_project=3"}, call{vr, 403, "?id_participant_group=99"})
	p := e.object(vr, "/api/service/participants?participant_uuid="+p1uuid)
	if p["id_participant"] != 1.0 || p["participant_username"] != "participant1" || p["participant_project_enabled"] != true {
		t.Errorf("participant 1: %v", p)
	}
	if p := e.object(ft, "/api/service/participants?id_participant=4"); p["participant_name"] != "Secret Participant" {
		t.Errorf("participant 4 for FileTransfer: %v", p)
	}
	e.wantIDs(vr, "/api/service/participants?id_project=1", "id_participant", 1, 2, 3)
	e.wantIDs(vr, "/api/service/participants?id_project=1&name=%232", "id_participant", 2)
	e.wantIDs(vr, "/api/service/participants?id_participant_group=1", "id_participant", 1)
	// name alone: partial match among the service's participants, minimal JSON.
	got := e.list(vr, "/api/service/participants?name=Participant")
	if !eqInts(ids(got, "id_participant"), []int{1, 2, 3}) || got[0]["participant_username"] != nil {
		t.Errorf("name search: %v", got)
	}
	e.wantIDs(ft, "/api/service/participants?name=Secret", "id_participant", 4)

	// POST, OpenTera's required keys and refusals.
	body := func(kv ...any) map[string]any {
		m := map[string]any{"id_participant": 0, "id_project": 1, "participant_name": "Service P", "participant_email": "s@x.org"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return map[string]any{"participant": m}
	}
	e.expectPosts(400, vr, "/api/service/participants", map[string]any{}, body("participant_email", nil), body("id_project", "x"))
	e.expectPosts(403, vr, "/api/service/participants",
		body("id_project", 0),
		body("participant_name", ""),
		body("participant_email", ""),
		body("id_project", 3),
	)
	created := e.postObject(vr, "/api/service/participants", body())
	if created["participant_enabled"] != true || created["participant_login_enabled"] != true || created["id_project"] != 1.0 {
		t.Errorf("created: %v", created)
	}
	id := int(created["id_participant"].(float64))
	updated := e.postObject(vr, "/api/service/participants", body("id_participant", id, "participant_name", "Renamed"))
	if updated["participant_name"] != "Renamed" {
		t.Errorf("updated: %v", updated)
	}
	// Another project's participant, or moving one out of the service's projects.
	e.expect(403, vr, "POST", "/api/service/participants", body("id_participant", 4, "id_project", 3))
	e.expect(403, vr, "POST", "/api/service/participants", body("id_participant", id, "id_project", 3))
	if e.outboxCount("participant", 1) == 0 {
		t.Error("no DatabaseEvent for the created participant")
	}
}

func TestServiceAPIGroups(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	e.calls("GET", "/api/service/groups", call{vr, 400, ""}, call{vr, 403, "?id_project=2"}, call{vr, 403, "?id_participant_group=2"})
	g := e.object(vr, "/api/service/groups?id_participant_group=1")
	if g["participant_group_name"] != "Default Participant Group A" || g["project_name"] != nil {
		t.Errorf("group 1 (minimal): %v", g)
	}
	e.wantIDs(vr, "/api/service/groups?id_project=1", "id_participant_group", 1)

	e.expectPosts(400, vr, "/api/service/groups",
		map[string]any{},
		map[string]any{"participant_group": map[string]any{"participant_group_name": "x"}},
		map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "participant_group_name": "x"}},
		map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 1}},
	)
	e.expect(403, vr, "POST", "/api/service/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 2, "participant_group_name": "x"}})
	e.expect(403, vr, "POST", "/api/service/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 2, "participant_group_name": "x"}})
	g = e.postObject(vr, "/api/service/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 1, "participant_group_name": "Svc group"}})
	id := int(g["id_participant_group"].(float64))
	if g["project_name"] != "Default Project #1" {
		t.Errorf("created group: %v", g)
	}
	g = e.postObject(vr, "/api/service/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": id, "participant_group_name": "Renamed"}})
	if g["participant_group_name"] != "Renamed" {
		t.Errorf("updated group: %v", g)
	}
	e.expect(403, vr, "DELETE", "/api/service/groups?id=2", nil)
	e.expect(500, vr, "DELETE", "/api/service/groups?id=1", nil) // still has participants
	e.expect(200, vr, "DELETE", "/api/service/groups?id="+itoa(id), nil)
}

func TestServiceAPIDevices(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	e.expect(400, vr, "GET", "/api/service/devices", nil)
	e.expect(403, vr, "GET", "/api/service/devices?id_device=3", nil) // linked to no project of the service
	e.expect(403, vr, "GET", "/api/service/devices?device_uuid=nope", nil)
	d := e.object(vr, "/api/service/devices?device_uuid=b707e0b2-e649-47e7-a938-2b949c423f73")
	if d["id_device"] != 1.0 || d["device_name"] != "Apple Watch #W05P1" || d["device_token"] == nil {
		t.Errorf("device 1: %v", d)
	}
	for _, k := range []string{"device_type", "device_subtype", "device_sites", "device_projects", "device_participants"} {
		if _, ok := d[k]; ok {
			t.Errorf("device 1 has %s: %v", k, d)
		}
	}
	d = e.object(vr, "/api/service/devices?id_device=1&with_device_type=true&with_device_subtype=true")
	if dt, _ := d["device_type"].(map[string]any); dt["device_type_key"] != "capteur" || d["device_subtype"] != nil {
		t.Errorf("device 1 with type and subtype: %v", d)
	}
	if _, ok := d["device_subtype"]; !ok {
		t.Errorf("with_device_subtype: null expected, got %v", d)
	}

	e.expect(400, vr, "POST", "/api/service/devices", map[string]any{})
	e.expectPosts(403, vr, "/api/service/devices",
		map[string]any{"device": map[string]any{"id_device": 0, "device_name": "x", "id_device_type": 1}},
		map[string]any{"device": map[string]any{"id_device": 3, "device_name": "x"}},
		map[string]any{"device": map[string]any{"id_device": 1, "id_device_type": 0}},
	)
	e.expect(400, vr, "POST", "/api/service/devices", map[string]any{"device": map[string]any{"id_device": 1, "device_name": 5}})
	d = e.postObject(vr, "/api/service/devices", map[string]any{"device": map[string]any{"id_device": 1, "device_name": "Renamed", "device_infos": "{\"a\": 1}"}})
	if d["device_name"] != "Renamed" || d["device_infos"] != "{\"a\": 1}" {
		t.Errorf("updated device: %v", d)
	}
}
