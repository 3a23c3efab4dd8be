package logging

import (
	"context"
	"testing"
	"time"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/testenv"
)

// A message stored twice (redelivered after a crash between commit and ack) is one row; bad
// text is made storable instead of failing the batch.
func TestStoreIsIdempotentAndSanitizes(t *testing.T) {
	db := testenv.DB(t)
	s := New(Options{DB: db, Log: testenv.Quiet()})
	ctx := context.Background()
	now := time.Now()
	rows := []row{
		{seq: 1, ts: now, log: &eventsv1.LogEvent{Level: eventsv1.LogEvent_LOGLEVEL_ERROR, Sender: "a", Message: "bad \x00 \xff text"}},
		{seq: 2, ts: now, login: &eventsv1.LoginEvent{LogHeader: &eventsv1.LogEvent{Level: 4, Sender: "login"},
			UserUuid: "0123456789012345678901234567890123456789", LoginStatus: 2, LoginType: 2}},
	}
	for i := 0; i < 2; i++ {
		if err := s.store(ctx, 42, rows); err != nil {
			t.Fatal(err)
		}
	}
	var logs, logins int
	var msg, uuid string
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM logging.t_log_entry), (SELECT count(*) FROM logging.t_logins),
		(SELECT message FROM logging.t_log_entry), (SELECT login_user_uuid FROM logging.t_logins)`).Scan(&logs, &logins, &msg, &uuid); err != nil {
		t.Fatal(err)
	}
	if logs != 1 || logins != 1 || msg != "bad  \uFFFD text" || len(uuid) != 36 {
		t.Fatalf("logs %d logins %d message %q uuid %q", logs, logins, msg, uuid)
	}
	// The same sequence in a recreated stream (another creation time) is another message.
	if err := s.store(ctx, 43, rows[:1]); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM logging.t_log_entry`).Scan(&logs); err != nil || logs != 2 {
		t.Fatalf("after a new stream: %d rows (%v)", logs, err)
	}
}

// Retention deletes what is older than the cut-off, in batches, and nothing else.
func TestPurgeDeletesExpiredEntriesInBatches(t *testing.T) {
	db := testenv.DB(t)
	s := New(Options{DB: db, Log: testenv.Quiet(), PurgeBatch: 3})
	ctx := context.Background()
	if _, err := db.Exec(ctx, `
		INSERT INTO logging.t_log_entry (log_level, sender, message, "timestamp")
		SELECT 2, 's', 'm' || i, now() - i * interval '1 day' FROM generate_series(0, 9) i;
		INSERT INTO logging.t_logins (login_timestamp, login_log_level, login_sender, login_status, login_type, login_client_ip)
		SELECT now() - i * interval '1 day', 4, 's', 2, 2, '' FROM generate_series(0, 9) i`); err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx, time.Now().Add(-72*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	var logs, logins int
	if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM logging.t_log_entry), (SELECT count(*) FROM logging.t_logins)`).Scan(&logs, &logins); err != nil {
		t.Fatal(err)
	}
	if logs != 3 || logins != 3 {
		t.Fatalf("kept %d log entries and %d logins, want 3 and 3 (today and the two days before)", logs, logins)
	}
}
