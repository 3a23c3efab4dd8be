package core

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/pyjson"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/participants

type participants struct {
	*Service
	corev1.UnimplementedParticipantServiceServer
}

// participantForm says which variant of the JSON to build.
type participantForm struct {
	minimal, full, withSite, withLastSession bool
}

// participantProto is a row as OpenTera's participant JSON in one of its forms.
func participantProto(r store.ParticipantRow, form participantForm) *corev1.Participant {
	p := &corev1.Participant{IdParticipant: r.IDParticipant, ParticipantUuid: r.ParticipantUUID, ParticipantName: r.ParticipantName,
		ParticipantEmail: strValue(r.ParticipantEmail), ParticipantTokenEnabled: r.ParticipantTokenEnabled,
		ParticipantEnabled: r.ParticipantEnabled, IdParticipantGroup: int32Value(r.IDParticipantGroup), IdProject: r.IDProject}
	if form.minimal {
		return p
	}
	p.ParticipantLoginEnabled = &r.ParticipantLoginEnabled
	p.ParticipantUsername = nullable(r.ParticipantUsername)
	p.ParticipantToken = nullable(r.ParticipantToken)
	p.ParticipantLastonline = nullable(isoTime(r.ParticipantLastonline))
	p.ParticipantProjectEnabled = &r.ProjectEnabled
	if form.withSite {
		p.IdSite = &r.IDSite
	}
	if form.withLastSession {
		p.ParticipantLastsession = nullable(isoTime(r.LastSession))
	}
	if form.full {
		p.ParticipantProject = &corev1.Project{IdProject: r.IDProject, IdSite: r.IDSite, ProjectName: r.ProjectName,
			ProjectEnabled: r.ProjectEnabled, ProjectDescription: strValue(r.ProjectDescription), SiteName: &r.SiteName}
		if r.IDParticipantGroup != nil && r.ParticipantGroupName != nil {
			p.ParticipantParticipantGroup = &corev1.ParticipantGroup{IdParticipantGroup: *r.IDParticipantGroup,
				IdProject: r.IDProject, ParticipantGroupName: *r.ParticipantGroupName, ProjectName: &r.ProjectName}
		}
	}
	return p
}

// isoTime formats like Python's isoformat() on an aware UTC datetime.
func isoTime(t *time.Time) *string { return pyjson.IsoTime(t) }

func (s *participants) GetParticipants(ctx context.Context, r *corev1.GetParticipantsRequest) (*corev1.GetParticipantsResponse, error) {
	f, form, err := participantQuery(r)
	if err != nil {
		return nil, err
	}
	var rows []store.ParticipantRow
	if f != nil {
		if rows, err = store.ListParticipants(ctx, s.db, caller(ctx).acc, *f); err != nil {
			return nil, s.dbError(ctx, err)
		}
	}
	if len(rows) == 0 {
		respondNull(ctx)
		return &corev1.GetParticipantsResponse{}, nil
	}
	out := make([]*corev1.Participant, len(rows))
	for i, row := range rows {
		out[i] = participantProto(row, form)
		out[i].ParticipantOnline = s.presence.Online(presence.Participant, out[i].ParticipantUuid)
		out[i].ParticipantBusy = s.presence.Busy(presence.Participant, out[i].ParticipantUuid)
	}
	if form.full {
		if err := s.addDevices(ctx, out); err != nil {
			return nil, err
		}
	}
	return &corev1.GetParticipantsResponse{Participants: out}, nil
}

// participantQuery is the filter and form of a GET, OpenTera's way: a selector is required, one
// is honoured (in this order), flags without a selector match nothing (nil filter).
func participantQuery(r *corev1.GetParticipantsRequest) (*store.ParticipantFilter, participantForm, error) {
	alias(&r.IdParticipant, r.Id)
	alias(&r.ParticipantUuid, r.Uuid)
	if r.IdParticipant == 0 && r.Username == "" && r.ParticipantUuid == "" && r.IdSite == 0 && r.IdProject == 0 &&
		r.IdGroup == 0 && r.IdSession == 0 && r.IdDevice == 0 && r.Name == "" && r.Enabled == nil && !r.List &&
		!r.Full && !r.NoGroup && !r.OrderbyRecents && r.Limit == 0 {
		return nil, participantForm{}, apierr.MissingArgument("Missing arguments")
	}
	f := &store.ParticipantFilter{Enabled: r.Enabled, NoGroup: r.NoGroup, OrderByRecents: r.OrderbyRecents}
	byGroup := false
	switch {
	case r.IdParticipant != 0:
		f.IDParticipant = &r.IdParticipant
	case r.Username != "":
		f.Username = &r.Username
	case r.ParticipantUuid != "":
		f.UUID = &r.ParticipantUuid
	case r.IdSite != 0:
		f.IDSite = &r.IdSite
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
	case r.IdGroup != 0:
		f.IDGroup, byGroup = &r.IdGroup, true
	case r.IdDevice != 0:
		f.IDDevice = &r.IdDevice
	case r.IdSession != 0:
		f.IDSession = &r.IdSession
	case r.Name != "":
		f.Name = &r.Name
	default:
		f = nil
	}
	if f != nil && r.Limit > 0 {
		f.Limit = &r.Limit
	}
	form := participantForm{minimal: r.List, full: r.Full && !r.List, withSite: !r.List && r.IdParticipant != 0}
	form.withLastSession = !r.List && (r.IdParticipant != 0 || byGroup)
	if f != nil {
		f.WithLastSession = form.withLastSession
	}
	return f, form, nil
}

// addDevices fills participant_devices (full form) in one query.
func (s *participants) addDevices(ctx context.Context, ps []*corev1.Participant) error {
	byID := map[int32]*corev1.Participant{}
	var list []int32
	for _, p := range ps {
		byID[p.IdParticipant] = p
		p.ParticipantDevices = &structpb.ListValue{}
		list = append(list, p.IdParticipant)
	}
	rows, err := store.ParticipantDevices(ctx, s.db, list)
	if err != nil {
		return s.internal(ctx, err)
	}
	for _, row := range rows {
		r := row.Device
		d := &corev1.Device{IdDevice: r.IDDevice, DeviceUuid: r.DeviceUUID, DeviceName: r.DeviceName, IdDeviceType: r.IDDeviceType,
			IdDeviceSubtype: int32Value(r.IDDeviceSubtype), DeviceToken: strValue(r.DeviceToken), DeviceEnabled: r.DeviceEnabled,
			DeviceOnlineable: r.DeviceOnlineable, DeviceConfig: strValue(r.DeviceConfig), DeviceInfos: strValue(r.DeviceInfos),
			DeviceNotes: strValue(r.DeviceNotes), DeviceLastonline: strValue(isoTime(r.DeviceLastonline))}
		v, err := messageValue(d)
		if err != nil {
			return s.internal(ctx, err)
		}
		byID[row.IDParticipant].ParticipantDevices.Values = append(byID[row.IDParticipant].ParticipantDevices.Values, v)
	}
	return nil
}

func (s *participants) PostParticipant(ctx context.Context, r *corev1.PostParticipantRequest) (*corev1.PostParticipantResponse, error) {
	m := caller(ctx)
	b := r.GetParticipant()
	if b == nil {
		return nil, apierr.MissingArgument("Missing participant")
	}
	if b.IdParticipant == nil {
		return nil, apierr.MissingArgument("Missing id_participant")
	}
	patch, err := participantPatch(b)
	if err != nil {
		return nil, err
	}
	id := b.GetIdParticipant()
	if id == 0 && (patch.IDProject == nil && patch.IDGroup == nil || patch.Name == nil) {
		return nil, apierr.MissingArgument("Missing id_project or participant_name")
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.checkProjectAndGroup(ctx, tx, m, &patch); err != nil {
			return err
		}
		if id == 0 {
			id, err = store.InsertParticipant(ctx, tx, m.acc, patch)
			err = orDenied(err, "No admin access to project")
		} else {
			err = orDenied(store.UpdateParticipant(ctx, tx, m.acc, id, patch), "Forbidden")
		}
		if err != nil {
			return participantWriteError(err)
		}
		return s.syncParticipantToken(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	row, err := store.GetParticipant(ctx, s.db, m.acc, id)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	return &corev1.PostParticipantResponse{Participants: []*corev1.Participant{participantProto(row, participantForm{})}}, nil
}

// participantPatch reads the body's keys into a patch, refusing invalid values.
func participantPatch(b *corev1.ParticipantBody) (store.ParticipantPatch, error) {
	p := store.ParticipantPatch{Name: b.ParticipantName, Username: b.ParticipantUsername, Email: b.ParticipantEmail,
		Enabled: b.ParticipantEnabled, LoginEnabled: b.ParticipantLoginEnabled, TokenEnabled: b.ParticipantTokenEnabled}
	if b.IdProject != nil && *b.IdProject > 0 {
		p.IDProject = b.IdProject
	}
	switch {
	case p.Name != nil && strings.TrimSpace(*p.Name) == "":
		return p, apierr.InvalidArgument("Invalid participant_name")
	case p.Username != nil && len(*p.Username) > 50:
		return p, apierr.InvalidArgument("Invalid participant_username")
	}
	// id_participant_group: a number, 0 or null (no group).
	if p.SetGroup = b.IdParticipantGroup != nil; p.SetGroup {
		switch k := b.IdParticipantGroup.GetKind().(type) {
		case *structpb.Value_NullValue:
		case *structpb.Value_NumberValue:
			if v := k.NumberValue; v != float64(int32(v)) || v < 0 {
				return p, apierr.InvalidArgument("Invalid id_participant_group")
			} else if v > 0 {
				p.IDGroup = new(int32(v))
			}
		default:
			return p, apierr.InvalidArgument("Invalid id_participant_group")
		}
	}
	if pw := b.GetParticipantPassword(); pw != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if len(pw) > 72 || err != nil {
			return p, apierr.InvalidArgument("Invalid participant_password")
		}
		p.PasswordHash = new(string(h))
	}
	return p, nil
}

// checkProjectAndGroup checks the caller's role on the group named in a write and takes the
// project from the group (which must belong to the named project). The project's permission is
// declared on the RPC; the scoped insert and update check it again in their statement.
func (s *participants) checkProjectAndGroup(ctx context.Context, tx pgx.Tx, m me, p *store.ParticipantPatch) error {
	if p.IDGroup == nil {
		return nil
	}
	if err := s.require(ctx, tx, m, access.ParticipantGroups, *p.IDGroup, false, "No admin access to group"); err != nil {
		return err
	}
	gp, err := store.GroupProject(ctx, tx, *p.IDGroup)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apierr.InvalidArgument("Participant group not found.")
	case err != nil:
		return err
	case p.IDProject != nil && *p.IDProject != gp:
		return apierr.InvalidArgument("Mismatch between id_project and group's project")
	}
	p.IDProject = &gp
	return nil
}

func participantWriteError(err error) error {
	var ce *store.ConflictError
	if errors.As(err, &ce) && strings.Contains(ce.Constraint, "username") {
		return apierr.Conflict("Participant username already in use")
	}
	return err
}

// syncParticipantToken gives a token-enabled, enabled participant a static token (signed with
// the ParticipantTokenEncryptionKey setting) and clears it when token access is turned off.
func (s *participants) syncParticipantToken(ctx context.Context, tx pgx.Tx, id int32) error {
	st, err := store.GetParticipantTokenState(ctx, tx, id)
	switch {
	case err != nil:
		return err
	case !st.TokenEnabled && st.Token != nil:
		return store.SetParticipantToken(ctx, tx, id, nil)
	case st.TokenEnabled && st.Enabled && st.Token == nil:
		key, err := store.ServerSetting(ctx, tx, "ParticipantTokenEncryptionKey")
		if err != nil {
			return err
		}
		tok, err := authn.StaticToken(key, authn.Claims{ParticipantUUID: st.UUID, IDParticipant: int64(id)})
		if err != nil {
			return err
		}
		return store.SetParticipantToken(ctx, tx, id, &tok)
	}
	return nil
}

func (s *participants) DeleteParticipant(ctx context.Context, r *corev1.DeleteParticipantRequest) (*corev1.DeleteParticipantResponse, error) {
	return &corev1.DeleteParticipantResponse{}, s.softDelete(ctx, store.Participants, r.Id)
}

// ---- /api/service/participants

func (s *serviceAPI) SvcGetParticipants(ctx context.Context, r *corev1.SvcGetParticipantsRequest) (*corev1.SvcGetParticipantsResponse, error) {
	m := caller(ctx)
	f := store.ParticipantFilter{}
	single, minimal := false, false
	switch {
	case r.ParticipantUuid != "":
		f.UUID, single = &r.ParticipantUuid, true
	case r.IdParticipant != 0:
		f.IDParticipant, single = &r.IdParticipant, true // declared: 403 outside the service
	case r.IdProject != 0:
		f.IDProject = &r.IdProject
		if err := s.require(ctx, s.db, m, access.Projects, r.IdProject, false, "Forbidden"); err != nil {
			return nil, err
		}
	case r.IdParticipantGroup != 0:
		f.IDGroup = &r.IdParticipantGroup
		if err := s.require(ctx, s.db, m, access.ParticipantGroups, r.IdParticipantGroup, false, "Forbidden"); err != nil {
			return nil, err
		}
	case r.Name != "":
		minimal = true
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	if r.Name != "" && !single {
		f.NameContains = &r.Name
	}
	rows, err := store.ListParticipants(ctx, s.db, m.acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if single {
		if len(rows) == 0 {
			return nil, apierr.Forbidden("Forbidden")
		}
		v, err := messageValue(participantProto(rows[0], participantForm{}))
		return &corev1.SvcGetParticipantsResponse{Json: v}, err
	}
	list := listOf(rows, func(row store.ParticipantRow) *corev1.Participant {
		return participantProto(row, participantForm{minimal: minimal})
	})
	return &corev1.SvcGetParticipantsResponse{Json: structpb.NewListValue(list)}, nil
}

func (s *serviceAPI) SvcPostParticipant(ctx context.Context, r *corev1.SvcPostParticipantRequest) (*corev1.SvcPostParticipantResponse, error) {
	b := r.GetParticipant()
	// OpenTera's service checks (a body without these keys fails there with a 500).
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing arguments")
	case b.IdParticipant == nil || b.IdProject == nil || b.ParticipantName == nil || b.ParticipantEmail == nil:
		return nil, apierr.MissingArgument("Missing id_participant, id_project, participant_name or participant_email")
	case b.GetIdProject() < 1:
		return nil, apierr.Forbidden("Unknown project")
	case b.GetParticipantName() == "":
		return nil, apierr.Forbidden("Invalid participant name")
	case b.GetParticipantEmail() == "":
		return nil, apierr.Forbidden("Invalid participant email")
	}
	if b.GetIdParticipant() == 0 {
		// OpenTera's service creates participants enabled, with login enabled.
		on := true
		if b.ParticipantEnabled == nil {
			b.ParticipantEnabled = &on
		}
		if b.ParticipantLoginEnabled == nil {
			b.ParticipantLoginEnabled = &on
		}
	}
	// The user API's write, scoped to the service: the project (and the participant updated)
	// must be the service's, checked in the statement.
	res, err := (&participants{Service: s.Service}).PostParticipant(ctx, &corev1.PostParticipantRequest{Participant: b})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostParticipantResponse{Participant: res.Participants[0]}, nil
}

// ---- /api/device/participants

func (s *deviceSurface) GetDeviceParticipants(ctx context.Context, _ *corev1.GetDeviceParticipantsRequest) (*corev1.GetDeviceParticipantsResponse, error) {
	d, err := s.self(ctx, s.db)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if !d.DeviceOnlineable {
		return nil, apierr.Forbidden("Invalid request")
	}
	rows, err := store.ListParticipants(ctx, s.db, caller(ctx).acc, store.ParticipantFilter{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := &corev1.GetDeviceParticipantsResponse{ParticipantsInfo: []*corev1.ParticipantSelf{}}
	for _, row := range rows {
		p := participantSelfProto(row, false)
		// A participant's credential is not its device's to hold (see the proto).
		p.ParticipantToken = structpb.NewNullValue()
		out.ParticipantsInfo = append(out.ParticipantsInfo, p)
	}
	return out, nil
}

// /api/participant/{devices,sessions,assets}: the user API's resources through the
// participant's own access scope (OpenTera's ParticipantQuery* handlers). The role each
// endpoint needs (full or limited) is declared in participant_api.proto.
type participantSurface struct {
	*Service
	corev1.UnimplementedParticipantSurfaceServiceServer
}

// ---- /api/participant/participants

// /api/participant/participants: the participants resource on the participant surface. The
// row comes from the same store query as /api/user/participants, scoped to the participant.
type participantSelf struct {
	*Service
	corev1.UnimplementedParticipantSelfServiceServer
}

func (s *participantSelf) GetParticipantSelf(ctx context.Context, r *corev1.GetParticipantSelfRequest) (*corev1.GetParticipantSelfResponse, error) {
	c := authn.FromContext(ctx)
	row, err := store.GetParticipant(ctx, s.db, caller(ctx).acc, int32(c.ID))
	if err != nil {
		return nil, orDenied(s.dbError(ctx, err), "Forbidden")
	}
	if !c.Full {
		// A static (limited) token learns its name only.
		return &corev1.GetParticipantSelfResponse{Participant: &corev1.ParticipantSelf{ParticipantName: &row.ParticipantName}}, nil
	}
	return &corev1.GetParticipantSelfResponse{Participant: participantSelfProto(row, r.List)}, nil
}

func (s *participantSelf) PostParticipantSelf(context.Context, *corev1.PostParticipantSelfRequest) (*corev1.PostParticipantSelfResponse, error) {
	return nil, notImplemented("Not implemented")
}

// participantSelfProto is TeraParticipant.to_json (minimal: the list form).
func participantSelfProto(row store.ParticipantRow, minimal bool) *corev1.ParticipantSelf {
	p := &corev1.ParticipantSelf{IdParticipant: &row.IDParticipant, ParticipantUuid: &row.ParticipantUUID,
		ParticipantName: &row.ParticipantName, ParticipantEmail: nullable(row.ParticipantEmail),
		ParticipantTokenEnabled: &row.ParticipantTokenEnabled, ParticipantEnabled: &row.ParticipantEnabled,
		IdParticipantGroup: nullableInt(row.IDParticipantGroup), IdProject: &row.IDProject}
	if !minimal {
		p.ParticipantUsername, p.ParticipantToken = nullable(row.ParticipantUsername), nullable(row.ParticipantToken)
		p.ParticipantLastonline = nullable(isoTime(row.ParticipantLastonline))
		p.ParticipantLoginEnabled, p.ParticipantProjectEnabled = &row.ParticipantLoginEnabled, &row.ProjectEnabled
	}
	return p
}

// nullableInt is a google.protobuf.Value holding a number or null.
func nullableInt(p *int32) *structpb.Value {
	if p == nil {
		return structpb.NewNullValue()
	}
	return structpb.NewNumberValue(float64(*p))
}
