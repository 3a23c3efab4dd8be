package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/sessiontypes

type sessionTypes struct {
	*Service
	corev1.UnimplementedSessionTypeServiceServer
}

const categoryService = 1 // OpenTera's SessionCategoryEnum.SERVICE

func sessionTypeProto(r store.SessionTypeRow, full bool) *corev1.SessionType {
	out := &corev1.SessionType{IdSessionType: r.IDSessionType, IdService: int32Value(r.IDService), SessionTypeName: r.SessionTypeName,
		SessionTypeColor: r.SessionTypeColor, SessionTypeCategory: r.SessionTypeCategory}
	if full {
		out.SessionTypeOnline, out.SessionTypeConfig = &r.SessionTypeOnline, nullable(r.SessionTypeConfig)
		out.SessionTypeServiceKey, out.SessionTypeServiceUuid = r.ServiceKey, r.ServiceUUID
	}
	return out
}

func (s *sessionTypes) list(ctx context.Context, q store.DB, sc access.Scope, f store.SessionTypeFilter, full bool) ([]*corev1.SessionType, error) {
	rows, err := store.ListSessionTypes(ctx, q, sc, f)
	return mapRows(ctx, s.Service, rows, err, func(r store.SessionTypeRow) *corev1.SessionType { return sessionTypeProto(r, full) })
}

func (s *sessionTypes) GetSessionTypes(ctx context.Context, r *corev1.GetSessionTypesRequest) (*corev1.GetSessionTypesResponse, error) {
	m := caller(ctx)
	var f store.SessionTypeFilter
	switch {
	case r.IdSessionType != 0:
		f.ID = &r.IdSessionType
	case r.IdProject != 0:
		f.Project = &r.IdProject
	case r.IdSite != 0:
		if ok, err := m.acc.Can(ctx, s.db, access.Sites, r.IdSite); err != nil || !ok {
			return nil, errOr(s.dbError(ctx, err), apierr.Forbidden("Forbidden"))
		}
		f.Site = &r.IdSite
	}
	out, err := s.list(ctx, s.db, m.acc, f, !r.List)
	return reply(&corev1.GetSessionTypesResponse{SessionTypes: out}, err)
}

func (s *sessionTypes) PostSessionType(ctx context.Context, r *corev1.PostSessionTypeRequest) (*corev1.PostSessionTypeResponse, error) {
	row, err := writeBody(ctx, s.Service, r.GetSessionType(), readSessionTypeBody, s.writeSessionType)
	return reply(&corev1.PostSessionTypeResponse{SessionTypes: []*corev1.SessionType{sessionTypeProto(row, true)}}, err)
}

// sessionTypeWrite is a validated {"session_type": {…}}.
type sessionTypeWrite struct {
	id       int32
	category *int32
	patch    store.SessionTypePatch
	links    [3][]int32 // sites, projects, secondary services; nil: left as they are
}

func readSessionTypeBody(b *corev1.SessionTypeBody, superadmin bool) (sessionTypeWrite, error) {
	switch {
	case b == nil:
		return sessionTypeWrite{}, apierr.MissingArgument("Missing session_type")
	case b.IdSessionType == nil:
		return sessionTypeWrite{}, apierr.MissingArgument("Missing id_session_type")
	case b.GetIdSessionType() == 0 && b.SessionTypeSites == nil && !superadmin:
		return sessionTypeWrite{}, apierr.MissingArgument("Missing site(s) to associate that session type to")
	case b.SessionTypeCategory != nil && (b.GetSessionTypeCategory() < 1 || b.GetSessionTypeCategory() > 4):
		return sessionTypeWrite{}, apierr.InvalidArgument("Invalid session_type_category")
	case b.SessionTypeName != nil && strings.TrimSpace(b.GetSessionTypeName()) == "":
		return sessionTypeWrite{}, apierr.InvalidArgument("Invalid session_type_name")
	case b.GetIdSessionType() == 0 && (b.SessionTypeName == nil || b.SessionTypeColor == nil || b.SessionTypeCategory == nil):
		return sessionTypeWrite{}, apierr.MissingArgument("Missing session_type_name, session_type_color or session_type_category")
	}
	w := sessionTypeWrite{id: b.GetIdSessionType(), category: b.SessionTypeCategory, patch: store.SessionTypePatch{Service: b.IdService,
		Name: b.SessionTypeName, Online: b.SessionTypeOnline, Config: b.SessionTypeConfig, Color: b.SessionTypeColor, Category: b.SessionTypeCategory}}
	if b.IdService != nil && b.GetIdService() == 0 {
		w.patch.Service, w.patch.ClearService = nil, true
	}
	for i, lv := range []*structpb.ListValue{b.SessionTypeSites, b.SessionTypeProjects, b.SessionTypeServices} {
		ids, err := optionalIDList(lv, [3]string{"id_site", "id_project", "id_service"}[i])
		if err != nil {
			return w, err
		}
		w.links[i] = ids
	}
	return w, nil
}

// writeSessionType creates or updates a session type and its links under the caller's admin
// rights, and reads it back.
func (s *sessionTypes) writeSessionType(ctx context.Context, tx pgx.Tx, m me, w sessionTypeWrite) (store.SessionTypeRow, error) {
	admin := m.acc.AdminOnly()
	category, service := w.category, w.patch.Service
	if w.id > 0 {
		cur, curService, _, _, err := store.SessionTypeInfo(ctx, tx, w.id, admin.Projects())
		if err != nil {
			return store.SessionTypeRow{}, err
		}
		if category == nil {
			category = &cur
		}
		if service == nil && !w.patch.ClearService {
			service = curService
		}
	}
	if err := s.checkTypeLinks(ctx, tx, m, *category, service, w.links); err != nil {
		return store.SessionTypeRow{}, err
	}
	var err error
	if w.id > 0 {
		err = store.UpdateSessionType(ctx, tx, admin, w.id, w.patch)
	} else {
		w.id, err = store.InsertSessionType(ctx, tx, w.patch)
	}
	if err != nil {
		return store.SessionTypeRow{}, err
	}
	for i, l := range []store.Link{store.SessionTypeSites, store.SessionTypeProjects, store.SessionTypeServices} {
		if w.links[i] == nil {
			continue
		}
		removable := [3]access.Fragment{admin.Sites(), admin.Projects(), admin.Services()}[i]
		err := store.ReplaceScopedLinks(ctx, tx, l, w.id, w.links[i], removable)
		if ie, ok := errors.AsType[*store.IntegrityError](err); ok && ie.Message == "Session type not associated to project site" {
			return store.SessionTypeRow{}, apierr.InvalidArgument(ie.Message)
		} else if err != nil {
			return store.SessionTypeRow{}, err
		}
	}
	return store.SessionTypeWritten(ctx, tx, w.id)
}

// checkTypeLinks applies OpenTera's rules to a session type write: a SERVICE type needs a
// visible service, listed sites/projects/services must be administered, and a site admin may
// link a SERVICE type only to sites using its service.
func (s *sessionTypes) checkTypeLinks(ctx context.Context, tx pgx.Tx, m me, category int32, service *int32, links [3][]int32) error {
	admin := m.acc.AdminOnly()
	if category == categoryService {
		if service == nil {
			return apierr.MissingArgument("Missing id_service for session type of type service")
		}
		if bad, err := store.Inaccessible(ctx, tx, m.acc.Services(), []int32{*service}); err != nil || len(bad) > 0 {
			return errOr(err, apierr.Forbidden("Forbidden"))
		}
	}
	msgs := [3]string{"No site admin access for at least one site in the list",
		"No project admin access for at a least one project in the list",
		"No service admin access for at a least one service in the list"}
	for i, f := range [3]access.Fragment{admin.Sites(), admin.Projects(), admin.Services()} {
		if bad, err := store.Inaccessible(ctx, tx, f, links[i]); err != nil || len(bad) > 0 {
			return errOr(err, apierr.Forbidden(msgs[i]))
		}
	}
	if category == categoryService && !m.superadmin && len(links[0]) > 0 {
		if bad, err := store.SitesWithoutService(ctx, tx, *service, links[0]); err != nil || len(bad) > 0 {
			return errOr(err, apierr.Forbidden("At least one site isn't associated with the service of that session type"))
		}
	}
	return nil
}

func (s *sessionTypes) DeleteSessionType(ctx context.Context, r *corev1.DeleteSessionTypeRequest) (*corev1.DeleteSessionTypeResponse, error) {
	m := caller(ctx)
	admin := m.acc.AdminOnly()
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		_, _, inside, outside, err := store.SessionTypeInfo(ctx, tx, id, admin.Projects())
		if errors.Is(err, store.ErrNotFound) {
			return apierr.InvalidArgument("Invalid session type")
		} else if err != nil {
			return err
		}
		if outside > 0 {
			return apierr.Forbidden("Cannot delete because you are not admin in all projects.")
		}
		if inside == 0 {
			n, err := admin.List(ctx, tx, access.Projects)
			if err != nil || len(n) == 0 {
				return errOr(err, apierr.Forbidden("Unable to delete - not admin in at least one project"))
			}
		}
		err = orDenied(store.Delete(ctx, tx, m.acc, store.SessionTypes, id), "Forbidden")
		if _, ok := errors.AsType[*store.IntegrityError](err); ok {
			return apierr.Integrity("Can't delete session type: please delete all sessions with that type before deleting.")
		}
		return err
	})
	return reply(&corev1.DeleteSessionTypeResponse{}, err)
}

// ---- /api/service/sessiontypes: a service's session types and their links to its sites and
// projects.

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
	out, err := mapRows(ctx, s.Service, rows, err, func(r store.SessionTypeRow) *corev1.SessionType { return sessionTypeProto(r, true) })
	return reply(&corev1.SvcGetSessionTypesResponse{SessionTypes: out}, err)
}

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
