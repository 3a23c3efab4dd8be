package filetransfer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/fleettest"
)

func archiveInfo(v map[string]any) part {
	b, _ := json.Marshal(v)
	return part{name: "archive", body: string(b)}
}

// An archive made outside the target, as OpenTera's AssetsArchiveWorker makes one: created by
// POST /file/api/archives/infos (id 0), set in progress, its zip uploaded by POST
// /file/api/archives, then downloaded. With OpenTera's refusals (400, 404) and Tera's stricter
// access (403 for another's archive, 409 for one built by the target's own job).
func TestArchiveUploads(t *testing.T) {
	e := fleettest.NewSite(t)
	blobDir := t.TempDir()
	base, _ := e.Start("all", func(c *fleet.Config) { c.FileTransfer.Blob.Dir = blobDir })
	ctx := context.Background()
	admin, user3 := basic("admin", "admin"), basic("user3", "user3")
	var adminUUID, user3UUID string
	e.DB.QueryRow(ctx, `SELECT user_uuid FROM core.t_users WHERE id_user = 1`).Scan(&adminUUID)
	e.DB.QueryRow(ctx, `SELECT user_uuid FROM core.t_users WHERE user_username = 'user3'`).Scan(&user3UUID)
	infos := func(h map[string][]string, body any) fleettest.Answer {
		return fleettest.Do(t, "POST", base+"/file/api/archives/infos", h, body)
	}
	raw := func(h map[string][]string, body string) fleettest.Answer {
		return send(t, "POST", base+"/file/api/archives/infos", h, strings.NewReader(body), "application/json")
	}
	newArchive := func(extra map[string]any) map[string]any {
		a := map[string]any{"id_archive_file_data": 0, "archive_original_filename": "export.zip", "archive_owner_uuid": adminUUID}
		for k, v := range extra {
			a[k] = v
		}
		return map[string]any{"archive": a}
	}

	// Malformed bodies.
	want(t, "not JSON", raw(admin, "{"), 400)
	want(t, "a JSON list", raw(admin, "[]"), 400)
	want(t, "no archive", infos(admin, map[string]any{}), 400)
	want(t, "archive not an object", infos(admin, map[string]any{"archive": "x"}), 400)
	want(t, "no id", infos(admin, map[string]any{"archive": map[string]any{"archive_original_filename": "a.zip", "archive_owner_uuid": adminUUID}}), 400)
	want(t, "no filename", infos(admin, map[string]any{"archive": map[string]any{"id_archive_file_data": 0, "archive_owner_uuid": adminUUID}}), 400)
	want(t, "no owner", infos(admin, map[string]any{"archive": map[string]any{"id_archive_file_data": 0, "archive_original_filename": "a.zip"}}), 400)
	want(t, "id not a number", infos(admin, newArchive(map[string]any{"id_archive_file_data": "one"})), 400)
	want(t, "id negative", infos(admin, newArchive(map[string]any{"id_archive_file_data": -1})), 400)
	want(t, "owner not a uuid", infos(admin, newArchive(map[string]any{"archive_owner_uuid": "admin"})), 400)
	want(t, "filename not a string", infos(admin, newArchive(map[string]any{"archive_original_filename": 12})), 400)
	want(t, "filename made empty", infos(admin, newArchive(map[string]any{"archive_original_filename": "../"})), 400)

	// Refusals: no credential, a bad one, a participant's static token (403 "Forbidden", as
	// FileTransferService's decorator), another's archive.
	want(t, "no credential", infos(nil, newArchive(nil)), 403)
	want(t, "invalid token", infos(bearer("invalid"), newArchive(nil)), 403)
	var static string
	e.DB.QueryRow(ctx, `SELECT participant_token FROM core.t_participants WHERE id_participant = 1`).Scan(&static)
	want(t, "participant static token", infos(bearer(static), newArchive(nil)), 403)
	want(t, "for another owner", infos(admin, newArchive(map[string]any{"archive_owner_uuid": user3UUID})), 403)
	var n int
	if e.DB.QueryRow(ctx, `SELECT count(*) FROM filetransfer.t_archive_file_data`).Scan(&n); n != 0 {
		t.Fatalf("refused requests left %d archives", n)
	}

	a := infos(admin, newArchive(map[string]any{"archive_original_filename": "my export.zip", "archive_status": 2,
		"archive_uuid": "00000000-0000-0000-0000-000000000bad"}))
	want(t, "create", a, 200)
	var ar map[string]any
	a.JSON(t, &ar)
	id, archiveUUID := ar["id_archive_file_data"], fmt.Sprint(ar["archive_uuid"])
	exp, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(ar["archive_expiration_datetime"]))
	if ar["archive_original_filename"] != "my_export.zip" || ar["archive_status"] != float64(0) || ar["archive_owner_uuid"] != adminUUID ||
		archiveUUID == "00000000-0000-0000-0000-000000000bad" || ar["archive_uploader_uuid"] != nil || time.Until(exp) < 6*24*time.Hour || time.Until(exp) > 8*24*time.Hour {
		t.Fatalf("created archive: %s", a.Body)
	}
	if _, ok := ar["archive_assets_total"]; ok {
		t.Errorf("an archive made outside has no job progress: %s", a.Body)
	}
	update := func(h map[string][]string, v map[string]any) fleettest.Answer {
		info := map[string]any{"id_archive_file_data": id, "archive_original_filename": "my_export.zip", "archive_owner_uuid": adminUUID}
		for k, x := range v {
			info[k] = x
		}
		return infos(h, map[string]any{"archive": info})
	}
	want(t, "update without status", update(admin, nil), 400)
	want(t, "update to an unknown status", update(admin, map[string]any{"archive_status": 9}), 400)
	want(t, "update an unknown archive", update(admin, map[string]any{"id_archive_file_data": 99999, "archive_status": 1}), 404)
	want(t, "update another's archive", update(user3, map[string]any{"archive_status": 3}), 403)
	a = update(admin, map[string]any{"archive_status": 1})
	want(t, "set in progress", a, 200)
	if !strings.Contains(string(a.Body), `"archive_status":1`) {
		t.Errorf("in progress: %s", a.Body)
	}

	// The upload.
	zipBytes := randomText(700_000)
	upArchive := func(h map[string][]string, parts ...part) fleettest.Answer {
		body, ct := multipartBody(t, parts...)
		return send(t, "POST", base+"/file/api/archives", h, body, ct)
	}
	idInfo := archiveInfo(map[string]any{"id_archive_file_data": id})
	file := part{"file", "my_export.zip", zipBytes}
	want(t, "not multipart", send(t, "POST", base+"/file/api/archives", admin, strings.NewReader("{}"), "application/json"), 400)
	want(t, "no archive part", upArchive(admin, file), 400)
	want(t, "no file", upArchive(admin, idInfo), 400)
	want(t, "no filename", upArchive(admin, idInfo, part{"file", "", zipBytes}), 400)
	want(t, "archive part not JSON", upArchive(admin, part{name: "archive", body: "{"}, file), 400)
	want(t, "no archive id", upArchive(admin, archiveInfo(map[string]any{}), file), 400)
	want(t, "unknown archive", upArchive(admin, archiveInfo(map[string]any{"id_archive_file_data": 99999}), file), 404)
	want(t, "another filename", upArchive(admin, idInfo, part{"file", "other.zip", zipBytes}), 400)
	want(t, "another filename, file first", upArchive(admin, part{"file", "other.zip", zipBytes}, idInfo), 400)
	want(t, "another's archive", upArchive(user3, idInfo, file), 403)
	want(t, "another's archive, file first", upArchive(user3, file, idInfo), 403)
	want(t, "no credential", upArchive(nil, idInfo, file), 403)
	if left, _ := os.ReadDir(blobDir); len(left) != 0 {
		t.Fatalf("refused uploads left %d files in the store", len(left))
	}
	a = upArchive(admin, file, idInfo)
	want(t, "upload", a, 200)
	a.JSON(t, &ar)
	if ar["archive_status"] != float64(2) || ar["archive_file_size"] != float64(len(zipBytes)) || ar["archive_uploader_uuid"] != adminUUID ||
		ar["archive_upload_datetime"] == nil {
		t.Fatalf("uploaded archive: %s", a.Body)
	}
	if left, _ := os.ReadDir(blobDir); len(left) != 1 || left[0].Name() != archiveUUID {
		t.Errorf("the store holds %v, want the archive only", left)
	}
	want(t, "upload again", upArchive(admin, idInfo, file), 404)
	a = fleettest.Do(t, "GET", base+"/file/api/archives?archive_uuid="+archiveUUID, admin, nil)
	want(t, "download", a, 200)
	if string(a.Body) != zipBytes {
		t.Errorf("downloaded %d bytes, not the uploaded ones", len(a.Body))
	}
	want(t, "another's download", fleettest.Do(t, "GET", base+"/file/api/archives?archive_uuid="+archiveUUID, user3, nil), 403)

	// An archive the target builds itself is not changed from outside.
	a = fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=2", admin, nil)
	want(t, "archive request", a, 200)
	var job map[string]any
	a.JSON(t, &job)
	jobInfo := map[string]any{"id_archive_file_data": job["id_archive_file_data"], "archive_original_filename": job["archive_original_filename"],
		"archive_owner_uuid": adminUUID, "archive_status": 2}
	want(t, "update a job's archive", infos(admin, map[string]any{"archive": jobInfo}), 409)
	want(t, "upload a job's archive", upArchive(admin, archiveInfo(jobInfo), part{"file", fmt.Sprint(job["archive_original_filename"]), "PK"}), 409)

	// A participant (dynamic token) archives for itself; a service for the participants it
	// reads, not for the others.
	ptok := fleettest.Login(t, base, "participant", "participant1", "opentera")
	var p1UUID string
	e.DB.QueryRow(ctx, `SELECT participant_uuid FROM core.t_participants WHERE id_participant = 1`).Scan(&p1UUID)
	want(t, "participant for itself", infos(bearer(ptok), newArchive(map[string]any{"archive_owner_uuid": p1UUID})), 200)
	want(t, "participant for the admin", infos(bearer(ptok), newArchive(nil)), 403)
	// A service reading participant 1 and someone it does not read (a participant, a user or a
	// device).
	var svcUUID, outside string
	if err := e.DB.QueryRow(ctx, `SELECT s.service_uuid, o.uuid FROM core.t_services s, LATERAL (
		    SELECT p.participant_uuid AS uuid FROM core.t_participants p
		     WHERE p.id_participant NOT IN (SELECT x.id FROM core.acc_participants('service', s.id_service, false) x)
		    UNION ALL SELECT u.user_uuid FROM core.t_users u
		     WHERE u.id_user NOT IN (SELECT x.id FROM core.acc_users('service', s.id_service, false, false) x)
		    UNION ALL SELECT d.device_uuid FROM core.t_devices d
		     WHERE d.id_device NOT IN (SELECT x.id FROM core.acc_devices('service', s.id_service, false) x)) o
		WHERE 1 IN (SELECT x.id FROM core.acc_participants('service', s.id_service, false) x)
		ORDER BY s.id_service LIMIT 1`).Scan(&svcUUID, &outside); err != nil {
		t.Fatalf("no fixture service reads participant 1 and not everyone: %v", err)
	}
	stok, err := e.Signer().ServiceToken(svcUUID)
	if err != nil {
		t.Fatal(err)
	}
	a = infos(bearer(stok), newArchive(map[string]any{"archive_owner_uuid": p1UUID}))
	want(t, "service for its participant", a, 200)
	want(t, "service for a participant outside", infos(bearer(stok), newArchive(map[string]any{"archive_owner_uuid": outside})), 403)
	a.JSON(t, &ar)
	want(t, "service uploads its participant's archive", upArchive(bearer(stok), archiveInfo(map[string]any{"id_archive_file_data": ar["id_archive_file_data"]}),
		part{"file", "export.zip", "zip"}), 200)
	a = fleettest.Do(t, "GET", base+"/file/api/archives?archive_uuid="+fmt.Sprint(ar["archive_uuid"]), bearer(ptok), nil)
	want(t, "the participant downloads it", a, 200)
	if string(a.Body) != "zip" {
		t.Errorf("participant's archive: %q", a.Body)
	}
}
