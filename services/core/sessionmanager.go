package core

import (
	"context"
	"encoding/json"
	"errors"
	"math"

	"github.com/jackc/pgx/v5"
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
	if err != nil {
		return nil, err
	}
	return &corev1.ManageSessionResponse{Answer: a}, nil
}

func (s *sessionManager) SvcManageSession(ctx context.Context, r *corev1.SvcManageSessionRequest) (*corev1.SvcManageSessionResponse, error) {
	a, err := s.manage(ctx, r.GetSessionManage(), true)
	if err != nil {
		return nil, err
	}
	return &corev1.SvcManageSessionResponse{Answer: a}, nil
}

// manage validates and completes the request, then calls the service.
func (s *sessionManager) manage(ctx context.Context, b *corev1.SessionManage, asService bool) (*structpb.Value, error) {
	if b == nil {
		return nil, apierr.MissingArgument("Missing session_manage")
	}
	if b.Action == nil || b.GetAction() == "" {
		return nil, apierr.MissingArgument("Missing action")
	}
	switch b.GetAction() {
	case "start", "stop", "invite", "remove", "invite_reply":
	default:
		return nil, apierr.InvalidArgument("Invalid action: " + b.GetAction())
	}
	m := caller(ctx)
	c := authn.FromContext(ctx)
	out := map[string]any{"action": b.GetAction()}
	lists := map[string]*structpb.ListValue{"session_users": b.SessionUsers, "session_participants": b.SessionParticipants,
		"session_devices": b.SessionDevices}
	given := map[string][]string{} // the invitees named by the request: the caller must see them
	for key, l := range lists {
		if l == nil {
			continue
		}
		uuids, err := uuidList(l, key)
		if err != nil {
			return nil, err
		}
		out[key], given[key] = uuids, uuids
	}
	// Creators: zero ids are none (OpenTera's clients send 0 for "not set").
	creators := map[string]*int32{"id_creator_user": b.IdCreatorUser, "id_creator_participant": b.IdCreatorParticipant,
		"id_creator_device": b.IdCreatorDevice, "id_creator_service": b.IdCreatorService}
	for key, id := range creators {
		if id != nil && *id != 0 {
			out[key] = *id
		}
	}
	var (
		idSession int32
		idType    int32
		typeGiven = b.IdSessionType != nil && b.GetIdSessionType() != 0
	)
	denied := "User doesn't have access to that session"
	if asService {
		denied = "Service doesn't have access to that session"
	}
	switch {
	case b.IdSession != nil:
		idSession = b.GetIdSession()
	case b.SessionUuid != nil:
		err := s.db.QueryRow(ctx, `SELECT id_session FROM core.t_sessions WHERE session_uuid = $1 AND deleted_at IS NULL`, b.GetSessionUuid()).Scan(&idSession)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, apierr.InvalidArgument("Invalid session")
		} else if err != nil {
			return nil, s.dbError(ctx, err)
		}
	}
	if idSession < 0 {
		return nil, apierr.InvalidArgument("Invalid session")
	}
	var typeService *int32
	if idSession != 0 {
		ok, err := store.CanSession(ctx, s.db, m.acc, idSession)
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		if !ok {
			return nil, apierr.Forbidden(denied)
		}
		// The session's type and, for the lists not given, its invitees.
		var users, parts, devices []string
		err = s.db.QueryRow(ctx, `SELECT s.id_session_type, st.id_service,
			ARRAY(SELECT u.user_uuid FROM core.t_sessions_users x JOIN core.t_users u ON u.id_user = x.id_user
			       WHERE x.id_session = s.id_session AND x.deleted_at IS NULL AND u.deleted_at IS NULL ORDER BY x.id_session_user),
			ARRAY(SELECT p.participant_uuid FROM core.t_sessions_participants x JOIN core.t_participants p ON p.id_participant = x.id_participant
			       WHERE x.id_session = s.id_session AND x.deleted_at IS NULL AND p.deleted_at IS NULL ORDER BY x.id_session_participant),
			ARRAY(SELECT d.device_uuid FROM core.t_sessions_devices x JOIN core.t_devices d ON d.id_device = x.id_device
			       WHERE x.id_session = s.id_session AND x.deleted_at IS NULL AND d.deleted_at IS NULL ORDER BY x.id_session_device)
			FROM core.t_sessions s JOIN core.t_sessions_types st ON st.id_session_type = s.id_session_type
			WHERE s.id_session = $1 AND s.deleted_at IS NULL`, idSession).Scan(&idType, &typeService, &users, &parts, &devices)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, apierr.InvalidArgument("Invalid session")
		} else if err != nil {
			return nil, s.dbError(ctx, err)
		}
		for key, current := range map[string][]string{"session_users": users, "session_participants": parts, "session_devices": devices} {
			if _, given := out[key]; !given {
				out[key] = current
			}
		}
	} else {
		if !typeGiven {
			return nil, apierr.MissingArgument("Missing required id_session_type for new sessions")
		}
		idType = b.GetIdSessionType()
		err := s.db.QueryRow(ctx, `SELECT id_service FROM core.t_sessions_types WHERE id_session_type = $1 AND deleted_at IS NULL`,
			idType).Scan(&typeService)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, apierr.InvalidArgument("Invalid session type")
		} else if err != nil {
			return nil, s.dbError(ctx, err)
		}
		if err := s.canAll(ctx, m.acc.SessionTypes(), []int32{idType}, "No access to session type"); err != nil {
			return nil, err
		}
		hasCreator := false
		for key := range creators {
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
	}
	out["id_session"] = idSession
	out["id_session_type"] = idType
	if err := s.checkManageRefs(ctx, m, out, given, asService); err != nil {
		return nil, err
	}
	// The service: the session type's, else the one given.
	var idService *int32
	switch {
	case typeService != nil:
		idService = typeService
	case b.IdService != nil:
		idService = b.IdService
	}
	if idService == nil {
		return nil, apierr.New(codes.Unimplemented, errorsv1.ErrorReason_ERROR_REASON_UNSPECIFIED, "Not implemented yet")
	}
	var key string
	err := s.db.QueryRow(ctx, `SELECT service_key FROM core.t_services WHERE id_service = $1 AND deleted_at IS NULL`, *idService).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, apierr.InvalidArgument("Service not found")
	} else if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if !asService {
		if err := s.canAll(ctx, m.acc.Services(), []int32{*idService}, "User doesn't have access to that service."); err != nil {
			return nil, err
		}
	}
	out["id_service"] = *idService
	if b.GetAction() == "invite_reply" {
		p, err := replyParameters(b.Parameters)
		if err != nil {
			return nil, err
		}
		if !asService {
			p["user_uuid"] = c.UUID
		}
		out["parameters"] = p
	} else if b.Parameters != nil {
		out["parameters"] = b.Parameters.AsInterface()
	}
	return s.call(ctx, key, map[string]any{"session_manage": out})
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
