package filetransfer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tera-health/tera/services/filetransfer"
	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/blob/blobtest"
	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/testenv"
)

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// The target's Run loop deletes the blobs no row names once they are older than the grace,
// on both backends: an orphan goes; the blobs of an asset and of an archive stay, as do a
// young orphan, a Put in progress, and every blob while an import holds the sweep lock. A Put
// left in progress past the grace (its process killed) is removed from the store and fails.
func TestOrphanSweep(t *testing.T) {
	e := fleettest.NewSite(t)
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) blob.Store{
		"filesystem": func(t *testing.T) blob.Store {
			s, err := blob.OpenDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) blob.Store {
			s, err := blob.Open(ctx, blob.Config{Backend: "s3", S3: blobtest.NewS3(t)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			store := open(t)
			reg := prometheus.NewRegistry()
			svc := filetransfer.New(filetransfer.Options{DB: e.DB, Blob: store, Log: testenv.Quiet(), Metrics: reg,
				PollInterval: 10 * time.Millisecond, SweepInterval: 10 * time.Millisecond, OrphanGrace: time.Hour})
			var shift atomic.Int64
			filetransfer.SetClock(svc, func() time.Time { return time.Now().Add(time.Duration(shift.Load())) })

			orphan, asset, archive, young, abandoned := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
			for _, k := range []string{orphan, asset, archive} {
				if _, err := store.Put(ctx, k, bytes.NewReader([]byte("bytes of "+k))); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.DB.Exec(ctx, `INSERT INTO filetransfer.t_asset_file_data (asset_uuid, asset_original_filename, asset_file_size)
				VALUES ($1, 'a.bin', 45)`, asset); err != nil {
				t.Fatal(err)
			}
			if _, err := e.DB.Exec(ctx, `INSERT INTO filetransfer.t_archive_file_data (archive_uuid, archive_original_filename, archive_owner_uuid)
				VALUES ($1, 'a.zip', $1)`, archive); err != nil {
				t.Fatal(err)
			}
			// Puts in progress: more than one S3 part sent (a multipart upload open on the
			// server), then the writer waits. The young one is an upload whose row commits
			// when its bytes are stored.
			if _, err := e.DB.Exec(ctx, `INSERT INTO filetransfer.t_asset_file_data (asset_uuid, asset_original_filename, asset_file_size)
				VALUES ($1, 'y.bin', 6291459)`, young); err != nil {
				t.Fatal(err)
			}
			type put struct {
				w    *io.PipeWriter
				done chan error
			}
			startPut := func(key string) put {
				pr, pw := io.Pipe()
				p := put{pw, make(chan error, 1)}
				go func() { _, err := store.Put(ctx, key, pr); p.done <- err }()
				if _, err := pw.Write(make([]byte, 6<<20)); err != nil {
					t.Fatal(err)
				}
				return p
			}
			youngPut, abandonedPut := startPut(young), startPut(abandoned)

			runCtx, stop := context.WithCancel(ctx)
			runDone := make(chan error, 1)
			go func() { runDone <- svc.Run(runCtx) }()
			defer func() {
				stop()
				<-runDone
			}()
			waitPasses := func(n int64) {
				t.Helper()
				target := filetransfer.SweepPasses(svc) + n
				deadline := time.Now().Add(30 * time.Second)
				for filetransfer.SweepPasses(svc) < target {
					if time.Now().After(deadline) {
						t.Fatal("the sweeper does not run")
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			exists := func(k string) bool {
				t.Helper()
				_, err := store.Stat(ctx, k)
				if err != nil && !errors.Is(err, blob.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}

			// Young: nothing goes, and a Put in progress through those passes ends whole.
			waitPasses(2)
			if !exists(orphan) {
				t.Fatal("an orphan younger than the grace was deleted")
			}
			youngPut.w.Write([]byte("end"))
			youngPut.w.Close()
			if err := <-youngPut.done; err != nil {
				t.Fatalf("a Put in progress during sweeps failed: %v", err)
			}
			if st, err := store.Stat(ctx, young); err != nil || st.Size != 6<<20+3 {
				t.Errorf("a Put in progress during sweeps: %+v %v", st, err)
			}
			// An import holds the lock: every pass is skipped.
			conn, err := e.DB.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, blob.SweepLock); err != nil {
				t.Fatal(err)
			}
			shift.Store(int64(25 * time.Hour))
			waitPasses(2)
			if !exists(orphan) {
				t.Fatal("an orphan was deleted while an import held the sweep lock")
			}
			tx.Rollback(ctx)
			conn.Release()
			// Past the grace, the lock free: the orphan goes, nothing else.
			deadline := time.Now().Add(30 * time.Second)
			for exists(orphan) {
				if time.Now().After(deadline) {
					t.Fatal("the orphan past the grace was not deleted")
				}
				time.Sleep(5 * time.Millisecond)
			}
			// The pass that deleted it counts after the delete: let it end.
			waitPasses(1)
			for what, k := range map[string]string{"an asset's": asset, "an archive's": archive, "a finished upload's": young} {
				if !exists(k) {
					t.Errorf("%s blob was deleted", what)
				}
			}
			if got := counter(t, reg, "tera_filetransfer_orphan_blobs_deleted_total"); got != 1 {
				t.Errorf("orphans deleted: %v, want 1", got)
			}
			if got := counter(t, reg, "tera_filetransfer_orphan_bytes_deleted_total"); got != float64(len("bytes of "+orphan)) {
				t.Errorf("orphan bytes deleted: %v", got)
			}
			// The Put left in progress since before the clock moved 25 h on is, to the
			// sweeper, one whose process was killed: its upload was removed, so it fails and
			// stores nothing.
			stop()
			<-runDone
			runDone <- nil
			abandonedPut.w.Write([]byte("end"))
			abandonedPut.w.Close()
			if err := <-abandonedPut.done; err == nil {
				t.Error("a Put abandoned past the grace succeeded: its upload was not swept")
			}
			if exists(abandoned) {
				t.Error("a Put abandoned past the grace left an object")
			}
		})
	}
}
