package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
)

// TestInvitation is a t_tests_invitations row with what OpenTera's full JSON adds (its test
// type, project, session and invitee) and its type's web page for test_invitation_url.
type TestInvitation struct {
	IDTestInvitation  int32     `db:"id_test_invitation"`
	IDTestType        int32     `db:"id_test_type"`
	IDSession         *int32    `db:"id_session"`
	IDUser            *int32    `db:"id_user"`
	IDParticipant     *int32    `db:"id_participant"`
	IDDevice          *int32    `db:"id_device"`
	IDProject         int32     `db:"id_project"`
	Key               string    `db:"test_invitation_key"`
	MaxCount          int32     `db:"test_invitation_max_count"`
	Count             int32     `db:"test_invitation_count"`
	CreationDate      time.Time `db:"test_invitation_creation_date"`
	ExpirationDate    time.Time `db:"test_invitation_expiration_date"`
	Message           *string   `db:"test_invitation_message"`
	TestTypeUUID      string    `db:"test_type_uuid"`
	TestTypeName      string    `db:"test_type_name"`
	TestTypeDesc      *string   `db:"test_type_description"`
	TestTypeKey       *string   `db:"test_type_key"`
	TestTypeWebFormat bool      `db:"test_type_has_web_format"`
	ServiceEnabled    bool      `db:"service_enabled"`
	ServiceEndpoint   string    `db:"service_endpoint"`
	ProjectName       string    `db:"project_name"`
	SessionUUID       *string   `db:"session_uuid"`
	SessionName       *string   `db:"session_name"`
	UserUUID          *string   `db:"user_uuid"`
	UserFirstname     *string   `db:"user_firstname"`
	UserLastname      *string   `db:"user_lastname"`
	ParticipantUUID   *string   `db:"participant_uuid"`
	ParticipantName   *string   `db:"participant_name"`
	DeviceUUID        *string   `db:"device_uuid"`
	DeviceName        *string   `db:"device_name"`
}

// TestInvitationSelector says which invitations to list (OpenTera's UserQueryTestsInvitations
// and ServiceQueryTestsInvitations selectors).
type TestInvitationSelector int

const (
	TestInvitationsVisible       TestInvitationSelector = iota // every visible invitation
	TestInvitationByID                                         // id
	TestInvitationByKey                                        // key
	TestInvitationsOfUser                                      // the user of uuid, else id
	TestInvitationsOfParticipant                               // idem
	TestInvitationsOfDevice                                    // idem
	TestInvitationsOfSession                                   // idem
	TestInvitationsOfTestType                                  // idem
	TestInvitationsOfProject                                   // id
)

// testInvitationVisible is OpenTera's get_accessible_tests_invitations in SQL, on alias ti. A
// user (or any non-service principal) sees the invitations of a test type and a project it
// sees whose invitee or session it sees; a service those of its own test types
// (acc_test_types' service branch).
const testInvitationVisible = `ti.deleted_at IS NULL
   AND ti.id_test_type IN (SELECT x.id FROM core.acc_test_types(@acc_kind::text, @acc_id::integer, false) x)
   AND (@acc_kind::text = 'service' OR (
        ti.id_project IN (SELECT x.id FROM core.acc_projects(@acc_kind::text, @acc_id::integer, false) x)
    AND (ti.id_user IN (SELECT x.id FROM core.acc_users(@acc_kind::text, @acc_id::integer, false, false) x)
      OR ti.id_participant IN (SELECT x.id FROM core.acc_participants(@acc_kind::text, @acc_id::integer, false) x)
      OR ti.id_device IN (SELECT x.id FROM core.acc_devices(@acc_kind::text, @acc_id::integer, false) x)
      OR (ti.id_session IS NOT NULL AND CASE WHEN @acc_kind::text = 'user' THEN core.user_can_session(@acc_id::integer, ti.id_session)
               ELSE ti.id_session IN (SELECT x.id FROM core.acc_sessions(@acc_kind::text, @acc_id::integer, false) x) END))))`

const testInvitationCols = `SELECT ti.id_test_invitation, ti.id_test_type, ti.id_session, ti.id_user, ti.id_participant, ti.id_device,
       ti.id_project, ti.test_invitation_key, ti.test_invitation_max_count, ti.test_invitation_count,
       ti.test_invitation_creation_date, ti.test_invitation_expiration_date, ti.test_invitation_message,
       tt.test_type_uuid, tt.test_type_name, tt.test_type_description, tt.test_type_key, tt.test_type_has_web_format,
       sv.service_enabled, sv.service_clientendpoint AS service_endpoint, pr.project_name,
       s.session_uuid, s.session_name, u.user_uuid, u.user_firstname, u.user_lastname,
       p.participant_uuid, p.participant_name, d.device_uuid, d.device_name
  FROM core.t_tests_invitations ti
  JOIN core.t_tests_types tt ON tt.id_test_type = ti.id_test_type
  JOIN core.t_services sv ON sv.id_service = tt.id_service
  JOIN core.t_projects pr ON pr.id_project = ti.id_project
  LEFT JOIN core.t_sessions s ON s.id_session = ti.id_session
  LEFT JOIN core.t_users u ON u.id_user = ti.id_user
  LEFT JOIN core.t_participants p ON p.id_participant = ti.id_participant
  LEFT JOIN core.t_devices d ON d.id_device = ti.id_device
 WHERE ` + testInvitationVisible

// byUUIDOrID is the id of the live row of table whose uuid column is @uuid, else @id (OpenTera
// replaces the id argument by the uuid's object when there is one).
func byUUIDOrID(col, table, uuidCol string) string {
	return fmt.Sprintf(` AND ti.%[1]s = coalesce((SELECT x.%[1]s FROM core.%[2]s x WHERE x.%[3]s = @uuid AND x.deleted_at IS NULL), @id)`,
		col, table, uuidCol)
}

var testInvitationQueries = func() map[TestInvitationSelector]string {
	where := map[TestInvitationSelector]string{
		TestInvitationsVisible:       "",
		TestInvitationByID:           " AND ti.id_test_invitation = @id",
		TestInvitationByKey:          " AND ti.test_invitation_key = @uuid",
		TestInvitationsOfUser:        byUUIDOrID("id_user", "t_users", "user_uuid"),
		TestInvitationsOfParticipant: byUUIDOrID("id_participant", "t_participants", "participant_uuid"),
		TestInvitationsOfDevice:      byUUIDOrID("id_device", "t_devices", "device_uuid"),
		TestInvitationsOfSession:     byUUIDOrID("id_session", "t_sessions", "session_uuid"),
		TestInvitationsOfTestType:    byUUIDOrID("id_test_type", "t_tests_types", "test_type_uuid"),
		TestInvitationsOfProject:     " AND ti.id_project = @id",
	}
	out := map[TestInvitationSelector]string{}
	for k, w := range where {
		out[k] = testInvitationCols + w + "\n ORDER BY ti.id_test_invitation"
	}
	return out
}()

// ListTestInvitations returns the visible invitations one selector names: id (nil matches
// nothing) and, for the uuid selectors and the key, uuid.
func ListTestInvitations(ctx context.Context, db DB, scope access.Scope, by TestInvitationSelector, id *int32, uuid *string) ([]TestInvitation, error) {
	q, ok := testInvitationQueries[by]
	if !ok {
		return nil, fmt.Errorf("list test invitations: unknown selector %d", by)
	}
	return list[TestInvitation](ctx, db, "list test invitations", q, scope, pgx.NamedArgs{"id": id, "uuid": uuid})
}

// NewTestInvitation is a checked invitation to create.
type NewTestInvitation struct {
	TestType, Project               int32
	Session, User, Participant, Dev *int32
	MaxCount                        *int32
	Creation                        *time.Time
	Expiration                      time.Time
	Message                         *string
}

// InsertTestInvitation creates an invitation with a fresh key (OpenTera's 16 hex characters)
// and a zero count; the caller has checked every id it names.
func InsertTestInvitation(ctx context.Context, db DB, n NewTestInvitation) (int32, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("insert test invitation: key: %w", err)
	}
	var id int32
	err := db.QueryRow(ctx, `INSERT INTO core.t_tests_invitations (id_test_type, id_project, id_session, id_user, id_participant,
	    id_device, test_invitation_key, test_invitation_max_count, test_invitation_count, test_invitation_creation_date,
	    test_invitation_expiration_date, test_invitation_message)
	  VALUES (@type, @project, @session, @user, @participant, @device, @key, coalesce(@max::integer, 1), 0,
	    coalesce(@creation::timestamptz, now()), @expiration, @message)
	  RETURNING id_test_invitation`, pgx.NamedArgs{"type": n.TestType, "project": n.Project, "session": n.Session, "user": n.User,
		"participant": n.Participant, "device": n.Dev, "key": hex.EncodeToString(b[:]), "max": n.MaxCount, "creation": n.Creation,
		"expiration": n.Expiration, "message": n.Message}).Scan(&id)
	return id, wrap("insert test invitation", err)
}

// TestInvitationPatch is what an update may change (nil: unchanged).
type TestInvitationPatch struct {
	Count, MaxCount *int32
	Expiration      *time.Time
}

// UpdateTestInvitation changes a visible invitation (ErrNotFound otherwise).
func UpdateTestInvitation(ctx context.Context, db DB, scope access.Scope, id int32, p TestInvitationPatch) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_tests_invitations SET test_invitation_count = coalesce(@count::integer, test_invitation_count),
	    test_invitation_max_count = coalesce(@max::integer, test_invitation_max_count),
	    test_invitation_expiration_date = coalesce(@expiration::timestamptz, test_invitation_expiration_date)
	  WHERE id_test_invitation = @id AND id_test_invitation IN (SELECT ti.id_test_invitation FROM core.t_tests_invitations ti
	    WHERE ti.id_test_invitation = @id AND `+testInvitationVisible+`)`,
		scope.Args(pgx.NamedArgs{"id": id, "count": p.Count, "max": p.MaxCount, "expiration": p.Expiration}))
	return affected(tag.RowsAffected(), wrap("update test invitation", err))
}

// DeleteTestInvitation soft-deletes a visible invitation (ErrNotFound otherwise).
func DeleteTestInvitation(ctx context.Context, db DB, scope access.Scope, id int32) error {
	tag, err := db.Exec(ctx, `UPDATE core.t_tests_invitations SET deleted_at = now()
	  WHERE id_test_invitation = @id AND id_test_invitation IN (SELECT ti.id_test_invitation FROM core.t_tests_invitations ti
	    WHERE ti.id_test_invitation = @id AND `+testInvitationVisible+`)`, scope.Args(pgx.NamedArgs{"id": id}))
	return affected(tag.RowsAffected(), wrap("delete test invitation", err))
}
