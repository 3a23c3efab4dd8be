package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/testtypes

type testTypes struct {
	*Service
	corev1.UnimplementedTestTypeServiceServer
}

func (s *testTypes) GetTestTypes(ctx context.Context, r *corev1.GetTestTypesRequest) (*corev1.GetTestTypesResponse, error) {
	m := caller(ctx)
	by, id, key := store.TestTypesVisible, int32(0), ""
	switch {
	case r.IdTestType != 0:
		by, id = store.TestTypeByID, r.IdTestType
	case r.TestTypeKey != "":
		by, key = store.TestTypeByKey, r.TestTypeKey
	case r.TestTypeUuid != "":
		by, key = store.TestTypeByUUID, r.TestTypeUuid
	case r.IdProject != 0:
		by, id = store.TestTypesOfProject, r.IdProject
		if err := s.require(ctx, s.db, m, access.Projects, id, false, "Forbidden"); err != nil {
			return nil, err
		}
	case r.IdSite != 0:
		by, id = store.TestTypesOfSite, r.IdSite
		if err := s.require(ctx, s.db, m, access.Sites, id, false, "Forbidden"); err != nil {
			return nil, err
		}
	}
	rows, err := store.ListTestTypes(ctx, s.db, m.acc, by, id, key)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if len(rows) == 0 && (by == store.TestTypeByID || by == store.TestTypeByKey || by == store.TestTypeByUUID) {
		return nil, apierr.NotFound("Test type not found")
	}
	out := make([]*corev1.TestType, 0, len(rows))
	for _, t := range rows {
		p := &corev1.TestType{TestTypeUuid: &t.TestTypeUUID}
		if !r.WithOnlyToken {
			p = testTypeProto(t, !r.List)
		}
		if r.WithUrls || r.WithOnlyToken {
			tok, err := s.sign(func(sg *authn.Signer) (string, error) {
				return sg.TestTypeToken(authn.FromContext(ctx).UUID, []string{t.TestTypeUUID}, t.ProjectAdmin)
			})
			if err != nil {
				return nil, err
			}
			p.AccessToken = &tok
		}
		if r.WithUrls && !r.WithOnlyToken {
			p.TestTypeJsonUrl, p.TestTypeWebUrl, p.TestTypeWebEditorUrl = s.testTypeURLs(t)
		}
		out = append(out, p)
	}
	return &corev1.GetTestTypesResponse{TestTypes: out}, nil
}

// testTypeURLs are OpenTera's get_service_urls on the public URL: one per format the type has,
// all null when its service is disabled.
func (s *Service) testTypeURLs(t store.TestType) (jsonURL, web, editor *structpb.Value) {
	base := s.publicURL + strings.TrimSuffix(t.ServiceEndpoint, "/")
	url := func(has bool, path string) *structpb.Value {
		if !has || !t.ServiceEnabled {
			return structpb.NewNullValue()
		}
		return structpb.NewStringValue(base + path)
	}
	return url(t.TestTypeHasJSONFormat, "/api/testtypes/form"), url(t.TestTypeHasWebFormat, "/viewer"), url(t.TestTypeHasWebEditor, "/editor")
}

func testTypeProto(t store.TestType, full bool) *corev1.TestType {
	p := &corev1.TestType{IdTestType: &t.IDTestType, IdService: &t.IDService, TestTypeUuid: &t.TestTypeUUID, TestTypeName: &t.TestTypeName,
		TestTypeDescription: nullable(t.TestTypeDescription), TestTypeKey: nullable(t.TestTypeKey),
		TestTypeHasJsonFormat: &t.TestTypeHasJSONFormat, TestTypeHasWebFormat: &t.TestTypeHasWebFormat, TestTypeHasWebEditor: &t.TestTypeHasWebEditor}
	if full {
		p.TestTypeServiceKey, p.TestTypeServiceUuid = &t.ServiceKey, &t.ServiceUUID
	}
	return p
}

func (s *testTypes) DeleteTestType(ctx context.Context, r *corev1.DeleteTestTypeRequest) (*corev1.DeleteTestTypeResponse, error) {
	if r.Id == nil {
		return nil, apierr.MissingArgument("Missing id")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := store.DeleteTestType(ctx, tx, caller(ctx).acc, r.GetId())
		if errors.Is(err, store.ErrNotFound) {
			return apierr.Forbidden("Unable to delete - not admin in the related test type service")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.DeleteTestTypeResponse{}, nil
}
