package filetransfer

import (
	"context"
	"fmt"
	"time"

	"github.com/tera-health/tera/services/internal/blob"
)

// Orphan bytes: a blob no row of this target names (no t_asset_file_data.asset_uuid, no
// t_archive_file_data.archive_uuid). They come from an upload killed between its bytes and its
// rows (the file part first, the process gone before the transaction), from an archive upload
// staged and never completed, from a delete whose byte removal failed, and from an abandoned
// `tera import opentera --files-dir` (the files are copied before its transaction commits).
//
// The sweeper deletes them once they are older than OrphanGrace. It is safe against the
// writers:
//   - a Put in progress is no object (a temporary file on the filesystem, an incomplete
//     multipart upload on S3) and is never listed; one older than the grace (last written
//     before it on the filesystem, started before it on S3) is a Put whose process was killed,
//     and is removed (blob.Store.SweepAbandoned): S3 keeps an incomplete upload's parts until
//     it is aborted;
//   - a finished Put whose rows are not committed yet is younger than the grace (an upload
//     commits its rows right after its bytes; OrphanGrace is hours);
//   - an import holds blob.SweepLock shared for its whole transaction, and a pass holds it
//     exclusively (try-lock: a pass during an import is skipped), so the blobs an import copied
//     or reuses are not swept before its rows commit; one replica sweeps at a time.

// sweepBatch is how many candidate keys one query checks.
const sweepBatch = 500

// sweepOrphans runs one pass: every blob last modified before cutoff that no row names is
// deleted.
func (s *Service) sweepOrphans(ctx context.Context, cutoff time.Time) {
	defer s.sweepPasses.Add(1)
	conn, err := s.o.DB.Acquire(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Log.Warn("orphan sweep skipped: no database connection", "err", err)
		}
		return
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, blob.SweepLock).Scan(&locked); err != nil {
		if ctx.Err() == nil {
			s.o.Log.Warn("orphan sweep skipped", "err", err)
		}
		return
	}
	if !locked {
		s.o.Log.Debug("orphan sweep skipped: an import or another replica holds the sweep lock")
		return
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, blob.SweepLock); err != nil {
			// The lock goes with the session: drop the connection rather than keep it locked.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	var deleted, bytes int64
	var listed int
	batch := make([]string, 0, sweepBatch)
	sizes := map[string]int64{}
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		rows, err := conn.Query(ctx, `SELECT k FROM unnest($1::text[]) k
			WHERE NOT EXISTS (SELECT 1 FROM filetransfer.t_asset_file_data f WHERE f.asset_uuid = k)
			  AND NOT EXISTS (SELECT 1 FROM filetransfer.t_archive_file_data a WHERE a.archive_uuid = k)`, batch)
		if err != nil {
			return fmt.Errorf("check blobs: %w", err)
		}
		var orphans []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fmt.Errorf("check blobs: %w", err)
			}
			orphans = append(orphans, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check blobs: %w", err)
		}
		for _, k := range orphans {
			if err := s.o.Blob.Delete(ctx, k); err != nil {
				s.o.Log.Warn("orphan blob not deleted", "key", k, "err", err)
				continue
			}
			deleted++
			bytes += sizes[k]
			s.m.orphansDeleted.Inc()
			s.m.orphanBytesDeleted.Add(float64(sizes[k]))
		}
		batch = batch[:0]
		clear(sizes)
		return nil
	}
	err = s.o.Blob.List(ctx, func(key string, info blob.Info) error {
		listed++
		if !info.ModTime.Before(cutoff) {
			return nil
		}
		batch = append(batch, key)
		sizes[key] = info.Size
		if len(batch) == sweepBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil && ctx.Err() == nil {
		s.o.Log.Warn("orphan sweep stopped", "err", err, "deleted", deleted)
	}
	if n, err := s.o.Blob.SweepAbandoned(ctx, cutoff); err != nil && ctx.Err() == nil {
		s.o.Log.Warn("abandoned uploads not swept", "err", err, "removed", n)
	} else if n > 0 {
		s.o.Log.Info("abandoned uploads removed", "uploads", n, "older_than", cutoff.Format(time.RFC3339))
	}
	if deleted > 0 {
		s.o.Log.Info("orphan blobs deleted", "blobs", deleted, "bytes", bytes, "listed", listed, "older_than", cutoff.Format(time.RFC3339))
	}
}
