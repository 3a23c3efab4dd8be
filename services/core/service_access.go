package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
)

// /api/service/access: what a user, participant or device can reach, as a service asks before
// serving it. OpenTera answers for any principal and everything it reaches; Tera answers for the
// service's principals only, intersected with what the service itself reaches.

// accessList is one list of the answer: its key, the object, its table and columns.
type accessList struct {
	key, table, idCol, keyCol, nameSQL string // keyCol: the uuid, or the id again
	obj                                access.Object
	byUUID                             bool
}

// accessLists are in the order of the with_* flags; the principals' are named, as principalID
// also finds a user, participant or device by uuid in their tables (from_*, a service's assets).
var (
	userAccess        = accessList{"users", "t_users", "id_user", "user_uuid", "user_firstname || ' ' || user_lastname", access.Users, true}
	participantAccess = accessList{"participants", "t_participants", "id_participant", "participant_uuid", "participant_name", access.Participants, true}
	deviceAccess      = accessList{"devices", "t_devices", "id_device", "device_uuid", "device_name", access.Devices, true}

	accessLists = []accessList{userAccess, {"projects", "t_projects", "id_project", "id_project", "project_name", access.Projects, false},
		participantAccess, deviceAccess, {"sites", "t_sites", "id_site", "id_site", "site_name", access.Sites, false}}
)

func (s *serviceAPI) SvcGetAccess(ctx context.Context, r *corev1.SvcGetAccessRequest) (*corev1.SvcGetAccessResponse, error) {
	if r.FromUserUuid == "" && r.FromParticipantUuid == "" && r.FromDeviceUuid == "" && !r.WithUsers && !r.WithProjects &&
		!r.WithParticipants && !r.WithDevices && !r.WithSites && !r.Admin && !r.WithNames {
		return nil, apierr.MissingArgument("No arguments specified")
	}
	out := map[string]*structpb.Value{}
	var who access.Caller
	// from makes the principal of a from_<kind>_uuid argument who, and echoes the argument.
	from := func(l accessList, kind, uuid string, as func(int32) access.Caller) error {
		id, err := s.principalID(ctx, l, uuid, "Invalid "+kind+" uuid")
		out["from_"+kind+"_uuid"], who = structpb.NewStringValue(uuid), as(id)
		return err
	}
	var err error
	switch {
	case r.FromUserUuid != "":
		out["admin"] = structpb.NewBoolValue(r.Admin)
		err = from(userAccess, "user", r.FromUserUuid, access.UserCaller)
	case r.FromParticipantUuid != "" && r.Admin:
		return nil, apierr.InvalidArgument("Participant cannot be admin")
	case r.FromParticipantUuid != "":
		err = from(participantAccess, "participant", r.FromParticipantUuid, access.ParticipantCaller)
	case r.FromDeviceUuid != "" && r.Admin:
		return nil, apierr.InvalidArgument("Device cannot be admin")
	case r.FromDeviceUuid != "":
		err = from(deviceAccess, "device", r.FromDeviceUuid, access.DeviceCaller)
	default:
		// OpenTera answers {} without a from_* argument.
		return &corev1.SvcGetAccessResponse{Access: &structpb.Struct{Fields: out}}, nil
	}
	if err != nil {
		return nil, err
	}
	sc := access.For(who)
	if r.Admin {
		sc = sc.AdminOnly()
	}
	for i, want := range []bool{r.WithUsers, r.WithProjects, r.WithParticipants, r.WithDevices, r.WithSites} {
		if !want {
			continue
		}
		l := &structpb.ListValue{Values: []*structpb.Value{}}
		// A participant reaches only itself, a device itself and its participants (OpenTera
		// answers [] for the other lists, whatever their projects).
		if o := accessLists[i].obj; who.Kind == access.User || o == access.Participants || who.Kind == access.Device && o == access.Devices {
			var err error
			if l, err = s.accessItems(ctx, sc, accessLists[i], r.WithNames); err != nil {
				return nil, err
			}
		}
		out[accessLists[i].key] = structpb.NewListValue(l)
	}
	return &corev1.SvcGetAccessResponse{Access: &structpb.Struct{Fields: out}}, nil
}

// principalID is the id of a user, participant or device of the service (l, keyed by uuid), by
// uuid; one it does not see is answered as an unknown one (400 msg).
func (s *serviceAPI) principalID(ctx context.Context, l accessList, uuid, msg string) (int32, error) {
	f := caller(ctx).acc.IDs(l.obj)
	var id int32
	err := s.db.QueryRow(ctx, `SELECT `+l.idCol+` FROM core.`+l.table+` WHERE `+l.keyCol+` = @uuid AND deleted_at IS NULL
		AND `+l.idCol+` IN (`+f.SQL+`)`, f.With(pgx.NamedArgs{"uuid": uuid})).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, apierr.InvalidArgument(msg)
	}
	return id, s.dbError(ctx, err)
}

// accessItems lists what sc reaches of one kind among what the service reaches, as [{uuid}] or
// [{id}] (with_names: and name).
func (s *serviceAPI) accessItems(ctx context.Context, sc access.Scope, l accessList, withNames bool) (*structpb.ListValue, error) {
	// The principal's ids first (a small set), then one statement scoped to the service.
	ids, err := sc.List(ctx, s.db, l.obj)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	f := caller(ctx).acc.IDs(l.obj)
	rows, err := s.db.Query(ctx, `SELECT `+l.idCol+`, `+l.keyCol+`::text, `+l.nameSQL+` FROM core.`+l.table+`
		WHERE `+l.idCol+` = ANY(@ids) AND deleted_at IS NULL AND `+l.idCol+` IN (`+f.SQL+`) ORDER BY 1`,
		f.With(pgx.NamedArgs{"ids": ids}))
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	defer rows.Close()
	out := &structpb.ListValue{Values: []*structpb.Value{}}
	for rows.Next() {
		var id int32
		var key, name string
		if err := rows.Scan(&id, &key, &name); err != nil {
			return nil, s.dbError(ctx, err)
		}
		item := map[string]*structpb.Value{"id": structpb.NewNumberValue(float64(id))}
		if l.byUUID {
			item = map[string]*structpb.Value{"uuid": structpb.NewStringValue(key)}
		}
		if withNames {
			item["name"] = structpb.NewStringValue(name)
		}
		out.Values = append(out.Values, structpb.NewStructValue(&structpb.Struct{Fields: item}))
	}
	return out, s.dbError(ctx, rows.Err())
}
