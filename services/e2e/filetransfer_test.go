package e2e

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/blob/blobtest"
)

// fileTransferEnv is a seeded site whose processes read a tera.yaml with the given
// filetransfer settings (a short job lease, so a killed worker's job is taken over quickly).
func fileTransferEnv(t *testing.T, store blob.Config) (env, *pgxpool.Pool) {
	t.Helper()
	e, db := seededEnv(t)
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys)
	cfg := map[string]any{"filetransfer": map[string]any{"blob": store, "job_lease": "2s", "poll_interval": "200ms"}}
	b, _ := json.Marshal(cfg)
	p := filepath.Join(t.TempDir(), "tera.yaml")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	e.args = append(e.args, "--config="+p)
	return e, db
}

// memKB reads a field (VmRSS, VmHWM) of a process's /proc status, in KiB.
func memKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			n, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// uploadStream posts a multipart upload whose file part streams size pseudo-random bytes of
// seed: neither the test nor the server holds the file. It returns the upload's answer and the
// file's SHA-256.
func uploadStream(t *testing.T, base string, session int, name string, size int64, seed uint64) (map[string]any, [32]byte) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := sha256.New()
	go func() {
		desc, _ := json.Marshal(map[string]any{"id_session": session, "asset_name": name})
		err := mw.WriteField("file_asset", string(desc))
		if err == nil {
			var w io.Writer
			if w, err = mw.CreateFormFile("file", name); err == nil {
				src := io.LimitReader(rand.NewChaCha8([32]byte{byte(seed)}), size)
				_, err = io.Copy(io.MultiWriter(w, h), src)
			}
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", base+"/file/api/assets", pr)
	req.SetBasicAuth("admin", "admin")
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("upload %s: %d %s", name, resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return out, sum
}

// downloadSum downloads an asset and returns its size and SHA-256, streaming.
func downloadSum(t *testing.T, base string, asset map[string]any) (int64, [32]byte) {
	t.Helper()
	q := url.Values{"asset_uuid": {asset["asset_uuid"].(string)}, "access_token": {asset["access_token"].(string)}}
	req, _ := http.NewRequest("GET", base+"/file/api/assets?"+q.Encode(), nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("download: %d %s", resp.StatusCode, b)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return n, sum
}

// A 200 MB file goes up and comes back through a `tera serve --target=filetransfer` process,
// on the filesystem and on a real S3 server, with the process's memory bounded: its peak RSS
// growth is logged (go test -v), not asserted (load varies).
func TestFileTransferLargeFileBoundedMemory(t *testing.T) {
	const size = 200 << 20
	for name, store := range map[string]func(t *testing.T) blob.Config{
		"filesystem": func(t *testing.T) blob.Config { return blob.Config{Backend: "filesystem", Dir: t.TempDir()} },
		"s3":         func(t *testing.T) blob.Config { return blob.Config{Backend: "s3", S3: blobtest.NewS3(t)} },
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := fileTransferEnv(t, store(t))
			f := startFleet(t, e, map[string]int{"filetransfer": 1})
			pid := f.replicas[0].cmd.Process.Pid
			before := memKB(t, pid, "VmRSS")
			asset, sent := uploadStream(t, f.URL, 1, "big.bin", size, 1)
			afterUp := memKB(t, pid, "VmHWM")
			if asset["asset_file_size"] != float64(size) {
				t.Fatalf("stored size %v, want %d", asset["asset_file_size"], size)
			}
			n, got := downloadSum(t, f.URL, asset)
			if n != size || got != sent {
				t.Fatalf("downloaded %d bytes, content equal %v", n, got == sent)
			}
			peak := memKB(t, pid, "VmHWM")
			t.Logf("%s: 200 MiB up and down; filetransfer RSS before %d KiB, peak after upload %d KiB (+%d), peak after download %d KiB (+%d)",
				name, before, afterUp, afterUp-before, peak, peak-before)
		})
	}
}

// An archive job survives a kill -9 of the filetransfer process mid-job: the job's lease ends,
// the next process takes it over and builds the archive whole; the zip of the session's three
// assets downloads with its listing and contents intact.
func TestArchiveJobSurvivesKill(t *testing.T) {
	e, db := fileTransferEnv(t, blob.Config{Backend: "filesystem", Dir: t.TempDir()})
	f := startFleet(t, e, map[string]int{"filetransfer": 1})
	sums := map[string][32]byte{}
	for i, name := range []string{"a.bin", "b.bin", "c.bin"} {
		_, sum := uploadStream(t, f.URL, 1, name, 48<<20, uint64(i+10))
		sums[name] = sum
	}
	req, _ := http.NewRequest("GET", f.URL+"/api/user/assets/archive?id_session=1", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ar map[string]any
	json.NewDecoder(resp.Body).Decode(&ar)
	resp.Body.Close()
	archiveUUID, _ := ar["archive_uuid"].(string)
	if resp.StatusCode != 200 || archiveUUID == "" {
		t.Fatalf("archive request: %d %v", resp.StatusCode, ar)
	}
	ctx := context.Background()
	state := func() (status, done, attempts int) {
		if err := db.QueryRow(ctx, `SELECT ar.archive_status, j.assets_done, j.attempts FROM filetransfer.t_archive_file_data ar
			JOIN filetransfer.archive_jobs j USING (id_archive_file_data) WHERE ar.archive_uuid = $1`, archiveUUID).Scan(&status, &done, &attempts); err != nil {
			t.Fatal(err)
		}
		return
	}
	eventually(t, "the job in progress", func() bool { s, _, _ := state(); return s == 1 })
	if err := f.replicas[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-f.replicas[0].done
	status, done, attempts := state()
	t.Logf("killed the filetransfer process mid-job: status %d, %d of 3 assets zipped, attempt %d", status, done, attempts)
	if status != 1 {
		t.Fatalf("the job was not in progress when killed (status %d): nothing was shown", status)
	}

	r := startReplica(t, e, "filetransfer")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if status, _, attempts = state(); status == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive not completed after the restart: status %d attempt %d\n%s", status, attempts, r.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if attempts < 2 {
		t.Errorf("the archive was built in %d attempt(s); the killed one should have counted", attempts)
	}
	req, _ = http.NewRequest("GET", "http://"+r.http+"/file/api/archives?archive_uuid="+archiveUUID, nil)
	req.SetBasicAuth("admin", "admin")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(t.TempDir(), "archive.zip")
	out, _ := os.Create(zipFile)
	_, err = io.Copy(out, resp.Body)
	resp.Body.Close()
	out.Close()
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("archive download: %d %v", resp.StatusCode, err)
	}
	zr, err := zip.OpenReader(zipFile)
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	defer zr.Close()
	var names []string
	for _, zf := range zr.File {
		names = append(names, zf.Name)
		rc, _ := zf.Open()
		h := sha256.New()
		io.Copy(h, rc)
		rc.Close()
		var sum [32]byte
		copy(sum[:], h.Sum(nil))
		if sum != sums[filepath.Base(zf.Name)] {
			t.Errorf("%s: content differs", zf.Name)
		}
	}
	sort.Strings(names)
	dir := "Default Site/Default Project #1/Participant #1/1_Séance #1/"
	if fmt.Sprint(names) != fmt.Sprint([]string{dir + "a.bin", dir + "b.bin", dir + "c.bin"}) {
		t.Errorf("zip listing %q", names)
	}
}
