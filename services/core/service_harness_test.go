package core_test

import (
	"time"
)

// Callers of the service API tests, in the form env.do takes ("token:<raw>").

// svc is the token of a fixture service, by key (VideoRehabService is id 6: project 1, site 1;
// FileTransferService is id 3: projects 1–3, sites 1–2).
func (e *env) svc(key string) string {
	e.t.Helper()
	tok, err := e.signer.ServiceToken(e.serviceUUID(key))
	if err != nil {
		e.t.Fatal(err)
	}
	return "token:" + tok
}

// serviceUUID is the uuid of a fixture service, by key.
func (e *env) serviceUUID(key string) string {
	e.t.Helper()
	return scalar[string](e, "SELECT service_uuid FROM core.t_services WHERE service_key = $1", key)
}

// otherKinds are a user, a participant and a device token: all refused (401) on /api/service/*.
func (e *env) otherKinds() map[string]string {
	e.t.Helper()
	ptok, err := e.signer.ParticipantToken(1, e.uuid("participant", 1), "Participant #1", time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return map[string]string{"user": "admin/token", "user basic": "admin", "participant": "token:" + ptok,
		"device": e.staticToken("device", 1), "none": ""}
}

// request is a method, a path and a body (nil: none).
type request struct {
	method, path string
	body         any
}

// gets is a GET of each path.
func gets(paths ...string) []request {
	var out []request
	for _, p := range paths {
		out = append(out, request{"GET", p, nil})
	}
	return out
}

// otherKindsRefused sends each request as every caller of otherKinds and expects 401.
func (e *env) otherKindsRefused(reqs ...request) {
	e.t.Helper()
	for kind, who := range e.otherKinds() {
		for _, r := range reqs {
			if st, b := e.do(who, r.method, r.path, r.body); st != 401 {
				e.t.Errorf("%s on %s %s: %d %s, want 401", kind, r.method, r.path, st, b)
			}
		}
	}
}

// postObject POSTs expecting 200 and one JSON object.
func (e *env) postObject(who, path string, body any) map[string]any {
	e.t.Helper()
	return object(e.t, e.expect(200, who, "POST", path, body))
}

// postList POSTs expecting 200 and a JSON array of objects.
func (e *env) postList(who, path string, body any) []map[string]any {
	e.t.Helper()
	return written(e.t, e.expect(200, who, "POST", path, body))
}
