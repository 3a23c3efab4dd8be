package core_test

import (
	"net/url"
	"strings"
	"testing"
)

// Fuzz targets run against one server with the fixture; their seed corpus runs in plain
// `go test`. Run one with: go test ./core -run '^$' -fuzz FuzzParticipantsPost -fuzztime 30s
// Whatever the input, the answer is never a 5xx (the fixture has no disabled project, so no
// integrity refusal is reachable through these bodies) and the server never panics.

func fuzzNo5xx(t *testing.T, e *env, method, path, body string) {
	if _, err := url.ParseRequestURI(e.base + path); err != nil {
		return // not a request a client could send
	}
	st, out := e.withT(t).do("admin", method, path, body)
	if st >= 500 {
		t.Fatalf("%s %s %q: %d %s", method, path, body, st, out)
	}
}

// fuzzBodies fuzzes the bodies POSTed to path, from the seeds.
func fuzzBodies(f *testing.F, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		fuzzNo5xx(t, e, "POST", path, body)
	})
}

// fuzzQueries fuzzes the query strings of a GET of path, from the seeds.
func fuzzQueries(f *testing.F, path string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, q string) {
		if _, err := url.ParseQuery(q); err != nil {
			return // not a query a client could send
		}
		fuzzNo5xx(t, e, "GET", path+"?"+q, "")
	})
}

func FuzzParticipantsPost(f *testing.F) {
	fuzzBodies(f, "/api/user/participants",
		`{"participant": {"id_participant": 0, "id_project": 1, "participant_name": "Fuzz"}}`,
		`{"participant": {"id_participant": 0, "id_participant_group": 2, "participant_name": "F", "participant_username": "fz", "participant_password": "Pw!123456789", "participant_token_enabled": true, "participant_login_enabled": true}}`,
		`{"participant": {"id_participant": 3, "id_project": 1, "participant_email": "a@b.c", "participant_enabled": false}}`,
		`{"participant": {"id_participant": 1, "id_participant_group": null}}`,
		`{"participant": {"id_participant": 2, "id_participant_group": 0, "participant_name": "\u0000"}}`,
		`{"participant": {"id_participant": 1e99, "id_project": -1}}`,
		`{"participant": {"id_participant": "1", "id_project": "x"}}`,
		`{"participant": []}`, `[]`, `null`, `{`, ``,
	)
}

func FuzzParticipantsQuery(f *testing.F) {
	fuzzQueries(f, "/api/user/participants",
		"id_project=1", "id_participant=1&full=true", "id=2&list=1", "username=participant1", "uuid=x",
		"id_site=1&enabled=true&no_group=true", "id_group=1&limit=1&orderby_recents=true", "id_device=1", "id_session=8",
		"name=Participant%20%231", "id_project=abc", "id_project=1&enabled=maybe", "limit=-1&id_project=1", "name=%00",
		"id_project=2147483648", "full", "&&&=", "id_project=1&id_project=2",
	)
}

func FuzzUsersPost(f *testing.F) {
	fuzzBodies(f, "/api/user/users",
		`{"user": {"id_user": 0, "user_username": "fz", "user_firstname": "F", "user_lastname": "Z", "user_enabled": true, "user_profile": "", "user_password": "Password12!"}}`,
		`{"user": {"id_user": 0, "user_username": "fz2", "user_firstname": "F", "user_lastname": "Z", "user_enabled": true, "user_profile": {"a": [1, {"b": null}]}, "user_password": "Password12!", "user_user_groups": [{"id_user_group": 1}]}}`,
		`{"user": {"id_user": 3, "user_notes": "n", "user_email": "e@x", "user_password": ""}}`,
		`{"user": {"id_user": 4, "user_user_groups": [{"id_user_group": 999}]}}`,
		`{"user": {"id_user": 6, "user_profile": 1}}`,
		`{"user": {"id_user": 0, "user_username": "`+"\u0000"+`", "user_password": "x"}}`,
		`{"user": {"id_user": -1}}`, `{"user": null}`, `{"user": {"id_user": 1, "user_password": "`+strings.Repeat("Aa1!", 40)+`"}}`,
	)
}

func FuzzUsersQuery(f *testing.F) {
	fuzzQueries(f, "/api/user/users",
		"", "id_user=1", "id=2&list=true", "uuid=x", "user_uuid=%00", "username=user", "id_user_group=1&with_usergroups=true",
		"id_project=1&enabled=true&with_status=1", "self=true", "self=x", "id_user=-5", "id_project=99999999999",
	)
}

// FuzzWriteBodies posts arbitrary bodies to the other write endpoints. A 500 is accepted only as
// an integrity refusal (reason ERROR_REASON_INTEGRITY, OpenTera's 500 with a message: e.g. a
// link to a user group that does not exist); anything else 5xx fails.
func FuzzWriteBodies(f *testing.F) {
	paths := []string{"/api/user/sites", "/api/user/projects", "/api/user/groups", "/api/user/usergroups",
		"/api/user/siteaccess", "/api/user/projectaccess", "/api/user/users/usergroups", "/api/user/users/preferences",
		"/api/user/devicetypes", "/api/user/devicesubtypes", "/api/user/sessions", "/api/user/sessions/events", "/api/user/devices",
		"/api/user/sessiontypes", "/api/user/devices/sites", "/api/user/devices/projects", "/api/user/devices/participants",
		"/api/user/sessiontypes/sites", "/api/user/sessiontypes/projects", "/api/user/sessiontypes/services"}
	seeds := []string{
		`{"site": {"id_site": 0, "site_name": "F"}}`,
		`{"project": {"id_project": 0, "id_site": 1, "project_name": "F", "sessiontypes": [{"id_session_type": 1}]}}`,
		`{"participant_group": {"id_participant_group": 0, "id_project": 1, "participant_group_name": "F"}}`,
		`{"user_group": {"id_user_group": 0, "user_group_name": "F", "user_group_sites_access": [{"id_site": 1, "site_access_role": "user"}], "user_group_projects_access": [{"id_project": 1, "project_access_role": "admin"}]}}`,
		`{"site_access": [{"id_user_group": 5, "id_site": 1, "site_access_role": "admin"}, {"id_user_group": 99, "id_site": 1, "id_service_role": 13}]}`,
		`{"project_access": {"id_user_group": 5, "id_project": 2, "project_access_role": ""}}`,
		`{"user_user_group": [{"id_user": 6, "id_user_group": 1}]}`,
		`{"user_preference": {"user_preference_app_tag": "f", "user_preference_preference": {"a": [1, null]}}}`,
		`{"device_type": {"id_device_type": 0, "device_type_name": "F", "device_type_key": "f"}}`,
		`{"device_subtype": {"id_device_subtype": 0, "id_device_type": 1, "device_subtype_name": "F"}}`,
		`{"session": {"id_session": 0, "id_session_type": 1, "session_name": "F", "session_start_datetime": "2026-01-02 03:04:05.6",
		  "session_status": 0, "session_participants_ids": [1, 2], "session_users_ids": [2], "session_devices_ids": [1],
		  "session_parameters": {"k": [1]}, "id_creator_participant": 1}}`,
		`{"session_event": {"id_session_event": 0, "id_session": 1, "id_session_event_type": 100, "session_event_datetime": "2026-01-02T03:04:05Z"}}`,
		`{"device": {"id_device": 0, "device_name": "F", "id_device_type": 4, "id_device_subtype": 2, "device_sites": [{"id_site": 1}],
		  "device_projects": [{"id_project": 1}], "device_config": "{}"}}`,
		`{"session_type": {"id_session_type": 0, "session_type_name": "F", "session_type_color": "#000000", "session_type_category": 1,
		  "id_service": 6, "session_type_sites": [{"id_site": 1}], "session_type_projects": [{"id_project": 2}], "session_type_services": [{"id_service": 3}]}}`,
		`{"device": {"id_device": 3, "sites": [{"id_site": 1}, {"id_site": 2}]}, "device_site": [{"device_uuid": "x", "id_site": 1}]}`,
		`{"project": {"id_project": 1, "devices": [{"id_device": 1}, {"id_device": 2}, {"id_device": 3}]}}`,
		`{"device_participant": [{"id_device": 1, "id_participant": 3}, {"id_device": 2, "id_participant": 1e12}]}`,
		`{"site": {"id_site": 2, "sessiontypes": [{"id_session_type": 1}, {"id_session_type": "2"}]}}`,
		`{"session_type_project": {"id_session_type": 4, "id_project": 3}, "project": {"id_project": 2, "sessiontypes": null}}`,
		`{"session_type": {"id_session_type": 3, "services": [{"id_service": 5}]}, "service": {"id_service": 99, "sessiontypes": []}}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
		f.Add(uint8(i+1), s) // a body meant for another endpoint
	}
	f.Add(uint8(3), `{"user_group": {"id_user_group": 1, "user_group_projects_access": [{"id_project": 1e10}]}}`)
	f.Add(uint8(10), `{"session": {"id_session": 4, "session_duration": 2147483648, "session_participants_ids": [99]}}`)
	f.Add(uint8(10), `{"session": {"id_session": 1, "id_session_type": 99, "session_start_datetime": "0000-00-00"}}`)
	f.Add(uint8(12), `{"device": {"id_device": 1, "id_device_subtype": 99, "device_sites": [{"id_site": 1e12}]}}`)
	f.Add(uint8(12), `{"device": {"id_device": 2, "device_projects": [{"id_project": 3}]}}`)
	f.Add(uint8(13), `{"session_type": {"id_session_type": 1, "id_service": 0, "session_type_projects": [{"id_project": 3}]}}`)
	f.Add(uint8(11), `{"session_event": {"id_session_event": 1, "id_session": 999999, "session_event_text": "\u0000"}}`)
	f.Add(uint8(14), `{"site": {"id_site": 1, "devices": []}}`)
	f.Add(uint8(15), `{"device_project": [{"id_device": 1, "id_project": -1}, {"device_uuid": null, "id_project": 1}]}`)
	f.Add(uint8(17), `{"session_type": {"id_session_type": 1, "sites": [{}]}}`)
	f.Add(uint8(19), `{"session_type_service": [[], {"id_session_type": 2147483648, "id_service": 1}]}`)
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		w := e.withT(t)
		path := paths[int(which)%len(paths)]
		st, out := w.do("admin", "POST", path, body)
		if st >= 500 && !(st == 500 && w.lastReason == "ERROR_REASON_INTEGRITY") {
			t.Fatalf("POST %s %q: %d %s (reason %q)", path, body, st, out, w.lastReason)
		}
	})
}

// FuzzAPIPart3Queries sends arbitrary query strings to the GET endpoints of issue 12 (assets,
// tests, test types, invitations, stats, forms): never a 5xx.
func FuzzAPIPart3Queries(f *testing.F) {
	paths := []string{"/api/user/assets", "/api/user/tests", "/api/user/testtypes", "/api/user/stats", "/api/user/forms"}
	seeds := []string{
		"id_test=1&with_urls=true&full=1", "test_uuid=%00", "id_test_type=1&with_only_token=true", "test_type_key=PRE&list=true",
		"test_type_uuid=x", "id_project=3&with_urls=1", "id_site=2", "id_user_group=1", "id_site=1&with_participants=true&with_warnings=true",
		"id_project=1&with_participants=1", "id_group=1", "id_participant=1", "type=session&id=1&id_project=1", "type=participant&id=99",
		"type=group&id_site=-1", "type=session_type_config&id=1", "type=service_config&key=%00", "type=versions", "type=test_type",
		"id_asset=1&with_urls=true", "asset_uuid=x", "id_device=1&full=true", "id_session=2&with_only_token=1", "id_participant=1",
		"id_user=1&with_urls=true&with_only_token=true", "service_uuid=%00", "id_creator_service=1", "id_creator_user=2",
		"id_creator_participant=1", "id_creator_device=1", "id_session=2147483648", "id_asset=-1", "full=maybe", "", "&&&=",
	}
	for i := range paths {
		for _, s := range seeds {
			f.Add(uint8(i), s)
		}
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, q string) {
		if _, err := url.ParseQuery(q); err != nil {
			return
		}
		fuzzNo5xx(t, e, "GET", paths[int(which)%len(paths)]+"?"+q, "")
	})
}
