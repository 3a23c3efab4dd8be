package email

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// lease is how long a claimed message is left to its claimer before another worker may try
// it: well above one delivery (connect + send, each bounded by the SMTP timeout).
const lease = 2 * time.Minute

// claimBatch is how many due messages a worker claims at once.
const claimBatch = 10

// job is one queued message.
type job struct {
	id         int64
	messageID  string
	from       string
	senderName string
	replyTo    string
	recipients []string
	subject    string
	body       string
	attempts   int
}

const jobColumns = "id, message_id, sender_name, reply_to, recipients, subject, body_html, attempts"

func scanJob(row pgx.Row, from string) (job, error) {
	j := job{from: from}
	err := row.Scan(&j.id, &j.messageID, &j.senderName, &j.replyTo, &j.recipients, &j.subject, &j.body, &j.attempts)
	return j, err
}

// deliverDue claims and delivers due messages until none is left or ctx ends.
func (s *Service) deliverDue(ctx context.Context) {
	for ctx.Err() == nil {
		jobs, err := s.claim(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.o.Log.Warn("email queue not readable; retrying", "err", err)
			}
			return
		}
		for _, j := range jobs {
			s.attempt(ctx, j)
		}
		if len(jobs) < claimBatch {
			return
		}
	}
}

// claim leases due messages to this worker. The lease is committed before any delivery, so a
// worker that dies mid-send leaves the message to another once the lease ends.
func (s *Service) claim(ctx context.Context) ([]job, error) {
	rows, err := s.o.DB.Query(ctx, `
		UPDATE email.queue SET attempts = attempts + 1, next_attempt_at = now() + $1 * interval '1 second'
		 WHERE id IN (SELECT id FROM email.queue WHERE failed_at IS NULL AND next_attempt_at <= now()
		               ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, lease.Seconds(), claimBatch)
	if err != nil {
		return nil, fmt.Errorf("claim email queue: %w", err)
	}
	defer rows.Close()
	var jobs []job
	for rows.Next() {
		j, err := scanJob(rows, s.o.Sender)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// attempt delivers a claimed message and records the outcome. The delivery is not cut by the
// end of ctx (a stop signal): it is bounded by the SMTP timeout, within the shutdown bound.
func (s *Service) attempt(ctx context.Context, j job) error {
	err := s.mailer.send(context.WithoutCancel(ctx), j)
	if rerr := s.record(context.WithoutCancel(ctx), j, err); rerr != nil {
		s.o.Log.Warn("email outcome not recorded; the message will be tried again after its lease", "message_id", j.messageID, "err", rerr)
	}
	return err
}

func (s *Service) record(ctx context.Context, j job, sendErr error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch {
	case sendErr == nil:
		s.m.sent.Inc()
		_, err := s.o.DB.Exec(ctx, `DELETE FROM email.queue WHERE id = $1`, j.id)
		return err
	case isTemporary(sendErr) && j.attempts < s.o.MaxAttempts:
		if errors.Is(sendErr, errUnreachable) {
			s.m.unreachable.Inc()
		}
		s.m.retried.Inc()
		wait := min(s.o.RetryBackoff<<min(j.attempts-1, 16), time.Hour)
		s.o.Log.Warn("email not delivered; will retry", "message_id", j.messageID, "attempt", j.attempts, "retry_in", wait, "err", sendErr)
		_, err := s.o.DB.Exec(ctx, `UPDATE email.queue SET next_attempt_at = now() + $2 * interval '1 second', last_error = $3 WHERE id = $1`,
			j.id, wait.Seconds(), sendErr.Error())
		return err
	default:
		s.m.failed.Inc()
		s.o.Log.Error("email given up", "message_id", j.messageID, "attempts", j.attempts, "err", sendErr)
		_, err := s.o.DB.Exec(ctx, `UPDATE email.queue SET failed_at = now(), last_error = $2 WHERE id = $1`, j.id, sendErr.Error())
		return err
	}
}
