package seed

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/pkg/authn"
)

var sessionEventNames = []string{"GENERAL_ERROR", "GENERAL_INFO", "GENERAL_WARNING", "SESSION_START", "SESSION_STOP",
	"DEVICE_ON_CHARGE", "DEVICE_OFF_CHARGE", "DEVICE_LOW_BATT", "DEVICE_STORAGE_LOW", "DEVICE_STORAGE_FULL", "DEVICE_EVENT", "USER_EVENT"}

// TestData creates OpenTera's test fixture (REFERENCE §8, create_defaults(test=True)) with the
// same ids, names, usernames, passwords, links, sessions, events, assets, configs, test types and
// tests, and device 1's fixed uuid. What OpenTera draws at random (uuids, tokens, keys) is random
// here too; what would make results drift (session types and durations, event times) is fixed:
// session n has type ((n-1) mod 3)+1 and lasts 60·n s.
//
// The fixture's links are inserted as OpenTera's seeding code does, without the automatic
// service links the API adds (tera.autolink is off for the transaction).
func TestData(ctx context.Context, db DB) error {
	return inTx(ctx, db, func(tx pgx.Tx) error {
		f := &filler{ctx: ctx, tx: tx}
		f.exec("SET LOCAL tera.autolink = 'off'")
		settings(f)
		f.fill("t_services", serviceCols,
			svc(1, OpenTeraServerUUID, "OpenTeraServer", "OpenTera Server", 4040, "/", ptr("/user"), ptr("/participant"), ptr("/device"), true, true, false, false),
			svc(2, "", "LoggingService", "Logging Service", 4041, "/log", nil, nil, nil, true, false, false, false),
			svc(3, "", "FileTransferService", "File Transfer Service", 4042, "/file", nil, nil, nil, true, false, true, false),
			svc(4, "", "EmailService", "Email Service", 4043, "/mail", nil, nil, nil, true, false, false, false),
			svc(5, "", "BureauActif", "Bureau Actif", 4050, "/bureau", nil, nil, nil, false, false, false, false),
			svc(6, "", "VideoRehabService", "Télé-réadaptation vidéo", 4070, "/rehab", nil, ptr("/participant"), nil, true, true, false, false),
			svc(7, "", "RobotTeleOperationService", "Robot Teleoperation Service", 4080, "/robot", nil, nil, nil, false, false, false, true),
		)
		if f.empty("t_services_roles") {
			var rows [][]any
			for s := 2; s <= 7; s++ {
				rows = append(rows, []any{2*s - 3, s, "admin"}, []any{2*s - 2, s, "user"})
			}
			f.insert("t_services_roles", roleCols, rows...)
		}
		// Sites and projects create their OpenTeraServer roles: 13/14 site 1, 15/16 site 2,
		// 17/18 project 1, 19/20 project 2, 21/22 project 3.
		if f.empty("t_sites") {
			f.insert("t_sites", []string{"id_site", "site_name"}, []any{1, "Default Site"}, []any{2, "Top Secret Site"})
		}
		f.fill("t_projects", []string{"id_project", "id_site", "project_name"},
			[]any{1, 1, "Default Project #1"}, []any{2, 1, "Default Project #2"}, []any{3, 2, "Secret Project #1"})
		f.syncSeq("t_services_roles", "id_service_role")

		f.fill("t_devices_types", []string{"id_device_type", "device_type_key", "device_type_name"},
			[]any{1, "videoconference", "Vidéoconférence"}, []any{2, "capteur", "Capteur"},
			[]any{3, "robot", "Robot"}, []any{4, "bureau_actif", "Bureau Actif"})
		f.fill("t_services_sites", []string{"id_service_site", "id_service", "id_site"},
			[]any{1, 6, 1}, []any{2, 3, 1}, []any{3, 2, 1}, []any{4, 3, 2})
		f.fill("t_services_projects", []string{"id_service_project", "id_service", "id_project"},
			[]any{1, 3, 1}, []any{2, 6, 1}, []any{3, 3, 2}, []any{4, 3, 3})
		f.fill("t_participants_groups", []string{"id_participant_group", "id_project", "participant_group_name"},
			[]any{1, 1, "Default Participant Group A"}, []any{2, 2, "Default Participant Group B"})
		f.fill("t_users_groups", []string{"id_user_group", "user_group_name"},
			[]any{1, "Users - Projects 1 & 2"}, []any{2, "Admins - Project 1"}, []any{3, "Admins - Default Site"},
			[]any{4, "Users - Project 1"}, []any{5, "No access!"})

		if f.empty("t_participants") {
			pkey := f.setting("ParticipantTokenEncryptionKey")
			cols := []string{"id_participant", "participant_uuid", "participant_name", "participant_username", "participant_password",
				"participant_email", "id_participant_group", "id_project", "participant_enabled", "participant_login_enabled",
				"participant_token_enabled", "participant_token"}
			u1, u4 := uuid.NewString(), uuid.NewString()
			f.insert("t_participants", cols,
				[]any{1, u1, "Participant #1", "participant1", hash("opentera"), "x@opentera.org", 1, 1, true, true, true,
					staticToken(pkey, authn.Claims{ParticipantUUID: u1, IDParticipant: 1})},
				[]any{2, uuid.NewString(), "Participant #2", nil, nil, nil, nil, 1, false, false, false, nil},
				[]any{3, uuid.NewString(), "Participant #3", nil, nil, nil, nil, 1, true, false, true, nil},
				[]any{4, u4, "Secret Participant", nil, nil, nil, nil, 3, true, false, true,
					staticToken(pkey, authn.Claims{ParticipantUUID: u4, IDParticipant: 4})},
			)
		}
		if f.empty("t_users") {
			cols := []string{"id_user", "user_uuid", "user_username", "user_password", "user_firstname", "user_lastname",
				"user_email", "user_enabled", "user_profile", "user_superadmin", "user_force_password_change"}
			u := func(id int, name, first, last string, email any, super bool) []any {
				return []any{id, uuid.NewString(), name, hash(name), first, last, email, true, "", super, false}
			}
			f.insert("t_users", cols,
				u(1, "admin", "Super", "Admin", "admin@opentera.org", true),
				u(2, "siteadmin", "Site", "Admin", nil, false),
				u(3, "user", "Site", "User", nil, false),
				u(4, "user2", "MultiSite", "User", nil, false),
				u(5, "user3", "Project", "Admin", nil, false),
				u(6, "user4", "No Access", "User!", "noaccess@opentera.org", false),
			)
		}
		f.fill("t_users_users_groups", []string{"id_user_user_group", "id_user", "id_user_group"},
			[]any{1, 2, 3}, []any{2, 3, 1}, []any{3, 4, 4}, []any{4, 4, 3}, []any{5, 5, 2})
		f.fill("t_users_preferences", []string{"id_user_preference", "id_user", "user_preference_app_tag", "user_preference_preference"},
			[]any{1, 1, "openteraplus", `{"language": "fr", "notification_sounds": true}`},
			[]any{2, 2, "openteraplus", `{"language": "en", "notification_sounds": false}`},
			[]any{3, 1, "anotherapp", `{"gui_style": 1, "auto_save": false}`})

		f.fill("t_devices_subtypes", []string{"id_device_subtype", "id_device_type", "device_subtype_name"},
			[]any{1, 4, "Bureau modèle #1"}, []any{2, 4, "Bureau modèle #2"})
		if f.empty("t_devices") {
			dkey := f.setting("TokenEncryptionKey")
			cols := []string{"id_device", "device_uuid", "device_name", "id_device_type", "device_enabled", "device_onlineable", "device_token"}
			d := func(id int, uid, name string, typ int, enabled bool) []any {
				return []any{id, uid, name, typ, enabled, true, staticToken(dkey, authn.Claims{DeviceUUID: uid, IDDevice: int64(id)})}
			}
			f.insert("t_devices", cols,
				d(1, Device1UUID, "Apple Watch #W05P1", 2, true),
				d(2, uuid.NewString(), "Kit Télé #1", 1, true),
				d(3, uuid.NewString(), "Robot A", 3, false))
		}
		f.fill("t_devices_sites", []string{"id_device_site", "id_device", "id_site"}, []any{1, 1, 1}, []any{2, 2, 1}, []any{3, 1, 2})
		f.fill("t_devices_projects", []string{"id_device_project", "id_device", "id_project"}, []any{1, 1, 1}, []any{2, 2, 1}, []any{3, 1, 3})
		f.fill("t_devices_participants", []string{"id_device_participant", "id_device", "id_participant"}, []any{1, 1, 1}, []any{2, 1, 2}, []any{3, 2, 2})
		f.fill("t_services_access", []string{"id_service_access", "id_user_group", "id_device", "id_participant_group", "id_service_role"},
			[]any{1, 1, nil, nil, 18}, []any{2, 1, nil, nil, 20}, []any{3, 2, nil, nil, 17}, []any{4, 2, nil, nil, 1},
			[]any{5, 3, nil, nil, 13}, []any{6, 4, nil, nil, 18}, []any{7, 4, nil, nil, 7},
			[]any{8, nil, 1, nil, 8}, []any{9, nil, nil, 1, 2})

		f.fill("t_sessions_types", []string{"id_session_type", "session_type_name", "session_type_online", "session_type_color",
			"session_type_category", "id_service", "session_type_config"},
			[]any{1, "Suivi vidéo", true, "#00FF00", 1, 6, nil},
			[]any{2, "Données Capteur", false, "#0000FF", 3, nil, nil},
			[]any{3, "Collecte données", true, "#00FFFF", 2, nil, nil},
			[]any{4, "Exercices individuels", false, "#FF00FF", 4, nil, nil},
			[]any{5, "FileTransfer", false, "#FF00FF", 1, 3, ""})
		f.fill("t_sessions_types_sites", []string{"id_session_type_site", "id_session_type", "id_site"},
			[]any{1, 1, 1}, []any{2, 2, 1}, []any{3, 3, 1}, []any{4, 4, 1}, []any{5, 5, 1}, []any{6, 4, 2})
		f.fill("t_sessions_types_projects", []string{"id_session_type_project", "id_session_type", "id_project"},
			[]any{1, 1, 1}, []any{2, 2, 1}, []any{3, 3, 1}, []any{4, 4, 1}, []any{5, 5, 2})
		f.fill("t_sessions_types_services", []string{"id_session_type_service", "id_session_type", "id_service"}, []any{1, 3, 3})

		if f.empty("t_sessions") {
			sessions(f)
		}
		if f.empty("t_assets") {
			cols := []string{"id_asset", "id_session", "asset_name", "asset_uuid", "asset_service_uuid", "asset_type",
				"id_participant", "id_user", "id_device", "id_service", "asset_datetime"}
			now := time.Now()
			a := func(id, ses int, name, typ string, part, user, dev, service any) []any {
				return []any{id, ses, name, uuid.NewString(), OpenTeraServerUUID, typ, part, user, dev, service, now}
			}
			f.insert("t_assets", cols,
				a(1, 2, "Asset #0", "application/octet-stream", 1, nil, nil, nil),
				a(2, 2, "Asset #1", "application/octet-stream", nil, 2, nil, nil),
				a(3, 2, "Asset #2", "application/octet-stream", nil, nil, nil, nil),
				a(4, 3, "Device Asset", "video/mpeg", nil, nil, 1, 1),
				a(5, 9, "Device Asset", "video/mpeg", nil, nil, 1, 1),
				a(6, 9, "Device Asset", "video/mpeg", nil, nil, 1, 1),
				a(7, 9, "Device Asset", "video/mpeg", nil, nil, 1, 1))
		}
		f.fill("t_services_configs", []string{"id_service_config", "id_service", "id_user", "id_participant", "id_device", "service_config_config"},
			[]any{1, 1, 1, nil, nil, `{"notification_sounds": true}`},
			[]any{2, 6, nil, 1, nil, `{"default_muted": false, "view_local": true}`},
			[]any{3, 6, nil, nil, 1, `{"delete_from_device": true}`})
		f.fill("t_services_configs_specifics", []string{"id_service_config_specific", "id_service_config", "service_config_specific_id", "service_config_specific_config"},
			[]any{1, 2, "pc-001", `{"default_muted": true}`},
			[]any{2, 2, "pc-002", `{"default_muted": true, "view_local": false}`})
		// EmailService's test templates (its create_defaults(test=True)): ids 1–4.
		f.exec(`INSERT INTO email.t_email_templates (id_email_template, email_template_key, email_template, id_site, id_project)
			SELECT * FROM (VALUES
			  (1, 'GENERAL_TEST_EMAIL', 'This is a GLOBAL general test email, using $variable .', NULL::integer, NULL::integer),
			  (2, 'PROJECT_EMAIL', 'This is a PROJECT test email, using $variable .', NULL, 1),
			  (3, 'SITE_EMAIL', 'This is a SITE test email, using $variable .', 2, NULL),
			  (4, 'GENERAL_TEST_EMAIL', 'This is a PROJECT test email overriding GLOBAL, using $variable .', NULL, 1)) t
			 WHERE NOT EXISTS (SELECT 1 FROM email.t_email_templates)`)
		f.exec(`SELECT setval(pg_get_serial_sequence('email.t_email_templates', 'id_email_template'),
			greatest((SELECT max(id_email_template) FROM email.t_email_templates), 1))`)
		f.fill("t_tests_types", []string{"id_test_type", "id_service", "test_type_uuid", "test_type_name", "test_type_description", "test_type_key",
			"test_type_has_json_format", "test_type_has_web_format", "test_type_has_web_editor"},
			[]any{1, 6, uuid.NewString(), "Pre-session evaluation", "Evaluation shown before a session", "PRE", true, false, false},
			[]any{2, 6, uuid.NewString(), "Post-session evaluation", "Evaluation shown after a session", nil, true, true, false},
			[]any{3, 3, uuid.NewString(), "General survey", "General survey", nil, false, true, true})
		f.fill("t_tests_types_sites", []string{"id_test_type_site", "id_test_type", "id_site"}, []any{1, 1, 1}, []any{2, 2, 1}, []any{3, 1, 2}, []any{4, 3, 2})
		f.fill("t_tests_types_projects", []string{"id_test_type_project", "id_test_type", "id_project"}, []any{1, 1, 1}, []any{2, 2, 1}, []any{3, 3, 3})
		if f.empty("t_tests") {
			now := time.Now()
			t := func(id, ses, typ int, name string, part, user, dev any) []any {
				return []any{id, typ, ses, uuid.NewString(), name, now, part, user, dev}
			}
			f.insert("t_tests", []string{"id_test", "id_test_type", "id_session", "test_uuid", "test_name", "test_datetime", "id_participant", "id_user", "id_device"},
				t(1, 2, 1, "Test #0", 1, nil, nil), t(2, 2, 2, "Test #1", nil, 2, nil),
				t(3, 2, 1, "Test #2", nil, nil, 1), t(4, 3, 1, "Test #3", 1, nil, nil))
		}
		return f.err
	})
}

// sessions creates sessions 1–28 in OpenTera's four blocks (user 1, device 1, participant 1,
// service VideoRehab as creators) with their invitees and events 1–24.
func sessions(f *filler) {
	status := []int{0, 0, 0, 1, 2, 2, 3, 4}
	now := time.Now()
	type ses struct {
		creatorUser, creatorDevice, creatorPart, creatorSvc any
		parts, users, devices                               []int
	}
	var all []ses
	for i := range 8 { // 1–8: created by user 1
		s := ses{creatorUser: 1, parts: []int{1}, users: []int{1}}
		if i == 7 {
			s.parts = []int{1, 2}
		}
		if i >= 4 {
			s.users = []int{1, 2, 3}
		}
		if i == 1 { // session 2 (as observed in OpenTera's fixture)
			s.users = []int{1, 2}
			s.creatorPart, s.creatorSvc = 1, 6
		}
		if i == 3 {
			s.devices = []int{2}
		}
		all = append(all, s)
	}
	for i := range 8 { // 9–16: created by device 1
		s := ses{creatorDevice: 1, parts: []int{1}, devices: []int{1}}
		if i == 7 {
			s.parts = []int{1, 2}
		}
		if i == 0 {
			s.creatorSvc = 3
		}
		all = append(all, s)
	}
	for i := range 8 { // 17–24: created by participant 1
		s := ses{creatorPart: 1, parts: []int{1}}
		if i < 4 {
			s.devices = []int{1}
		} else {
			s.users = []int{5}
		}
		all = append(all, s)
	}
	for i := range 4 { // 25–28: created by VideoRehabService
		s := ses{creatorSvc: 6, parts: []int{1}}
		if i == 3 {
			s.parts = []int{1, 2}
			s.users = []int{3}
		}
		all = append(all, s)
	}
	cols := []string{"id_session", "session_uuid", "id_session_type", "session_name", "session_start_datetime", "session_duration",
		"session_status", "id_creator_user", "id_creator_device", "id_creator_participant", "id_creator_service"}
	var rows, sp, su, sd [][]any
	for k, s := range all {
		id := k + 1
		i := k
		switch {
		case k >= 24:
			i = k - 24
		default:
			i = k % 8
		}
		rows = append(rows, []any{id, uuid.NewString(), (id-1)%3 + 1, "Séance #" + itoa(i+1), now.AddDate(0, 0, -i), 60 * id,
			status[i], s.creatorUser, s.creatorDevice, s.creatorPart, s.creatorSvc})
		for _, p := range s.parts {
			sp = append(sp, []any{len(sp) + 1, id, p})
		}
		for _, u := range s.users {
			su = append(su, []any{len(su) + 1, id, u})
		}
		for _, d := range s.devices {
			sd = append(sd, []any{len(sd) + 1, id, d})
		}
	}
	f.insert("t_sessions", cols, rows...)
	f.fill("t_sessions_participants", []string{"id_session_participant", "id_session", "id_participant"}, sp...)
	f.fill("t_sessions_users", []string{"id_session_user", "id_session", "id_user"}, su...)
	f.fill("t_sessions_devices", []string{"id_session_device", "id_session", "id_device"}, sd...)
	if f.empty("t_sessions_events") {
		var ev [][]any
		for n := range 24 {
			typ := n % 12
			ev = append(ev, []any{n + 1, n/12 + 1, typ, now.Add(time.Duration(n) * time.Minute), "SessionEventTypes." + sessionEventNames[typ], "Défaut"})
		}
		f.insert("t_sessions_events", []string{"id_session_event", "id_session", "id_session_event_type", "session_event_datetime",
			"session_event_text", "session_event_context"}, ev...)
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
