package filetransfer

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/blob"
)

// maxJobAttempts bounds the builds of one archive before it is given up (cancelled).
const maxJobAttempts = 5

type job struct {
	id       int32
	entries  []entry
	attempts int
	uuid     string
	owner    string
}

// runDueJobs claims and builds due archive jobs until none is left or ctx ends.
func (s *Service) runDueJobs(ctx context.Context) {
	for ctx.Err() == nil {
		j, ok, err := s.claimJob(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.o.Log.Warn("archive job queue not readable; retrying", "err", err)
			}
			return
		}
		if !ok {
			return
		}
		s.runJob(ctx, j)
	}
}

// claimJob leases the oldest due job to this worker. The lease is committed before any work,
// so a worker that dies mid-job (kill -9, node lost) leaves it to another when the lease ends.
func (s *Service) claimJob(ctx context.Context) (job, bool, error) {
	var j job
	err := s.o.DB.QueryRow(ctx, `WITH c AS (
		UPDATE filetransfer.archive_jobs SET attempts = attempts + 1, lease_until = now() + $1 * interval '1 second'
		 WHERE id_archive_file_data = (SELECT id_archive_file_data FROM filetransfer.archive_jobs
		        WHERE finished_at IS NULL AND lease_until <= now() ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id_archive_file_data, entries, attempts)
		SELECT c.id_archive_file_data, c.entries, c.attempts, ar.archive_uuid, ar.archive_owner_uuid
		  FROM c JOIN filetransfer.t_archive_file_data ar USING (id_archive_file_data)`, s.o.JobLease.Seconds()).
		Scan(&j.id, &j.entries, &j.attempts, &j.uuid, &j.owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("claim archive job: %w", err)
	}
	return j, true, nil
}

// errLeaseLost: the job's lease could not be renewed (its archive was deleted, or another
// worker took it over after this one stalled): the build stops.
var errLeaseLost = errors.New("archive job lease lost")

// runJob builds one archive: the zip streams from the blob store's asset files into the blob
// store under the archive's uuid (bounded memory), the progress counted in the job's row, the
// lease renewed every third of its length.
func (s *Service) runJob(ctx context.Context, j job) {
	log := s.o.Log.With("archive_uuid", j.uuid, "attempt", j.attempts)
	if j.attempts > maxJobAttempts {
		s.finishJob(ctx, j, statusCancelled, 0, "too many attempts")
		s.m.archives.WithLabelValues("given up").Inc()
		log.Error("archive job given up after too many attempts")
		return
	}
	if j.attempts > 1 {
		s.m.archives.WithLabelValues("retried").Inc()
		log.Info("archive job taken over or retried")
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if _, err := s.o.DB.Exec(jctx, `UPDATE filetransfer.t_archive_file_data SET archive_status = $2 WHERE id_archive_file_data = $1`,
		j.id, statusInProgress); err != nil {
		log.Warn("archive status not updated", "err", err)
		return
	}
	if _, err := s.o.DB.Exec(jctx, `UPDATE filetransfer.archive_jobs SET assets_done = 0 WHERE id_archive_file_data = $1`, j.id); err != nil {
		log.Warn("archive progress not reset", "err", err)
		return
	}
	s.publishArchive(j.uuid, j.owner, statusInProgress)
	go s.renewLease(jctx, cancel, j.id)

	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.writeZip(jctx, j, pw)) }()
	size, err := s.o.Blob.Put(jctx, j.uuid, pr)
	pr.CloseWithError(err)
	if err != nil {
		if cause := context.Cause(jctx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		s.failJob(ctx, j, err)
		return
	}
	if !s.finishJob(ctx, j, statusCompleted, size, "") {
		// The archive was deleted while it was built.
		if err := s.o.Blob.Delete(context.WithoutCancel(ctx), j.uuid); err != nil {
			log.Warn("orphan archive bytes not removed", "err", err)
		}
		return
	}
	s.m.archives.WithLabelValues("completed").Inc()
	log.Info("archive built", "entries", len(j.entries), "bytes", size)
}

// writeZip writes the job's entries as a zip. An asset whose file has gone since the request
// (deleted) is left out.
func (s *Service) writeZip(ctx context.Context, j job, w io.Writer) error {
	zw := zip.NewWriter(w)
	for i, e := range j.entries {
		obj, err := s.o.Blob.Open(ctx, e.AssetUUID)
		if errors.Is(err, blob.ErrNotFound) {
			s.o.Log.Warn("archived asset has no file any more; left out", "archive_uuid", j.uuid, "asset_uuid", e.AssetUUID)
		} else if err != nil {
			return fmt.Errorf("open asset %s: %w", e.AssetUUID, err)
		} else {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: e.Path, Method: zip.Deflate, Modified: obj.Info().ModTime})
			if err == nil {
				_, err = io.Copy(fw, obj)
			}
			obj.Close()
			if err != nil {
				return fmt.Errorf("zip asset %s: %w", e.AssetUUID, err)
			}
		}
		if _, err := s.o.DB.Exec(ctx, `UPDATE filetransfer.archive_jobs SET assets_done = $2 WHERE id_archive_file_data = $1`, j.id, i+1); err != nil {
			return fmt.Errorf("archive progress: %w", err)
		}
	}
	return zw.Close()
}

// renewLease extends the job's lease until ctx ends; a renewal that finds the job gone or taken
// over cancels the build.
func (s *Service) renewLease(ctx context.Context, cancel context.CancelCauseFunc, id int32) {
	t := time.NewTicker(s.o.JobLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tag, err := s.o.DB.Exec(ctx, `UPDATE filetransfer.archive_jobs SET lease_until = now() + $2 * interval '1 second'
			WHERE id_archive_file_data = $1 AND finished_at IS NULL`, id, s.o.JobLease.Seconds())
		if err != nil {
			if ctx.Err() == nil {
				s.o.Log.Warn("archive job lease not renewed", "err", err)
			}
			continue
		}
		if tag.RowsAffected() == 0 {
			cancel(errLeaseLost)
			return
		}
	}
}

// finishJob records the end of a job and its archive's status; false when the archive is gone.
func (s *Service) finishJob(ctx context.Context, j job, status int32, size int64, reason string) bool {
	ctx = context.WithoutCancel(ctx)
	tx, err := s.o.DB.Begin(ctx)
	if err != nil {
		s.o.Log.Warn("archive outcome not recorded; the job will run again after its lease", "archive_uuid", j.uuid, "err", err)
		return true
	}
	defer tx.Rollback(ctx)
	self, _, err := s.self(ctx, tx)
	if err != nil {
		s.o.Log.Warn("archive outcome not recorded", "archive_uuid", j.uuid, "err", err)
		return true
	}
	tag, err := tx.Exec(ctx, `UPDATE filetransfer.t_archive_file_data SET archive_status = $2, archive_file_size = $3,
		archive_upload_datetime = CASE WHEN $2 = 2 THEN now() END, archive_uploader_uuid = CASE WHEN $2 = 2 THEN $4 END
		WHERE id_archive_file_data = $1`, j.id, status, size, self)
	if err == nil && tag.RowsAffected() == 0 {
		return false
	}
	if err == nil {
		_, err = tx.Exec(ctx, `UPDATE filetransfer.archive_jobs SET finished_at = now(), last_error = nullif($2, ''),
			assets_done = CASE WHEN $3 THEN assets_total ELSE assets_done END WHERE id_archive_file_data = $1`, j.id, reason, status == statusCompleted)
	}
	if err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		s.o.Log.Warn("archive outcome not recorded; the job will run again after its lease", "archive_uuid", j.uuid, "err", err)
		return true
	}
	s.publishArchive(j.uuid, j.owner, status)
	return true
}

// failJob leaves the job for a retry after a backoff (the lease doubles per attempt, at most
// ten leases).
func (s *Service) failJob(ctx context.Context, j job, err error) {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		// Stopping: the job is taken over when its lease ends.
		return
	}
	s.o.Log.Warn("archive job failed; will retry", "archive_uuid", j.uuid, "attempt", j.attempts, "err", err)
	wait := s.o.JobLease * time.Duration(min(1<<min(j.attempts-1, 10), 10))
	if _, e := s.o.DB.Exec(context.WithoutCancel(ctx), `UPDATE filetransfer.archive_jobs SET lease_until = now() + $2 * interval '1 second',
		last_error = $3 WHERE id_archive_file_data = $1 AND finished_at IS NULL`, j.id, wait.Seconds(), err.Error()); e != nil {
		s.o.Log.Warn("archive job failure not recorded", "archive_uuid", j.uuid, "err", e)
	}
}

// purgeExpired deletes archives past their expiration date, bytes first (OpenTera keeps an
// archive 30 days).
func (s *Service) purgeExpired(ctx context.Context) {
	rows, err := s.o.DB.Query(ctx, `SELECT id_archive_file_data, archive_uuid, archive_owner_uuid FROM filetransfer.t_archive_file_data
		WHERE archive_expiration_datetime < now() ORDER BY archive_expiration_datetime LIMIT 100`)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Log.Warn("expired archives not readable", "err", err)
		}
		return
	}
	type expired struct {
		id          int32
		uuid, owner string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (expired, error) {
		var e expired
		return e, r.Scan(&e.id, &e.uuid, &e.owner)
	})
	if err != nil {
		s.o.Log.Warn("expired archives not readable", "err", err)
		return
	}
	for _, e := range list {
		if err := s.o.Blob.Delete(ctx, e.uuid); err != nil {
			s.o.Log.Warn("expired archive's bytes not removed", "archive_uuid", e.uuid, "err", err)
			continue
		}
		if _, err := s.o.DB.Exec(ctx, `DELETE FROM filetransfer.t_archive_file_data WHERE id_archive_file_data = $1`, e.id); err != nil {
			s.o.Log.Warn("expired archive not deleted", "archive_uuid", e.uuid, "err", err)
			continue
		}
		s.publishArchive(e.uuid, e.owner, statusDeleted)
	}
}
