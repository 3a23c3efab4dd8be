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
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		return orDenied(store.DeleteTestType(ctx, tx, caller(ctx).acc, id), "Unable to delete - not admin in the related test type service")
	})
	return reply(&corev1.DeleteTestTypeResponse{}, err)
}

func (s *testTypes) PostTestType(ctx context.Context, r *corev1.PostTestTypeRequest) (*corev1.PostTestTypeResponse, error) {
	row, err := writeBody(ctx, s.Service, r.GetTestType(), readTestTypeBody, s.writeTestType)
	return reply(&corev1.PostTestTypeResponse{TestTypes: []*corev1.TestType{testTypeProto(row, true)}}, err)
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

// ---- /api/service/testtypes

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
	out, err := mapRows(ctx, s.Service, rows, err, func(t store.TestType) *corev1.TestType { return testTypeProto(t, true) })
	return reply(&corev1.GetTestTypesResponse{TestTypes: out}, err)
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
	return reply(&corev1.SvcPostTestTypeResponse{TestType: out}, err)
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
	return reply(&corev1.SvcDeleteTestTypeResponse{}, err)
}
