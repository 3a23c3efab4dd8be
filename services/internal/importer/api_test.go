package importer_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/testenv"
)

func auth(scheme, secret string) http.Header {
	return http.Header{"Authorization": {scheme + " " + secret}}
}

// get sends a request and decodes its 200 answer into out.
func get(t *testing.T, method, url string, h http.Header, body, out any) {
	t.Helper()
	a := fleettest.Do(t, method, url, h, body)
	if a.Status != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, a.Status, a.Body)
	}
	a.JSON(t, out)
}

// After importing the real OpenTera dump, the fixture's accounts log in with their OpenTera
// passwords and static tokens, and the API serves the source's ids and uuids.
func TestImportedSiteServesTheAPI(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dbURL := testenv.DatabaseURL(t)
	dst := connectTarget(t, dbURL)
	if _, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst}); err != nil {
		t.Fatal(err)
	}
	base, _ := fleettest.NewSiteOn(t, dbURL).Start("core,login")

	admin := fleettest.Login(t, base, "user", "admin", "admin")
	fleettest.Login(t, base, "user", "user3", "user3")
	fleettest.Login(t, base, "participant", "participant1", "opentera")
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth("user3", "wrong")
	if a := fleettest.Do(t, http.MethodGet, base+"/api/user/login", req.Header, nil); a.Status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d %s", a.Status, a.Body)
	}

	// Ids and uuids as the source has them.
	for _, e := range []struct{ path, idCol, uuidCol, table string }{
		{"/api/user/participants?id_participant=%d", "id_participant", "participant_uuid", "t_participants"},
		{"/api/user/sessions?id_session=%d", "id_session", "session_uuid", "t_sessions"},
		{"/api/user/devices?id_device=%d", "id_device", "device_uuid", "t_devices"},
	} {
		rows, err := src.Query(ctx, fmt.Sprintf("SELECT %s, %s FROM public.%s WHERE deleted_at IS NULL ORDER BY 1", e.idCol, e.uuidCol, e.table))
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]string{}
		for rows.Next() {
			var id int64
			var u string
			if err := rows.Scan(&id, &u); err != nil {
				t.Fatal(err)
			}
			want[id] = u
		}
		rows.Close()
		if len(want) == 0 {
			t.Fatalf("%s: no source rows", e.table)
		}
		for id, u := range want {
			var got []map[string]any
			get(t, "GET", base+fmt.Sprintf(e.path, id), auth("OpenTera", admin), nil, &got)
			if len(got) != 1 || got[0][e.idCol] != float64(id) || got[0][e.uuidCol] != u {
				t.Errorf("%s: got %v, want %s=%d %s=%s", e.path, got, e.idCol, id, e.uuidCol, u)
			}
		}
	}

	// A static participant token from the source is accepted.
	var static string
	if err := src.QueryRow(ctx, "SELECT participant_token FROM public.t_participants WHERE id_participant = 1").Scan(&static); err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	get(t, "GET", base+"/api/participant/login", auth("OpenTera", static), nil, &me)
	if me["participant_name"] != "Participant #1" || me["base_token"] != static {
		t.Errorf("static token login: %v", me)
	}
	// A static token sees only its participant's name (OpenTera's token-only view).
	var self map[string]any
	get(t, "GET", base+"/api/participant/participants", auth("OpenTera", static), nil, &self)
	if self["participant_name"] != "Participant #1" {
		t.Errorf("participant self with static token: %v", self)
	}
	if a := fleettest.Do(t, "GET", base+"/api/participant/participants", auth("OpenTera", static[:len(static)-2]+"xx"), nil); a.Status != http.StatusUnauthorized {
		t.Errorf("altered static token: %d, want 401", a.Status)
	}

	// Counts Tera derives by trigger are rebuilt for the imported rows (the copy runs with the
	// triggers off): a project's sessions and participants in /stats are the source's.
	var srcSessions, srcParticipants, srcEnabled float64
	if err := src.QueryRow(ctx, `SELECT (SELECT count(*) FROM public.t_sessions_participants sp
		JOIN public.t_participants p ON p.id_participant = sp.id_participant
		WHERE p.id_project = 1 AND sp.deleted_at IS NULL AND p.deleted_at IS NULL),
		(SELECT count(*) FROM public.t_participants WHERE id_project = 1 AND deleted_at IS NULL),
		(SELECT count(*) FROM public.t_participants WHERE id_project = 1 AND deleted_at IS NULL AND participant_enabled)`).Scan(&srcSessions, &srcParticipants, &srcEnabled); err != nil {
		t.Fatal(err)
	}
	var stats map[string]any
	get(t, "GET", base+"/api/user/stats?id_project=1", auth("OpenTera", admin), nil, &stats)
	if srcSessions == 0 || srcParticipants == 0 || stats["sessions_total_count"] != srcSessions ||
		stats["participants_total_count"] != srcParticipants || stats["participants_enabled_count"] != srcEnabled {
		t.Errorf("project 1 stats after import: %v, want sessions_total_count %v, participants_total_count %v, participants_enabled_count %v",
			stats, srcSessions, srcParticipants, srcEnabled)
	}

	// A new participant gets an id above every imported one.
	var maxID float64
	if err := src.QueryRow(ctx, "SELECT max(id_participant) FROM public.t_participants").Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	var created []map[string]any
	get(t, "POST", base+"/api/user/participants", auth("OpenTera", admin),
		map[string]any{"participant": map[string]any{"id_participant": 0, "participant_name": "After the switch", "id_project": 1}}, &created)
	if len(created) != 1 {
		t.Fatalf("new participant: %v", created)
	}
	if id, _ := created[0]["id_participant"].(float64); id <= maxID {
		t.Errorf("new participant: %v, want an id above %v", created, maxID)
	}
}
