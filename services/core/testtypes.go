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

func (s *testTypes) PostTestType(ctx context.Context, r *corev1.PostTestTypeRequest) (*corev1.PostTestTypeResponse, error) {
	m := caller(ctx)
	w, err := readTestTypeBody(r.GetTestType(), m.superadmin)
	if err != nil {
		return nil, err
	}
	var out []*corev1.TestType
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		row, err := s.writeTestType(ctx, tx, m, w)
		out = []*corev1.TestType{testTypeProto(row, true)}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostTestTypeResponse{TestTypes: out}, nil
}

// testTypeWrite is a validated {"test_type": {…}}.
type testTypeWrite struct {
	id              int32
	patch           store.TestTypePatch
	sites, projects []int32 // nil: left as they are
}

func readTestTypeBody(b *corev1.TestTypeBody, superadmin bool) (testTypeWrite, error) {
	switch {
	case b == nil:
		return testTypeWrite{}, apierr.MissingArgument("Missing test_type")
	case b.IdTestType == nil:
		return testTypeWrite{}, apierr.MissingArgument("Missing id_test_type")
	case b.GetIdTestType() == 0 && b.TestTypeProjects == nil && !superadmin:
		return testTypeWrite{}, apierr.MissingArgument("Missing project(s) to associate that test type to")
	case b.TestTypeName != nil && strings.TrimSpace(b.GetTestTypeName()) == "":
		return testTypeWrite{}, apierr.InvalidArgument("Invalid test_type_name")
	}
	w := testTypeWrite{id: b.GetIdTestType(), patch: store.TestTypePatch{Service: b.IdService, Name: b.TestTypeName,
		Description: b.TestTypeDescription, Key: b.TestTypeKey, JSONFormat: b.TestTypeHasJsonFormat, WebFormat: b.TestTypeHasWebFormat,
		WebEditor: b.TestTypeHasWebEditor}}
	sites, err := optionalIDList(b.TestTypeSites, "id_site")
	if err != nil {
		return w, err
	}
	w.sites = sites
	ids, err := optionalIDList(b.TestTypeProjects, "id_project")
	w.projects = ids
	return w, err
}

// writeTestType creates or updates a test type and its links under the caller's admin rights
// (its service, the listed sites and projects), and reads it back.
func (s *testTypes) writeTestType(ctx context.Context, tx pgx.Tx, m me, w testTypeWrite) (store.TestType, error) {
	admin := m.acc.AdminOnly()
	service := w.patch.Service
	if service == nil && w.id > 0 {
		svc, err := store.TestTypeServiceOf(ctx, tx, w.id)
		if err != nil {
			return store.TestType{}, orDenied(err, "Forbidden")
		}
		service = &svc
	}
	if service == nil {
		return store.TestType{}, apierr.Forbidden("Forbidden")
	}
	for _, c := range []struct {
		f   access.Fragment
		ids []int32
		msg string
	}{{admin.Services(), []int32{*service}, "Forbidden"},
		{admin.Sites(), w.sites, "No site admin access for at least one site in the list"},
		{admin.Projects(), w.projects, "No project admin access for at a least one project in the list"}} {
		if bad, err := store.Inaccessible(ctx, tx, c.f, c.ids); err != nil || len(bad) > 0 {
			return store.TestType{}, errOr(err, apierr.Forbidden(c.msg))
		}
	}
	if w.patch.Service != nil && !m.superadmin && len(w.sites) > 0 {
		if bad, err := store.SitesWithoutService(ctx, tx, *service, w.sites); err != nil || len(bad) > 0 {
			return store.TestType{}, errOr(err, apierr.Forbidden("At least one site isn't associated with the service of that test type"))
		}
	}
	var err error
	if w.id > 0 {
		err = orDenied(store.UpdateTestType(ctx, tx, m.acc, w.id, w.patch), "Forbidden")
	} else if w.patch.Name == nil {
		err = apierr.MissingArgument("Missing test_type_name")
	} else {
		w.id, err = store.InsertTestType(ctx, tx, w.patch)
	}
	if err == nil {
		err = replaceTestTypeLinks(ctx, tx, admin, w)
	}
	if err != nil {
		return store.TestType{}, err
	}
	return store.TestTypeWritten(ctx, tx, m.acc, w.id)
}

// replaceTestTypeLinks sets the sites and projects of test type w.id that the write lists,
// removing only links the caller administers.
func replaceTestTypeLinks(ctx context.Context, tx pgx.Tx, admin access.Scope, w testTypeWrite) error {
	// A POST edits the type's relationships directly and is never refused (OpenTera).
	if w.projects != nil || w.sites != nil {
		if err := store.UncheckedTestTypeProjects(ctx, tx); err != nil {
			return err
		}
	}
	for _, l := range []struct {
		link      store.Link
		ids       []int32
		removable access.Fragment
	}{{store.TestTypeSites, w.sites, admin.Sites()}, {store.TestTypeProjects, w.projects, admin.Projects()}} {
		if l.ids == nil {
			continue
		}
		err := store.ReplaceScopedLinks(ctx, tx, l.link, w.id, l.ids, l.removable)
		if ie, ok := errors.AsType[*store.IntegrityError](err); ok && ie.Message == "Test type not associated to project site" {
			return apierr.InvalidArgument(ie.Message)
		} else if err != nil {
			return err
		}
	}
	return nil
}
