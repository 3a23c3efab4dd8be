package core_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func TestSitesGetAccessPerUser(t *testing.T) {
	e := newEnv(t)
	want := map[string][]int{"admin": {1, 2}, "siteadmin": {1}, "user": {1}, "user2": {1}, "user3": {1}, "user4": {}}
	roles := map[string]string{"admin": "admin", "siteadmin": "admin", "user": "user", "user2": "admin", "user3": "user"}
	for who, w := range want {
		got := e.list(who, "/api/user/sites")
		if !eqInts(ids(got, "id_site"), w) {
			t.Errorf("%s sees sites %v, want %v", who, ids(got, "id_site"), w)
		}
		for _, s := range got {
			if s["id_site"].(float64) == 1 && s["site_role"] != roles[who] {
				t.Errorf("%s: site_role %v, want %s", who, s["site_role"], roles[who])
			}
		}
	}
	// Same answers with a token.
	e.wantIDs("user/token", "/api/user/sites", "id_site", 1)
	// Exact JSON of one site.
	body := e.expect(200, "admin", "GET", "/api/user/sites?id_site=2", nil)
	var got []map[string]any
	_ = json.Unmarshal(body, &got)
	if len(got) != 1 || got[0]["site_name"] != "Top Secret Site" || got[0]["site_2fa_required"] != false || got[0]["site_role"] != "admin" || len(got[0]) != 4 {
		t.Errorf("site 2: %s", body)
	}
}

func TestSitesSelectors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		who, q string
		want   []int
	}{
		{"admin", "id_site=1", []int{1}},
		{"admin", "id=2", []int{2}},
		{"user", "id_site=2", []int{}},   // not accessible: silently omitted
		{"admin", "id_site=99", []int{}}, // unknown
		{"admin", "id_device=1", []int{1, 2}},
		{"user", "id_device=1", []int{1}},
		{"admin", "id_device=3", []int{}},
		{"admin", "name=Top%20Secret%20Site", []int{2}},
		{"user", "name=Top%20Secret%20Site", []int{}},
		{"admin", "name=nope", []int{}},
		// user_uuid wins over id_site.
		{"admin", "user_uuid=UUID_user&id_site=2", []int{1}},
		{"admin", "user_uuid=UUID_user4", []int{}},
		{"admin", "user_uuid=UUID_admin", []int{1, 2}},
		{"user", "user_uuid=UUID_admin", []int{1}}, // intersected with the caller's
		{"admin", "user_uuid=unknown", []int{}},
	}
	uuids := map[string]string{}
	for _, u := range []string{"admin", "user", "user4"} {
		id := scalar[string](e, "SELECT user_uuid FROM core.t_users WHERE user_username = $1", u)
		uuids["UUID_"+u] = id
	}
	for _, c := range cases {
		q := c.q
		for k, v := range uuids {
			q = strings.ReplaceAll(q, k, v)
		}
		got := e.list(c.who, "/api/user/sites?"+q)
		if !eqInts(ids(got, "id_site"), c.want) {
			t.Errorf("%s ?%s: %v, want %v", c.who, c.q, ids(got, "id_site"), c.want)
		}
	}
	got := e.list("admin", "/api/user/sites?id_device=1")
	if got[0]["id_device"] != float64(1) {
		t.Errorf("id_device not echoed: %v", got[0])
	}
}

func TestSitesErrors(t *testing.T) {
	e := newEnv(t)
	e.expect(401, "", "GET", "/api/user/sites", nil)
	if b := e.expect(401, "nobody", "GET", "/api/user/sites", nil); string(b) != "Unauthorized" {
		t.Errorf("401 body %q", b)
	}
	e.expect(400, "admin", "GET", "/api/user/sites?id_site=abc", nil)
	e.expectPosts(400, "admin", "/api/user/sites",
		`{"site": {"site_name": "x"}}`,
		`{"sites": {"id_site": 0}}`,
		`{"site": {"id_site": 0, "site_name": 12}}`,
		`{"site": {"id_site": "x"}}`,
		`{"site": `,
		`[]`,
	)
	e.expect(400, "admin", "POST", "/api/user/sites", `{"site": {"id_site": 0}}`) // no name
	e.expect(400, "admin", "DELETE", "/api/user/sites", nil)
	e.expect(400, "admin", "DELETE", "/api/user/sites?id=x", nil)
}

func TestSitesCreateUpdateDelete(t *testing.T) {
	e := newEnv(t)
	// Only superadmins create.
	for _, who := range []string{"siteadmin", "user", "user4"} {
		e.expect(403, who, "POST", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 0, "site_name": "New"}})
	}
	created := e.events("site", 1)
	s := e.post("admin", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 0, "site_name": "New Site"}})
	id := int(s["id_site"].(float64))
	if s["site_name"] != "New Site" || s["site_2fa_required"] != false || id <= 2 {
		t.Fatalf("created %v", s)
	}
	if _, has := s["site_role"]; has {
		t.Errorf("POST answer carries site_role: %v", s)
	}
	created(1)
	// The new site has its OpenTeraServer roles; admin sees it, siteadmin does not.
	e.wantIDs("siteadmin", "/api/user/sites", "id_site", 1)
	roles := scalar[int](e, "SELECT count(*) FROM core.t_services_roles WHERE id_site = $1", id)
	if roles != 2 {
		t.Errorf("new site has %d roles, want 2", roles)
	}

	// Update: site admin (siteadmin on site 1), not user; absent keys unchanged.
	e.expect(403, "user", "POST", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 1, "site_name": "x"}})
	e.expect(403, "siteadmin", "POST", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 2, "site_name": "x"}})
	e.expect(403, "admin", "POST", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 999, "site_name": "x"}})
	updates := e.outboxCount("site", 2)
	u := e.post("siteadmin", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 1, "site_name": "Renamed"}})
	if u["site_name"] != "Renamed" || u["site_2fa_required"] != false {
		t.Errorf("updated %v", u)
	}
	if e.outboxCount("site", 2) <= updates {
		t.Error("no DatabaseEvent for the update")
	}
	// Unknown keys (what a client posts back from a GET) are ignored.
	e.post("siteadmin", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 1, "site_role": "admin", "whatever": []int{1}}})

	// Delete: superadmin only; refused with 500 and a message while participants have sessions.
	e.expect(403, "siteadmin", "DELETE", "/api/user/sites?id=1", nil)
	body := e.expect(500, "admin", "DELETE", "/api/user/sites?id=1", nil)
	var msg string
	if json.Unmarshal(body, &msg) != nil || msg == "" {
		t.Errorf("integrity refusal body %s", body)
	}
	deletes := e.events("site", 3)
	e.deleteOK("admin", "/api/user/sites?id="+itoa(id))
	deletes(1)
	e.wantIDs("admin", "/api/user/sites", "id_site", 1, 2)
}

func TestSitesGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user")
	c := corev1.NewSiteServiceClient(conn)
	r, err := c.GetSites(ctx, &corev1.GetSitesRequest{})
	if err != nil || len(r.Sites) != 1 || r.Sites[0].IdSite != 1 || r.Sites[0].GetSiteRole() != "user" {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := c.DeleteSite(ctx, &corev1.DeleteSiteRequest{Id: new(int32(1))}); err == nil {
		t.Fatal("user deleted a site over gRPC")
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
