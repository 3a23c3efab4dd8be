package core_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/tera-health/tera/services/internal/access"
)

var formTypes = []string{"user", "site", "project", "device", "participant", "group", "session_type", "session_type_config&id=2",
	"session", "device_type", "device_subtype", "user_group", "service", "service_config", "service_config&key=VideoRehabService",
	"versions", "test_type", "participant&id_project=1", "group&id_site=1", "session&id_project=1", "session&id=1", "participant&id=4"}

// The lists a form's items select from, by item id, and the access object they must stay within.
var formLists = map[string]access.Object{"id_site": access.Sites, "id_project": access.Projects, "id_participant_group": access.ParticipantGroups,
	"id_service": access.Services, "id_creator_service": access.Services, "id_session_type": access.SessionTypes,
	"id_creator_user": access.Users, "id_creator_device": access.Devices, "id_creator_participant": access.Participants}

// Every form type renders for admin and user3, with OpenTera's structure, and every selectable
// object is one the requester can access.
func TestFormsEveryTypeAndAccess(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for who, id := range map[string]int32{"admin": 1, "user3": 5} {
		scope := access.For(access.UserCaller(id))
		visible := map[access.Object][]int32{}
		for _, o := range formLists {
			ids, err := scope.List(ctx, e.db, o)
			if err != nil {
				t.Fatal(err)
			}
			visible[o] = ids
		}
		// A project's users include its site's role holders (OpenTera's include_site_access).
		wide, err := scope.SiteWide().List(ctx, e.db, access.Users)
		if err != nil {
			t.Fatal(err)
		}
		visible[access.Users] = append(visible[access.Users], wide...)
		for _, typ := range formTypes {
			var f struct {
				Objecttype string `json:"objecttype"`
				Sections   []struct {
					ID    string  `json:"id"`
					Order float64 `json:"_order"`
					Items []struct {
						ID       string  `json:"id"`
						Label    string  `json:"label"`
						Type     string  `json:"type"`
						Order    float64 `json:"_order"`
						Required *bool   `json:"required"`
						Values   []struct {
							ID    any    `json:"id"`
							Value string `json:"value"`
						} `json:"values"`
					} `json:"items"`
				} `json:"sections"`
			}
			body := e.expect(200, who, "GET", "/api/user/forms?type="+typ, nil)
			if err := json.Unmarshal(body, &f); err != nil || f.Objecttype == "" || f.Sections == nil {
				t.Fatalf("%s %s: %v %s", who, typ, err, body)
			}
			for si, s := range f.Sections {
				if s.Order != float64(si+1) || len(s.Items) == 0 {
					t.Errorf("%s %s: section %d %+v", who, typ, si, s)
				}
				for ii, it := range s.Items {
					if it.Order != float64(ii+1) || it.ID == "" || it.Type == "" || (it.Required != nil && !*it.Required) {
						t.Errorf("%s %s: item %+v", who, typ, it)
					}
					o, ok := formLists[it.ID]
					if !ok {
						continue
					}
					for _, v := range it.Values {
						n, isNum := v.ID.(float64)
						if !isNum || !slices.Contains(visible[o], int32(n)) {
							t.Errorf("%s %s: %s offers %v (%s), not in %s %v", who, typ, it.ID, v.ID, v.Value, o, visible[o])
						}
					}
				}
			}
		}
	}
	// What user3 (admin of project 1 only) is offered is narrower than admin's.
	count := func(who, typ, item string) int {
		var f map[string]any
		_ = json.Unmarshal(e.expect(200, who, "GET", "/api/user/forms?type="+typ, nil), &f)
		for _, s := range f["sections"].([]any) {
			for _, i := range s.(map[string]any)["items"].([]any) {
				if m := i.(map[string]any); m["id"] == item {
					v, _ := m["values"].([]any)
					return len(v)
				}
			}
		}
		return -1
	}
	for _, c := range []struct {
		who, typ, item string
		n              int
	}{
		{"admin", "project", "id_site", 2}, {"user3", "project", "id_site", 1},
		{"admin", "group", "id_project", 3}, {"user3", "group", "id_project", 1},
		{"admin", "participant", "id_participant_group", 2}, {"user3", "participant", "id_participant_group", 1},
		{"admin", "session", "id_creator_participant", 4}, {"user3", "session", "id_creator_participant", 3},
		{"admin", "session&id_project=1", "id_creator_participant", 3},
		{"admin", "test_type", "id_service", 7}, {"user3", "test_type", "id_service", 2},
		{"admin", "device", "id_device_type", 4}, {"user3", "device_subtype", "id_device_type", 4},
		{"admin", "session", "session_status", 5}, {"user", "session_type", "session_type_category", 4},
	} {
		if got := count(c.who, c.typ, c.item); got != c.n {
			t.Errorf("%s %s: %s has %d values, want %d", c.who, c.typ, c.item, got, c.n)
		}
	}
	var u map[string]any
	_ = json.Unmarshal(e.expect(200, "user", "GET", "/api/user/forms?type=user", nil), &u)
	first := u["sections"].([]any)[0].(map[string]any)["items"].([]any)[0].(map[string]any)
	if u["objecttype"] != "user" || first["id"] != "id_user" || first["type"] != "hidden" || first["required"] != true || first["_order"] != 1.0 {
		t.Errorf("user form: %v", first)
	}
	e.calls("GET", "/api/user/forms", call{"admin", 400, ""}, call{"admin", 400, "?type=nope"}, call{"admin", 400, "?type=session_type_config"},
		call{"admin", 400, "?type=service_config&key=nope"}, call{"", 401, "?type=user"})
}
