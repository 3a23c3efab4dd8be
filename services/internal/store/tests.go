package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// Test is a t_tests row with what OpenTera's full JSON adds (names of its session, type and
// creators) and its type's service endpoint for URLs.
type Test struct {
	IDTest             int32     `db:"id_test"`
	IDTestType         int32     `db:"id_test_type"`
	IDSession          int32     `db:"id_session"`
	IDDevice           *int32    `db:"id_device"`
	IDParticipant      *int32    `db:"id_participant"`
	IDUser             *int32    `db:"id_user"`
	IDService          *int32    `db:"id_service"`
	TestUUID           string    `db:"test_uuid"`
	TestName           string    `db:"test_name"`
	TestDatetime       time.Time `db:"test_datetime"`
	TestStatus         int32     `db:"test_status"`
	TestSummary        *string   `db:"test_summary"`
	SessionName        string    `db:"session_name"`
	TestTypeName       string    `db:"test_type_name"`
	TestTypeUUID       string    `db:"test_type_uuid"`
	TestTypeWebFormat  bool      `db:"test_type_has_web_format"`
	TypeServiceEnabled bool      `db:"type_service_enabled"`
	TypeServiceURL     string    `db:"type_service_endpoint"`
	DeviceName         *string   `db:"device_name"`
	UserName           *string   `db:"user_name"`
	ParticipantName    *string   `db:"participant_name"`
	ServiceName        *string   `db:"service_name"`
}

// TestSelector says which tests to list (OpenTera's UserQueryTests selectors).
type TestSelector int

const (
	TestsOfDevice      TestSelector = iota // t_tests.id_device
	TestsOfSession                         // of one session
	TestsOfParticipant                     // t_tests.id_participant
	TestsOfUser                            // t_tests.id_user
	TestByID                               // one test
	TestByUUID                             // one test
)

// Every test listed is in a session the caller sees and of a type whose service it sees
// (OpenTera's query_test; its device, participant and user lists skip both checks, Tera does
// not).
const testCols = `SELECT t.id_test, t.id_test_type, t.id_session, t.id_device, t.id_participant, t.id_user, t.id_service,
       t.test_uuid, t.test_name, t.test_datetime, t.test_status, t.test_summary, s.session_name,
       tt.test_type_name, tt.test_type_uuid, tt.test_type_has_web_format,
       ts.service_enabled AS type_service_enabled, ts.service_clientendpoint AS type_service_endpoint, d.device_name,
       u.user_firstname || ' ' || u.user_lastname AS user_name, p.participant_name, sv.service_name
  FROM core.t_tests t
  JOIN core.t_sessions s ON s.id_session = t.id_session AND s.deleted_at IS NULL
  JOIN core.t_tests_types tt ON tt.id_test_type = t.id_test_type
  JOIN core.t_services ts ON ts.id_service = tt.id_service
  LEFT JOIN core.t_devices d ON d.id_device = t.id_device
  LEFT JOIN core.t_users u ON u.id_user = t.id_user
  LEFT JOIN core.t_participants p ON p.id_participant = t.id_participant
  LEFT JOIN core.t_services sv ON sv.id_service = t.id_service
 WHERE t.deleted_at IS NULL
   AND CASE WHEN @acc_kind::text = 'user' THEN core.user_can_session(@acc_id::integer, t.id_session)
            ELSE t.id_session IN (SELECT x.id FROM core.acc_sessions(@acc_kind::text, @acc_id::integer, false) x) END
   AND tt.id_service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x)
   AND `

var testWhere = map[TestSelector]string{
	TestsOfDevice:      `t.id_device = @id AND @id IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x)`,
	TestsOfSession:     `t.id_session = @id`,
	TestsOfParticipant: `t.id_participant = @id AND @id IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x)`,
	TestsOfUser:        `t.id_user = @id AND @id IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x)`,
	TestByID:           `t.id_test = @id`,
	TestByUUID:         `t.test_uuid = @uuid`,
}

var testQueries = func() map[TestSelector]string {
	out := map[TestSelector]string{}
	for k, w := range testWhere {
		out[k] = testCols + w + "\n ORDER BY t.id_test_type, t.test_datetime, t.id_test"
	}
	return out
}()

// ListTests returns the tests one selector names (id, or uuid for TestByUUID) that the caller
// may see, by type then time (OpenTera's order).
func ListTests(ctx context.Context, db DB, scope access.Scope, by TestSelector, id int32, uuid string) ([]Test, error) {
	q, ok := testQueries[by]
	if !ok {
		return nil, fmt.Errorf("list tests: unknown selector %d", by)
	}
	return list[Test](ctx, db, "list tests", q, scope, pgx.NamedArgs{"id": id, "uuid": uuid})
}

// DeleteTest soft-deletes a test the caller may see (ErrNotFound otherwise); the outbox
// trigger writes its DatabaseEvent in the caller's transaction.
func DeleteTest(ctx context.Context, db DB, scope access.Scope, id int32) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_tests SET deleted_at = now() WHERE id_test IN (SELECT id_test FROM (`+
		testQueries[TestByID]+`) x)`, scope.Args(pgx.NamedArgs{"id": id, "uuid": ""}))
	if err != nil {
		return wrap("delete test", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
