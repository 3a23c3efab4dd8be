package core

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/sessiontypes, /api/service/sessiontypes/projects and /api/service/services

func (s *serviceAPI) SvcGetSessionTypes(ctx context.Context, r *corev1.SvcGetSessionTypesRequest) (*corev1.SvcGetSessionTypesResponse, error) {
	m := caller(ctx)
	// Only the service's own types, whatever the selector (OpenTera lists every type of a site
	// or project it is linked to, the other services' included).
	f := store.SessionTypeFilter{Scoped: true}
	visible := true
	var err error
	switch {
	case r.IdSite != 0:
		f.Site = &r.IdSite
		visible, err = s.can(ctx, s.db, m, access.Sites, r.IdSite, false)
	case r.IdProject != 0:
		f.Project = &r.IdProject
	case r.IdParticipant != 0:
		var p store.ParticipantRow
		p, err = store.GetParticipant(ctx, s.db, m.acc, r.IdParticipant)
		if visible = err == nil; errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		f.Project = &p.IDProject
	case r.IdSessionType != 0:
		f.TypeID = &r.IdSessionType
	}
	if err != nil || !visible {
		return &corev1.SvcGetSessionTypesResponse{}, s.dbError(ctx, err)
	}
	rows, err := store.ListSessionTypes(ctx, s.db, m.acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.SessionType, len(rows))
	for i, row := range rows {
		out[i] = sessionTypeProto(row, true)
	}
	return &corev1.SvcGetSessionTypesResponse{SessionTypes: out}, nil
}

func (s *serviceAPI) SvcGetSessionTypeProjects(ctx context.Context, r *corev1.SvcGetSessionTypeProjectsRequest) (*corev1.SvcGetSessionTypeProjectsResponse, error) {
	var project, sessionType *int32
	switch {
	case r.IdProject != 0:
		project = &r.IdProject
	case r.IdSessionType != 0:
		sessionType = &r.IdSessionType
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListSessionTypeProjects(ctx, s.db, caller(ctx).acc, project, sessionType)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.SessionTypeProject, len(rows))
	for i, row := range rows {
		out[i] = &corev1.SessionTypeProject{IdSessionTypeProject: wrapperspb.Int32(row.ID), IdSessionType: wrapperspb.Int32(row.IDSessionType),
			IdProject: wrapperspb.Int32(row.IDProject), SessionTypeName: structpb.NewStringValue(row.SessionTypeName),
			ProjectName: structpb.NewStringValue(row.ProjectName)}
		if r.WithSites {
			out[i].IdSite, out[i].SiteName = structpb.NewNumberValue(float64(row.IDSite)), structpb.NewStringValue(row.SiteName)
		}
	}
	return &corev1.SvcGetSessionTypeProjectsResponse{SessionTypeProjects: out}, nil
}

func (s *serviceAPI) SvcGetServices(ctx context.Context, r *corev1.SvcGetServicesRequest) (*corev1.SvcGetServicesResponse, error) {
	// OpenTera honours the last one given.
	f := store.ServiceFilter{Registry: true}
	switch {
	case r.ServiceKey != "":
		f.Key = &r.ServiceKey
	case r.UuidService != "":
		f.UUID = &r.UuidService
	case r.IdService != 0:
		f.IDService = &r.IdService
	default:
		return nil, apierr.MissingArgument("Missing service key, id or uuid")
	}
	rows, err := store.ListServices(ctx, s.db, caller(ctx).acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.Service, len(rows))
	for i, row := range rows {
		out[i] = serviceProto(row, true)
		if r.WithBaseUrl {
			// Every service is behind the ingress: OpenTera's https://<server>:<port><clientendpoint>.
			out[i].ServiceBaseUrl = proto.String(s.publicURL + row.ServiceClientendpoint)
		}
	}
	return &corev1.SvcGetServicesResponse{Services: out}, nil
}
