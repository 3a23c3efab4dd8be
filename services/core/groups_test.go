package core_test

import (
	"testing"
)

func TestGroupsGet(t *testing.T) {
	e := newEnv(t)
	want := map[string][]int{"admin": {1, 2}, "siteadmin": {1, 2}, "user": {1, 2}, "user2": {1, 2}, "user3": {1}, "user4": {}}
	for who, w := range want {
		if got := e.list(who, "/api/user/groups"); !eqInts(ids(got, "id_participant_group"), w) {
			t.Errorf("%s sees %v, want %v", who, ids(got, "id_participant_group"), w)
		}
	}
	g := e.list("user", "/api/user/groups?id_group=2")
	if len(g) != 1 || g[0]["participant_group_name"] != "Default Participant Group B" || g[0]["id_project"] != float64(2) ||
		g[0]["project_name"] != "Default Project #2" || len(g[0]) != 4 {
		t.Errorf("group 2: %v", g)
	}
	e.lists("/api/user/groups", "id_participant_group", []listCase{
		{"admin", "id=1", []int{1}},
		{"user3", "id_group=2", []int{}},
		{"admin", "id_project=2", []int{2}},
		{"admin", "id_project=3", []int{}},
		{"admin", "id_group=1&id_project=2", []int{1}}, // id_group wins
		{"admin", "list=true", []int{1, 2}},
	})
	e.expect(401, "", "GET", "/api/user/groups", nil)
	e.expect(400, "admin", "GET", "/api/user/groups?id_group=1.5", nil)
}

func TestGroupsWrite(t *testing.T) {
	e := newEnv(t)
	e.expectPosts(400, "admin", "/api/user/groups",
		`{"participant_group": {"id_project": 1}}`,
		`{"participant_group": {"id_participant_group": 0, "participant_group_name": "G"}}`,
		`{"participant_group": {"id_participant_group": 0, "id_project": 1}}`,
		`{}`,
		`{"group": {"id_participant_group": true}}`,
	)
	e.expect(400, "admin", "DELETE", "/api/user/groups", nil)

	// Create: project admin.
	e.expect(403, "user", "POST", "/api/user/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 1, "participant_group_name": "G"}})
	e.expect(403, "user3", "POST", "/api/user/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 2, "participant_group_name": "G"}})
	creates := e.events("participant_group", 1)
	g := e.post("user3", "/api/user/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 1, "participant_group_name": "G"}})
	id := int(g["id_participant_group"].(float64))
	if g["participant_group_name"] != "G" || g["project_name"] != "Default Project #1" {
		t.Errorf("created %v", g)
	}
	// The other wrapper name.
	e.post("admin", "/api/user/groups", map[string]any{"group": map[string]any{"id_participant_group": 0, "id_project": 3, "participant_group_name": "G3"}})
	creates(2)

	// Update: project admin of the group (and of the destination project when moving).
	e.expect(403, "user", "POST", "/api/user/groups", map[string]any{"group": map[string]any{"id_participant_group": 1, "participant_group_name": "x"}})
	e.expect(403, "user3", "POST", "/api/user/groups", map[string]any{"group": map[string]any{"id_participant_group": 1, "id_project": 2}})
	u := e.post("user3", "/api/user/groups", map[string]any{"group": map[string]any{"id_participant_group": 1, "participant_group_name": "Renamed", "project_name": "ignored"}})
	if u["participant_group_name"] != "Renamed" || u["id_project"] != float64(1) {
		t.Errorf("updated %v", u)
	}
	// Moving a group moves its participants.
	e.post("siteadmin", "/api/user/groups", map[string]any{"group": map[string]any{"id_participant_group": 1, "id_project": 2}})
	project := scalar[int](e, "SELECT id_project FROM core.t_participants WHERE id_participant = 1")
	if project != 2 {
		t.Errorf("participant 1 in project %d after its group moved to 2", project)
	}

	// Delete: project admin; refused while its participants have sessions.
	deletes := e.events("participant_group", 3)
	e.calls("DELETE", "/api/user/groups", call{"user", 403, "?id=" + itoa(id)}, call{"admin", 403, "?id=999"}, call{"admin", 500, "?id=1"})
	e.deleteOK("user3", "/api/user/groups?id="+itoa(id))
	deletes(1)
}

// The list form of a group carries group_participant_count instead of project_name (OpenTera).
func TestGroupsListForm(t *testing.T) {
	e := newEnv(t)
	got := e.list("admin", "/api/user/groups?list=true&id_project=1")
	if len(got) == 0 {
		t.Fatal("no groups")
	}
	for _, g := range got {
		n := scalar[int](e, `SELECT count(*) FROM core.t_participants
			WHERE id_participant_group = $1 AND deleted_at IS NULL`, int(g["id_participant_group"].(float64)))
		if _, has := g["project_name"]; has || g["group_participant_count"] != float64(n) {
			t.Errorf("list form %v, want group_participant_count %d and no project_name", g, n)
		}
	}
	if g := e.list("admin", "/api/user/groups?id_group=1")[0]; g["project_name"] == nil || g["group_participant_count"] != nil {
		t.Errorf("full form %v", g)
	}
}
