package core_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/seed"
)

func TestTestsAPI(t *testing.T) {
	e := newEnv(t)
	e.lists("/api/user/tests", "id_test", []listCase{
		{"admin", "id_session=2", []int{1, 3, 2}},
		{"user3", "id_session=2", []int{1, 3, 2}},
		{"admin", "id_session=3", []int{4}},
		{"admin", "id_participant=1", []int{1, 4}},
		{"admin", "id_user=2", []int{2}},
		{"admin", "id_device=1", []int{3}},
		{"siteadmin", "id_device=1", []int{3}},
		{"admin", "id_test=4", []int{4}},
		{"user", "id_test=4", []int{4}},
		{"user4", "id_test=1", []int{}},
		{"admin", "id_test=99", []int{}},
		{"admin", "id_test=4&id_session=2", []int{1, 3, 2}},
	})
	uuid := e.list("admin", "/api/user/tests?id_test=2")[0]["test_uuid"].(string)
	e.wantIDs("admin", "/api/user/tests?test_uuid="+uuid, "id_test", 2)
	for _, q := range []string{"id_device=1", "id_session=2", "id_participant=1", "id_user=1"} {
		e.expect(403, "user4", "GET", "/api/user/tests?"+q, nil)
	}
	e.calls("GET", "/api/user/tests", call{"user3", 403, "?id_user=6"}, call{"admin", 400, ""}, call{"admin", 400, "?full=true"})
	e.expect(501, "admin", "POST", "/api/user/tests", map[string]any{"test": map[string]any{"id_test": 0}})

	min := e.list("admin", "/api/user/tests?id_test=1")[0]
	if len(min) != 12 || min["id_participant"] != 1.0 || min["id_user"] != nil || min["test_status"] != 0.0 || min["test_summary"] != nil {
		t.Errorf("minimal: %v", min)
	}
	full := e.list("admin", "/api/user/tests?id_test=1&full=true")[0]
	if full["test_test_type_name"] != "Pre-session evaluation" || full["test_participant"] != "Participant #1" || full["test_session_name"] == nil ||
		full["test_user"] != nil {
		t.Errorf("full: %v", full)
	}
	v := authn.NewVerifier(e.signer.Keys, nil, nil, authn.VerifierOptions{})
	urls := e.list("user", "/api/user/tests?id_session=2&with_urls=true")
	if len(urls) != 3 || urls[0]["test_answers_url"] != "https://tera.test/rehab/api/tests/answers" || urls[0]["test_answers_web_url"] != nil ||
		urls[2]["test_answers_web_url"] != "https://tera.test/rehab/api/tests/answers/web" {
		t.Errorf("urls: %v", urls)
	}
	if c, err := v.VerifyAssetToken(urls[0]["access_token"].(string)); err != nil || !c.AllowsTest(urls[0]["test_uuid"].(string)) {
		t.Errorf("test token: %+v %v", c, err)
	}
	for _, o := range e.list("user", "/api/user/tests?id_session=2&with_urls=true&with_only_token=true") {
		if len(o) != 2 || o["access_token"] == nil || o["test_uuid"] == nil {
			t.Errorf("with_only_token: %v", o)
		}
	}

	e.calls("DELETE", "/api/user/tests", call{"admin", 400, ""}, call{"user4", 403, "?id=1"}, call{"admin", 403, "?id=99"})
	deletes := e.events("test", 3)
	e.expect(200, "user3", "DELETE", "/api/user/tests?id=1", nil)
	e.wantIDs("admin", "/api/user/tests?id_session=2", "id_test", 3, 2)
	deletes(1)
}

func TestTestTypesAPI(t *testing.T) {
	e := newEnv(t)
	e.lists("/api/user/testtypes", "id_test_type", []listCase{
		{"admin", "", []int{1, 2, 3}},
		{"user", "", []int{1, 2}},
		{"siteadmin", "", []int{1, 2}},
		{"user4", "", []int{}},
		{"admin", "id_test_type=3", []int{3}},
		{"admin", "test_type_key=PRE", []int{1}},
		{"user", "id_project=1", []int{2, 1}},
		{"user3", "id_project=1", []int{2, 1}},
		{"admin", "id_project=3", []int{3}},
		{"admin", "id_site=2", []int{3, 1}},
		{"user", "id_site=1", []int{2, 1}},
	})
	uuid := e.list("admin", "/api/user/testtypes?id_test_type=2")[0]["test_type_uuid"].(string)
	e.wantIDs("user", "/api/user/testtypes?test_type_uuid="+uuid, "id_test_type", 2)
	e.expect(404, "user4", "GET", "/api/user/testtypes?id_test_type=1", nil)
	// Type 3 is site 2's: its service (FileTransfer) is user's, the site is not (OpenTera shows it).
	e.calls("GET", "/api/user/testtypes", call{"user", 404, "?id_test_type=3"}, call{"admin", 404, "?test_type_key=NONE"},
		call{"user4", 404, "?test_type_uuid=" + uuid}, call{"user", 403, "?id_project=3"}, call{"user3", 403, "?id_site=2"}, call{"user", 400, "?id_site=x"})

	full := e.list("user", "/api/user/testtypes?id_test_type=1")[0]
	if len(full) != 11 || full["test_type_service_key"] != "VideoRehabService" || full["test_type_key"] != "PRE" || full["test_type_has_json_format"] != true {
		t.Errorf("full: %v", full)
	}
	if l := e.list("user", "/api/user/testtypes?id_test_type=2&list=true")[0]; len(l) != 9 || l["test_type_key"] != nil {
		t.Errorf("list: %v", l)
	}
	v := authn.NewVerifier(e.signer.Keys, nil, nil, authn.VerifierOptions{})
	for who, edit := range map[string]bool{"user3": true, "user": false} {
		u := e.list(who, "/api/user/testtypes?id_test_type=1&with_urls=true")[0]
		if u["test_type_json_url"] != "https://tera.test/rehab/api/testtypes/form" || u["test_type_web_url"] != nil || u["test_type_web_editor_url"] != nil {
			t.Errorf("%s urls: %v", who, u)
		}
		c, err := v.VerifyAssetToken(u["access_token"].(string))
		if err != nil || !c.AllowsTestType(u["test_type_uuid"].(string)) || c.CanEdit == nil || *c.CanEdit != edit {
			t.Errorf("%s token: %+v %v", who, c, err)
		}
	}
	if o := e.list("admin", "/api/user/testtypes?id_test_type=3&with_only_token=true")[0]; len(o) != 2 || o["access_token"] == nil {
		t.Errorf("with_only_token: %v", o)
	}

	e.calls("DELETE", "/api/user/testtypes", call{"admin", 400, ""}, call{"user", 403, "?id=1"}, call{"user4", 403, "?id=3"})
	e.expect(500, "admin", "DELETE", "/api/user/testtypes?id=1", nil) // tests use it
	deletes := e.events("test_type", 3)
	e.expect(200, "admin", "DELETE", "/api/user/testtypes?id=3", nil)
	deletes(1)
	e.wantIDs("admin", "/api/user/testtypes", "id_test_type", 1, 2)
}

func TestStatsAPI(t *testing.T) {
	e := newEnv(t)
	get := func(who, q string) map[string]any { return e.object(who, "/api/user/stats?"+q) }
	check := func(who, q string, want map[string]float64) {
		t.Helper()
		got := get(who, q)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s ?%s: %s = %v, want %v (%v)", who, q, k, got[k], v, got)
			}
		}
	}
	check("admin", "id_session=2", map[string]float64{"users_total_count": 2, "participants_total_count": 1, "devices_total_count": 0,
		"assets_total_count": 3, "tests_total_count": 3})
	check("admin", "id_device=1", map[string]float64{"assets_total_count": 4, "projects_total_count": 2, "participants_total_count": 2,
		"sessions_total_count": 12})
	check("admin", "id_site=1", map[string]float64{"projects_count": 2, "participants_total_count": 3, "participants_enabled_count": 2,
		"participants_groups_count": 2, "devices_total_count": 2})
	check("user3", "id_site=1", map[string]float64{"projects_count": 1, "participants_total_count": 3, "participants_groups_count": 1})
	check("admin", "id_participant=1", map[string]float64{"sessions_total_count": 28, "assets_total_count": 7, "tests_total_count": 0})
	check("admin", "id_project=1", map[string]float64{"participants_total_count": 3, "devices_total_count": 2})
	check("admin", "id_group=1", map[string]float64{"participants_total_count": 1})
	check("admin", "id_user_group=1", map[string]float64{"users_total_count": 1, "users_enabled_count": 1, "projects_total_count": 2,
		"projects_admin_count": 0, "sites_total_count": 0})
	check("admin", "id_user_group=3", map[string]float64{"sites_total_count": 1, "sites_admin_count": 1})
	check("admin", "id_user=1", map[string]float64{"sessions_created_total_count": 8, "sessions_total_count": 8})
	if p := get("admin", "id_project=1&with_participants=true")["participants"].([]any); len(p) != 3 {
		t.Errorf("with_participants: %v", p)
	} else if p0 := p[0].(map[string]any); p0["participant_sessions_count"] != 28.0 || p0["participant_first_session"] == nil {
		t.Errorf("participant line: %v", p0)
	}
	w := get("siteadmin", "id_site=1&with_warnings=true&with_participants=true")
	for _, k := range []string{"participants", "warning_participants", "warning_participants_count", "warning_nosession_participants",
		"warning_users", "warning_users_count", "warning_neverlogged_users", "warning_neverlogged_users_count"} {
		if _, ok := w[k]; !ok {
			t.Errorf("with_warnings: no %s in %v", k, w)
		}
	}
	for _, q := range []string{"id_site=1", "id_project=1", "id_group=1", "id_session=1", "id_participant=1", "id_device=1", "id_user=1", "id_user_group=1"} {
		e.expect(403, "user4", "GET", "/api/user/stats?"+q, nil)
	}
	e.calls("GET", "/api/user/stats", call{"user3", 403, "?id_site=2"}, call{"admin", 400, ""}, call{"admin", 400, "?with_participants=true"},
		call{"admin", 400, "?id_site=x"})
}

// A site's and a project's participant and session counts are kept by triggers (migrations
// 00021, 00024). After each write through the API (sessions created, re-invited and deleted,
// participants created, disabled, moved and deleted, a group's deletion taking its participants)
// and a bulk load (seed.ScaleWith: COPY and INSERT … SELECT), they equal OpenTera's counts taken
// from the tables, every counter row agrees with a direct count, and a full recount changes none.
func TestStatsSessionCountsFollowWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	keys := []string{"sessions_total_count", "participants_total_count", "participants_enabled_count"}
	stat := func(who, q string) map[string]any { return e.object(who, "/api/user/stats?"+q) }
	// OpenTera's counts: every live link of the object's live participants, its live
	// participants, the enabled ones.
	direct := func(where string, id int) map[string]any {
		t.Helper()
		var s, p, en float64
		if err := e.db.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM core.t_sessions_participants sp
			   JOIN core.t_participants pa ON pa.id_participant = sp.id_participant AND pa.deleted_at IS NULL
			   JOIN core.t_projects p ON p.id_project = pa.id_project AND p.deleted_at IS NULL
			  WHERE sp.deleted_at IS NULL AND `+where+` = $1),
			(SELECT count(*) FROM core.t_participants pa JOIN core.t_projects p ON p.id_project = pa.id_project AND p.deleted_at IS NULL
			  WHERE pa.deleted_at IS NULL AND `+where+` = $1),
			(SELECT count(*) FROM core.t_participants pa JOIN core.t_projects p ON p.id_project = pa.id_project AND p.deleted_at IS NULL
			  WHERE pa.deleted_at IS NULL AND pa.participant_enabled AND `+where+` = $1)`, id).Scan(&s, &p, &en); err != nil {
			t.Fatal(err)
		}
		return map[string]any{keys[0]: s, keys[1]: p, keys[2]: en}
	}
	// The counter rows that differ from a direct count of every project (all-zero rows are
	// equivalent to no row).
	drift := func() string {
		t.Helper()
		out := scalar[string](e, `WITH kept AS (SELECT id_project, sessions, participants, participants_enabled FROM core.t_project_counts
			    WHERE (sessions, participants, participants_enabled) <> (0, 0, 0)),
			  counted AS (SELECT pr.id_project,
			      (SELECT count(*) FROM core.t_sessions_participants sp JOIN core.t_participants x ON x.id_participant = sp.id_participant
			        WHERE x.id_project = pr.id_project AND sp.deleted_at IS NULL) AS sessions,
			      (SELECT count(*) FROM core.t_participants x WHERE x.id_project = pr.id_project AND x.deleted_at IS NULL) AS participants,
			      (SELECT count(*) FROM core.t_participants x WHERE x.id_project = pr.id_project AND x.deleted_at IS NULL AND x.participant_enabled) AS participants_enabled
			     FROM core.t_projects pr),
			  nonzero AS (SELECT * FROM counted WHERE (sessions, participants, participants_enabled) <> (0, 0, 0))
			SELECT coalesce(string_agg(format('%s kept (%s,%s,%s) counted (%s,%s,%s)', coalesce(k.id_project, c.id_project),
			    k.sessions, k.participants, k.participants_enabled, c.sessions, c.participants, c.participants_enabled), '; '), '')
			  FROM kept k FULL JOIN nonzero c ON c.id_project = k.id_project
			 WHERE (k.sessions, k.participants, k.participants_enabled) IS DISTINCT FROM (c.sessions, c.participants, c.participants_enabled)`)
		return out
	}
	agree := func(when string) {
		t.Helper()
		for _, c := range []struct {
			who, q, where string
			id            int
		}{{"admin", "id_site=1", "p.id_site", 1}, {"admin", "id_project=1", "p.id_project", 1}, {"admin", "id_project=2", "p.id_project", 2},
			{"admin", "id_site=2", "p.id_site", 2},
			// user3 administers project 1 only: its site figures are project 1's.
			{"user3", "id_site=1", "p.id_project", 1}} {
			got, want := stat(c.who, c.q), direct(c.where, c.id)
			for _, k := range keys {
				if got[k] != want[k] {
					t.Errorf("%s: %s ?%s %s = %v, want %v", when, c.who, c.q, k, got[k], want[k])
				}
			}
		}
		if d := drift(); d != "" {
			t.Errorf("%s: counters drift from a direct count: %s", when, d)
		}
	}
	agree("fixture")
	if f := stat("admin", "id_project=1"); f[keys[0]] == 0.0 || f[keys[1]] == 0.0 {
		t.Fatalf("project 1 of the fixture has sessions and participants: %v", f)
	}
	before := stat("admin", "id_site=1")[keys[0]].(float64)
	ses := int(e.post("admin", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": 0, "id_session_type": 1,
		"session_name": "Counted", "session_status": 0, "session_participants_ids": []int{1, 2}}})["id_session"].(float64))
	agree("after a session with two participants")
	if got := stat("admin", "id_site=1")[keys[0]].(float64); got != before+2 {
		t.Errorf("site count %v after one session of two participants, was %v", got, before)
	}
	e.post("admin", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": ses, "session_participants_ids": []int{2}}})
	agree("after removing an invitee")
	part := int(e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 0, "id_project": 1,
		"participant_name": "Counted", "participant_enabled": true}})["id_participant"].(float64))
	agree("after a new participant")
	e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": part, "participant_enabled": false}})
	agree("after disabling it")
	// Project 2 is the fixture's other project of site 1.
	e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 2, "id_project": 2}})
	agree("after participant 2 moved to project 2")
	e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": part, "participant_name": "Renamed"}})
	agree("after a rename")
	e.expect(200, "admin", "DELETE", "/api/user/sessions?id="+itoa(ses), nil)
	agree("after the session's deletion")
	e.expect(200, "admin", "DELETE", "/api/user/participants?id="+itoa(part), nil)
	agree("after the participant's deletion")
	group := int(e.post("admin", "/api/user/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": 2,
		"participant_group_name": "Counted"}})["id_participant_group"].(float64))
	for _, name := range []string{"In group A", "In group B"} {
		e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 0, "id_project": 2,
			"id_participant_group": group, "participant_name": name, "participant_enabled": true}})
	}
	agree("after two participants in a new group")
	e.expect(200, "admin", "DELETE", "/api/user/groups?id="+itoa(group), nil)
	agree("after the group's deletion")
	if _, err := seed.ScaleWith(ctx, e.db, seed.ScaleOptions{Participants: 300, SessionsPerParticipant: 3}); err != nil {
		t.Fatal(err)
	}
	agree("after a bulk load")
	var kept, recounted string
	snapshot := `SELECT coalesce(json_agg(c ORDER BY id_project), '[]')::text FROM core.t_project_counts c
		WHERE (sessions, participants, participants_enabled) <> (0, 0, 0)`
	if err := e.db.QueryRow(ctx, snapshot).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, "SELECT core.recount_project_counts()"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, snapshot).Scan(&recounted); err != nil {
		t.Fatal(err)
	}
	if kept != recounted {
		t.Errorf("kept counts %s, a recount %s", kept, recounted)
	}
}

// The users counts of a site's and a project's stats go from the object's role holders to the
// caller's users (a superadmin's are not listed). They equal OpenTera's definition taken the
// other way round, from every user the caller sees, for each fixture user and object it sees.
func TestStatsUsersCounts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Make the figures differ: a disabled holder of a project 1 role.
	e.post("admin", "/api/user/users", map[string]any{"user": map[string]any{"id_user": 0, "user_username": "counted", "user_enabled": false,
		"user_firstname": "Counted", "user_lastname": "User", "user_profile": "", "user_password": "Passw0rd!Counted", "user_user_groups": []map[string]any{{"id_user_group": 2}}}})
	everyUser := `SELECT u.user_enabled FROM core.t_users u WHERE u.deleted_at IS NULL AND NOT u.user_superadmin
		AND u.id_user IN (SELECT x.id FROM core.acc_users('user', $1, false, true) x) AND `
	old := map[string]string{
		"id_site": everyUser + `u.id_user IN (SELECT uug.id_user FROM core.t_users_users_groups uug
			JOIN core.t_users_groups g ON g.id_user_group = uug.id_user_group AND g.deleted_at IS NULL
			JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
			JOIN core.t_services_roles sr ON sr.id_service_role = sa.id_service_role AND sr.deleted_at IS NULL
			JOIN core.t_services sv ON sv.id_service = sr.id_service AND sv.service_key = 'OpenTeraServer'
			WHERE uug.deleted_at IS NULL AND (sr.id_site = $2 OR sr.id_project IN
			  (SELECT p.id_project FROM core.t_projects p WHERE p.id_site = $2 AND p.deleted_at IS NULL)))`,
		"id_project": everyUser + `EXISTS (SELECT 1 FROM core.user_project_roles(u.id_user) r WHERE r.id_project = $2)`,
	}
	seen := 0
	for who, id := range map[string]int{"admin": 1, "siteadmin": 2, "user": 3, "user2": 4, "user3": 5, "user4": 6} {
		for _, o := range []struct {
			key string
			id  int
		}{{"id_site", 1}, {"id_site", 2}, {"id_project", 1}, {"id_project", 2}, {"id_project", 3}} {
			q := o.key + "=" + itoa(o.id)
			st, body := e.do(who, "GET", "/api/user/stats?"+q, nil)
			if st == 403 {
				continue
			}
			var got map[string]any
			if st != 200 || json.Unmarshal(body, &got) != nil {
				t.Fatalf("%s ?%s: %d %s", who, q, st, body)
			}
			var total, enabled float64
			if err := e.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE user_enabled) FROM (`+old[o.key]+`) x`, id, o.id).Scan(&total, &enabled); err != nil {
				t.Fatal(err)
			}
			if got["users_total_count"] != total || got["users_enabled_count"] != enabled {
				t.Errorf("%s ?%s: users %v/%v enabled, want %v/%v", who, q, got["users_total_count"], got["users_enabled_count"], total, enabled)
			}
			if total != enabled {
				seen++
			}
		}
	}
	if seen == 0 {
		t.Error("no caller saw the disabled user: the test compares nothing that tells enabled from total")
	}
}
