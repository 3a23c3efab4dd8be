package core_test

import (
	"strings"
	"testing"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/seed"
)

func TestAssetsGet(t *testing.T) {
	e := newEnv(t)
	e.lists("/api/user/assets", "id_asset", []listCase{
		{"admin", "service_uuid=" + seed.OpenTeraServerUUID, []int{1, 2, 3, 4, 5, 6, 7}},
		// Assets 4–7 were created by OpenTeraServer, which only superadmins see.
		{"user", "service_uuid=" + seed.OpenTeraServerUUID, []int{1, 2, 3}},
		{"user4", "service_uuid=" + seed.OpenTeraServerUUID, []int{}},
		{"admin", "id_device=1", []int{4, 5, 6, 7}},
		{"siteadmin", "id_device=1", []int{4, 5, 6, 7}},
		{"admin", "id_session=2", []int{1, 2, 3}},
		{"user3", "id_session=2", []int{1, 2, 3}},
		{"admin", "id_participant=1", []int{1, 2, 3, 4, 5, 6, 7}},
		{"user3", "id_participant=1", []int{1, 2, 3, 4, 5, 6, 7}},
		{"admin", "id_user=1", []int{1, 2, 3, 4}},
		{"admin", "id_user=2", []int{1, 2, 3}},
		{"admin", "id_creator_service=1", []int{4, 5, 6, 7}},
		{"admin", "id_creator_user=2", []int{2}},
		{"admin", "id_creator_participant=1", []int{1}},
		{"admin", "id_creator_device=1", []int{4, 5, 6, 7}},
		{"admin", "id_asset=1", []int{1}},
		{"admin", "id_asset=99", []int{}},
		// OpenTeraServer, the fixture assets' owner, is visible to superadmins only.
		{"user3", "id_asset=1", []int{}},
		{"user4", "id_asset=1", []int{}},
		// The first selector in OpenTera's order wins.
		{"admin", "id_asset=1&id_session=3", []int{4}},
	})
	uuid := e.list("admin", "/api/user/assets?id_asset=3")[0]["asset_uuid"].(string)
	e.wantIDs("admin", "/api/user/assets?asset_uuid="+uuid, "id_asset", 3)
	for _, q := range []string{"id_device=1", "id_session=2", "id_participant=1", "id_user=1", "id_creator_service=1",
		"id_creator_user=1", "id_creator_participant=1", "id_creator_device=1"} {
		e.expect(403, "user4", "GET", "/api/user/assets?"+q, nil)
	}
	// user3 (project 1 admin) sees neither site 2's device 3 nor user 6 (user4).
	e.calls("GET", "/api/user/assets", call{"user3", 403, "?id_device=3"}, call{"user3", 403, "?id_user=6"}, call{"admin", 400, ""},
		call{"admin", 400, "?with_urls=true"}, call{"admin", 400, "?id_session=x"})
	e.expect(501, "admin", "POST", "/api/user/assets", map[string]any{"asset": map[string]any{"id_asset": 1}})
	e.expect(501, "admin", "DELETE", "/api/user/assets?id=1", nil)
	e.expect(401, "", "GET", "/api/user/assets?id_session=2", nil)

	minimal := e.list("admin", "/api/user/assets?id_asset=4")[0]
	if len(minimal) != 12 || minimal["id_device"] != 1.0 || minimal["id_user"] != nil || minimal["asset_type"] != "video/mpeg" {
		t.Errorf("minimal: %v", minimal)
	}
	full := e.list("admin", "/api/user/assets?id_asset=4&full=true")[0]
	if full["asset_service_owner_name"] != "OpenTera Server" || full["asset_session_name"] == nil || full["asset_device"] != "Apple Watch #W05P1" ||
		full["asset_service"] != "OpenTera Server" || full["asset_user"] != nil {
		t.Errorf("full: %v", full)
	}
	if u := e.list("admin", "/api/user/assets?id_asset=2&full=true")[0]; u["asset_user"] != "Site Admin" || u["asset_device"] != nil {
		t.Errorf("full with user: %v", u)
	}
}

func TestAssetsURLsAndTokens(t *testing.T) {
	e := newEnv(t)
	v := authn.NewVerifier(e.signer.Keys, nil, nil, authn.VerifierOptions{})
	admin := e.uuid("user", 1)
	urls := e.list("admin", "/api/user/assets?id_session=2&with_urls=true")
	if len(urls) != 3 {
		t.Fatalf("with_urls: %v", urls)
	}
	for _, a := range urls {
		if a["asset_url"] != "https://tera.test/file/api/assets" || a["asset_infos_url"] != "https://tera.test/file/api/assets/infos" {
			t.Errorf("urls: %v", a)
		}
		c, err := v.VerifyAssetToken(a["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Allows(a["asset_uuid"].(string)) || len(c.AssetUUIDs) != 1 || c.RequesterUUID != admin {
			t.Errorf("token claims %+v for %v", c, a["asset_uuid"])
		}
		if st, _ := e.do("token:"+a["access_token"].(string), "GET", "/api/user/assets?id_session=2", nil); st != 401 {
			t.Errorf("an asset token authenticated: %d", st)
		}
	}
	only := e.list("admin", "/api/user/assets?id_session=2&with_urls=true&with_only_token=true")
	for _, a := range only {
		if len(a) != 2 || a["asset_uuid"] == nil || !strings.HasPrefix(a["access_token"].(string), "ey") {
			t.Errorf("with_only_token: %v", a)
		}
	}
	// A disabled owner service has no URLs.
	if _, err := e.db.Exec(t.Context(), "UPDATE core.t_services SET service_enabled = false WHERE id_service = 1"); err != nil {
		t.Fatal(err)
	}
	if a := e.list("admin", "/api/user/assets?id_asset=1&with_urls=true")[0]; a["asset_url"] != nil || a["access_token"] == nil {
		t.Errorf("disabled owner: %v", a)
	}
}
