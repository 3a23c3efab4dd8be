package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/servicekit"
	"github.com/tera-health/tera/services/internal/testenv"
)

// A service consuming DatabaseEvents gets OpenTera's event JSON (to_json(minimal=True) for
// users, participants and devices), never another principal's secret: not a participant's
// static token, a device's token, the site's token and register keys or an invitation key.
// Every event of those models the fixture's seed and a few writes produce is read as a service
// reads it, through servicekit's durable consumer.
func TestServiceEventsCarryNoSecrets(t *testing.T) {
	pool, js := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The secrets in the database, whose values no event may hold.
	var secrets []string
	for _, q := range []string{
		`SELECT participant_token FROM core.t_participants WHERE participant_token IS NOT NULL`,
		`SELECT device_token FROM core.t_devices WHERE device_token IS NOT NULL`,
		`SELECT server_settings_value FROM core.t_server_settings
		  WHERE server_settings_name IN ('TokenEncryptionKey', 'ParticipantTokenEncryptionKey', 'DeviceRegisterKey')`,
	} {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if len(secrets) < 8 {
		t.Fatalf("the fixture holds %d secrets: expected its participant and device tokens and the site's keys", len(secrets))
	}
	const newRegisterKey, invitationKey = "R3gisterKey9", "0123456789abcdef"
	secrets = append(secrets, newRegisterKey, invitationKey)
	forbidden := map[string][]string{
		"participant":     {"participant_token", "participant_password", "participant_username", "participant_login_enabled", "participant_lastonline"},
		"device":          {"device_token", "device_certificate", "device_config", "device_infos", "device_notes", "device_onlineable", "device_lastonline"},
		"user":            {"user_password", "user_2fa_otp_secret", "user_username", "user_email", "user_profile", "user_notes", "user_lastonline"},
		"test_invitation": {"test_invitation_key"},
	}
	required := map[string][]string{
		"participant": {"id_participant", "participant_uuid", "participant_name", "participant_enabled", "id_project"},
		"device":      {"id_device", "device_uuid", "device_name", "device_enabled"},
		"user":        {"id_user", "user_uuid", "user_enabled", "user_firstname", "user_lastname", "user_name"},
	}

	events := make(chan servicekit.Event, 1000)
	models := []string{"participant", "device", "user", "server_settings", "test_invitation"}
	consumed := make(chan error, 1)
	go func() {
		consumed <- servicekit.ConsumeDatabaseEvents(ctx, js, "service-secrets", models, func(_ context.Context, e servicekit.Event) error {
			events <- e
			return nil
		})
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := js.Consumer(ctx, StreamName, "service-secrets"); err == nil {
			break
		} else if !errors.Is(err, jetstream.ErrConsumerNotFound) || time.Now().After(deadline) {
			t.Fatalf("the service's consumer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := NewRelay(pool, js, testenv.Quiet())
	relayed := make(chan error, 1)
	go func() { relayed <- r.Run(ctx) }()

	for _, q := range []string{
		`UPDATE core.t_participants SET participant_name = 'Renamed participant' WHERE id_participant = 1`,
		`UPDATE core.t_devices SET device_name = 'Renamed device' WHERE id_device = 1`,
		`UPDATE core.t_users SET user_firstname = 'Renamed' WHERE id_user = 1`,
		`UPDATE core.t_server_settings SET server_settings_value = '` + newRegisterKey + `' WHERE server_settings_name = 'DeviceRegisterKey'`,
		`INSERT INTO core.t_tests_invitations (id_test_type, id_participant, id_project, test_invitation_key, test_invitation_expiration_date)
		 VALUES ((SELECT min(id_test_type) FROM core.t_tests_types), 1, 1, '` + invitationKey + `', now() + interval '1 day')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// The writes' events, recognized by what they carry.
	markers := map[string]func(servicekit.Event, map[string]any) bool{
		"participant rename": func(e servicekit.Event, o map[string]any) bool { return o["participant_name"] == "Renamed participant" },
		"device rename":      func(e servicekit.Event, o map[string]any) bool { return o["device_name"] == "Renamed device" },
		"user rename":        func(e servicekit.Event, o map[string]any) bool { return o["user_name"] == "Renamed Admin" },
		"register key change": func(e servicekit.Event, o map[string]any) bool {
			return e.Model == "server_settings" && o["server_settings_name"] == "DeviceRegisterKey" && e.Verb == "updated"
		},
		"invitation": func(e servicekit.Event, _ map[string]any) bool {
			return e.Model == "test_invitation" && e.Verb == "created"
		},
	}
	seen := map[string]int{}
	timeout := time.After(30 * time.Second)
	for len(markers) > 0 {
		var e servicekit.Event
		select {
		case e = <-events:
		case <-timeout:
			t.Fatalf("events not delivered: %v (seen per model %v)", keys(markers), seen)
		}
		seen[e.Model]++
		raw := string(e.Object)
		for _, s := range secrets {
			if strings.Contains(raw, s) {
				t.Errorf("%s %s event carries a secret value: %s", e.Model, e.Verb, raw)
			}
		}
		var o map[string]any
		if err := json.Unmarshal(e.Object, &o); err != nil {
			t.Fatalf("%s event: %v: %s", e.Model, err, raw)
		}
		for _, k := range forbidden[e.Model] {
			if _, ok := o[k]; ok {
				t.Errorf("%s %s event carries %s: %s", e.Model, e.Verb, k, raw)
			}
		}
		if e.Model == "server_settings" {
			if _, ok := o["server_settings_value"]; ok && strings.Contains(" TokenEncryptionKey ParticipantTokenEncryptionKey DeviceRegisterKey ", " "+o["server_settings_name"].(string)+" ") {
				t.Errorf("server_settings event carries the value of %s: %s", o["server_settings_name"], raw)
			}
		}
		if e.Verb != "deleted" {
			for _, k := range required[e.Model] {
				if _, ok := o[k]; !ok {
					t.Errorf("%s %s event lacks %s: %s", e.Model, e.Verb, k, raw)
				}
			}
		}
		for name, match := range markers {
			if match(e, o) {
				delete(markers, name)
			}
		}
	}
	t.Logf("events read as a service: %v", seen)
	cancel()
	if err := <-relayed; err != nil {
		t.Error(err)
	}
	if err := <-consumed; err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
