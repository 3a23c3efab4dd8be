package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"fmt"
	"time"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/tests

type tests struct {
	*Service
	corev1.UnimplementedTestServiceServer
}

// testSelector is OpenTera's if/elif order; obj/msg is the 403 check of the selected object
// (id_device is declared in proto). serviceUUID is the service API's last selector.
func testSelector(r *corev1.GetTestsRequest, serviceUUID string) (by store.TestSelector, id int32, uuid string, obj access.Object, msg string, ok bool) {
	if c, ok := firstSelected([]idSelector[store.TestSelector]{{r.IdDevice, store.TestsOfDevice, "", ""},
		{r.IdSession, store.TestsOfSession, access.Sessions, "Session access denied"},
		{r.IdParticipant, store.TestsOfParticipant, access.Participants, "Participant access denied"},
		{r.IdUser, store.TestsOfUser, access.Users, "User access denied"}, {r.IdTest, store.TestByID, "", ""}}); ok {
		return c.by, c.id, "", c.obj, c.msg, true
	}
	if r.TestUuid != "" {
		return store.TestByUUID, 0, r.TestUuid, "", "", true
	}
	return store.TestsOfService, 0, serviceUUID, "", "", serviceUUID != ""
}

func (s *tests) GetTests(ctx context.Context, r *corev1.GetTestsRequest) (*corev1.GetTestsResponse, error) {
	out, err := s.listTests(ctx, r, "")
	return &corev1.GetTestsResponse{Tests: out}, err
}

// listTests answers GET /api/user/tests and /api/service/tests.
func (s *Service) listTests(ctx context.Context, r *corev1.GetTestsRequest, serviceUUID string) ([]*corev1.Test, error) {
	if proto.Equal(r, &corev1.GetTestsRequest{}) && serviceUUID == "" {
		return nil, apierr.MissingArgument("No arguments specified")
	}
	by, id, uuid, obj, msg, ok := testSelector(r, serviceUUID)
	if !ok {
		return nil, apierr.MissingArgument("Missing argument")
	}
	m := caller(ctx)
	if err := s.requireSelected(ctx, m, obj, id, msg); err != nil {
		return nil, err
	}
	rows, err := store.ListTests(ctx, s.db, m.acc, by, id, uuid)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.Test, 0, len(rows))
	for _, t := range rows {
		p := &corev1.Test{TestUuid: &t.TestUUID}
		if !r.WithOnlyToken {
			p = testProto(t, r.Full)
		}
		if r.WithUrls || r.WithOnlyToken {
			tok, err := s.sign(func(sg *authn.Signer) (string, error) {
				return sg.TestToken(authn.FromContext(ctx).UUID, []string{t.TestUUID})
			})
			if err != nil {
				return nil, err
			}
			p.AccessToken = &tok
		}
		if r.WithUrls && !r.WithOnlyToken {
			p.TestAnswersUrl, p.TestAnswersWebUrl = structpb.NewNullValue(), structpb.NewNullValue()
			if t.TypeServiceEnabled {
				base := s.publicURL + strings.TrimSuffix(t.TypeServiceURL, "/") + "/api/tests/answers"
				p.TestAnswersUrl = structpb.NewStringValue(base)
				if t.TestTypeWebFormat {
					p.TestAnswersWebUrl = structpb.NewStringValue(base + "/web")
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func testProto(t store.Test, full bool) *corev1.Test {
	p := &corev1.Test{IdTest: &t.IDTest, IdTestType: &t.IDTestType, IdSession: &t.IDSession, IdDevice: nullableInt(t.IDDevice),
		IdParticipant: nullableInt(t.IDParticipant), IdUser: nullableInt(t.IDUser), IdService: nullableInt(t.IDService),
		TestUuid: &t.TestUUID, TestName: &t.TestName, TestDatetime: isoTime(&t.TestDatetime), TestStatus: &t.TestStatus,
		TestSummary: nullable(t.TestSummary)}
	if full {
		p.TestSessionName, p.TestTestTypeName, p.TestTestTypeUuid = &t.SessionName, &t.TestTypeName, &t.TestTypeUUID
		p.TestDevice, p.TestUser, p.TestParticipant, p.TestService = t.DeviceName, t.UserName, t.ParticipantName, t.ServiceName
	}
	return p
}

func (s *tests) PostTest(context.Context, *corev1.PostTestRequest) (*corev1.PostTestResponse, error) {
	return nil, notImplemented("Test information update and creation must be done directly into a service (such as Test service)")
}

func (s *tests) DeleteTest(ctx context.Context, r *corev1.DeleteTestRequest) (*corev1.DeleteTestResponse, error) {
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.DeleteTest(ctx, tx, caller(ctx).acc, id), "Forbidden")
	})
	return reply(&corev1.DeleteTestResponse{}, err)
}

// ---- /api/service/tests, /tests/invitations, /testtypes and /testtypes/projects: the user
// API's handlers and store queries, scoped by the service branch of the access rules.

type serviceTests struct {
	*Service
	corev1.UnimplementedServiceTestApiServiceServer
}

func (s *serviceTests) SvcGetTests(ctx context.Context, r *corev1.SvcGetTestsRequest) (*corev1.GetTestsResponse, error) {
	out, err := s.listTests(ctx, &corev1.GetTestsRequest{IdTest: r.IdTest, IdDevice: r.IdDevice, IdSession: r.IdSession,
		IdParticipant: r.IdParticipant, IdUser: r.IdUser, WithUrls: r.WithUrls, WithOnlyToken: r.WithOnlyToken}, r.ServiceUuid)
	return &corev1.GetTestsResponse{Tests: out}, err
}

const msgServiceTestSession = "Service can't create tests for that session"

func (s *serviceTests) SvcPostTest(ctx context.Context, r *corev1.SvcPostTestRequest) (*corev1.SvcPostTestResponse, error) {
	b := r.GetTest()
	if _, err := bodyID(b, func(b *corev1.SvcTestBody) *int32 { return b.IdTest }, "test field"); err != nil {
		return nil, err
	}
	switch {
	case b.IdService != nil && b.GetIdService() != serviceID(ctx):
		return nil, apierr.Forbidden("Forbidden")
	}
	m := caller(ctx)
	var out []*corev1.Test
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, err := s.writeServiceTest(ctx, tx, m, b)
		if err != nil {
			return err
		}
		row, err := store.GetTest(ctx, tx, id)
		out = []*corev1.Test{testProto(row, false)}
		return err
	})
	return reply(&corev1.SvcPostTestResponse{Tests: out}, err)
}

// writeServiceTest checks a {"test": {…}} of a service against its scope and writes it.
func (s *serviceTests) writeServiceTest(ctx context.Context, tx pgx.Tx, m me, b *corev1.SvcTestBody) (int32, error) {
	w, testType, err := serviceTestWrite(ctx, tx, m, b)
	if err != nil {
		return 0, err
	}
	sessions := []int32{}
	id := b.GetIdTest()
	if id != 0 {
		_, current, err := store.TestRef(ctx, tx, id, "")
		if err != nil {
			return 0, orDenied(err, msgServiceTestSession)
		}
		sessions = append(sessions, current)
	} else {
		switch {
		case w.Session == nil:
			return 0, apierr.InvalidArgument("Unknown session")
		case w.TestType == nil:
			return 0, apierr.MissingArgument("Missing id_test_type field")
		}
		if w.Service == nil {
			svc := serviceID(ctx)
			w.Service = &svc
		}
	}
	if w.Session != nil {
		sessions = append(sessions, *w.Session)
	}
	if bad, err := store.Inaccessible(ctx, tx, m.acc.AdminOnly().Sessions(), sessions); err != nil || len(bad) > 0 {
		return 0, errOr(err, apierr.Forbidden(msgServiceTestSession))
	}
	if id != 0 {
		return id, store.UpdateTest(ctx, tx, id, w)
	}
	if w.Name == nil {
		n, err := store.CountTests(ctx, tx, *w.Session, *w.TestType)
		if err != nil {
			return 0, err
		}
		name := testType.TestTypeName
		if testType.TestTypeKey != nil {
			name = *testType.TestTypeKey
		}
		name = fmt.Sprintf("%s #%d", name, n+1)
		w.Name = &name
	}
	if w.Datetime == nil {
		now := time.Now()
		w.Datetime = &now
	}
	return store.InsertTest(ctx, tx, w)
}

// serviceTestWrite reads the body into a write, its uuids resolved within the service's scope,
// and answers the test's type (one of the service's: OpenTera takes any type).
func serviceTestWrite(ctx context.Context, tx pgx.Tx, m me, b *corev1.SvcTestBody) (store.TestWrite, store.TestType, error) {
	w := store.TestWrite{Session: b.IdSession, TestType: b.IdTestType, Name: b.TestName, Summary: b.TestSummary, Status: b.TestStatus,
		Participant: b.IdParticipant, User: b.IdUser, Device: b.IdDevice, Service: b.IdService}
	var testType store.TestType
	if b.IdSession == nil && b.SessionUuid != nil {
		id, err := store.VisibleIDByUUID(ctx, tx, m.acc, access.Sessions, b.GetSessionUuid())
		if err != nil {
			return w, testType, orInvalid(err, "Unknown session")
		}
		w.Session = &id
	}
	if b.IdTestType == nil && b.TestTypeUuid != nil {
		id, err := store.TestTypeIDByUUID(ctx, tx, b.GetTestTypeUuid())
		if err != nil {
			return w, testType, orInvalid(err, "Invalid test type")
		}
		w.TestType = &id
	}
	if b.TestDatetime != nil {
		t, err := parseDatetime(b.GetTestDatetime(), "test_datetime")
		if err != nil {
			return w, testType, err
		}
		w.Datetime = t
	}
	if w.TestType != nil {
		rows, err := store.ListTestTypes(ctx, tx, m.acc, store.TestTypeByID, *w.TestType, "")
		if err != nil || len(rows) == 0 {
			return w, testType, errOr(err, apierr.InvalidArgument("Invalid test type"))
		}
		testType = rows[0]
	}
	return w, testType, seenTestRefs(ctx, tx, m, &w, b)
}

// seenTestRefs resolves the participant, user and device of a test, which must be ones the
// service sees.
func seenTestRefs(ctx context.Context, tx pgx.Tx, m me, w *store.TestWrite, b *corev1.SvcTestBody) error {
	for _, c := range []struct {
		id   **int32
		uuid *string
		o    access.Object
		msg  string
	}{{&w.Participant, b.ParticipantUuid, access.Participants, "Invalid participant"}, {&w.User, b.UserUuid, access.Users, "Invalid user"},
		{&w.Device, b.DeviceUuid, access.Devices, "Invalid device"}} {
		if *c.id == nil && c.uuid != nil {
			id, err := store.VisibleIDByUUID(ctx, tx, m.acc, c.o, *c.uuid)
			if err != nil {
				return orInvalid(err, c.msg)
			}
			*c.id = &id
		} else if *c.id != nil {
			if bad, err := store.Inaccessible(ctx, tx, m.acc.IDs(c.o), []int32{**c.id}); err != nil || len(bad) > 0 {
				return errOr(err, apierr.InvalidArgument(c.msg))
			}
		}
	}
	return nil
}

// orInvalid answers "no such row" with 400 and msg.
func orInvalid(err error, msg string) error {
	if errors.Is(err, store.ErrNotFound) {
		return apierr.InvalidArgument(msg)
	}
	return err
}

func (s *serviceTests) SvcDeleteTest(ctx context.Context, r *corev1.SvcDeleteTestRequest) (*corev1.SvcDeleteTestResponse, error) {
	if r.GetUuid() == "" {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	m := caller(ctx)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, session, err := store.TestRef(ctx, tx, 0, r.GetUuid())
		if err != nil {
			return orInvalid(err, "Missing arguments")
		}
		if bad, err := store.Inaccessible(ctx, tx, m.acc.AdminOnly().Sessions(), []int32{session}); err != nil || len(bad) > 0 {
			return errOr(err, apierr.Forbidden("Service can't delete tests for that session"))
		}
		return orDenied(store.DeleteTest(ctx, tx, m.acc, id), "Service can't delete tests for that session")
	})
	return reply(&corev1.SvcDeleteTestResponse{}, err)
}
