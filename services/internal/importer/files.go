package importer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/blob"
)

// Files is FileTransferService's database: the file of each asset (its name, size and uuid, the
// uuid also naming the file in the service's files directory). Its archives are not imported:
// they are zips of assets with a lifetime of days, rebuilt on request.
var Files = Database{
	Name: "files", Schema: "filetransfer",
	Tables:      []string{"t_asset_file_data"},
	Supported:   map[string]string{"": "OpenTera v1.3.0 FileTransferService (no alembic revision)"},
	Unversioned: "OpenTera v1.3.0 FileTransferService (no alembic_version table)",
}

// FilesReport is what the files part of an import did or, on a dry run, would do.
type FilesReport struct {
	Dir          string
	Files        int64 // the source's t_asset_file_data rows, each with its file
	Bytes        int64
	Copied       int64 // copied to the blob store and read back with the same sha256
	CopiedBytes  int64
	Present      int64 // already in the blob store with the same size and sha256 (an earlier run)
	PresentBytes int64
	Unreferenced int64 // files in the directory no row names (archives, leftovers): not imported
	Elapsed      time.Duration
}

// fileRow is one t_asset_file_data row of the source.
type fileRow struct {
	id   int64
	uuid string
	size int64
}

const filePage = 1000

// eachFile walks the source's t_asset_file_data rows by id, one page at a time, so neither the
// list nor an open cursor is held while the files are copied.
func eachFile(ctx context.Context, stx pgx.Tx, fn func(fileRow) error) error {
	last := int64(-1 << 62)
	for {
		rows, err := stx.Query(ctx, `SELECT id_asset_file_data, asset_uuid, asset_file_size FROM `+SourceSchema+`.t_asset_file_data
 WHERE id_asset_file_data > $1::bigint ORDER BY id_asset_file_data LIMIT $2`, last, filePage)
		if err != nil {
			return fmt.Errorf("read files.t_asset_file_data: %w", err)
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fileRow, error) {
			var f fileRow
			return f, r.Scan(&f.id, &f.uuid, &f.size)
		})
		if err != nil {
			return fmt.Errorf("read files.t_asset_file_data: %w", err)
		}
		for _, f := range page {
			if err := fn(f); err != nil {
				return err
			}
		}
		if len(page) < filePage {
			return nil
		}
		last = page[len(page)-1].id
	}
}

// fileName is where OpenTera keeps a row's file: directly under the files directory, named by
// the asset's uuid. A uuid that is not a plain name could reach outside the directory (or
// outside the blob store's key space) and is refused.
func fileName(dir, uuid string) (string, error) {
	if strings.ContainsAny(uuid, `/\`) || blob.CheckKey(uuid) != nil {
		return "", fmt.Errorf("asset_uuid %q is not a file name", uuid)
	}
	return filepath.Join(dir, uuid), nil
}

// checkFiles finds every row's file in dir with the size the row records, before anything is
// copied: a missing or truncated file is a refusal with nothing written, not a blob store
// half filled. It also counts the directory's files that no row names.
func checkFiles(ctx context.Context, stx pgx.Tx, dir string, pg *progress) (*FilesReport, []Refusal, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the files directory %s: %w", ErrRefused, dir, err)
	}
	if !st.IsDir() {
		return nil, nil, fmt.Errorf("%w: the files directory %s is not a directory", ErrRefused, dir)
	}
	fr := &FilesReport{Dir: dir}
	var rows int64
	if err := stx.QueryRow(ctx, "SELECT count(*) FROM "+SourceSchema+".t_asset_file_data").Scan(&rows); err != nil {
		return nil, nil, fmt.Errorf("count files.t_asset_file_data: %w", err)
	}
	start := time.Now()
	s := pg.begin("checking the files directory", "files", rows)
	var refusals []Refusal
	refuse := func(f fileRow, reason string) {
		refusals = append(refusals, Refusal{Files.Name, "t_asset_file_data", strconv.FormatInt(f.id, 10), reason})
	}
	err = eachFile(ctx, stx, func(f fileRow) error {
		s.add(1)
		path, err := fileName(dir, f.uuid)
		if err != nil {
			refuse(f, err.Error())
			return nil
		}
		fi, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			refuse(f, fmt.Sprintf("its file %s is missing from the files directory", f.uuid))
		case err != nil:
			return fmt.Errorf("files directory: %w", err)
		case !fi.Mode().IsRegular():
			refuse(f, fmt.Sprintf("its file %s is not a regular file", f.uuid))
		case fi.Size() != f.size:
			refuse(f, fmt.Sprintf("its file %s holds %d bytes, the row says %d (truncated or replaced)", f.uuid, fi.Size(), f.size))
		default:
			fr.Files++
			fr.Bytes += f.size
		}
		return nil
	})
	if err != nil {
		return fr, refusals, err
	}
	n, err := countFiles(dir)
	if err != nil {
		return fr, refusals, err
	}
	fr.Unreferenced = max(n-fr.Files, 0)
	pg.end(s, fmt.Sprintf("checked the files directory: %d of %d files there with their sizes in %s", fr.Files, rows, time.Since(start).Round(time.Millisecond)))
	return fr, refusals, nil
}

// countFiles counts the regular files directly in dir, reading its entries in batches.
func countFiles(dir string) (int64, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("files directory: %w", err)
	}
	defer d.Close()
	var n int64
	for {
		es, err := d.ReadDir(4096)
		for _, e := range es {
			if e.Type().IsRegular() {
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("files directory: %w", err)
		}
	}
}

// copyFiles copies every row's file to the blob store under its uuid, streaming, and reads
// each back to compare its sha256 with the bytes sent. A file already in the store with the
// same size and sha256 (an interrupted earlier run, or a store laid over the directory itself)
// is not copied again.
func copyFiles(ctx context.Context, stx pgx.Tx, dir string, store blob.Store, fr *FilesReport, pg *progress) error {
	start := time.Now()
	s := pg.begin("files", "bytes", fr.Bytes)
	err := eachFile(ctx, stx, func(f fileRow) error {
		copied, err := copyFile(ctx, dir, store, f, s)
		if err != nil {
			return err
		}
		if copied {
			fr.Copied++
			fr.CopiedBytes += f.size
		} else {
			fr.Present++
			fr.PresentBytes += f.size
		}
		return nil
	})
	fr.Elapsed = time.Since(start)
	if err != nil {
		return err
	}
	pg.end(s, fmt.Sprintf("copied files: %d (%s) in %s, %d (%s) already in the blob store", fr.Copied, humanize.IBytes(uint64(fr.CopiedBytes)),
		fr.Elapsed.Round(time.Millisecond), fr.Present, humanize.IBytes(uint64(fr.PresentBytes))))
	return nil
}

func copyFile(ctx context.Context, dir string, store blob.Store, f fileRow, s *step) (bool, error) {
	path, err := fileName(dir, f.uuid)
	if err != nil {
		return false, err
	}
	info, err := store.Stat(ctx, f.uuid)
	switch {
	case err == nil && info.Size == f.size:
		// Resuming: compare the contents, counting the source's bytes as done either way.
		src, err := hashFile(path, s)
		if err != nil {
			return false, err
		}
		dst, err := hashBlob(ctx, store, f.uuid)
		if err != nil {
			return false, err
		}
		if bytes.Equal(src, dst) {
			return false, nil
		}
		s.add(-f.size)
	case err != nil && !errors.Is(err, blob.ErrNotFound):
		return false, fmt.Errorf("blob store: %w", err)
	}

	r, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("files directory: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := store.Put(ctx, f.uuid, io.TeeReader(byteCounter{r, s}, h))
	if err != nil {
		return false, fmt.Errorf("copy file %s: %w", f.uuid, err)
	}
	if n != f.size {
		return false, fmt.Errorf("copy file %s: read %d bytes, the row says %d: the files directory changed during the import (freeze the OpenTera site first)", f.uuid, n, f.size)
	}
	dst, err := hashBlob(ctx, store, f.uuid)
	if err != nil {
		return false, err
	}
	if sum := h.Sum(nil); !bytes.Equal(sum, dst) {
		return false, fmt.Errorf("verify file %s: the blob store returns other bytes than were written (sha256 %x, sent %x)", f.uuid, dst, sum)
	}
	return true, nil
}

func hashFile(path string, s *step) ([]byte, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("files directory: %w", err)
	}
	defer r.Close()
	h := sha256.New()
	if _, err := io.Copy(h, byteCounter{r, s}); err != nil {
		return nil, fmt.Errorf("files directory: read %s: %w", filepath.Base(path), err)
	}
	return h.Sum(nil), nil
}

func hashBlob(ctx context.Context, store blob.Store, key string) ([]byte, error) {
	obj, err := store.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("blob store: read back %s: %w", key, err)
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return nil, fmt.Errorf("blob store: read back %s: %w", key, err)
	}
	return h.Sum(nil), nil
}
