package logging

import (
	"context"
	"fmt"
	"time"
)

// retain deletes entries older than the retention every purge interval, starting at once.
func (s *Service) retain(ctx context.Context) {
	for {
		if err := s.Purge(ctx, time.Now().Add(-s.o.Retention)); err != nil && ctx.Err() == nil {
			s.o.PipelineLog.Warn("logging retention purge failed; retrying at the next interval", "err", err)
		}
		if !sleep(ctx, s.o.PurgeInterval) {
			return
		}
	}
}

// Purge deletes the log and login entries older than before, PurgeBatch rows per statement
// (each its own transaction, so no purge holds long locks or bloats one transaction). Rows are
// claimed with SKIP LOCKED: replicas purging at the same time share the work.
func (s *Service) Purge(ctx context.Context, before time.Time) error {
	for _, t := range []struct{ table, id, ts string }{
		{"t_log_entry", "id_log_entry", `"timestamp"`},
		{"t_logins", "id_login_event", "login_timestamp"},
	} {
		q := fmt.Sprintf(`DELETE FROM logging.%[1]s WHERE %[2]s IN (
			SELECT %[2]s FROM logging.%[1]s WHERE %[3]s < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, t.table, t.id, t.ts)
		for {
			tag, err := s.o.DB.Exec(ctx, q, before, s.o.PurgeBatch)
			if err != nil {
				return fmt.Errorf("purge logging.%s: %w", t.table, err)
			}
			s.m.purged.WithLabelValues(t.table).Add(float64(tag.RowsAffected()))
			if tag.RowsAffected() < int64(s.o.PurgeBatch) {
				break
			}
		}
	}
	return nil
}
