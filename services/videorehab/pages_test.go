package videorehab_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// The pages and their files are served from the binary: the lobby to users, the participant
// page to participants (static token too), the session page and the files to anyone, each
// with its content type and the pages with their Content-Security-Policy.
func TestPagesServed(t *testing.T) {
	e := newEnv(t, "core,videorehab")
	var static string
	if err := e.db.QueryRow(t.Context(), `SELECT participant_token FROM core.t_participants WHERE id_participant = 1`).Scan(&static); err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimPrefix(e.userToken("admin"), "token:")
	part := strings.TrimPrefix(e.participantToken(1), "token:")
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	for _, c := range []struct {
		path, ctype, contains string
		code                  int
	}{
		{"/rehab/user_session_lobby?token=" + admin, "text/html", "lobby.js", 200},
		{"/rehab/user_session_lobby", "", "", 401},
		{"/rehab/user_session_lobby?token=" + part, "", "", 401},
		{"/rehab/participant?token=" + static, "text/html", "participant.js", 200},
		{"/rehab/participant?token=" + part, "text/html", "participant.js", 200},
		{"/rehab/participant?token=" + admin, "", "", 401},
		{"/rehab/users?key=x", "text/html", "session.js", 200},
		{"/rehab/participants?key=x", "text/html", "session.js", 200},
		{"/rehab/devices?key=x", "text/html", "session.js", 200},
		{"/rehab/static/session.js", "text/javascript", "replaceTrack", 200},
		{"/rehab/static/tera.js", "text/javascript", "export function token", 200},
		{"/rehab/static/participant.js", "text/javascript", "JoinSessionEvent", 200},
		{"/rehab/static/lobby.js", "text/javascript", "session_url_users", 200},
		{"/rehab/static/rehab.css", "text/css", ".controls", 200},
		{"/rehab/static/nothing.js", "", "", 404},
	} {
		code, h, body := get(c.path)
		if code != c.code {
			t.Errorf("GET %s: %d, want %d: %.200s", c.path, code, c.code, body)
			continue
		}
		if code != 200 {
			continue
		}
		if !strings.HasPrefix(h.Get("Content-Type"), c.ctype) || !strings.Contains(body, c.contains) {
			t.Errorf("GET %s: %s, body without %q", c.path, h.Get("Content-Type"), c.contains)
		}
		if c.ctype == "text/html" && (!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") ||
			h.Get("Cache-Control") != "no-store" || h.Get("Referrer-Policy") != "no-referrer") {
			t.Errorf("GET %s: headers %v", c.path, h)
		}
	}
}
