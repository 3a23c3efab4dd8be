package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/service/sessiontypes (POST) and /api/service/sessiontypes/projects (POST, DELETE): a
// service's session types and their links to its sites and projects.

func (s *serviceAPI) SvcPostSessionType(ctx context.Context, r *corev1.SvcPostSessionTypeRequest) (*corev1.SvcPostSessionTypeResponse, error) {
	b := r.GetServiceSessionType()
	st := b.GetSessionType()
	if st == nil {
		return nil, apierr.MissingArgument("Missing arguments")
	}
	svc := serviceID(ctx)
	w, err := readSessionTypeBody(&corev1.SessionTypeBody{IdSessionType: st.IdSessionType, IdService: &svc, SessionTypeName: st.SessionTypeName,
		SessionTypeOnline: st.SessionTypeOnline, SessionTypeConfig: st.SessionTypeConfig, SessionTypeColor: st.SessionTypeColor,
		SessionTypeCategory: st.SessionTypeCategory}, true)
	if err != nil {
		return nil, err
	}
	m := caller(ctx)
	var row store.SessionTypeRow
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		for _, c := range []struct {
			ids []int32
			set access.Fragment
			msg string
		}{{b.IdSites, m.acc.Sites(), "Service doesn't have access to all listed sites"},
			{b.IdProjects, m.acc.Projects(), "Service doesn't have access to all listed projects"},
			{b.IdParticipants, m.acc.Participants(), "Service doesn't have access to all listed participants"}} {
			if bad, err := store.Inaccessible(ctx, tx, c.set, c.ids); err != nil || len(bad) > 0 {
				return errOr(err, apierr.Forbidden(c.msg))
			}
		}
		id := w.id
		if id == 0 {
			if id, err = store.InsertSessionType(ctx, tx, w.patch); err != nil {
				return err
			}
		} else if ok, err := m.acc.Can(ctx, tx, access.SessionTypes, id); err != nil || !ok {
			// OpenTera changes none of an existing type's fields here, only its links.
			return orForbidden(ok, err, "Service doesn't have access to this session type")
		}
		projects, err := store.ParticipantProjects(ctx, tx, b.IdParticipants)
		if err != nil {
			return err
		}
		if err := linkTypeEverywhere(ctx, tx, id, b.IdSites, append(projects, b.IdProjects...)); err != nil {
			return err
		}
		row, err = store.SessionTypeWritten(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostSessionTypeResponse{SessionType: sessionTypeProto(row, true)}, nil
}

// linkTypeEverywhere links a session type to sites and to projects with their sites (existing
// links stay as they are).
func linkTypeEverywhere(ctx context.Context, tx pgx.Tx, id int32, sites, projects []int32) error {
	pairs := func(ids []int32) [][2]int32 {
		out := make([][2]int32, len(ids))
		for i, x := range ids {
			out[i] = [2]int32{id, x}
		}
		return out
	}
	projectSites, err := store.ProjectSitePairs(ctx, tx, pairs(projects))
	if err == nil {
		_, err = store.AddLinks(ctx, tx, store.SessionTypeSites, append(pairs(sites), projectSites...))
	}
	if err == nil {
		_, err = store.AddLinks(ctx, tx, store.SessionTypeProjects, pairs(projects))
	}
	if ie, ok := errors.AsType[*store.IntegrityError](err); ok {
		return apierr.InvalidArgument(ie.Message) // OpenTera's "Integrity error" (400)
	}
	return err
}

// svcSessionTypeProjectsSpec is /api/user/sessiontypes/projects for a service: its own types
// and projects only (OpenTera's form "project" removes other services' types from the project
// too, its list form takes any type), and a type is linked to a project's site first, as
// OpenTera does at service level.
var svcSessionTypeProjectsSpec = &linkEndpoint{
	link: store.SessionTypeProjects, keyA: "id_session_type", keyB: "id_project",
	forms: []linkForm{
		{name: "session_type", onA: true, idKey: "id_session_type", listKey: "projects", missingID: "Missing id_session_type",
			missingSet: "Missing projects", owner: &sideRule{true, seenTypes, apierr.Forbidden("Forbidden")}, removable: adminProjects,
			removed: &sideRule{false, adminProjects, apierr.Forbidden("Access denied to at least one project")},
			refused: apierr.Integrity(msgTypeProjectInUse)},
		{name: "project", idKey: "id_project", listKey: "sessions_types", missingID: "Missing project ID", missingSet: "Missing sessions_types",
			owner: &sideRule{false, adminProjects, apierr.Forbidden("Forbidden")}, removable: seenTypes,
			refused: apierr.Integrity(msgTypeProjectInUse)},
	},
	noForm: apierr.InvalidArgument("Unknown format"), badItem: apierr.InvalidArgument("Badly formatted request"),
	pair: []sideRule{{false, adminProjects, apierr.Forbidden("Forbidden")}, {true, seenTypes, apierr.Forbidden("Forbidden")}},
	del: linkDelete{notFound: apierr.InvalidArgument("Not found"),
		rules:   []sideRule{{false, seenProjects, apierr.Forbidden("Forbidden")}, {true, seenTypes, apierr.Forbidden("Forbidden")}},
		refused: func(string) error { return apierr.Integrity(msgTypeProjectInUse) }},
	prepare: func(ctx context.Context, tx pgx.Tx, pairs [][2]int32) error {
		sites, err := store.ProjectSitePairs(ctx, tx, pairs)
		if err == nil {
			_, err = store.AddLinks(ctx, tx, store.SessionTypeSites, sites)
		}
		return err
	},
}

const msgTypeProjectInUse = "Can't delete session type from project: please delete all sessions of that type in the project before deleting."

var seenProjects sideSet = func(m me) access.Fragment { return m.acc.Projects() }

func (s *serviceAPI) SvcPostSessionTypeProjects(ctx context.Context, r *corev1.SvcPostSessionTypeProjectsRequest) (*corev1.SvcPostSessionTypeProjectsResponse, error) {
	rows, err := s.postLinks(ctx, svcSessionTypeProjectsSpec, []*structpb.Struct{r.SessionType, r.Project}, r.SessionsTypesProjects)
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostSessionTypeProjectsResponse{SessionTypeProjects: mapLinks(rows, func(l store.LinkRow) *corev1.SessionTypeProject {
		return sessionTypeProjectItem(l, true, false)
	})}, nil
}

func (s *serviceAPI) SvcDeleteSessionTypeProject(ctx context.Context, r *corev1.SvcDeleteSessionTypeProjectRequest) (*corev1.SvcDeleteSessionTypeProjectResponse, error) {
	return &corev1.SvcDeleteSessionTypeProjectResponse{}, s.removeLink(ctx, svcSessionTypeProjectsSpec, r.Id)
}
