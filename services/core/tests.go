package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

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
	for _, c := range []struct {
		v   int32
		by  store.TestSelector
		obj access.Object
		msg string
	}{{r.IdDevice, store.TestsOfDevice, "", ""}, {r.IdSession, store.TestsOfSession, access.Sessions, "Session access denied"},
		{r.IdParticipant, store.TestsOfParticipant, access.Participants, "Participant access denied"},
		{r.IdUser, store.TestsOfUser, access.Users, "User access denied"}, {r.IdTest, store.TestByID, "", ""}} {
		if c.v != 0 {
			return c.by, c.v, "", c.obj, c.msg, true
		}
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
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := store.DeleteTest(ctx, tx, caller(ctx).acc, r.GetId())
		if errors.Is(err, store.ErrNotFound) {
			return apierr.Forbidden("Forbidden")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteTestResponse{}, nil
}
