package core_test

import (
	"context"
	"encoding/json"
	"time"
)

// Callers of the service API tests, in the form env.do takes ("token:<raw>").

// svc is the token of a fixture service, by key (VideoRehabService is id 6: project 1, site 1;
// FileTransferService is id 3: projects 1–3, sites 1–2).
func (e *env) svc(key string) string {
	e.t.Helper()
	var uuid string
	if err := e.db.QueryRow(context.Background(), "SELECT service_uuid FROM core.t_services WHERE service_key = $1", key).Scan(&uuid); err != nil {
		e.t.Fatalf("service %s: %v", key, err)
	}
	tok, err := e.signer.ServiceToken(uuid)
	if err != nil {
		e.t.Fatal(err)
	}
	return "token:" + tok
}

// otherKinds are a user, a participant and a device token: all refused (401) on /api/service/*.
func (e *env) otherKinds() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	var puuid, dtoken string
	if err := e.db.QueryRow(ctx, "SELECT participant_uuid FROM core.t_participants WHERE id_participant = 1").Scan(&puuid); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.QueryRow(ctx, "SELECT device_token FROM core.t_devices WHERE id_device = 1").Scan(&dtoken); err != nil {
		e.t.Fatal(err)
	}
	ptok, err := e.signer.ParticipantToken(1, puuid, "Participant #1", time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return map[string]string{"user": "admin/token", "user basic": "admin", "participant": "token:" + ptok,
		"device": "token:" + dtoken, "none": ""}
}

// postObject POSTs expecting 200 and one JSON object.
func (e *env) postObject(who, path string, body any) map[string]any {
	e.t.Helper()
	out := e.expect(200, who, "POST", path, body)
	var obj map[string]any
	if err := json.Unmarshal(out, &obj); err != nil {
		e.t.Fatalf("POST %s: want an object, got %s", path, out)
	}
	return obj
}

// postList POSTs expecting 200 and a JSON array of objects.
func (e *env) postList(who, path string, body any) []map[string]any {
	e.t.Helper()
	out := e.expect(200, who, "POST", path, body)
	var l []map[string]any
	if err := json.Unmarshal(out, &l); err != nil {
		e.t.Fatalf("POST %s: want an array, got %s", path, out)
	}
	return l
}
