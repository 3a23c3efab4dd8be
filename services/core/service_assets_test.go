package core_test

import (
	"testing"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/seed"
)

// hiddenSession is a session VideoRehabService does not see (another type, no participant, no
// service creator) holding one asset; it returns the session id, the asset's uuid and its id
// (as text, for a query).
func (e *env) hiddenSession() (int, string, string) {
	e.t.Helper()
	id := scalar[int](e, `INSERT INTO core.t_sessions (session_uuid, id_session_type, session_name, id_creator_user)
		VALUES (gen_random_uuid()::text, 2, 'hidden', 6) RETURNING id_session`)
	var uuid, asset string
	if err := e.db.QueryRow(e.t.Context(), `INSERT INTO core.t_assets (id_session, asset_name, asset_uuid, asset_service_uuid, asset_type)
		VALUES ($1, 'hidden', gen_random_uuid()::text, $2, 'text/plain') RETURNING asset_uuid, id_asset::text`, id, seed.OpenTeraServerUUID).Scan(&uuid, &asset); err != nil {
		e.t.Fatal(err)
	}
	return id, uuid, asset
}

func TestServiceAPIAssetsGet(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	const refused = "/api/service/assets?id_session=2&uuid=x"
	body := map[string]any{"asset": map[string]any{"id_asset": 0}}
	e.otherKindsRefused(request{"GET", refused, body}, request{"POST", refused, body}, request{"DELETE", refused, body})
	hidden, _, hiddenAsset := e.hiddenSession()
	cases := []struct {
		q    string
		want []int
	}{
		{"id_session=2", []int{1, 2, 3}},
		{"id_device=1", []int{4, 5, 6, 7}},
		{"id_device=2", []int{}},
		{"id_participant=1", []int{1, 2, 3, 4, 5, 6, 7}},
		{"id_user=2", []int{1, 2, 3}},
		{"id_creator_user=2", []int{2}},
		{"id_creator_participant=1", []int{1}},
		{"id_creator_device=1", []int{4, 5, 6, 7}},
		// A service's scope holds itself only.
		{"id_creator_service=1", []int{}},
		// By id whatever its owner (the user API wants the owner visible too).
		{"id_asset=1", []int{1}},
		{"id_asset=4", []int{4}},
		{"id_asset=99", []int{}},
		{"service_uuid=" + seed.OpenTeraServerUUID, []int{1, 2, 3}},
		{"id_asset=1&id_session=3", []int{4}},
	}
	for _, c := range cases {
		if got := ids(e.list(vr, "/api/service/assets?"+c.q), "id_asset"); !eqInts(got, c.want) {
			t.Errorf("?%s: %v, want %v", c.q, got, c.want)
		}
	}
	// The hidden session's asset is in no list.
	if got := e.list(vr, "/api/service/assets?id_asset="+hiddenAsset); len(got) != 0 {
		t.Errorf("asset of a hidden session: %v", got)
	}
	for _, q := range []string{"id_device=3", "id_session=" + itoa(hidden), "id_session=100", "id_participant=4", "id_user=6",
		"id_creator_user=6", "id_creator_participant=4", "id_creator_device=3"} {
		e.expect(403, vr, "GET", "/api/service/assets?"+q, nil)
	}
	e.expectEach(400, vr, "GET", "/api/service/assets", "/api/service/assets?id_invalid=1", "/api/service/assets?with_urls=true",
		"/api/service/assets?id_session=x")

	// Always OpenTera's full JSON.
	if a := e.list(vr, "/api/service/assets?id_asset=4")[0]; a["asset_service_owner_name"] != "OpenTera Server" || a["asset_device"] != "Apple Watch #W05P1" {
		t.Errorf("full JSON: %v", a)
	}
	v := authn.NewVerifier(e.signer.Keys, nil, nil, authn.VerifierOptions{})
	vrUUID := e.uuid("service", 6)
	for _, a := range e.list(vr, "/api/service/assets?id_session=2&with_urls=true") {
		if a["asset_url"] != "https://tera.test/file/api/assets" || a["asset_infos_url"] != "https://tera.test/file/api/assets/infos" || a["asset_name"] == nil {
			t.Errorf("with_urls: %v", a)
		}
		c, err := v.VerifyAssetToken(a["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if !c.Allows(a["asset_uuid"].(string)) || c.RequesterUUID != vrUUID {
			t.Errorf("token claims %+v", c)
		}
	}
	only := e.list(vr, "/api/service/assets?id_session=2&with_urls=true&with_only_token=true")
	if len(only) != 3 {
		t.Fatalf("with_only_token: %v", only)
	}
	for _, a := range only {
		if len(a) != 2 || a["asset_uuid"] == nil || a["access_token"] == nil {
			t.Errorf("with_only_token: %v", a)
		}
	}
}

func TestServiceAPIAssetsWrite(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	vrUUID := e.uuid("service", 6)
	// OpenTera's test_post_endpoint_with_update_and_delete.
	asset := map[string]any{"asset_name": "Test Asset", "asset_datetime": "2026-12-03 10:11:12.123456"}
	body := map[string]any{"asset": asset}
	e.expect(400, vr, "POST", "/api/service/assets", body) // no id_asset
	asset["id_asset"] = 0
	e.expect(400, vr, "POST", "/api/service/assets", body) // no id_session
	asset["id_session"] = 2
	e.expect(400, vr, "POST", "/api/service/assets", body) // no asset_type
	asset["asset_type"] = "application/octet-stream"
	created := e.postList(vr, "/api/service/assets", body)
	if len(created) != 1 || created[0]["asset_service_uuid"] != vrUUID || created[0]["asset_name"] != "Test Asset" ||
		created[0]["asset_datetime"] != "2026-12-03T10:11:12.123456+00:00" || created[0]["id_session"] != 2.0 {
		t.Fatalf("created: %v", created)
	}
	id, uuid := int(created[0]["id_asset"].(float64)), created[0]["asset_uuid"].(string)
	upd := e.postList(vr, "/api/service/assets", map[string]any{"asset": map[string]any{"id_asset": id, "asset_service_uuid": "0000000000000",
		"asset_name": "Test Asset 2", "participant_uuid": e.uuid("participant", 1)}})
	if upd[0]["asset_name"] != "Test Asset 2" || upd[0]["asset_service_uuid"] != vrUUID || upd[0]["id_participant"] != 1.0 ||
		upd[0]["asset_participant"] == nil {
		t.Errorf("updated: %v", upd)
	}

	hidden, hiddenUUID, hiddenAsset := e.hiddenSession()
	e.posts(vr, "/api/service/assets", []postCase{
		{400, map[string]any{}},
		{400, map[string]any{"asset": "x"}},
		{400, map[string]any{"asset": map[string]any{"id_asset": "x"}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": -1}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": 0, "id_session": 0, "asset_name": "a", "asset_type": "t"}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": 0, "id_session": 2, "asset_name": " ", "asset_type": "t"}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": 0, "id_session": 2, "asset_type": "t"}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": id, "asset_type": ""}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": id, "asset_datetime": "yesterday"}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": id, "user_uuid": "nope"}}},
		{400, map[string]any{"asset": map[string]any{"id_asset": 999}}},
		// A session, a creator or an asset outside the service's.
		{403, map[string]any{"asset": map[string]any{"id_asset": 0, "id_session": hidden, "asset_name": "a", "asset_type": "t"}}},
		{403, map[string]any{"asset": map[string]any{"id_asset": 0, "id_session": 2, "asset_name": "a", "asset_type": "t", "id_user": 6}}},
		{403, map[string]any{"asset": map[string]any{"id_asset": id, "id_session": hidden}}},
		{403, map[string]any{"asset": map[string]any{"id_asset": hiddenAsset, "asset_name": "stolen"}}},
		{403, map[string]any{"asset": map[string]any{"id_asset": id, "id_device": 3}}},
	})

	e.calls("DELETE", "/api/service/assets", call{vr, 400, ""}, call{vr, 403, "?uuid=" + hiddenUUID}, call{vr, 200, "?uuid=" + uuid},
		call{vr, 400, "?uuid=" + uuid})
	if got := e.list(vr, "/api/service/assets?id_asset="+itoa(id)); len(got) != 0 {
		t.Errorf("deleted asset listed: %v", got)
	}
}

func TestServiceAPIDeviceAssetsAndBaseURL(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	d := e.object(vr, "/api/service/devices?id_device=1&with_device_assets=true")
	l, _ := d["device_assets"].([]any)
	if len(l) != 4 || l[0].(map[string]any)["asset_service_owner_name"] != nil || l[0].(map[string]any)["id_device"] != 1.0 {
		t.Errorf("device_assets: %v", d["device_assets"])
	}
	if d := e.object(vr, "/api/service/devices?id_device=1"); d["device_assets"] != nil {
		t.Errorf("device_assets unasked: %v", d)
	}
	svcs := e.list(vr, "/api/service/services?service_key=FileTransferService&with_base_url=true")
	if len(svcs) != 1 || svcs[0]["service_base_url"] != "https://tera.test/file" {
		t.Errorf("with_base_url: %v", svcs)
	}
	if s := e.list(vr, "/api/service/services?service_key=FileTransferService"); s[0]["service_base_url"] != nil {
		t.Errorf("service_base_url unasked: %v", s)
	}
}
