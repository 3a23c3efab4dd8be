package core

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/tests/invitations; /api/service/tests/invitations is the same three handlers (the
// same messages; the caller's kind picks the visibility rule in the store).

type testInvitations struct {
	*Service
	corev1.UnimplementedTestInvitationServiceServer
}

// invitationSelectors are OpenTera's selectors in its order, each with its id and uuid (or key).
func invitationSelectors(r *corev1.GetTestInvitationsRequest) []struct {
	by   store.TestInvitationSelector
	id   *int32
	uuid *string
} {
	type sel = struct {
		by   store.TestInvitationSelector
		id   *int32
		uuid *string
	}
	all := []sel{{store.TestInvitationByID, r.IdTestInvitation, nil}, {store.TestInvitationByKey, nil, r.TestInvitationKey},
		{store.TestInvitationsOfUser, r.IdUser, r.UserUuid}, {store.TestInvitationsOfParticipant, r.IdParticipant, r.ParticipantUuid},
		{store.TestInvitationsOfDevice, r.IdDevice, r.DeviceUuid}, {store.TestInvitationsOfSession, r.IdSession, r.SessionUuid},
		{store.TestInvitationsOfTestType, r.IdTestType, r.TestTypeUuid}, {store.TestInvitationsOfProject, r.IdProject, nil}}
	var out []sel
	for _, c := range all {
		if c.id != nil || c.uuid != nil {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		out = []sel{{by: store.TestInvitationsVisible}}
	}
	return out
}

func (s *testInvitations) GetTestInvitations(ctx context.Context, r *corev1.GetTestInvitationsRequest) (*corev1.GetTestInvitationsResponse, error) {
	m := caller(ctx)
	out := []*corev1.TestInvitation{}
	for _, c := range invitationSelectors(r) {
		rows, err := store.ListTestInvitations(ctx, s.db, m.acc, c.by, c.id, c.uuid)
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		for _, row := range rows {
			out = append(out, s.testInvitationProto(row, r.Full, r.WithUrls))
		}
	}
	return &corev1.GetTestInvitationsResponse{TestsInvitations: out}, nil
}

func (s *Service) testInvitationProto(t store.TestInvitation, full, urls bool) *corev1.TestInvitation {
	p := &corev1.TestInvitation{IdTestInvitation: t.IDTestInvitation, IdTestType: t.IDTestType, IdSession: nullableInt(t.IDSession),
		IdUser: nullableInt(t.IDUser), IdParticipant: nullableInt(t.IDParticipant), IdDevice: nullableInt(t.IDDevice),
		IdProject: t.IDProject, TestInvitationKey: t.Key, TestInvitationMaxCount: t.MaxCount, TestInvitationCount: t.Count,
		TestInvitationCreationDate: *isoTime(&t.CreationDate), TestInvitationExpirationDate: *isoTime(&t.ExpirationDate),
		TestInvitationMessage: nullable(t.Message)}
	if full {
		p.TestInvitationTestType = &corev1.TestInvitationTestType{TestTypeUuid: t.TestTypeUUID, TestTypeName: t.TestTypeName,
			TestTypeDescription: nullable(t.TestTypeDesc), TestTypeKey: nullable(t.TestTypeKey)}
		p.TestInvitationProject = &corev1.TestInvitationProject{ProjectName: t.ProjectName}
		if t.SessionUUID != nil {
			p.TestInvitationSession = &corev1.TestInvitationSession{SessionUuid: *t.SessionUUID, SessionName: *t.SessionName}
		}
		if t.UserUUID != nil {
			p.TestInvitationUser = &corev1.TestInvitationUser{UserUuid: *t.UserUUID, UserFirstname: *t.UserFirstname, UserLastname: *t.UserLastname}
		}
		if t.ParticipantUUID != nil {
			p.TestInvitationParticipant = &corev1.TestInvitationParticipant{ParticipantUuid: *t.ParticipantUUID, ParticipantName: *t.ParticipantName}
		}
		if t.DeviceUUID != nil {
			p.TestInvitationDevice = &corev1.TestInvitationDevice{DeviceUuid: *t.DeviceUUID, DeviceName: *t.DeviceName}
		}
	}
	if urls {
		_, web, _ := s.testTypeURLs(store.TestType{ServiceEndpoint: t.ServiceEndpoint, ServiceEnabled: t.ServiceEnabled,
			TestTypeHasWebFormat: t.TestTypeWebFormat})
		if w, ok := web.GetKind().(*structpb.Value_StringValue); ok {
			u := w.StringValue + "?invitation_key=" + t.Key
			p.TestInvitationUrl = &u
		}
	}
	return p
}

// PostTestInvitations checks and writes every invitation of the body in one transaction, in
// OpenTera's order of checks, and answers them full with their URLs.
func (s *testInvitations) PostTestInvitations(ctx context.Context, r *corev1.PostTestInvitationsRequest) (*corev1.PostTestInvitationsResponse, error) {
	if len(r.TestsInvitations) == 0 {
		return nil, apierr.InvalidArgument("Invalid JSON structure: tests_invitations must be a non-empty list")
	}
	m := caller(ctx)
	var out []*corev1.TestInvitation
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var ids []int32
		for _, b := range r.TestsInvitations {
			id, err := s.writeTestInvitation(ctx, tx, m, b)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			rows, err := store.ListTestInvitations(ctx, tx, m.acc, store.TestInvitationByID, &id, nil)
			if err != nil {
				return err
			}
			for _, row := range rows {
				out = append(out, s.testInvitationProto(row, true, true))
			}
		}
		return nil
	})
	return &corev1.PostTestInvitationsResponse{TestsInvitations: out}, err
}

func (s *Service) writeTestInvitation(ctx context.Context, tx pgx.Tx, m me, b *corev1.TestInvitationBody) (int32, error) {
	if b.IdTestInvitation == nil {
		return 0, apierr.InvalidArgument("Invalid JSON structure: 'id_test_invitation' is a required property")
	}
	if id := b.GetIdTestInvitation(); id != 0 {
		return id, updateTestInvitation(ctx, tx, m, id, b)
	}
	for _, c := range []struct {
		id *int32
		o  access.Object
	}{{b.IdUser, access.Users}, {b.IdParticipant, access.Participants}, {b.IdDevice, access.Devices}, {b.IdProject, access.Projects},
		{b.IdSession, access.Sessions}, {b.IdTestType, access.TestTypes}} {
		if c.id == nil {
			continue
		}
		if bad, err := store.Inaccessible(ctx, tx, m.acc.IDs(c.o), []int32{*c.id}); err != nil || len(bad) > 0 {
			return 0, errOr(err, apierr.Forbidden("Forbidden"))
		}
	}
	switch invitees := countSet(b.IdUser, b.IdParticipant, b.IdDevice); {
	case b.IdTestType == nil:
		return 0, apierr.MissingArgument("Missing id_test_type")
	case b.IdProject == nil:
		return 0, apierr.MissingArgument("Missing id_project")
	case b.TestInvitationExpirationDate == nil:
		return 0, apierr.MissingArgument("Missing test_invitation_expiration_date")
	case b.TestInvitationKey != nil:
		return 0, apierr.InvalidArgument("Do not set test_invitation_key")
	case invitees != 1:
		return 0, apierr.InvalidArgument("You must specify one of id_user, id_participant or id_device")
	}
	n := store.NewTestInvitation{TestType: b.GetIdTestType(), Project: b.GetIdProject(), Session: b.IdSession, User: b.IdUser,
		Participant: b.IdParticipant, Dev: b.IdDevice, MaxCount: b.TestInvitationMaxCount, Message: b.TestInvitationMessage}
	exp, err := parseDatetime(b.GetTestInvitationExpirationDate(), "test_invitation_expiration_date")
	if err != nil {
		return 0, err
	}
	n.Expiration = *exp
	if b.TestInvitationCreationDate != nil {
		if n.Creation, err = parseDatetime(b.GetTestInvitationCreationDate(), "test_invitation_creation_date"); err != nil {
			return 0, err
		}
	}
	return store.InsertTestInvitation(ctx, tx, n)
}

// updateTestInvitation updates the counts and the expiration of invitation id, the only fields
// an update may set.
func updateTestInvitation(ctx context.Context, tx pgx.Tx, m me, id int32, b *corev1.TestInvitationBody) error {
	if b.TestInvitationCount == nil && b.TestInvitationMaxCount == nil && b.TestInvitationExpirationDate == nil {
		// OpenTera checks access first: an invisible invitation is 403 whatever the body.
		rows, err := store.ListTestInvitations(ctx, tx, m.acc, store.TestInvitationByID, &id, nil)
		if err != nil || len(rows) == 0 {
			return errOr(err, apierr.Forbidden("Forbidden"))
		}
		return apierr.InvalidArgument("You can only update test_invitation_count")
	}
	p := store.TestInvitationPatch{Count: b.TestInvitationCount, MaxCount: b.TestInvitationMaxCount}
	if b.TestInvitationExpirationDate != nil {
		t, err := parseDatetime(b.GetTestInvitationExpirationDate(), "test_invitation_expiration_date")
		if err != nil {
			return err
		}
		p.Expiration = t
	}
	return orDenied(store.UpdateTestInvitation(ctx, tx, m.acc, id, p), "Forbidden")
}

func countSet(ps ...*int32) int {
	n := 0
	for _, p := range ps {
		if p != nil {
			n++
		}
	}
	return n
}

func (s *testInvitations) DeleteTestInvitation(ctx context.Context, r *corev1.DeleteTestInvitationRequest) (*corev1.DeleteTestInvitationResponse, error) {
	return &corev1.DeleteTestInvitationResponse{}, s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.DeleteTestInvitation(ctx, tx, caller(ctx).acc, id), "Forbidden")
	})
}

// ---- /api/service/tests/invitations

// invitations are the user API's handlers, serving the service API on its messages.
func (s *serviceTests) invitations() *testInvitations { return &testInvitations{Service: s.Service} }

func (s *serviceTests) SvcGetTestInvitations(ctx context.Context, r *corev1.GetTestInvitationsRequest) (*corev1.GetTestInvitationsResponse, error) {
	return s.invitations().GetTestInvitations(ctx, r)
}

func (s *serviceTests) SvcPostTestInvitations(ctx context.Context, r *corev1.PostTestInvitationsRequest) (*corev1.PostTestInvitationsResponse, error) {
	return s.invitations().PostTestInvitations(ctx, r)
}

func (s *serviceTests) SvcDeleteTestInvitation(ctx context.Context, r *corev1.DeleteTestInvitationRequest) (*corev1.DeleteTestInvitationResponse, error) {
	return s.invitations().DeleteTestInvitation(ctx, r)
}
