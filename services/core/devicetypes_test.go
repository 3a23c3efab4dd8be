package core_test

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func TestDeviceTypesGet(t *testing.T) {
	e := newEnv(t)
	for _, who := range []string{"admin", "siteadmin", "user", "user3", "user4"} {
		e.wantIDs(who, "/api/user/devicetypes", "id_device_type", 1, 2, 3, 4)
	}
	dt := e.list("user4", "/api/user/devicetypes?id_device_type=2")
	if len(dt) != 1 || dt[0]["device_type_key"] != "capteur" || dt[0]["device_type_name"] != "Capteur" || len(dt[0]) != 3 {
		t.Errorf("type 2: %v", dt)
	}
	e.wantIDs("user", "/api/user/devicetypes?device_type_key=robot&list=true", "id_device_type", 3)
	// id wins over key.
	e.wantIDs("user", "/api/user/devicetypes?id_device_type=1&device_type_key=robot", "id_device_type", 1)
	e.calls("GET", "/api/user/devicetypes", call{"admin", 403, "?id_device_type=99"}, call{"admin", 403, "?device_type_key=nope"},
		call{"admin", 400, "?id_device_type=abc"}, call{"", 401, ""})
}

func TestDeviceTypesWrite(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"device_type": map[string]any{"id_device_type": 0, "device_type_name": "Tapis", "device_type_key": "tapis"}}
	for _, who := range []string{"siteadmin", "user", "user3", "user4"} {
		e.expect(403, who, "POST", "/api/user/devicetypes", body)
		e.expect(403, who, "DELETE", "/api/user/devicetypes?id=1", nil)
	}
	e.expectPosts(400, "admin", "/api/user/devicetypes",
		`{}`,
		`{"device_type": {"device_type_name": "x"}}`,
		`{"device_type": {"id_device_type": 0, "device_type_name": "x"}}`,
		`{"device_type": {"id_device_type": 0, "device_type_name": " ", "device_type_key": "k"}}`,
		`{"device_type": {"id_device_type": "one"}}`,
		`{"device_type": {"id_device_type": 99, "device_type_name": "x"}}`,
	)
	created := e.post("admin", "/api/user/devicetypes", body)
	id := int(created["id_device_type"].(float64))
	if created["device_type_key"] != "tapis" || id < 5 {
		t.Errorf("created %v", created)
	}
	// Duplicate key: OpenTera's database error, 500 with a message, nothing written.
	e.expect(500, "admin", "POST", "/api/user/devicetypes", body)
	u := e.post("admin", "/api/user/devicetypes", map[string]any{"device_type": map[string]any{"id_device_type": id, "device_type_name": "Tapis roulant"}})
	if u["device_type_name"] != "Tapis roulant" || u["device_type_key"] != "tapis" {
		t.Errorf("updated %v", u)
	}

	e.expectEach(400, "admin", "DELETE", "/api/user/devicetypes", "/api/user/devicetypes?id=1&device_type_key=capteur", "/api/user/devicetypes?id=99",
		"/api/user/devicetypes?device_type_key=nope")
	// Types with devices (1, 2, 3) or subtypes with devices stay.
	e.expect(500, "admin", "DELETE", "/api/user/devicetypes?device_type_key=capteur", nil)
	var msg string
	_ = json.Unmarshal(e.expect(200, "admin", "DELETE", "/api/user/devicetypes?device_type_key=tapis", nil), &msg)
	if msg != "Device type successfully deleted" {
		t.Errorf("delete answered %q", msg)
	}
	e.wantIDs("admin", "/api/user/devicetypes", "id_device_type", 1, 2, 3, 4)
}

func TestDeviceSubTypes(t *testing.T) {
	e := newEnv(t)
	for _, who := range []string{"admin", "user", "user4"} {
		e.wantIDs(who, "/api/user/devicesubtypes", "id_device_subtype", 1, 2)
	}
	st := e.list("user3", "/api/user/devicesubtypes?id_device_subtype=2&list=true")
	if len(st) != 1 || st[0]["device_subtype_name"] != "Bureau modèle #2" || st[0]["device_subtype_parent"] != "Bureau Actif" ||
		st[0]["id_device_type"] != float64(4) || len(st[0]) != 4 {
		t.Errorf("subtype 2: %v", st)
	}
	e.wantIDs("user", "/api/user/devicesubtypes?id_device_type=4", "id_device_subtype", 1, 2)
	if got := e.list("user", "/api/user/devicesubtypes?id_device_type=1"); len(got) != 0 {
		t.Errorf("of type 1: %v", got)
	}
	e.calls("GET", "/api/user/devicesubtypes", call{"user", 400, "?id_device_type=4&id_device_subtype=1"}, call{"user", 403, "?id_device_type=99"},
		call{"user", 403, "?id_device_subtype=99"})

	body := map[string]any{"device_subtype": map[string]any{"id_device_subtype": 0, "id_device_type": 2, "device_subtype_name": "Montre"}}
	e.expect(403, "siteadmin", "POST", "/api/user/devicesubtypes", body)
	e.expectPosts(400, "admin", "/api/user/devicesubtypes",
		`{"device_type": {}}`,
		`{"device_subtype": {"id_device_type": 2}}`,
		`{"device_subtype": {"id_device_subtype": 0, "id_device_type": 2}}`,
		`{"device_subtype": {"id_device_subtype": 0, "id_device_type": 99, "device_subtype_name": "x"}}`,
		`{"device_subtype": {"id_device_subtype": 99, "device_subtype_name": "x"}}`,
	)
	c := e.post("admin", "/api/user/devicesubtypes", body)
	id := int(c["id_device_subtype"].(float64))
	if c["device_subtype_parent"] != "Capteur" || c["device_subtype_name"] != "Montre" {
		t.Errorf("created %v", c)
	}
	// The type of a subtype never changes.
	u := e.post("admin", "/api/user/devicesubtypes", map[string]any{"device_subtype": map[string]any{"id_device_subtype": id, "id_device_type": 3, "device_subtype_name": "Montre 2"}})
	if u["device_subtype_name"] != "Montre 2" || u["id_device_type"] != float64(2) {
		t.Errorf("updated %v", u)
	}

	// A subtype in use cannot be deleted.
	if _, err := e.db.Exec(context.Background(), "UPDATE core.t_devices SET id_device_subtype = $1 WHERE id_device = 1", id); err != nil {
		t.Fatal(err)
	}
	e.calls("DELETE", "/api/user/devicesubtypes", call{"user", 403, "?id=1"}, call{"admin", 400, ""}, call{"admin", 400, "?id=99"},
		call{"admin", 500, "?id=" + itoa(id)}, call{"admin", 200, "?id=1"})
	e.wantIDs("admin", "/api/user/devicesubtypes", "id_device_subtype", 2, id)
}

func TestDeviceTypesGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user")
	c := corev1.NewDeviceTypeServiceClient(conn)
	r, err := c.GetDeviceTypes(ctx, &corev1.GetDeviceTypesRequest{DeviceTypeKey: "videoconference"})
	if err != nil || len(r.DeviceTypes) != 1 || r.DeviceTypes[0].IdDeviceType != 1 {
		t.Fatalf("GetDeviceTypes: %v %v", r, err)
	}
	if _, err := c.DeleteDeviceType(ctx, &corev1.DeleteDeviceTypeRequest{Id: new(int32(4))}); err == nil {
		t.Error("a user deleted a device type over gRPC")
	}
}
