package logging

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/logstream"
)

// ConsumerName is the durable consumer every logging replica shares: each message goes to one.
const ConsumerName = "logging"

const (
	// maxBatch bounds the messages stored in one transaction.
	maxBatch = 500
	// ackWait is far above the time a batch takes to store; a replica that dies mid-batch has
	// its messages redelivered to another after it.
	ackWait = 30 * time.Second
	// maxAckPending caps the messages in flight per consumer (all replicas together).
	maxAckPending = 4 * maxBatch
)

// consumerConfig is the durable consumer. MaxDeliver is unlimited on purpose: messages that can
// never be stored (undecodable, refused as data) are terminated, so only transient failures
// (the database is down) lead to a redelivery, and those must not lose events however long the
// outage lasts.
func consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "logging target: stores log and login events in schema logging",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: maxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

// consume stores every message of the stream, in batches, until ctx ends.
func (s *Service) consume(ctx context.Context) error {
	var cons jetstream.Consumer
	var created int64
	for {
		var err error
		cons, created, err = s.openConsumer(ctx)
		if err == nil {
			break
		}
		s.o.PipelineLog.Warn("logging consumer not ready; retrying", "err", err)
		if !sleep(ctx, 2*time.Second) {
			return nil
		}
	}
	msgs := make(chan jetstream.Msg, maxBatch)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-ctx.Done():
		}
	}, jetstream.PullMaxMessages(maxBatch))
	if err != nil {
		return fmt.Errorf("consume %s: %w", logstream.StreamName, err)
	}
	defer cc.Stop()
	for {
		var batch []jetstream.Msg
		select {
		case m := <-msgs:
			batch = append(batch, m)
		case <-ctx.Done():
			return nil
		}
		// Take what has already arrived: one event is stored at once, a burst in few
		// transactions.
	more:
		for len(batch) < maxBatch {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break more
			}
		}
		s.handle(ctx, created, batch)
	}
}

func (s *Service) openConsumer(ctx context.Context) (jetstream.Consumer, int64, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := logstream.EnsureStream(cctx, s.o.JS); err != nil {
		return nil, 0, err
	}
	st, err := s.o.JS.Stream(cctx, logstream.StreamName)
	if err != nil {
		return nil, 0, fmt.Errorf("stream %s: %w", logstream.StreamName, err)
	}
	cons, err := st.CreateOrUpdateConsumer(cctx, consumerConfig())
	if err != nil {
		return nil, 0, fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	return cons, st.CachedInfo().Created.UnixNano(), nil
}

// row is one decoded message.
type row struct {
	msg   jetstream.Msg
	seq   int64
	log   *eventsv1.LogEvent
	login *eventsv1.LoginEvent
	ts    time.Time
}

// handle decodes, stores and acknowledges a batch. It returns only once the batch is stored
// (retrying while the database is unreachable) or ctx ends, leaving the batch unacknowledged.
func (s *Service) handle(ctx context.Context, created int64, batch []jetstream.Msg) {
	var rows []row
	for _, m := range batch {
		r, ok := s.decode(m)
		if !ok {
			s.m.invalid.Inc()
			_ = m.Term()
			continue
		}
		level := r.level()
		if level != eventsv1.LogEvent_LOGLEVEL_UNKNOWN && s.o.Level != eventsv1.LogEvent_LOGLEVEL_UNKNOWN && level > s.o.Level {
			s.m.filtered.Inc()
			_ = m.Ack()
			continue
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return
	}
	s.m.batchSize.Observe(float64(len(rows)))
	backoff := 500 * time.Millisecond
	for {
		err := s.store(ctx, created, rows)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		if isDataError(err) {
			// One message the database refuses must not hold back the others.
			s.storeOneByOne(ctx, created, rows)
			return
		}
		s.m.storeErrors.Inc()
		s.o.PipelineLog.Warn("storing log events failed; retrying", "events", len(rows), "err", err, "retry_in", backoff)
		for _, r := range rows {
			_ = r.msg.InProgress()
		}
		if !sleep(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 15*time.Second)
	}
	for _, r := range rows {
		_ = r.msg.Ack()
	}
}

func (s *Service) storeOneByOne(ctx context.Context, created int64, rows []row) {
	for _, r := range rows {
		err := s.store(ctx, created, []row{r})
		switch {
		case err == nil:
			_ = r.msg.Ack()
		case isDataError(err):
			s.m.invalid.Inc()
			s.o.PipelineLog.Warn("log event refused by the database; dropped", "seq", r.seq, "err", err)
			_ = r.msg.Term()
		default:
			// Unreachable again: leave it to redelivery after ackWait.
			s.m.storeErrors.Inc()
			_ = r.msg.Nak()
		}
	}
}

func (r row) level() eventsv1.LogEvent_LogLevel {
	if r.login != nil {
		return r.login.GetLogHeader().GetLevel()
	}
	return r.log.GetLevel()
}

func (s *Service) decode(m jetstream.Msg) (row, bool) {
	md, err := m.Metadata()
	if err != nil {
		return row{}, false
	}
	r := row{msg: m, seq: int64(md.Sequence.Stream)}
	var ts float64
	switch subj := m.Subject(); {
	case subj == logstream.SubjectLogin:
		r.login = &eventsv1.LoginEvent{}
		if proto.Unmarshal(m.Data(), r.login) != nil {
			return row{}, false
		}
		ts = r.login.GetLogHeader().GetTimestamp()
	case strings.HasPrefix(subj, logstream.SubjectLogPrefix):
		r.log = &eventsv1.LogEvent{}
		if proto.Unmarshal(m.Data(), r.log) != nil {
			return row{}, false
		}
		ts = r.log.GetTimestamp()
	default:
		return row{}, false
	}
	r.ts = eventTime(ts, md.Timestamp)
	return r, true
}

// eventTime is the event's own time (seconds since the epoch), or the time the stream received
// it when the event's is missing or outside what PostgreSQL stores.
func eventTime(sec float64, received time.Time) time.Time {
	if math.IsNaN(sec) || sec <= 0 || sec > 253402300799 {
		return received
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)).Round(time.Microsecond)
}

// text makes a string storable: PostgreSQL text refuses NUL bytes and invalid UTF-8.
func text(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}

// uuidText bounds a uuid to its column (varchar(36)).
func uuidText(s string) string {
	s = text(s)
	if len(s) > 36 {
		s = strings.ToValidUTF8(s[:36], "")
	}
	return s
}

func (s *Service) store(ctx context.Context, created int64, rows []row) error {
	var logs struct {
		level           []int32
		sender, message []string
		ts              []time.Time
		created, seq    []int64
	}
	var logins struct {
		ts                                         []time.Time
		level, status, typ                         []int32
		sender, user, part, dev, svc, ip, endpoint []string
		client, clientVer, os, osVer, message      []string
		created, seq                               []int64
	}
	for _, r := range rows {
		if r.log != nil {
			logs.level = append(logs.level, int32(r.log.GetLevel()))
			logs.sender = append(logs.sender, text(r.log.GetSender()))
			logs.message = append(logs.message, text(r.log.GetMessage()))
			logs.ts = append(logs.ts, r.ts)
			logs.created = append(logs.created, created)
			logs.seq = append(logs.seq, r.seq)
			continue
		}
		e, h := r.login, r.login.GetLogHeader()
		logins.ts = append(logins.ts, r.ts)
		logins.level = append(logins.level, int32(h.GetLevel()))
		logins.sender = append(logins.sender, text(h.GetSender()))
		logins.user = append(logins.user, uuidText(e.GetUserUuid()))
		logins.part = append(logins.part, uuidText(e.GetParticipantUuid()))
		logins.dev = append(logins.dev, uuidText(e.GetDeviceUuid()))
		logins.svc = append(logins.svc, uuidText(e.GetServiceUuid()))
		logins.status = append(logins.status, int32(e.GetLoginStatus()))
		logins.typ = append(logins.typ, int32(e.GetLoginType()))
		logins.ip = append(logins.ip, text(e.GetClientIp()))
		logins.endpoint = append(logins.endpoint, text(e.GetServerEndpoint()))
		logins.client = append(logins.client, text(e.GetClientName()))
		logins.clientVer = append(logins.clientVer, text(e.GetClientVersion()))
		logins.os = append(logins.os, text(e.GetOsName()))
		logins.osVer = append(logins.osVer, text(e.GetOsVersion()))
		logins.message = append(logins.message, text(h.GetMessage()))
		logins.created = append(logins.created, created)
		logins.seq = append(logins.seq, r.seq)
	}
	err := pgx.BeginFunc(ctx, s.o.DB, func(tx pgx.Tx) error {
		if len(logs.seq) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO logging.t_log_entry (log_level, sender, message, "timestamp", stream_created, stream_seq)
				SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::timestamptz[], $5::bigint[], $6::bigint[])
				ON CONFLICT (stream_created, stream_seq) DO NOTHING`,
				logs.level, logs.sender, logs.message, logs.ts, logs.created, logs.seq); err != nil {
				return fmt.Errorf("store log entries: %w", err)
			}
		}
		if len(logins.seq) > 0 {
			if _, err := tx.Exec(ctx, `
				INSERT INTO logging.t_logins (login_timestamp, login_log_level, login_sender, login_user_uuid,
				       login_participant_uuid, login_device_uuid, login_service_uuid, login_status, login_type,
				       login_client_ip, login_server_endpoint, login_client_name, login_client_version,
				       login_os_name, login_os_version, login_message, stream_created, stream_seq)
				SELECT * FROM unnest($1::timestamptz[], $2::integer[], $3::text[], $4::text[], $5::text[], $6::text[],
				       $7::text[], $8::integer[], $9::integer[], $10::text[], $11::text[], $12::text[], $13::text[],
				       $14::text[], $15::text[], $16::text[], $17::bigint[], $18::bigint[])
				ON CONFLICT (stream_created, stream_seq) DO NOTHING`,
				logins.ts, logins.level, logins.sender, logins.user, logins.part, logins.dev, logins.svc, logins.status,
				logins.typ, logins.ip, logins.endpoint, logins.client, logins.clientVer, logins.os, logins.osVer,
				logins.message, logins.created, logins.seq); err != nil {
				return fmt.Errorf("store login entries: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Counted after the commit: a redelivered duplicate is counted again, never a lost one.
	s.m.stored.WithLabelValues("log").Add(float64(len(logs.seq)))
	s.m.stored.WithLabelValues("login").Add(float64(len(logins.seq)))
	return nil
}

// isDataError reports a refusal of the data itself (SQLSTATE classes 22 and 23), which no
// retry can mend, as opposed to an unreachable or failing database.
func isDataError(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && (strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23"))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
