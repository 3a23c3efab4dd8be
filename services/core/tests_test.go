package core_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tera-health/tera/pkg/authn"
)

func TestTestsAPI(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		who, q string
		want   []int
	}{
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
	}
	for _, c := range cases {
		if got := ids(e.list(c.who, "/api/user/tests?"+c.q), "id_test"); !eqInts(got, c.want) {
			t.Errorf("%s ?%s: %v, want %v", c.who, c.q, got, c.want)
		}
	}
	uuid := e.list("admin", "/api/user/tests?id_test=2")[0]["test_uuid"].(string)
	if got := ids(e.list("admin", "/api/user/tests?test_uuid="+uuid), "id_test"); !eqInts(got, []int{2}) {
		t.Errorf("by uuid: %v", got)
	}
	for _, q := range []string{"id_device=1", "id_session=2", "id_participant=1", "id_user=1"} {
		e.expect(403, "user4", "GET", "/api/user/tests?"+q, nil)
	}
	e.expect(403, "user3", "GET", "/api/user/tests?id_user=6", nil)
	e.expect(400, "admin", "GET", "/api/user/tests", nil)
	e.expect(400, "admin", "GET", "/api/user/tests?full=true", nil)
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

	e.expect(400, "admin", "DELETE", "/api/user/tests", nil)
	e.expect(403, "user4", "DELETE", "/api/user/tests?id=1", nil)
	e.expect(403, "admin", "DELETE", "/api/user/tests?id=99", nil)
	before := e.outboxCount("test", 3)
	e.expect(200, "user3", "DELETE", "/api/user/tests?id=1", nil)
	if got := ids(e.list("admin", "/api/user/tests?id_session=2"), "id_test"); !eqInts(got, []int{3, 2}) {
		t.Errorf("after delete: %v", got)
	}
	if e.outboxCount("test", 3) != before+1 {
		t.Error("no DatabaseEvent for the deleted test")
	}
}

func TestTestTypesAPI(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		who, q string
		want   []int
	}{
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
	}
	for _, c := range cases {
		if got := ids(e.list(c.who, "/api/user/testtypes?"+c.q), "id_test_type"); !eqInts(got, c.want) {
			t.Errorf("%s ?%s: %v, want %v", c.who, c.q, got, c.want)
		}
	}
	uuid := e.list("admin", "/api/user/testtypes?id_test_type=2")[0]["test_type_uuid"].(string)
	if got := ids(e.list("user", "/api/user/testtypes?test_type_uuid="+uuid), "id_test_type"); !eqInts(got, []int{2}) {
		t.Errorf("by uuid: %v", got)
	}
	e.expect(404, "user4", "GET", "/api/user/testtypes?id_test_type=1", nil)
	// Type 3 is site 2's: its service (FileTransfer) is user's, the site is not (OpenTera shows it).
	e.expect(404, "user", "GET", "/api/user/testtypes?id_test_type=3", nil)
	e.expect(404, "admin", "GET", "/api/user/testtypes?test_type_key=NONE", nil)
	e.expect(404, "user4", "GET", "/api/user/testtypes?test_type_uuid="+uuid, nil)
	e.expect(403, "user", "GET", "/api/user/testtypes?id_project=3", nil)
	e.expect(403, "user3", "GET", "/api/user/testtypes?id_site=2", nil)
	e.expect(400, "user", "GET", "/api/user/testtypes?id_site=x", nil)

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

	e.expect(400, "admin", "DELETE", "/api/user/testtypes", nil)
	e.expect(403, "user", "DELETE", "/api/user/testtypes?id=1", nil)
	e.expect(403, "user4", "DELETE", "/api/user/testtypes?id=3", nil)
	e.expect(500, "admin", "DELETE", "/api/user/testtypes?id=1", nil) // tests use it
	before := e.outboxCount("test_type", 3)
	e.expect(200, "admin", "DELETE", "/api/user/testtypes?id=3", nil)
	if e.outboxCount("test_type", 3) != before+1 {
		t.Error("no DatabaseEvent for the deleted test type")
	}
	if got := ids(e.list("admin", "/api/user/testtypes"), "id_test_type"); !eqInts(got, []int{1, 2}) {
		t.Errorf("after delete: %v", got)
	}
}

func TestStatsAPI(t *testing.T) {
	e := newEnv(t)
	get := func(who, q string) map[string]any {
		t.Helper()
		var out map[string]any
		st, body := e.do(who, "GET", "/api/user/stats?"+q, nil)
		if st != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("%s ?%s: %d %s", who, q, st, body)
		}
		return out
	}
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
	e.expect(403, "user3", "GET", "/api/user/stats?id_site=2", nil)
	e.expect(400, "admin", "GET", "/api/user/stats", nil)
	e.expect(400, "admin", "GET", "/api/user/stats?with_participants=true", nil)
	e.expect(400, "admin", "GET", "/api/user/stats?id_site=x", nil)
}

// A site's and a project's session counts are kept by triggers (migration 00021): they follow
// sessions created, re-invited and deleted through the API and a participant's move to another
// project, and always equal OpenTera's sum over the participants' live session links.
func TestStatsSessionCountsFollowWrites(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	stat := func(q string) float64 {
		t.Helper()
		var out map[string]any
		st, body := e.do("admin", "GET", "/api/user/stats?"+q, nil)
		if st != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("?%s: %d %s", q, st, body)
		}
		return out["sessions_total_count"].(float64)
	}
	// OpenTera's count: every live link of the object's live participants.
	direct := func(where string, id int) float64 {
		t.Helper()
		var n int
		if err := e.db.QueryRow(ctx, `SELECT count(*) FROM core.t_sessions_participants sp
			JOIN core.t_participants pa ON pa.id_participant = sp.id_participant AND pa.deleted_at IS NULL
			JOIN core.t_projects p ON p.id_project = pa.id_project
			WHERE sp.deleted_at IS NULL AND `+where+` = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return float64(n)
	}
	agree := func(when string) {
		t.Helper()
		for _, c := range []struct {
			q, where string
			id       int
		}{{"id_site=1", "p.id_site", 1}, {"id_project=1", "p.id_project", 1}, {"id_project=2", "p.id_project", 2}} {
			if got, want := stat(c.q), direct(c.where, c.id); got != want {
				t.Errorf("%s: ?%s sessions_total_count = %v, want %v", when, c.q, got, want)
			}
		}
	}
	agree("fixture")
	if stat("id_project=1") == 0 {
		t.Fatal("project 1 of the fixture has sessions")
	}
	before := stat("id_site=1")
	ses := int(e.post("admin", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": 0, "id_session_type": 1,
		"session_name": "Counted", "session_status": 0, "session_participants_ids": []int{1, 2}}})["id_session"].(float64))
	agree("after a session with two participants")
	if got := stat("id_site=1"); got != before+2 {
		t.Errorf("site count %v after one session of two participants, was %v", got, before)
	}
	e.post("admin", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": ses, "session_participants_ids": []int{2}}})
	agree("after removing an invitee")
	// Project 2 is the fixture's other project of site 1.
	e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 2, "id_project": 2}})
	agree("after participant 2 moved to project 2")
	e.expect(200, "admin", "DELETE", "/api/user/sessions?id="+itoa(ses), nil)
	agree("after the session's deletion")
	var stored, recounted int64
	if err := e.db.QueryRow(ctx, `SELECT coalesce(sum(sessions), 0) FROM core.t_project_session_counts`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, `SELECT core.recount_project_sessions(); SELECT coalesce(sum(sessions), 0) FROM core.t_project_session_counts`).Scan(&recounted); err == nil && stored != recounted {
		t.Errorf("kept sums total %d, a recount %d", stored, recounted)
	}
}
