package filetransfer_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/blob/blobtest"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// eachBackend runs f on each blob store: a directory, and an S3 bucket on blobtest's server
// (gofakes3 over HTTP, or TERA_TEST_S3_ENDPOINT's).
func eachBackend(t *testing.T, f func(t *testing.T, store blob.Config)) {
	t.Run("filesystem", func(t *testing.T) { f(t, blob.Config{Backend: "filesystem", Dir: t.TempDir()}) })
	t.Run("s3", func(t *testing.T) { f(t, blob.Config{Backend: "s3", S3: blobtest.NewS3(t)}) })
}

func withBlob(c blob.Config) func(*fleet.Config) {
	return func(fc *fleet.Config) { fc.FileTransfer.Blob = c }
}

func basic(user, pass string) http.Header {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"OpenTera " + token}} }

type part struct{ name, filename, body string }

// multipartBody builds a multipart/form-data body of the parts, in order.
func multipartBody(t *testing.T, parts ...part) (io.Reader, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.filename != "" {
			w, err = mw.CreateFormFile(p.name, p.filename)
		} else {
			w, err = mw.CreateFormField(p.name)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func send(t *testing.T, method, u string, h http.Header, body io.Reader, ctype string) fleettest.Answer {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fleettest.Answer{Status: resp.StatusCode, Body: b}
}

func upload(t *testing.T, base string, h http.Header, parts ...part) fleettest.Answer {
	t.Helper()
	body, ct := multipartBody(t, parts...)
	return send(t, "POST", base+"/file/api/assets", h, body, ct)
}

func fileAsset(v map[string]any) part {
	b, _ := json.Marshal(v)
	return part{name: "file_asset", body: string(b)}
}

func want(t *testing.T, what string, a fleettest.Answer, code int) {
	t.Helper()
	if a.Status != code {
		t.Errorf("%s: %d %s, want %d", what, a.Status, a.Body, code)
	}
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

// The asset file API as OpenTera's test_QueryAssetFileAndInfos walks it: upload (either part
// order), the URLs and token of /api/user/assets, infos, rename, download, refusals, delete.
func TestAssetFiles(t *testing.T) {
	eachBackend(t, func(t *testing.T, store blob.Config) {
		e := fleettest.NewSite(t)
		base, _ := e.Start("all", withBlob(store))
		admin := basic("admin", "admin")
		content := randomText(300_000)

		want(t, "not multipart", send(t, "POST", base+"/file/api/assets", admin, strings.NewReader("{}"), "application/json"), 400)
		want(t, "no file_asset", upload(t, base, admin, part{"file", "testfile", content}), 400)
		want(t, "no file", upload(t, base, admin, fileAsset(map[string]any{"id_session": 1, "asset_name": "A"})), 400)
		want(t, "no filename", upload(t, base, admin, fileAsset(map[string]any{"id_session": 1, "asset_name": "A"}), part{"file", "", content}), 400)
		want(t, "bad JSON", upload(t, base, admin, part{name: "file_asset", body: "{"}, part{"file", "testfile", content}), 400)
		want(t, "missing fields", upload(t, base, admin, fileAsset(map[string]any{}), part{"file", "testfile", content}), 400)
		want(t, "unknown session", upload(t, base, admin, fileAsset(map[string]any{"id_session": 100, "asset_name": "A"}), part{"file", "testfile", content}), 403)
		// user4 sees no session; the file part first, so its bytes are stored, then dropped.
		want(t, "no session access", upload(t, base, basic("user4", "user4"), part{"file", "testfile", content},
			fileAsset(map[string]any{"id_session": 1, "asset_name": "A"})), 403)
		// No credential, or a refused one: FileTransferService's decorator answers 403 "Forbidden".
		want(t, "no token", upload(t, base, nil, fileAsset(map[string]any{"id_session": 1, "asset_name": "A"}), part{"file", "testfile", content}), 403)
		want(t, "invalid token", upload(t, base, bearer("invalid"), fileAsset(map[string]any{"id_session": 1, "asset_name": "A"}), part{"file", "testfile", content}), 403)
		var static string
		if err := e.DB.QueryRow(context.Background(), `SELECT participant_token FROM core.t_participants WHERE id_participant = 1`).Scan(&static); err != nil {
			t.Fatal(err)
		}
		want(t, "participant static token", upload(t, base, bearer(static), fileAsset(map[string]any{"id_session": 1, "asset_name": "A"}),
			part{"file", "testfile", content}), 403)
		var orphans int
		if err := e.DB.QueryRow(context.Background(), `SELECT count(*) FROM filetransfer.t_asset_file_data`).Scan(&orphans); err != nil || orphans != 0 {
			t.Fatalf("refused uploads left %d file rows (%v)", orphans, err)
		}

		a := upload(t, base, admin, part{"file", "test file.bin", content}, fileAsset(map[string]any{"id_session": 1, "asset_name": "Test Asset"}))
		want(t, "upload", a, 200)
		var up map[string]any
		a.JSON(t, &up)
		assetUUID, _ := up["asset_uuid"].(string)
		if assetUUID == "" || up["asset_original_filename"] != "test_file.bin" || up["asset_file_size"] != float64(len(content)) ||
			up["id_user"] != float64(1) || up["asset_type"] != "application/octet-stream" || up["access_token"] == nil {
			t.Fatalf("upload answer: %s", a.Body)
		}

		// The user API lists it with the file-transfer URLs and a token.
		var listed []map[string]any
		a = fleettest.Do(t, "GET", fmt.Sprintf("%s/api/user/assets?id_asset=%v&with_urls=true", base, up["id_asset"]), admin, nil)
		want(t, "user assets", a, 200)
		a.JSON(t, &listed)
		if len(listed) != 1 || listed[0]["asset_url"] != "https://tera.test/file/api/assets" && !strings.HasSuffix(fmt.Sprint(listed[0]["asset_url"]), "/file/api/assets") {
			t.Fatalf("user assets: %s", a.Body)
		}
		token, _ := listed[0]["access_token"].(string)

		q := func(kv ...string) string {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return "?" + v.Encode()
		}
		want(t, "infos without token", fleettest.Do(t, "GET", base+"/file/api/assets/infos"+q("asset_uuid", assetUUID), admin, nil), 400)
		want(t, "infos invalid token", fleettest.Do(t, "GET", base+"/file/api/assets/infos"+q("asset_uuid", assetUUID, "access_token", "invalid"), admin, nil), 403)
		a = fleettest.Do(t, "GET", base+"/file/api/assets/infos"+q("asset_uuid", assetUUID, "access_token", token), admin, nil)
		want(t, "infos", a, 200)
		if !strings.Contains(string(a.Body), `"asset_original_filename":"test_file.bin"`) {
			t.Errorf("infos: %s", a.Body)
		}
		post := func(body any) fleettest.Answer {
			return fleettest.Do(t, "POST", base+"/file/api/assets/infos", admin, body)
		}
		want(t, "infos post empty", post(map[string]any{}), 400)
		want(t, "infos post token only", post(map[string]any{"access_token": token}), 400)
		want(t, "infos post no uuid", post(map[string]any{"file_asset": map[string]any{}}), 400)
		want(t, "infos post other uuid", post(map[string]any{"file_asset": map[string]any{"asset_uuid": "1111111", "access_token": token}}), 403)
		want(t, "infos post no name", post(map[string]any{"file_asset": map[string]any{"asset_uuid": assetUUID, "access_token": token}}), 400)
		a = post(map[string]any{"file_asset": map[string]any{"asset_uuid": assetUUID, "asset_original_filename": "testfile2", "access_token": token}})
		want(t, "rename", a, 200)
		if !strings.Contains(string(a.Body), `"asset_original_filename":"testfile2"`) {
			t.Errorf("rename: %s", a.Body)
		}
		a = post(map[string]any{"asset_uuids": []string{assetUUID}, "access_token": token})
		want(t, "batch infos", a, 200)
		want(t, "batch infos beyond the token", post(map[string]any{"asset_uuids": []string{assetUUID, "other"}, "access_token": token}), 403)

		// Access-token refusals: each is OpenTera's 403.
		signer := e.Signer()
		var adminUUID, user4UUID string
		e.DB.QueryRow(context.Background(), `SELECT user_uuid FROM core.t_users WHERE id_user = 1`).Scan(&adminUUID)
		e.DB.QueryRow(context.Background(), `SELECT user_uuid FROM core.t_users WHERE id_user = 6`).Scan(&user4UUID)
		otherAsset, _ := signer.AssetToken(adminUUID, []string{"00000000-0000-0000-0000-00000000abcd"})
		otherRequester, _ := signer.AssetToken(user4UUID, []string{assetUUID})
		signer.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		expired, _ := signer.AssetToken(adminUUID, []string{assetUUID})
		tampered := token[:len(token)-4] + map[bool]string{true: "AAAA", false: "BBBB"}[!strings.HasSuffix(token, "AAAA")]
		for name, tok := range map[string]string{"invalid": "invalid", "other asset": otherAsset, "other requester": otherRequester,
			"expired": expired, "tampered": tampered, "a user token": fleettest.Login(t, base, "user", "admin", "admin")} {
			want(t, "download with "+name+" token", fleettest.Do(t, "GET", base+"/file/api/assets"+q("asset_uuid", assetUUID, "access_token", tok), admin, nil), 403)
			want(t, "delete with "+name+" token", fleettest.Do(t, "DELETE", base+"/file/api/assets"+q("uuid", assetUUID, "access_token", tok), admin, nil), 403)
		}
		for name, h := range map[string]http.Header{"no credential": nil, "an invalid token": bearer("invalid"), "a wrong password": basic("admin", "wrong"),
			"a token in the query string": nil} {
			u := base + "/file/api/assets" + q("asset_uuid", assetUUID, "access_token", token)
			if name == "a token in the query string" {
				u += "&token=invalid"
			}
			a := fleettest.Do(t, "GET", u, h, nil)
			want(t, "download with "+name, a, 403)
			if strings.TrimSpace(string(a.Body)) != `"Forbidden"` {
				t.Errorf("download with %s: %s, want OpenTera's \"Forbidden\"", name, a.Body)
			}
		}
		for _, p := range []string{"/file/api/assets/infos", "/file/api/archives", "/file/api/archives/infos"} {
			want(t, "GET "+p+" without credential", fleettest.Do(t, "GET", base+p, nil, nil), 403)
		}
		want(t, "download without token", fleettest.Do(t, "GET", base+"/file/api/assets"+q("asset_uuid", assetUUID), admin, nil), 400)

		// Download: whole, then a range.
		req, _ := http.NewRequest("GET", base+"/file/api/assets"+q("asset_uuid", assetUUID, "access_token", token), nil)
		req.Header = admin.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != content || resp.Header.Get("Content-Disposition") != `attachment; filename=testfile2` ||
			resp.Header.Get("Content-Type") != "application/octet-stream" {
			t.Fatalf("download: %d %q %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Disposition"), resp.Header.Get("Content-Type"), len(got))
		}
		req.Header.Set("Range", "bytes=1000-1999")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || string(got) != content[1000:2000] {
			t.Errorf("range: %d, %d bytes", resp.StatusCode, len(got))
		}

		// Delete: in core too, then gone.
		want(t, "delete without token", fleettest.Do(t, "DELETE", base+"/file/api/assets"+q("uuid", assetUUID), admin, nil), 400)
		want(t, "delete without uuid", fleettest.Do(t, "DELETE", base+"/file/api/assets"+q("access_token", token), admin, nil), 400)
		want(t, "delete", fleettest.Do(t, "DELETE", base+"/file/api/assets"+q("uuid", assetUUID, "access_token", token), admin, nil), 200)
		want(t, "download deleted", fleettest.Do(t, "GET", base+"/file/api/assets"+q("asset_uuid", assetUUID, "access_token", token), admin, nil), 404)
		a = fleettest.Do(t, "GET", fmt.Sprintf("%s/api/user/assets?id_asset=%v", base, up["id_asset"]), admin, nil)
		if a.Status != 200 || strings.TrimSpace(string(a.Body)) != "[]" {
			t.Errorf("deleted asset still listed: %d %s", a.Status, a.Body)
		}
		want(t, "delete again", fleettest.Do(t, "DELETE", base+"/file/api/assets"+q("uuid", assetUUID, "access_token", token), admin, nil), 404)

		// A device uploads to a session it created, not to another.
		var deviceToken string
		e.DB.QueryRow(context.Background(), `SELECT device_token FROM core.t_devices WHERE id_device = 1`).Scan(&deviceToken)
		want(t, "device upload", upload(t, base, bearer(deviceToken), fileAsset(map[string]any{"id_session": 9, "asset_name": "D"}), part{"file", "d.csv", "a,b\n"}), 200)
		want(t, "device upload elsewhere", upload(t, base, bearer(deviceToken), fileAsset(map[string]any{"id_session": 1, "asset_name": "D"}), part{"file", "d.csv", "a,b\n"}), 403)
	})
}

// An archive of a session with three assets: asked for, built by the job, downloaded by its
// owner only, its zip listing OpenTera's layout.
func TestSessionArchive(t *testing.T) {
	eachBackend(t, func(t *testing.T, store blob.Config) {
		e := fleettest.NewSite(t)
		base, _ := e.Start("all", withBlob(store))
		admin := basic("admin", "admin")
		files := map[string]string{"video.mp4": randomText(200_000), "data.csv": "t,x\n1,2\n", "notes.txt": "hello"}
		for name, body := range files {
			want(t, "upload "+name, upload(t, base, admin, fileAsset(map[string]any{"id_session": 1, "asset_name": name}), part{"file", name, body}), 200)
		}
		want(t, "no selector", fleettest.Do(t, "GET", base+"/api/user/assets/archive", admin, nil), 400)
		want(t, "two selectors", fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=1&id_project=1", admin, nil), 400)
		want(t, "not a number", fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=x", admin, nil), 400)
		want(t, "no access", fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=1", basic("user4", "user4"), nil), 403)
		want(t, "participant", fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=1", bearer(fleettest.Login(t, base, "participant", "participant1", "opentera")), nil), 401)
		// A session without files here is an empty archive, not an error.
		a0 := fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=2", admin, nil)
		want(t, "archive of a session without files", a0, 200)
		if !strings.Contains(string(a0.Body), `"archive_assets_total":0`) {
			t.Errorf("empty archive: %s", a0.Body)
		}

		a := fleettest.Do(t, "GET", base+"/api/user/assets/archive?id_session=1", admin, nil)
		want(t, "archive", a, 200)
		var ar map[string]any
		a.JSON(t, &ar)
		archiveUUID, _ := ar["archive_uuid"].(string)
		if archiveUUID == "" || ar["archive_status"] != float64(0) || !strings.HasSuffix(fmt.Sprint(ar["archive_original_filename"]), "_archive.zip") {
			t.Fatalf("archive answer: %s", a.Body)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			a = fleettest.Do(t, "GET", base+"/file/api/archives/infos?archive_uuid="+archiveUUID, admin, nil)
			a.JSON(t, &ar)
			if ar["archive_status"] == float64(2) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("archive not built: %s", a.Body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if ar["archive_assets_done"] != float64(3) || ar["archive_assets_total"] != float64(3) {
			t.Errorf("progress: %s", a.Body)
		}
		want(t, "other user's infos", fleettest.Do(t, "GET", base+"/file/api/archives/infos?archive_uuid="+archiveUUID, basic("user3", "user3"), nil), 403)
		want(t, "other user's download", fleettest.Do(t, "GET", base+"/file/api/archives?archive_uuid="+archiveUUID, basic("user3", "user3"), nil), 403)
		want(t, "unknown archive", fleettest.Do(t, "GET", base+"/file/api/archives?archive_uuid=nope", admin, nil), 404)
		a = fleettest.Do(t, "GET", base+"/file/api/archives?archive_uuid="+archiveUUID, admin, nil)
		want(t, "download archive", a, 200)
		zr, err := zip.NewReader(bytes.NewReader(a.Body), int64(len(a.Body)))
		if err != nil {
			t.Fatalf("not a zip: %v", err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			base := f.Name[strings.LastIndex(f.Name, "/")+1:]
			if string(b) != files[base] {
				t.Errorf("%s: content differs", f.Name)
			}
		}
		sort.Strings(names)
		dir := "Default Site/Default Project #1/Participant #1/1_Séance #1/"
		wantNames := []string{dir + "data.csv", dir + "notes.txt", dir + "video.mp4"}
		if fmt.Sprint(names) != fmt.Sprint(wantNames) {
			t.Errorf("zip listing %q, want %q", names, wantNames)
		}
		want(t, "other user's delete", fleettest.Do(t, "DELETE", base+"/file/api/archives?uuid="+archiveUUID, basic("user3", "user3"), nil), 403)
		want(t, "delete archive", fleettest.Do(t, "DELETE", base+"/file/api/archives?uuid="+archiveUUID, admin, nil), 200)
		want(t, "deleted archive", fleettest.Do(t, "GET", base+"/file/api/archives/infos?archive_uuid="+archiveUUID, admin, nil), 404)
	})
}

// An asset deleted in core by another path than DELETE /file/api/assets (here a plain soft
// delete, as a session's deletion cascades) loses its file: the target consumes the asset's
// DatabaseEvent from core's outbox.
func TestAssetDeletedInCoreLosesItsFile(t *testing.T) {
	eachBackend(t, func(t *testing.T, store blob.Config) {
		e := fleettest.NewSite(t)
		base, _ := e.Start("all", withBlob(store))
		a := upload(t, base, basic("admin", "admin"), fileAsset(map[string]any{"id_session": 1, "asset_name": "gone"}), part{"file", "gone.txt", "bytes"})
		want(t, "upload", a, 200)
		var up map[string]any
		a.JSON(t, &up)
		ctx := context.Background()
		if _, err := e.DB.Exec(ctx, `UPDATE core.t_assets SET deleted_at = now() WHERE asset_uuid = $1`, up["asset_uuid"]); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var n int
			if err := e.DB.QueryRow(ctx, `SELECT count(*) FROM filetransfer.t_asset_file_data WHERE asset_uuid = $1`, up["asset_uuid"]).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the file of the asset deleted in core is still there")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The bytes went before the row.
		bs, err := blob.Open(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bs.Stat(ctx, up["asset_uuid"].(string)); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("the bytes of the asset deleted in core: %v, want ErrNotFound", err)
		}
	})
}

// An upload over the body limit is refused with the server's too-large answer, whichever part
// comes first, and leaves neither an asset, a file row nor bytes in the store.
func TestUploadOverTheLimit(t *testing.T) {
	const limit = 64 << 10
	dir := t.TempDir()
	e := fleettest.NewSite(t)
	base, _ := e.Start("all", func(c *fleet.Config) {
		c.FileTransfer.Blob = blob.Config{Backend: "filesystem", Dir: dir}
		c.FileTransfer.MaxUploadBytes = limit
	})
	admin := basic("admin", "admin")
	var assetsBefore int
	if err := e.DB.QueryRow(context.Background(), `SELECT count(*) FROM core.t_assets`).Scan(&assetsBefore); err != nil {
		t.Fatal(err)
	}
	desc := fileAsset(map[string]any{"id_session": 1, "asset_name": "Too large"})
	big := part{"file", "big.bin", randomText(4 * limit)}
	for name, parts := range map[string][]part{"descriptor first": {desc, big}, "file first": {big, desc}} {
		// With a Content-Length the server refuses before the handler; chunked, the handler
		// finds out while it streams the file part to the store.
		for _, chunked := range []bool{false, true} {
			body, ct := multipartBody(t, parts...)
			if chunked {
				body = io.MultiReader(body)
			}
			a := send(t, "POST", base+"/file/api/assets", admin, body, ct)
			if a.Status != http.StatusBadRequest || !strings.Contains(string(a.Body), server.TooLargeMessage(limit)) {
				t.Errorf("%s (chunked %v): %d %s, want 400 %q", name, chunked, a.Status, a.Body, server.TooLargeMessage(limit))
			}
		}
	}
	var assets, files int
	if err := e.DB.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM core.t_assets), (SELECT count(*) FROM filetransfer.t_asset_file_data)`).Scan(&assets, &files); err != nil {
		t.Fatal(err)
	}
	if assets != assetsBefore || files != 0 {
		t.Fatalf("refused uploads left %d new assets and %d file rows", assets-assetsBefore, files)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("refused uploads left bytes in the store: %v", left)
	}
	// Within the limit the same upload is stored.
	want(t, "upload within the limit", upload(t, base, admin, desc, part{"file", "small.bin", randomText(limit / 2)}), 200)
}
