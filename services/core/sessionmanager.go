package core

import (
	"context"
	"encoding/json"
	"errors"
	"math"

	"github.com/nats-io/nats.go"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	errorsv1 "github.com/tera-health/tera/pkg/api/tera/errors/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/servicekit"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/sessions/manager and /api/service/sessions/manager (OpenTera's UserSessionManager
// and ServiceSessionManager): the request is checked against the caller's access, completed as
// OpenTera completes it, and forwarded to the session type's service as session_manage.

type sessionManager struct {
	*Service
	corev1.UnimplementedSessionManagerServiceServer
}

// JoinSessionReplyEvent's codes, by OpenTera's names.
var replyCodes = map[string]int{"accept": 1, "reject": 2, "deny": 2, "busy": 3, "timeout": 4}

func (s *sessionManager) ManageSession(ctx context.Context, r *corev1.ManageSessionRequest) (*corev1.ManageSessionResponse, error) {
	a, err := s.manage(ctx, r.GetSessionManage(), false)
	return reply(&corev1.ManageSessionResponse{Answer: a}, err)
}

func (s *sessionManager) SvcManageSession(ctx context.Context, r *corev1.SvcManageSessionRequest) (*corev1.SvcManageSessionResponse, error) {
	a, err := s.manage(ctx, r.GetSessionManage(), true)
	return reply(&corev1.SvcManageSessionResponse{Answer: a}, err)
}

// manage validates and completes the request, then calls the service.
func (s *sessionManager) manage(ctx context.Context, b *corev1.SessionManage, asService bool) (*structpb.Value, error) {
	out, given, err := manageRequest(b)
	if err != nil {
		return nil, err
	}
	m := caller(ctx)
	typeService, err := s.manageSession(ctx, m, b, out, asService)
	if err != nil {
		return nil, err
	}
	if err := s.checkManageRefs(ctx, m, out, given, asService); err != nil {
		return nil, err
	}
	key, err := s.manageService(ctx, m, typeService, asService)
	if err != nil {
		return nil, err
	}
	out["id_service"] = *typeService
	if b.GetAction() == "invite_reply" {
		p, err := replyParameters(b.Parameters)
		if err != nil {
			return nil, err
		}
		if !asService {
			p["user_uuid"] = authn.FromContext(ctx).UUID
		}
		out["parameters"] = p
	} else if b.Parameters != nil {
		out["parameters"] = b.Parameters.AsInterface()
	}
	return s.call(ctx, key, map[string]any{"session_manage": out})
}

// creatorKeys are the request's creator fields.
var creatorKeys = []string{"id_creator_user", "id_creator_participant", "id_creator_device", "id_creator_service"}

// manageRequest checks the action and reads the invitee lists and the creators into the
// forwarded request; given holds the invitees the request names (the caller must see them).
func manageRequest(b *corev1.SessionManage) (out map[string]any, given map[string][]string, err error) {
	if b == nil {
		return nil, nil, apierr.MissingArgument("Missing session_manage")
	}
	if b.Action == nil || b.GetAction() == "" {
		return nil, nil, apierr.MissingArgument("Missing action")
	}
	switch b.GetAction() {
	case "start", "stop", "invite", "remove", "invite_reply":
	default:
		return nil, nil, apierr.InvalidArgument("Invalid action: " + b.GetAction())
	}
	out = map[string]any{"action": b.GetAction()}
	given = map[string][]string{}
	lists := map[string]*structpb.ListValue{"session_users": b.SessionUsers, "session_participants": b.SessionParticipants,
		"session_devices": b.SessionDevices}
	for key, l := range lists {
		if l == nil {
			continue
		}
		uuids, err := uuidList(l, key)
		if err != nil {
			return nil, nil, err
		}
		out[key], given[key] = uuids, uuids
	}
	// Creators: zero ids are none (OpenTera's clients send 0 for "not set").
	for i, id := range []*int32{b.IdCreatorUser, b.IdCreatorParticipant, b.IdCreatorDevice, b.IdCreatorService} {
		if id != nil && *id != 0 {
			out[creatorKeys[i]] = *id
		}
	}
	return out, given, nil
}

// manageSession completes out with the session (an existing one's type and invitees, or a new
// one's type and creator) and answers the session type's service.
func (s *sessionManager) manageSession(ctx context.Context, m me, b *corev1.SessionManage, out map[string]any, asService bool) (*int32, error) {
	var idSession int32
	switch {
	case b.IdSession != nil:
		idSession = b.GetIdSession()
	case b.SessionUuid != nil:
		id, err := store.SessionIDByUUID(ctx, s.db, b.GetSessionUuid())
		if errors.Is(err, store.ErrNotFound) {
			return nil, apierr.InvalidArgument("Invalid session")
		} else if err != nil {
			return nil, s.dbError(ctx, err)
		}
		idSession = id
	}
	if idSession < 0 {
		return nil, apierr.InvalidArgument("Invalid session")
	}
	var (
		idType      int32
		typeService *int32
		err         error
	)
	if idSession != 0 {
		idType, typeService, err = s.existingSession(ctx, m, idSession, out, asService)
	} else {
		idType, typeService, err = s.newSession(ctx, m, b, out, asService)
	}
	if err != nil {
		return nil, err
	}
	out["id_session"] = idSession
	out["id_session_type"] = idType
	if typeService == nil {
		typeService = b.IdService // the service: the session type's, else the one given
	}
	return typeService, nil
}

// existingSession checks the caller's access to the session and fills the invitee lists the
// request did not give with the session's.
func (s *sessionManager) existingSession(ctx context.Context, m me, id int32, out map[string]any, asService bool) (int32, *int32, error) {
	ok, err := store.CanSession(ctx, s.db, m.acc, id)
	if err != nil {
		return 0, nil, s.dbError(ctx, err)
	}
	if !ok {
		if asService {
			return 0, nil, apierr.Forbidden("Service doesn't have access to that session")
		}
		return 0, nil, apierr.Forbidden("User doesn't have access to that session")
	}
	ms, err := store.GetManagedSession(ctx, s.db, id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, apierr.InvalidArgument("Invalid session")
	} else if err != nil {
		return 0, nil, s.dbError(ctx, err)
	}
	for key, current := range map[string][]string{"session_users": ms.Users, "session_participants": ms.Participants,
		"session_devices": ms.Devices} {
		if _, given := out[key]; !given {
			out[key] = current
		}
	}
	return ms.IDSessionType, ms.IDService, nil
}

// newSession checks the session type of a new session and names its creator when the request
// names none: the calling service, else the calling user.
func (s *sessionManager) newSession(ctx context.Context, m me, b *corev1.SessionManage, out map[string]any, asService bool) (int32, *int32, error) {
	if b.IdSessionType == nil || b.GetIdSessionType() == 0 {
		return 0, nil, apierr.MissingArgument("Missing required id_session_type for new sessions")
	}
	idType := b.GetIdSessionType()
	typeService, err := store.SessionTypeService(ctx, s.db, idType)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, apierr.InvalidArgument("Invalid session type")
	} else if err != nil {
		return 0, nil, s.dbError(ctx, err)
	}
	if err := s.canAll(ctx, m.acc.SessionTypes(), []int32{idType}, "No access to session type"); err != nil {
		return 0, nil, err
	}
	hasCreator := false
	for _, key := range creatorKeys {
		_, ok := out[key]
		hasCreator = hasCreator || ok
	}
	switch {
	case hasCreator:
	case asService:
		out["id_creator_service"] = serviceID(ctx)
	default:
		out["id_creator_user"] = m.id
	}
	return idType, typeService, nil
}

// manageService answers the key of the service to call, which a user must have access to.
func (s *sessionManager) manageService(ctx context.Context, m me, idService *int32, asService bool) (string, error) {
	if idService == nil {
		return "", notImplemented("Not implemented yet")
	}
	key, err := store.ServiceKeyOf(ctx, s.db, *idService)
	if errors.Is(err, store.ErrNotFound) {
		return "", apierr.InvalidArgument("Service not found")
	} else if err != nil {
		return "", s.dbError(ctx, err)
	}
	if !asService {
		if err := s.canAll(ctx, m.acc.Services(), []int32{*idService}, "User doesn't have access to that service."); err != nil {
			return "", err
		}
	}
	return key, nil
}

// uuidList reads a list of invitee uuids.
func uuidList(l *structpb.ListValue, key string) ([]string, error) {
	out := []string{}
	for _, v := range l.GetValues() {
		str, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok || str.StringValue == "" || len(str.StringValue) > 36 {
			return nil, apierr.InvalidArgument("Invalid uuid in " + key)
		}
		out = append(out, str.StringValue)
	}
	return out, nil
}

// replyParameters checks invite_reply's parameters and turns the reply code's name into its
// number (JoinSessionReplyEvent's).
func replyParameters(v *structpb.Value) (map[string]any, error) {
	st, ok := v.GetKind().(*structpb.Value_StructValue)
	if !ok {
		return nil, apierr.MissingArgument("Missing parameters")
	}
	p := st.StructValue.AsMap()
	code, ok := p["reply_code"]
	if !ok {
		return nil, apierr.MissingArgument("Missing reply code in parameters")
	}
	switch c := code.(type) {
	case string:
		n, ok := replyCodes[c]
		if !ok {
			return nil, apierr.InvalidArgument("Invalid reply code")
		}
		p["reply_code"] = n
	case float64:
		if c != math.Trunc(c) || c < 1 || c > 4 {
			return nil, apierr.InvalidArgument("Invalid reply code")
		}
		p["reply_code"] = int(c)
	default:
		return nil, apierr.InvalidArgument("Invalid reply code")
	}
	if msg, ok := p["reply_msg"]; ok {
		if _, isStr := msg.(string); !isStr {
			return nil, apierr.InvalidArgument("Invalid reply_msg")
		}
	}
	return p, nil
}

// checkManageRefs refuses creators and invitees (those the request names) the caller cannot see.
func (s *sessionManager) checkManageRefs(ctx context.Context, m me, out map[string]any, given map[string][]string, asService bool) error {
	who := "User"
	if asService {
		who = "Service"
	}
	for _, c := range []struct {
		key, kind string
		f         access.Fragment
	}{
		{"session_users", "user", m.acc.Users()}, {"session_participants", "participant", m.acc.Participants()},
		{"session_devices", "device", m.acc.Devices()},
	} {
		uuids := given[c.key]
		if len(uuids) == 0 {
			continue
		}
		ids, err := store.InviteeIDs(ctx, s.db, c.kind, uuids)
		if err != nil {
			return s.dbError(ctx, err)
		}
		msg := who + " doesn't have access to at least one " + c.kind + " of that session."
		list := make([]int32, 0, len(ids))
		for _, u := range uuids {
			id, ok := ids[u]
			if !ok {
				return apierr.Forbidden(msg)
			}
			list = append(list, id)
		}
		if err := s.canAll(ctx, c.f, list, msg); err != nil {
			return err
		}
	}
	for key, f := range map[string]access.Fragment{"id_creator_user": m.acc.Users(), "id_creator_participant": m.acc.Participants(),
		"id_creator_device": m.acc.Devices(), "id_creator_service": m.acc.Services()} {
		id, ok := out[key].(int32)
		if !ok {
			continue
		}
		if asService && key == "id_creator_service" && id == serviceID(ctx) {
			continue
		}
		if err := s.canAll(ctx, f, []int32{id}, "No access to session creator"); err != nil {
			return err
		}
	}
	return nil
}

// canAll refuses with 403 when one of ids is outside the fragment.
func (s *sessionManager) canAll(ctx context.Context, f access.Fragment, ids []int32, msg string) error {
	bad, err := store.Inaccessible(ctx, s.db, f, ids)
	if err != nil {
		return s.dbError(ctx, err)
	}
	if len(bad) > 0 {
		return apierr.Forbidden(msg)
	}
	return nil
}

// call sends session_manage to the service and answers its reply.
func (s *sessionManager) call(ctx context.Context, key string, req map[string]any) (*structpb.Value, error) {
	if s.nats == nil {
		return nil, apierr.Unavailable("Service " + key + " is not reachable")
	}
	var raw json.RawMessage
	err := servicekit.Call(ctx, s.nats, key, servicekit.MethodSessionManage, req, &raw)
	var rpcErr *servicekit.RPCError
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, apierr.Unavailable("Service " + key + " is not running")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return nil, apierr.New(codes.DeadlineExceeded, errorsv1.ErrorReason_ERROR_REASON_UNAVAILABLE, "No answer from service.")
	case errors.As(err, &rpcErr) && rpcErr.Code >= 400 && rpcErr.Code < 500:
		return nil, apierr.InvalidArgument(rpcErr.Description)
	case err != nil:
		return nil, s.internal(ctx, err)
	}
	var v structpb.Value
	if len(raw) == 0 || string(raw) == "null" || v.UnmarshalJSON(raw) != nil {
		return nil, apierr.Internal("No answer from service.")
	}
	return &v, nil
}
