package store

import (
	"context"
	"fmt"
	"strings"
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
	TestsOfService                         // written by the service of uuid
)

// Every test listed is in a session the caller sees and, for a user, of a type whose service it
// sees (OpenTera's query_test; its device, participant and user lists skip both checks, Tera
// does not). A service sees every test of its sessions, as OpenTera's service API.
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
   AND (@acc_kind::text = 'service' OR tt.id_service IN (SELECT x.id FROM core.acc_services(@acc_kind::text, @acc_id::integer, false) x))
   AND `

var testWhere = map[TestSelector]string{
	TestsOfDevice:      `t.id_device = @id AND @id IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x)`,
	TestsOfSession:     `t.id_session = @id`,
	TestsOfParticipant: `t.id_participant = @id AND @id IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x)`,
	TestsOfUser:        `t.id_user = @id AND @id IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x)`,
	TestByID:           `t.id_test = @id`,
	TestByUUID:         `t.test_uuid = @uuid`,
	TestsOfService:     `t.id_service = (SELECT x.id_service FROM core.t_services x WHERE x.service_uuid = @uuid)`,
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

// TestWrite is the columns of a test a service writes (nil: unchanged, or the default on
// insert).
type TestWrite struct {
	TestType, Session                  *int32
	Name, Summary                      *string
	Datetime                           *time.Time
	Status                             *int32
	Participant, User, Device, Service *int32
}

func (w TestWrite) args() pgx.NamedArgs {
	return pgx.NamedArgs{"type": w.TestType, "session": w.Session, "name": w.Name, "summary": w.Summary, "datetime": w.Datetime,
		"status": w.Status, "participant": w.Participant, "user": w.User, "device": w.Device, "service": w.Service}
}

// InsertTest creates a test with a fresh uuid; the caller has checked its session, type and
// creators.
func InsertTest(ctx context.Context, db DB, w TestWrite) (int32, error) {
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_tests (id_test_type, id_session, test_uuid, test_name, test_datetime, test_status,
		test_summary, id_participant, id_user, id_device, id_service)
		VALUES (@type, @session, gen_random_uuid()::text, @name, coalesce(@datetime::timestamptz, now()), coalesce(@status::integer, 0),
		        @summary, @participant, @user, @device, @service)
		RETURNING id_test`, w.args()).Scan(&id)
	return id, wrap("insert test", err)
}

// UpdateTest changes the columns set in w of a test; the caller has checked them.
func UpdateTest(ctx context.Context, db DB, id int32, w TestWrite) error {
	a := w.args()
	a["id"] = id
	tag, err := db.Exec(ctx, `UPDATE core.t_tests SET id_test_type = coalesce(@type, id_test_type),
		id_session = coalesce(@session, id_session), test_name = coalesce(@name, test_name),
		test_summary = coalesce(@summary, test_summary), test_datetime = coalesce(@datetime::timestamptz, test_datetime),
		test_status = coalesce(@status::integer, test_status), id_participant = coalesce(@participant, id_participant),
		id_user = coalesce(@user, id_user), id_device = coalesce(@device, id_device), id_service = coalesce(@service, id_service)
		WHERE id_test = @id AND deleted_at IS NULL`, a)
	return affected(tag.RowsAffected(), wrap("update test", err))
}

// TestRef returns a live test's id and session by id (uuid empty) or uuid; ErrNotFound when
// absent.
func TestRef(ctx context.Context, db DB, id int32, uuid string) (int32, int32, error) {
	var ses int32
	err := db.QueryRow(ctx, `SELECT id_test, id_session FROM core.t_tests WHERE deleted_at IS NULL
		AND CASE WHEN @uuid::text = '' THEN id_test = @id ELSE test_uuid = @uuid END`, pgx.NamedArgs{"id": id, "uuid": uuid}).Scan(&id, &ses)
	return id, ses, wrap("test", err)
}

// CountTests counts the live tests of a type in a session (OpenTera numbers a new test's
// default name with it).
func CountTests(ctx context.Context, db DB, session, testType int32) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT count(*) FROM core.t_tests WHERE id_session = $1 AND id_test_type = $2 AND deleted_at IS NULL`,
		session, testType).Scan(&n)
	return n, wrap("count tests", err)
}

// GetTest reads one live test by id, whoever may see it (the answer of a checked write).
func GetTest(ctx context.Context, db DB, id int32) (Test, error) {
	return one[Test](ctx, db, "test", testWritten, access.Scope{}, pgx.NamedArgs{"id": id})
}

var testWritten = testCols[:strings.Index(testCols, " WHERE ")] + " WHERE t.deleted_at IS NULL AND t.id_test = @id"

// uuidTables names, per object kind, its table and uuid column for VisibleIDByUUID.
var uuidTables = map[access.Object][3]string{
	access.Participants: {"t_participants", "participant_uuid", "id_participant"},
	access.Users:        {"t_users", "user_uuid", "id_user"},
	access.Devices:      {"t_devices", "device_uuid", "id_device"},
	access.Sessions:     {"t_sessions", "session_uuid", "id_session"},
}

// VisibleIDByUUID returns the id of the live object of that uuid the scope sees; ErrNotFound
// when there is none.
func VisibleIDByUUID(ctx context.Context, db DB, scope access.Scope, o access.Object, uuid string) (int32, error) {
	t, ok := uuidTables[o]
	if !ok {
		return 0, fmt.Errorf("id by uuid: no table for %s", o)
	}
	f := scope.IDs(o)
	var id int32
	err := db.QueryRow(ctx, fmt.Sprintf(`SELECT x.%[3]s FROM core.%[1]s x WHERE x.%[2]s = @uuid AND x.deleted_at IS NULL AND x.%[3]s IN (`,
		t[0], t[1], t[2])+f.SQL+`)`, f.With(pgx.NamedArgs{"uuid": uuid})).Scan(&id)
	return id, wrap("id by uuid", err)
}
