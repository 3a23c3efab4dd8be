package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/tests, /tests/invitations, /testtypes and /testtypes/projects: the user API's
// handlers and store queries, scoped by the service branch of the access rules.

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
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing test field")
	case b.IdTest == nil:
		return nil, apierr.MissingArgument("Missing id_test field")
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
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostTestResponse{Tests: out}, nil
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
	if err != nil {
		return nil, err
	}
	return &corev1.SvcDeleteTestResponse{}, nil
}

func (s *serviceTests) SvcGetTestInvitations(ctx context.Context, r *corev1.GetTestInvitationsRequest) (*corev1.GetTestInvitationsResponse, error) {
	out, err := s.listTestInvitations(ctx, r)
	return &corev1.GetTestInvitationsResponse{TestsInvitations: out}, err
}

func (s *serviceTests) SvcPostTestInvitations(ctx context.Context, r *corev1.PostTestInvitationsRequest) (*corev1.PostTestInvitationsResponse, error) {
	out, err := s.postTestInvitations(ctx, r)
	return &corev1.PostTestInvitationsResponse{TestsInvitations: out}, err
}

func (s *serviceTests) SvcDeleteTestInvitation(ctx context.Context, r *corev1.DeleteTestInvitationRequest) (*corev1.DeleteTestInvitationResponse, error) {
	return &corev1.DeleteTestInvitationResponse{}, s.deleteTestInvitation(ctx, r.Id)
}

// SvcGetTestTypes lists the service's own types only, whatever the selector (OpenTera lists
// every type of a site or project, the other services' included).
func (s *serviceTests) SvcGetTestTypes(ctx context.Context, r *corev1.SvcGetTestTypesRequest) (*corev1.GetTestTypesResponse, error) {
	m := caller(ctx)
	by, id, key := store.TestTypesVisible, int32(0), ""
	visible := true
	var err error
	switch {
	case r.IdSite != 0:
		by, id = store.TestTypesOfSite, r.IdSite
		visible, err = s.can(ctx, s.db, m, access.Sites, id, false)
	case r.IdProject != 0:
		by, id = store.TestTypesOfProject, r.IdProject
		visible, err = s.can(ctx, s.db, m, access.Projects, id, false)
	case r.IdParticipant != 0:
		var p store.ParticipantRow
		p, err = store.GetParticipant(ctx, s.db, m.acc, r.IdParticipant)
		if visible = err == nil; errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		by, id = store.TestTypesOfProject, p.IDProject
	case r.IdTestType != 0:
		by, id = store.TestTypeByID, r.IdTestType
	case r.TestTypeUuid != "":
		by, key = store.TestTypeByUUID, r.TestTypeUuid
	case r.TestTypeKey != "":
		by, key = store.TestTypeByKey, r.TestTypeKey
	}
	if err != nil || !visible {
		return &corev1.GetTestTypesResponse{}, s.dbError(ctx, err)
	}
	rows, err := store.ListTestTypes(ctx, s.db, m.acc, by, id, key)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.TestType, 0, len(rows))
	for _, t := range rows {
		out = append(out, testTypeProto(t, true))
	}
	return &corev1.GetTestTypesResponse{TestTypes: out}, nil
}

func (s *serviceTests) SvcPostTestType(ctx context.Context, r *corev1.SvcPostTestTypeRequest) (*corev1.SvcPostTestTypeResponse, error) {
	b := r.GetTestType()
	svc := serviceID(ctx)
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing test_type")
	case b.IdTestType == nil && b.TestTypeUuid == nil:
		return nil, apierr.MissingArgument("Missing id_test_type or test_type_uuid")
	case b.IdService != nil && b.GetIdService() != svc:
		return nil, apierr.Forbidden("Forbidden")
	case b.TestTypeName != nil && b.GetTestTypeName() == "":
		return nil, apierr.InvalidArgument("Invalid test_type_name")
	}
	p := store.TestTypePatch{Service: &svc, Name: b.TestTypeName, Description: b.TestTypeDescription, Key: b.TestTypeKey,
		JSONFormat: b.TestTypeHasJsonFormat, WebFormat: b.TestTypeHasWebFormat, WebEditor: b.TestTypeHasWebEditor}
	m := caller(ctx)
	var out *corev1.TestType
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id := b.GetIdTestType()
		var err error
		if b.IdTestType == nil || (id == 0 && b.TestTypeUuid != nil) {
			if id, err = store.TestTypeIDByUUID(ctx, tx, b.GetTestTypeUuid()); err != nil {
				return orDenied(err, "Forbidden")
			}
		}
		switch {
		case id != 0:
			err = orDenied(store.UpdateTestType(ctx, tx, m.acc, id, p), "Forbidden")
		case b.TestTypeName == nil:
			err = apierr.MissingArgument("Missing fields: ['test_type_name']")
		default:
			id, err = store.InsertTestType(ctx, tx, p)
		}
		if err != nil {
			return err
		}
		row, err := store.TestTypeWritten(ctx, tx, m.acc, id)
		out = testTypeProto(row, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostTestTypeResponse{TestType: out}, nil
}

func (s *serviceTests) SvcDeleteTestType(ctx context.Context, r *corev1.SvcDeleteTestTypeRequest) (*corev1.SvcDeleteTestTypeResponse, error) {
	if r.GetUuid() == "" {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		id, err := store.TestTypeIDByUUID(ctx, tx, r.GetUuid())
		if err != nil {
			return orInvalid(err, "Missing arguments")
		}
		return orDenied(store.DeleteTestType(ctx, tx, caller(ctx).acc, id), "Test type not related to this service. Can't delete.")
	})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcDeleteTestTypeResponse{}, nil
}

// svcTestTypeProjectsSpec is /api/service/testtypes/projects: the service's own types (seen
// test types are its own) in the projects it sees.
var svcTestTypeProjectsSpec = &linkEndpoint{
	link: store.TestTypeProjects, keyA: "id_test_type", keyB: "id_project",
	forms: []linkForm{
		{name: "test_type", onA: true, idKey: "id_test_type", listKey: "projects", missingID: "Missing id_test_type",
			missingSet: "Missing projects", owner: &sideRule{true, seenTestTypes, apierr.Forbidden("Forbidden")}, removable: adminProjects,
			removed: &sideRule{false, adminProjects, apierr.Forbidden("Access denied to at least one project")},
			refused: apierr.Integrity(msgTestTypeProjectUsed)},
		// OpenTera also removes the other services' types from the project; Tera only its own.
		{name: "project", idKey: "id_project", listKey: "testtypes", missingID: "Missing project ID", missingSet: "Missing test types",
			owner: &sideRule{false, adminProjects, apierr.Forbidden("Forbidden")}, removable: seenTestTypes,
			refused: apierr.Integrity(msgTestTypeProjectUsed)},
	},
	noForm: apierr.InvalidArgument("Unknown format"), badItem: apierr.InvalidArgument("Badly formatted request"),
	pair: []sideRule{{false, adminProjects, apierr.Forbidden("Forbidden")}, {true, seenTestTypes, apierr.Forbidden("Forbidden")}},
	// A service may put its type in a project it sees: the type joins the project's site first.
	prepare: func(ctx context.Context, tx pgx.Tx, pairs [][2]int32) error {
		sites, err := store.ProjectSitePairs(ctx, tx, pairs)
		if err == nil {
			_, err = store.AddLinks(ctx, tx, store.TestTypeSites, sites)
		}
		return err
	},
	del: linkDelete{notFound: apierr.InvalidArgument("Not found"),
		rules:   []sideRule{{false, seenProjects, apierr.Forbidden("Forbidden")}, {true, seenTestTypes, apierr.Forbidden("Forbidden")}},
		refused: func(string) error { return apierr.Integrity(msgTestTypeProjectUsed) }},
}

func (s *serviceTests) SvcGetTestTypeProjects(ctx context.Context, r *corev1.SvcGetTestTypeProjectsRequest) (*corev1.GetTestTypeProjectsResponse, error) {
	m := caller(ctx)
	var q *store.LinkQuery
	var err error
	switch {
	case r.IdProject != 0:
		q, err = s.visible(ctx, m, access.Projects, r.IdProject, store.LinkQuery{A: m.acc.TestTypes(), B: store.OneID("sel", r.IdProject), ByA: true})
	case r.IdTestType != 0:
		q, err = s.visible(ctx, m, access.TestTypes, r.IdTestType, store.LinkQuery{A: store.OneID("sel", r.IdTestType), B: m.acc.Projects()})
	}
	if q != nil {
		q.Sites = r.WithSites
	}
	rows, err := s.listLinks(ctx, store.TestTypeProjects, err, r.IdProject != 0 || r.IdTestType != 0 || r.WithSites, q)
	if err != nil {
		return nil, err
	}
	return &corev1.GetTestTypeProjectsResponse{TestTypeProjects: mapLinks(rows, func(l store.LinkRow) *corev1.TestTypeProject {
		return testTypeProjectItem(l, false, r.WithSites)
	})}, nil
}

func (s *serviceTests) SvcPostTestTypeProjects(ctx context.Context, r *corev1.PostTestTypeProjectsRequest) (*corev1.PostTestTypeProjectsResponse, error) {
	return s.postTestTypeProjects(ctx, svcTestTypeProjectsSpec, r)
}

func (s *serviceTests) SvcDeleteTestTypeProject(ctx context.Context, r *corev1.DeleteTestTypeProjectRequest) (*corev1.DeleteTestTypeProjectResponse, error) {
	return &corev1.DeleteTestTypeProjectResponse{}, s.removeLink(ctx, svcTestTypeProjectsSpec, r.Id)
}
