// Package sessionjson is OpenTera's JSON of a session and of a session event, shared by core's
// APIs and the videorehab target's session_manage replies (which carry the session as
// OpenTera's VideoRehabService read it from the service API).
package sessionjson

import (
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/services/internal/pbval"
	"github.com/tera-health/tera/services/internal/pyjson"
	"github.com/tera-health/tera/services/internal/store"
)

// Session is a session row as OpenTera's JSON: full adds the comments, parameters and invitee
// lists; withType adds session_type_name and session_type_color.
func Session(r store.Session, full, withType bool) *corev1.Session {
	out := &corev1.Session{IdSession: r.IDSession, SessionUuid: r.SessionUUID, IdSessionType: r.IDSessionType,
		IdCreatorUser: int32Value(r.IDCreatorUser), IdCreatorDevice: int32Value(r.IDCreatorDevice),
		IdCreatorParticipant: int32Value(r.IDCreatorParticipant), IdCreatorService: int32Value(r.IDCreatorService),
		SessionName: r.SessionName, SessionStartDatetime: *pyjson.IsoTime(&r.SessionStartDatetime), SessionDuration: r.SessionDuration,
		SessionStatus: r.SessionStatus, SessionAssetsCount: r.AssetsCount, SessionTestsCount: r.TestsCount,
		SessionCreatorUser: r.CreatorUser, SessionCreatorUserUuid: r.CreatorUserUUID,
		SessionCreatorDevice: r.CreatorDevice, SessionCreatorDeviceUuid: r.CreatorDeviceUUID,
		SessionCreatorParticipant: r.CreatorParticipant, SessionCreatorParticipantUuid: r.CreatorParticipantUUID,
		SessionCreatorService: r.CreatorService, SessionCreatorServiceUuid: r.CreatorServiceUUID}
	if withType {
		out.SessionTypeName, out.SessionTypeColor = &r.SessionTypeName, &r.SessionTypeColor
	}
	if !full {
		return out
	}
	out.SessionComments = nullable(r.SessionComments)
	out.SessionParameters = nullable(r.SessionParameters)
	// OpenTera returns the parameters as JSON when they parse.
	if p := r.SessionParameters; p != nil && *p != "" {
		var v structpb.Value
		if v.UnmarshalJSON([]byte(*p)) == nil {
			out.SessionParameters = &v
		}
	}
	out.SessionParticipants = List(r.Participants, func(p store.SessionParticipant) *corev1.SessionParticipant {
		return &corev1.SessionParticipant{IdParticipant: p.IDParticipant, ParticipantUuid: p.ParticipantUUID,
			ParticipantName: p.ParticipantName, IdProject: p.IDProject, ProjectName: p.ProjectName}
	})
	out.SessionUsers = List(r.Users, func(u store.SessionUser) *corev1.SessionUser {
		return &corev1.SessionUser{IdUser: u.IDUser, UserUuid: u.UserUUID, UserName: u.UserName}
	})
	out.SessionDevices = List(r.Devices, func(d store.SessionDevice) *corev1.SessionDevice {
		return &corev1.SessionDevice{IdDevice: d.IDDevice, DeviceUuid: d.DeviceUUID, DeviceName: d.DeviceName}
	})
	return out
}

// Event is a session event as OpenTera's JSON.
func Event(e store.SessionEvent) *corev1.SessionEvent {
	return &corev1.SessionEvent{IdSessionEvent: e.IDSessionEvent, IdSession: e.IDSession, IdSessionEventType: e.IDSessionEventType,
		SessionEventDatetime: *pyjson.IsoTime(&e.SessionEventDatetime), SessionEventText: strValue(e.SessionEventText),
		SessionEventContext: strValue(e.SessionEventContext)}
}

// Value is a message as the JSON value the gateway would emit for it (proto names, every
// field).
func Value(m proto.Message) (*structpb.Value, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil, err
	}
	v := &structpb.Value{}
	return v, protojson.Unmarshal(b, v)
}

// List is a list value of messages (marshalling generated messages cannot fail).
func List[T any, M proto.Message](items []T, conv func(T) M) *structpb.ListValue {
	out := &structpb.ListValue{Values: make([]*structpb.Value, 0, len(items))}
	for _, it := range items {
		v, err := Value(conv(it))
		if err == nil {
			out.Values = append(out.Values, v)
		}
	}
	return out
}

var (
	nullable   = pbval.NullableString
	strValue   = pbval.String
	int32Value = pbval.Int32
)
