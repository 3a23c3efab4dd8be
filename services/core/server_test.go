package core_test

import (
	"encoding/json"
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func (e *env) setting(name string) string {
	e.t.Helper()
	return scalar[string](e, "SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = $1", name)
}

// object GETs path expecting 200 and a JSON object.
func (e *env) object(who, path string) map[string]any {
	e.t.Helper()
	return object(e.t, e.expect(200, who, "GET", path, nil))
}

func TestServerSettings(t *testing.T) {
	e := newEnv(t)
	uuid, key := e.setting("ServerUUID"), e.setting("DeviceRegisterKey")
	// Any user, even one without any role, may read them.
	for _, who := range []string{"admin", "siteadmin", "user", "user2", "user3", "user4", "user4/token"} {
		got := e.object(who, "/api/user/server/settings?uuid=true&device_register_key=true")
		if got["server_uuid"] != uuid || got["device_register_key"] != key || len(got) != 2 {
			t.Errorf("%s: %v", who, got)
		}
	}
	if got := e.object("user", "/api/user/server/settings?uuid=1"); got["server_uuid"] != uuid || len(got) != 1 {
		t.Errorf("uuid only: %v", got)
	}
	if got := e.object("user", "/api/user/server/settings?device_register_key=true&uuid=false"); got["device_register_key"] != key || len(got) != 1 {
		t.Errorf("key only: %v", got)
	}
	if b := e.expect(200, "user", "GET", "/api/user/server/settings", nil); string(b) != "{}" && string(b) != "{}\n" {
		t.Errorf("no flag: %s", b)
	}
	e.calls("GET", "/api/user/server/settings", call{"user", 400, "?uuid=maybe"}, call{"", 401, "?uuid=true"}, call{"nobody", 401, "?uuid=true"})
	e.expect(405, "admin", "POST", "/api/user/server/settings", `{}`)
}

func TestVersionsGet(t *testing.T) {
	e := newEnv(t)
	for _, who := range []string{"admin", "user4", "user/token"} {
		got := e.object(who, "/api/user/versions")
		if got["version_string"] != "1.3.0" || got["version_major"] != float64(1) || got["version_minor"] != float64(3) || got["version_patch"] != float64(0) {
			t.Errorf("%s: %v", who, got)
		}
		c, _ := got["clients"].(map[string]any)["OpenTeraPlus"].(map[string]any)
		if c["client_name"] != "OpenTeraPlus" || c["client_version"] != "1.0.0" || c["client_description"] != "OpenTeraPlus" {
			t.Errorf("%s: clients %v", who, got["clients"])
		}
		// Every client carries the download URLs, null when unset (OpenTera's ClientVersions.to_dict).
		for _, k := range []string{"client_windows_download_url", "client_mac_download_url", "client_linux_download_url"} {
			if v, has := c[k]; !has || v != nil {
				t.Errorf("%s: %s = %v (present %v), want null", who, k, v, has)
			}
		}
	}
	e.expect(401, "", "GET", "/api/user/versions", nil)
}

func TestVersionsPost(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"ClientVersions": map[string]any{"client_name": "OpenTeraPlus", "client_description": "Qt client",
		"client_version": "1.2.0", "client_windows_download_url": "https://example.org/otp.exe"}}
	for _, who := range []string{"siteadmin", "user", "user4"} {
		e.expect(403, who, "POST", "/api/user/versions", body)
	}
	e.expect(401, "", "POST", "/api/user/versions", body)
	updates := e.events("server_settings", 2)
	b := e.expect(200, "admin", "POST", "/api/user/versions", body)
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	c := got["clients"].(map[string]any)["OpenTeraPlus"].(map[string]any)
	if c["client_version"] != "1.2.0" || c["client_windows_download_url"] != "https://example.org/otp.exe" || got["version_string"] != "1.3.0" {
		t.Errorf("post answer %s", b)
	}
	updates(1)
	// Stored: GET and the login gate's setting see it.
	if c := e.object("user", "/api/user/versions")["clients"].(map[string]any)["OpenTeraPlus"].(map[string]any); c["client_version"] != "1.2.0" {
		t.Errorf("after post: %v", c)
	}
	var stored map[string]any
	if json.Unmarshal([]byte(e.setting("ServerVersions")), &stored) != nil {
		t.Fatal("stored setting is not JSON")
	}
	// A second client is added next to the first.
	e.expect(200, "admin/token", "POST", "/api/user/versions", map[string]any{"ClientVersions": map[string]any{"client_name": "Other", "client_version": "0.1.0"}})
	cl := e.object("admin", "/api/user/versions")["clients"].(map[string]any)
	if len(cl) != 2 || cl["Other"].(map[string]any)["client_version"] != "0.1.0" {
		t.Errorf("clients %v", cl)
	}
	// No ClientVersions: unchanged, current answer.
	if b := e.expect(200, "admin", "POST", "/api/user/versions", `{}`); !json.Valid(b) {
		t.Errorf("empty post: %s", b)
	}
	e.expectPosts(400, "admin", "/api/user/versions",
		`{"ClientVersions": {"client_version": "1.0.0"}}`,
		`{"ClientVersions": {"client_name": 3}}`,
		`{"ClientVersions": `,
		`[]`,
	)
}

func TestServerGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user4")
	c := corev1.NewServerServiceClient(conn)
	r, err := c.GetServerSettings(ctx, &corev1.GetServerSettingsRequest{Uuid: true})
	if err != nil || r.GetSettings().GetServerUuid() != e.setting("ServerUUID") || r.GetSettings().DeviceRegisterKey != nil {
		t.Fatalf("%v %v", r, err)
	}
	v, err := c.GetVersions(ctx, &corev1.GetVersionsRequest{})
	if err != nil || v.GetVersions().GetVersionString() != "1.3.0" {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := c.PostVersions(ctx, &corev1.PostVersionsRequest{}); err == nil {
		t.Fatal("user4 posted versions over gRPC")
	}
}
