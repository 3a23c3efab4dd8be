package core_test

import (
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

// Specific configurations merge over the global one; the list form names them.
func TestServiceConfigsSpecific(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/configs"
	for q, want := range map[string][3]any{
		"id_participant=1":                    {false, true, nil},
		"id_participant=1&id_specific=pc-001": {true, true, "pc-001"},
		"id_participant=1&id_specific=pc-002": {true, false, "pc-002"},
		"id_participant=1&id_specific=pc-xxx": {false, true, nil},
	} {
		it := e.list("admin", path+"?"+q)[0]
		c := it["service_config_config"].(map[string]any)
		if c["default_muted"] != want[0] || c["view_local"] != want[1] || it["service_config_specific_id"] != want[2] {
			t.Errorf("?%s: %v", q, it)
		}
	}
	l := e.list("admin", path+"?id_participant=1&list=1")[0]
	if sp, _ := l["service_config_specifics"].([]any); len(sp) != 2 || sp[0] != "pc-001" || sp[1] != "pc-002" {
		t.Errorf("list %v", l)
	}
}

func TestServiceConfigsGet(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/configs"
	// The services of the configurations, and their id_service_config (-1 for an empty one).
	e.expectIDs(t, path, "id_service", "id_service_config", []idCase{
		{"admin", "", []int{1}, []int{1}}, // no parameter: own
		{"user4", "", []int{}, []int{}},
		{"admin", "id_service=1", []int{1}, []int{1}},
		{"admin", "service_key=VideoRehabService", []int{6, 6}, []int{2, 3}},
		{"admin", "id_service=1&with_empty=1", []int{1, 6}, []int{1, -1}},
		{"admin", "id_device=1&with_empty=true", []int{6, 1}, []int{3, -1}},
		{"admin", "id_participant=1", []int{6}, []int{2}},
		{"admin", "id_service=6&id_participant=1", []int{6}, []int{2}},
		{"admin", "id_service=6&id_device=1", []int{6}, []int{3}},
		{"admin", "id_service=1&id_user=2", []int{}, []int{}},
		// service_key is ignored when id_service is given.
		{"admin", "id_service=1&service_key=VideoRehabService", []int{1}, []int{1}},
		// user sees participant 1 and device 1 (site 1), and VideoRehab (project 1), not OpenTeraServer.
		{"user", "id_service=6", []int{6, 6}, []int{2, 3}},
		{"user", "id_participant=1", []int{6}, []int{2}},
		{"user", "id_service=1", []int{}, []int{}},
		{"user", "id_user=1", []int{}, []int{}},
		{"user", "with_empty=1", []int{6}, []int{-1}},
		{"user3", "id_device=1", []int{6}, []int{3}},
		{"user4", "id_participant=1", []int{}, []int{}},
		{"user4", "id_service=6", []int{}, []int{}},
		{"user4", "id_participant=1&with_empty=1", []int{}, []int{}},
	})
	own := e.list("admin", path)[0]
	cfg, _ := own["service_config_config"].(map[string]any)
	if cfg["notification_sounds"] != true || own["id_user"] != 1.0 || own["service_config_name"] != "OpenTera Server" ||
		own["service_config_specific_id"] != nil || own["service_config_last_update_time"] == nil {
		t.Errorf("own config %v", own)
	}
	for _, k := range []string{"id_participant", "id_device", "service_config_specifics"} {
		if _, has := own[k]; has {
			t.Errorf("config has %s: %v", k, own)
		}
	}
	empty := e.list("admin", path+"?id_service=1&with_empty=1")[1]
	if empty["id_service_config"] != nil || empty["service_config_last_update_time"] != nil || empty["service_config_name"] != "Télé-réadaptation vidéo" {
		t.Errorf("empty config %v", empty)
	} else if c, ok := empty["service_config_config"].(map[string]any); !ok || len(c) != 0 {
		t.Errorf("empty config's config %v", empty)
	}
	for _, q := range []string{"id_service=1&id_user=1&id_participant=1", "id_user=1&id_device=1", "id_participant=1&id_device=1",
		"service_key=nope", "id_user=abc", "with_empty=maybe"} {
		e.expect(400, "admin", "GET", path+"?"+q, nil)
	}
	e.expect(401, "", "GET", path, nil)
}

func TestServiceConfigsWriteErrors(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/configs"
	for _, bad := range []string{`{}`, `{"service_config": {}}`, `{"service_config": {"id_service_config": 0}}`,
		`{"service_config": {"id_service_config": 0, "id_service": 3}}`,
		`{"service_config": {"id_service_config": 0, "id_service": 3, "id_user": 1, "id_device": 1}}`,
		`{"service_config": {"id_service_config": 0, "id_service": 3, "id_user": 1, "service_config_config": [1]}}`,
		`{"service_config": {"id_service_config": 0, "id_service": 3, "id_user": 1, "service_config_config": "not json"}}`,
		`{"service_config": {"id_service_config": 0, "id_service": 3, "id_user": 1, "service_config_config": 5}}`,
		`{"service_config": {"id_service_config": 0, "service_key": "nope", "id_user": 1}}`,
		`{"service_config": {"id_service_config": "x", "id_service": 3, "id_user": 1}}`,
		`{"service_config": {"id_service_config": 0, "id_service": 3, "id_user": true}}`,
		`{"service_config": `, `[]`} {
		e.expect(400, "admin", "POST", path, bad)
	}
}

func TestServiceConfigsWrite(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/configs"
	create := map[string]any{"service_config": map[string]any{"id_service_config": 0, "id_service": 3, "id_user": 1, "id_device": 0}}
	e.expect(401, "", "POST", path, create)
	// user3 does not administer the superadmin.
	e.expect(403, "user3", "POST", path, create)
	c := e.post("admin", path, create)
	id := int(c["id_service_config"].(float64))
	if c["id_user"] != 1.0 || c["id_service"] != 3.0 || c["service_config_name"] != "File Transfer Service" || len(c["service_config_config"].(map[string]any)) != 0 {
		t.Fatalf("created %v", c)
	}
	// Update: text or object; with id_specific, the specific configuration.
	e.post("admin", path, map[string]any{"service_config": map[string]any{"id_service_config": id, "service_config_config": `{"Test": "123"}`}})
	sp := e.post("admin", path, map[string]any{"service_config": map[string]any{"id_service_config": id,
		"service_config_config": map[string]any{"Test": "456"}, "id_specific": "Test Spec"}})
	if sp["service_config_config"].(map[string]any)["Test"] != "456" || sp["service_config_specific_id"] != "Test Spec" {
		t.Errorf("specific post %v", sp)
	}
	g := e.list("admin", path+"?id_service=3&id_user=1")
	if len(g) != 1 || g[0]["service_config_config"].(map[string]any)["Test"] != "123" || g[0]["service_config_specific_id"] != nil {
		t.Errorf("global after specific %v", g)
	}
	g = e.list("admin", path+"?id_service=3&id_user=1&id_specific=Test%20Spec&list=true")
	if len(g) != 1 || g[0]["service_config_config"].(map[string]any)["Test"] != "456" || len(g[0]["service_config_specifics"].([]any)) != 1 {
		t.Errorf("specific after post %v", g)
	}
	// Anyone writes its own configuration of a service it sees (service_key names the service).
	own := e.post("user", path, map[string]any{"service_config": map[string]any{"id_service_config": 0, "service_key": "VideoRehabService",
		"id_user": 3, "service_config_config": map[string]any{"volume": 3}}})
	if own["id_user"] != 3.0 || own["id_service"] != 6.0 {
		t.Errorf("own %v", own)
	}
	e.wantIDs("user", path, "id_service_config", int(own["id_service_config"].(float64)))
	// A participant's configuration: project admin only; a service the caller cannot see: 403.
	part := map[string]any{"service_config": map[string]any{"id_service_config": 2, "service_config_config": map[string]any{"default_muted": true}}}
	for _, who := range []string{"user", "user4"} {
		e.expect(403, who, "POST", path, part)
	}
	if u := e.post("user3", path, part); u["service_config_config"].(map[string]any)["default_muted"] != true {
		t.Errorf("user3 update %v", u)
	}
	e.expect(403, "user", "POST", path, map[string]any{"service_config": map[string]any{"id_service_config": 0, "id_service": 5, "id_user": 3}})
	// Delete.
	e.expectEach(400, "admin", "DELETE", path, path+"?id=99999")
	e.expect(403, "user4", "DELETE", path+"?id=2", nil)
	e.expect(403, "user", "DELETE", path+"?id=2", nil)
	e.deleteOK("user3", path+"?id=2")
	if got := e.list("admin", path+"?id_participant=1"); len(got) != 0 {
		t.Errorf("after delete %v", got)
	}
	e.expect(200, "admin", "DELETE", path+"?id="+itoa(id), nil)
	e.expect(400, "admin", "DELETE", path+"?id="+itoa(id), nil)
}

func TestServiceConfigsGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("admin")
	r, err := corev1.NewServiceConfigServiceClient(conn).GetServiceConfigs(ctx, &corev1.GetServiceConfigsRequest{IdParticipant: 1, IdSpecific: "pc-002"})
	if err != nil || len(r.ServiceConfigs) != 1 || r.ServiceConfigs[0].GetServiceConfigSpecificId().GetValue() != "pc-002" ||
		r.ServiceConfigs[0].GetServiceConfigConfig().GetStructValue().GetFields()["view_local"].GetBoolValue() {
		t.Fatalf("%v %v", r, err)
	}
}
