package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/blob/blobtest"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/testenv"
)

// site is the dumps' core and files databases, with a file for each of the core's assets
// written in OpenTera's files directory layout (one file per asset, named by its uuid) and
// recorded in the files database as FileTransferService records an upload.
type site struct {
	core, files *pgxpool.Pool
	dir         string
	contents    map[string][]byte // by asset uuid
}

func loadSite(t *testing.T) *site {
	t.Helper()
	ctx := context.Background()
	s := &site{core: LoadDump(t), files: LoadDumpFile(t, "openterafiles.sql"), dir: t.TempDir(), contents: map[string][]byte{}}
	// The fixture's assets name TeraServer as their service; files are FileTransferService's.
	if _, err := s.core.Exec(ctx, `UPDATE public.t_assets SET asset_service_uuid = (SELECT service_uuid FROM public.t_services WHERE service_key = 'FileTransferService')`); err != nil {
		t.Fatal(err)
	}
	rows, err := s.core.Query(ctx, "SELECT id_asset, asset_uuid FROM public.t_assets ORDER BY id_asset")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var uuid string
		if err := rows.Scan(&id, &uuid); err != nil {
			t.Fatal(err)
		}
		// Sizes from empty to several S3 parts' worth.
		data := bytes.Repeat([]byte(fmt.Sprintf("asset %d %s\n", id, uuid)), []int{0, 1, 1000, 40000, 120000, 3, 7}[(id-1)%7])
		s.contents[uuid] = data
		if err := os.WriteFile(filepath.Join(s.dir, uuid), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.files.Exec(ctx, `INSERT INTO public.t_asset_file_data (version_id, id_asset_file_data, asset_uuid, asset_original_filename, asset_file_size)
			VALUES (1, nextval('public.id_asset_file_data_sequence'), $1, $2, $3)`, uuid, fmt.Sprintf("recording %d.bin", id), len(data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(s.contents) < 5 {
		t.Fatalf("the dump has %d assets", len(s.contents))
	}
	// A completed archive lies beside the assets, as in OpenTera; no asset row names it.
	if err := os.WriteFile(filepath.Join(s.dir, "3c1f2b9e-0000-4000-8000-00000000a001"), []byte("PK zip"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) sources() []importer.Source {
	return []importer.Source{{DB: importer.Core, Pool: s.core}, {DB: importer.Files, Pool: s.files}}
}

func (s *site) bytes() int64 {
	var n int64
	for _, c := range s.contents {
		n += int64(len(c))
	}
	return n
}

func blobDir(t *testing.T) *blob.Dir {
	t.Helper()
	d, err := blob.OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func readBlob(t *testing.T, st blob.Store, key string) []byte {
	t.Helper()
	o, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("blob %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blobKeys lists a directory store's objects.
func blobKeys(t *testing.T, d *blob.Dir) []string {
	t.Helper()
	es, err := os.ReadDir(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Name())
	}
	return keys
}

// The files database lands in filetransfer.t_asset_file_data with the core in one
// transaction, and every file in the blob store (here S3) under its asset's uuid, byte for byte.
func TestImportFilesIntoS3(t *testing.T) {
	ctx := context.Background()
	s := loadSite(t)
	store, err := blob.OpenS3(ctx, blobtest.NewS3(t))
	if err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	var progress bytes.Buffer
	rep, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: s.dir, Blob: store, Progress: &progress})
	var out bytes.Buffer
	rep.Write(&out)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out.String())
	}
	n := int64(len(s.contents))
	if f := rep.Files; f == nil || f.Files != n || f.Copied != n || f.Bytes != s.bytes() || f.CopiedBytes != s.bytes() || f.Present != 0 || f.Unreferenced != 1 {
		t.Fatalf("files report %+v, want %d files of %d bytes copied, 1 unreferenced", rep.Files, n, s.bytes())
	}
	for _, want := range []string{"files.t_asset_file_data", "files: 7 in the files directory", "copied to the blob store and verified", "1 file in the directory belongs to no asset"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(progress.String(), fmt.Sprintf("checked the files directory: %d of %d files there", n, n)) || !strings.Contains(progress.String(), fmt.Sprintf("copied files: %d (", n)) {
		t.Errorf("progress: %s", progress.String())
	}
	for uuid, want := range s.contents {
		if got := readBlob(t, store, uuid); !bytes.Equal(got, want) {
			t.Errorf("blob %s: %d bytes, want %d", uuid, len(got), len(want))
		}
	}
	q := "SELECT count(*) || md5(string_agg(concat_ws('|', id_asset_file_data, asset_uuid, asset_original_filename, asset_file_size), ',' ORDER BY id_asset_file_data)) FROM %s.t_asset_file_data"
	var a, b string
	if err := s.files.QueryRow(ctx, fmt.Sprintf(q, "public")).Scan(&a); err != nil {
		t.Fatal(err)
	}
	if err := dst.QueryRow(ctx, fmt.Sprintf(q, "filetransfer")).Scan(&b); err != nil {
		t.Fatal(err)
	}
	if a != b || !strings.HasPrefix(a, "7") {
		t.Errorf("t_asset_file_data: source %s, target %s", a, b)
	}
	// Every asset of the core has its file data (what the filetransfer target serves from).
	if n := count(t, dst, `SELECT count(*) FROM core.t_assets a LEFT JOIN filetransfer.t_asset_file_data f USING (asset_uuid) WHERE f.asset_uuid IS NULL`); n != 0 {
		t.Errorf("%d imported assets without file data", n)
	}
	var id int64
	if err := dst.QueryRow(ctx, `INSERT INTO filetransfer.t_asset_file_data (asset_uuid, asset_original_filename, asset_file_size)
		VALUES (gen_random_uuid()::text, 'new.bin', 1) RETURNING id_asset_file_data`).Scan(&id); err != nil || id <= 7 {
		t.Errorf("new file data id %d (%v), want above the imported 7", id, err)
	}
}

// failingStore fails the Put after the first few, as a crash or a full disk would.
type failingStore struct {
	blob.Store
	left int
}

func (f *failingStore) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if f.left == 0 {
		return 0, errors.New("disk full")
	}
	f.left--
	return f.Store.Put(ctx, key, r)
}

// An import stopped during the files writes nothing to the database; the next run skips the
// files already copied whole (same size and sha256) and copies the rest, and one left with
// other bytes of the same size is copied again.
func TestImportFilesResumes(t *testing.T) {
	ctx := context.Background()
	s := loadSite(t)
	store := blobDir(t)
	dst := testenv.DB(t)
	_, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: s.dir, Blob: &failingStore{store, 3}})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the store's failure", err)
	}
	assertEmpty(t, dst)
	keys := blobKeys(t, store)
	if len(keys) != 3 {
		t.Fatalf("blobs after the failed run: %v, want the 3 copied", keys)
	}
	// One copied file goes bad in the store, keeping its size.
	var bad string
	for _, k := range keys {
		if len(s.contents[k]) > 0 {
			bad = k
		}
	}
	if bad == "" {
		t.Fatal("no non-empty file among the first copied")
	}
	if err := os.WriteFile(filepath.Join(store.Root(), bad), bytes.Repeat([]byte("x"), len(s.contents[bad])), 0o600); err != nil {
		t.Fatal(err)
	}

	rep, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: s.dir, Blob: store})
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(s.contents))
	if f := rep.Files; f.Present != 2 || f.Copied != n-2 || f.PresentBytes+f.CopiedBytes != s.bytes() {
		t.Fatalf("second run: %+v, want 2 present and %d copied", rep.Files, n-2)
	}
	for uuid, want := range s.contents {
		if got := readBlob(t, store, uuid); !bytes.Equal(got, want) {
			t.Errorf("blob %s differs after the resumed import", uuid)
		}
	}
}

// A files directory without one of the rows' files (or with a file of another size) is
// refused before any file is copied: the database and the blob store stay empty.
func TestImportRefusesMissingFile(t *testing.T) {
	ctx := context.Background()
	s := loadSite(t)
	var gone, short string
	for uuid, c := range s.contents {
		switch {
		case gone == "":
			gone = uuid
		case short == "" && len(c) > 1:
			short = uuid
		}
	}
	if err := os.Remove(filepath.Join(s.dir, gone)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, short), s.contents[short][:1], 0o600); err != nil {
		t.Fatal(err)
	}
	store := blobDir(t)
	dst := testenv.DB(t)
	rep, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: s.dir, Blob: store, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refusals) != 2 || !strings.Contains(rep.Refusals[0].Reason+rep.Refusals[1].Reason, gone+" is missing from the files directory") ||
		!strings.Contains(rep.Refusals[0].Reason+rep.Refusals[1].Reason, fmt.Sprintf("%s holds 1 bytes, the row says %d", short, len(s.contents[short]))) {
		t.Fatalf("dry run refusals: %+v", rep.Refusals)
	}
	_, err = importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: s.dir, Blob: store})
	var out bytes.Buffer
	rep.Write(&out)
	if !errors.Is(err, importer.ErrRefused) || !strings.Contains(out.String(), gone) {
		t.Fatalf("err = %v, want a refusal naming the missing file\n%s", err, out.String())
	}
	assertEmpty(t, dst)
	if keys := blobKeys(t, store); len(keys) != 0 {
		t.Errorf("blobs written by a refused import: %v", keys)
	}
	// No directory at all is refused too, and so are the files without their directory.
	if _, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: filepath.Join(s.dir, "nope"), Blob: store}); !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("no directory: %v", err)
	}
	if _, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, Blob: store}); err == nil || !strings.Contains(err.Error(), "files directory") {
		t.Errorf("no --files-dir: %v", err)
	}
	assertEmpty(t, dst)
}

// After the switch the filetransfer target serves each imported file, byte for byte, to a user
// holding the asset's access token from the core API, as OpenTera's clients fetch them.
func TestImportedSiteServesTheFiles(t *testing.T) {
	ctx := context.Background()
	s := loadSite(t)
	store := blobDir(t)
	dbURL := testenv.DatabaseURL(t)
	if _, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: connectTarget(t, dbURL), FilesDir: s.dir, Blob: store}); err != nil {
		t.Fatal(err)
	}
	base, _ := fleettest.NewSiteOn(t, dbURL).Start("core,login,filetransfer", func(c *fleet.Config) { c.FileTransfer.Blob.Dir = store.Root() })
	admin := auth("OpenTera", fleettest.Login(t, base, "user", "admin", "admin"))
	rows, err := s.core.Query(ctx, "SELECT id_asset, asset_uuid FROM public.t_assets WHERE deleted_at IS NULL ORDER BY id_asset")
	if err != nil {
		t.Fatal(err)
	}
	assets, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		ID   int
		UUID string
	}])
	if err != nil || len(assets) != len(s.contents) {
		t.Fatalf("assets %v %v", assets, err)
	}
	for _, a := range assets {
		var listed []map[string]any
		get(t, "GET", fmt.Sprintf("%s/api/user/assets?id_asset=%d&with_urls=true", base, a.ID), admin, nil, &listed)
		if len(listed) != 1 || listed[0]["asset_uuid"] != a.UUID {
			t.Fatalf("asset %d: %v", a.ID, listed)
		}
		token, _ := listed[0]["access_token"].(string)
		got := fleettest.Do(t, "GET", base+"/file/api/assets?"+url.Values{"asset_uuid": {a.UUID}, "access_token": {token}}.Encode(), admin, nil)
		if got.Status != http.StatusOK || !bytes.Equal([]byte(got.Body), s.contents[a.UUID]) {
			t.Errorf("asset %d download: %d, %d bytes, want %d", a.ID, got.Status, len(got.Body), len(s.contents[a.UUID]))
		}
	}
}
