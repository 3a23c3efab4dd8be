package login_test

import (
	"strings"
	"testing"
)

// Every credential kind works on its own surface only, with tokens minted by the login target
// and verified by core: another kind's token is OpenTera's 401 on the participant, device and
// user APIs alike; a participant's static token (role limited) is 403 on the endpoints that
// need the full role; a device reaches no other device's data.
func TestTokenKindsOnEverySurface(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	user := do(t, req{url: a + "/api/user/login", basic: [2]string{"user", "user"}}).str("user_token", t)
	login := do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "opentera"}})
	dynamic, static := login.str("participant_token", t), login.str("base_token", t)
	device := e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)
	device2 := e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 2`)

	participantReads := []string{"/api/participant/participants", "/api/participant/devices", "/api/participant/sessions",
		"/api/participant/assets?id_asset=1"}
	deviceReads := []string{"/api/device/devices", "/api/device/participants", "/api/device/assets"}
	for _, p := range participantReads {
		wantCode(t, "dynamic participant token on "+p, do(t, req{url: core + p, token: dynamic}), 200)
		wantCode(t, "participant Basic on "+p, do(t, req{url: core + p, basic: [2]string{"participant1", "opentera"}}), 200)
		wantUnauthorized(t, "user token on "+p, do(t, req{url: core + p, token: user}))
		wantUnauthorized(t, "user Basic on "+p, do(t, req{url: core + p, basic: [2]string{"user", "user"}}))
		wantUnauthorized(t, "device token on "+p, do(t, req{url: core + p, token: device}))
		wantUnauthorized(t, "device ?token= on "+p, do(t, req{url: core + p + sep(p) + "token=" + device}))
	}
	for _, p := range deviceReads {
		wantCode(t, "device token on "+p, do(t, req{url: core + p, token: device}), 200)
		wantCode(t, "device ?token= on "+p, do(t, req{url: core + p + sep(p) + "token=" + device}), 200)
		wantUnauthorized(t, "user token on "+p, do(t, req{url: core + p, token: user}))
		wantUnauthorized(t, "participant token on "+p, do(t, req{url: core + p, token: dynamic}))
		wantUnauthorized(t, "static participant token on "+p, do(t, req{url: core + p, token: static}))
		wantUnauthorized(t, "participant Basic on "+p, do(t, req{url: core + p, basic: [2]string{"participant1", "opentera"}}))
	}
	for _, p := range []string{"/api/user/sessions?id_session=1", "/api/user/devices"} {
		wantUnauthorized(t, "participant token on "+p, do(t, req{url: core + p, token: dynamic}))
		wantUnauthorized(t, "device token on "+p, do(t, req{url: core + p, token: device}))
	}
	// The limited role: the full endpoints refuse a static token, the limited ones take it.
	for _, p := range []string{"/api/participant/devices", "/api/participant/sessions"} {
		wantCode(t, "static token on "+p, do(t, req{url: core + p, token: static}), 403)
	}
	wantCode(t, "static token, POST participants", do(t, req{method: "POST", url: core + "/api/participant/participants", token: static,
		body: strings.NewReader(`{"participant": {}}`), ctype: "application/json"}), 403)
	wantCode(t, "static token on participants", do(t, req{url: core + "/api/participant/participants", token: static}), 200)
	wantCode(t, "static token on assets", do(t, req{url: core + "/api/participant/assets?id_asset=1", token: static}), 200)
	// One device cannot change another's config, nor its sessions.
	wantCode(t, "device 1 writes device 2", do(t, req{method: "POST", url: core + "/api/device/devices", token: device,
		body: strings.NewReader(`{"device": {"id_device": 2, "device_config": "{}"}}`), ctype: "application/json"}), 403)
	wantCode(t, "device 2 updates device 1's session", do(t, req{method: "POST", url: core + "/api/device/sessions", token: device2,
		body: strings.NewReader(`{"session": {"id_session": 9, "id_session_type": 1, "session_name": "x"}}`), ctype: "application/json"}), 403)
	wantCode(t, "device 2 reads device 1's session assets", do(t, req{url: core + "/api/device/assets?id_session=9", token: device2}), 403)
}

func sep(p string) string {
	if strings.Contains(p, "?") {
		return "&"
	}
	return "?"
}
