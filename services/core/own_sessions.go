package core

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// POST /api/participant/sessions and POST /api/device/sessions: a participant or a device
// creates or updates a session of its own (OpenTera's ParticipantQuerySessions and
// DeviceQuerySessions post, which are the same code but for the creator column).

// ownSessionsOf is the store selector listing a principal's own sessions.
var ownSessionsOf = map[authn.Kind]store.SessionSelector{authn.KindParticipant: store.SessionsOfParticipant, authn.KindDevice: store.SessionsOfDevice}

func (s *Service) postOwnSession(ctx context.Context, b *corev1.OwnSessionBody) (*corev1.Session, error) {
	w, uuids, err := ownSessionWrite(b)
	if err != nil {
		return nil, err
	}
	c, m := authn.FromContext(ctx), caller(ctx)
	me := int32(c.ID)
	// The creator is always the caller (OpenTera: "avoid identity theft").
	if c.Kind == authn.KindParticipant {
		w.CreatorParticipant = &me
	} else {
		w.CreatorDevice = &me
	}
	id := b.GetIdSession()
	var out store.Session
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if ok, err := m.acc.Can(ctx, tx, access.SessionTypes, b.GetIdSessionType()); err != nil || !ok {
			return errOr(err, apierr.Forbidden("No access to session type"))
		}
		var parts []int32
		if id == 0 {
			var err error
			if id, parts, err = s.findOwnSession(ctx, tx, m, &w, uuids); err != nil {
				return err
			}
		} else if ok, err := store.OwnsSession(ctx, tx, m.acc, id); err != nil || !ok {
			return errOr(err, apierr.Forbidden("Unauthorized"))
		}
		var err error
		if id > 0 {
			// Invitees are left as they are on an update, as OpenTera.
			err = store.UpdateSession(ctx, tx, id, w)
		} else if id, err = store.InsertSession(ctx, tx, w); err == nil && len(parts) > 0 {
			err = store.ReplaceLinks(ctx, tx, store.SessionParticipants, id, parts)
		}
		if err != nil {
			return err
		}
		rows, err := store.ListSessions(ctx, tx, m.acc, ownSessionsOf[c.Kind], me, store.SessionFilter{ID: &id, Full: true})
		if err == nil && len(rows) == 0 {
			err = store.ErrNotFound
		}
		if err == nil {
			out = rows[0]
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return sessionProto(out, true, false), nil
}

// findOwnSession resolves a new session's participants (uuids the caller sees) and applies
// OpenTera's deduplication: an own session with the same name, type, start day and participant
// set is updated instead, keeping its start. id is 0 when there is none.
func (s *Service) findOwnSession(ctx context.Context, tx pgx.Tx, m me, w *store.SessionWrite, uuids []string) (int32, []int32, error) {
	if w.Start == nil {
		return 0, nil, apierr.MissingArgument("Missing argument 'session_start_datetime'")
	}
	if uuids == nil {
		return 0, nil, apierr.MissingArgument("Missing session participants")
	}
	// Safer than OpenTera, which links any participant by uuid: one the caller does not see is
	// refused like an unknown one.
	parts, ok, err := store.VisibleParticipantIDs(ctx, tx, m.acc, uuids)
	if err != nil || !ok {
		return 0, nil, errOr(err, apierr.InvalidArgument("Invalid participant uuid"))
	}
	id, err := store.FindOwnSession(ctx, tx, m.acc, *w.Name, *w.IDSessionType, *w.Start, parts)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, parts, nil
	case err != nil:
		return 0, nil, err
	}
	w.Start = nil
	return id, nil, nil
}

// ownSessionWrite validates a posted session in OpenTera's order and returns its columns and
// the uuids of its participants (nil when absent).
func ownSessionWrite(b *corev1.OwnSessionBody) (store.SessionWrite, []string, error) {
	switch {
	case b == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing session")
	case b.IdSession == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing id_session value")
	case b.IdSessionType == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing id_session_type value")
	case b.GetIdSession() < 0:
		return store.SessionWrite{}, nil, apierr.InvalidArgument("Invalid id_session")
	case b.GetIdSession() == 0 && b.SessionParticipants == nil && b.SessionUsers == nil && b.SessionDevices == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing session participants and/or users and/or devices")
	case b.GetIdSession() == 0 && b.SessionName == nil:
		return store.SessionWrite{}, nil, apierr.MissingArgument("Missing argument 'session name'")
	}
	w, err := sessionWrite(&corev1.SessionBody{IdSession: b.IdSession, IdSessionType: b.IdSessionType, SessionName: b.SessionName,
		SessionStartDatetime: b.SessionStartDatetime, SessionDuration: b.SessionDuration, SessionStatus: b.SessionStatus,
		SessionComments: b.SessionComments, SessionParameters: b.SessionParameters})
	if err != nil {
		return w, nil, err
	}
	uuids, err := stringList(b.SessionParticipants, "session_participants")
	return w, uuids, err
}

// stringList reads a JSON list of strings (nil when absent).
func stringList(l *structpb.ListValue, field string) ([]string, error) {
	if l == nil {
		return nil, nil
	}
	out := []string{}
	for _, v := range l.GetValues() {
		str, ok := v.GetKind().(*structpb.Value_StringValue)
		if !ok {
			return nil, apierr.InvalidArgument("Invalid " + field + ": a list of uuids")
		}
		out = append(out, str.StringValue)
	}
	return out, nil
}
