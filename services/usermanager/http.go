package usermanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/pyjson"
)

// HTTPRoutes implements server.HTTPService: the endpoints of ARCHITECTURE §2 that read or
// change presence. They are public to the server: each authenticates its own caller
// (pkg/authn), like login's.
func (s *Service) HTTPRoutes() []server.Route {
	public := &optionsv1.Access{Public: true}
	get := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h}
	}
	return []server.Route{
		{Path: "/api/user/users/online", Methods: get(s.userOnly(s.onlineUsers)), Access: public},
		{Path: "/api/user/participants/online", Methods: get(s.userOnly(s.onlineParticipants)), Access: public},
		{Path: "/api/user/devices/online", Methods: get(s.userOnly(s.onlineDevices)), Access: public},
		{Path: "/api/user/disconnect", Methods: get(s.userOnly(s.disconnectPrincipal)), Access: public},
		{Path: "/api/service/disconnect", Methods: get(s.only(authn.KindService, s.disconnectPrincipal)), Access: public},
		{Path: "/api/device/status", Methods: map[string]http.HandlerFunc{http.MethodPost: s.deviceStatus}, Access: public},
	}
}

// unauthorized is OpenTera's 401 (Flask-HTTPAuth): text/html "Unauthorized".
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("Unauthorized"))
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "path", r.URL.Path, "err", err)
	server.WriteJSON(w, http.StatusInternalServerError, "Internal Server Error")
}

func (s *Service) caller(r *http.Request, kind authn.Kind) (*authn.Caller, error) {
	if s.o.Verifier == nil {
		return nil, &authn.Error{Reason: authn.ReasonInvalidToken}
	}
	c, _, err := s.o.Verifier.Verify(r.Context(), authn.CredentialsFromRequest(r), false)
	if err == nil && (c == nil || c.Kind != kind) {
		err = &authn.Error{Reason: authn.ReasonInvalidToken}
	}
	return c, err
}

func (s *Service) userOnly(h func(http.ResponseWriter, *http.Request, *authn.Caller)) http.HandlerFunc {
	return s.only(authn.KindUser, h)
}

// only admits one kind of principal; the others are 401, as OpenTera's per-API decorators.
func (s *Service) only(kind authn.Kind, h func(http.ResponseWriter, *http.Request, *authn.Caller)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.caller(r, kind)
		if err != nil {
			var ae *authn.Error
			if !errors.As(err, &ae) {
				s.internal(w, r, err)
				return
			}
			unauthorized(w)
			return
		}
		h(w, r, c)
	}
}

func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	return v == "true" || v == "1" || v == "on" || v == "yes"
}

// uuidsOf lists the keys of a set, for an SQL array.
func uuidsOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// status is who of kind is online, and who of those is busy (with the session).
func (s *Service) status(ctx context.Context, kind string) (online map[string]bool, busy map[string]string, err error) {
	if online, err = s.store.Online(ctx, kind); err != nil {
		return nil, nil, err
	}
	if busy, err = s.store.Busy(ctx, kind); err != nil {
		return nil, nil, err
	}
	return online, busy, nil
}

// onlineRows are the rows of the online principals of kind that query reads (its SQL keeps
// those the caller may see), each mapped by row knowing who is busy.
func onlineRows[T any](ctx context.Context, s *Service, kind string, query func(uuids []string) (pgx.Rows, error),
	row func(r pgx.CollectableRow, busy map[string]string) (T, error)) ([]T, error) {
	online, busy, err := s.status(ctx, kind)
	if err != nil {
		return nil, err
	}
	rows, err := query(uuidsOf(online))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return row(r, busy) })
}

// onlineUsers is GET /api/user/users/online: the accessible users online, minimal JSON
// (UserQueryOnlineUsers), by first name.
func (s *Service) onlineUsers(w http.ResponseWriter, r *http.Request, c *authn.Caller) {
	ctx := r.Context()
	f := access.For(access.FromAuthn(c)).Users()
	type user struct {
		ID         int32  `json:"id_user"`
		UUID       string `json:"user_uuid"`
		Enabled    bool   `json:"user_enabled"`
		Firstname  string `json:"user_firstname"`
		Lastname   string `json:"user_lastname"`
		Superadmin bool   `json:"user_superadmin"`
		TwoFA      bool   `json:"user_2fa_enabled"`
		Name       string `json:"user_name"`
		Online     bool   `json:"user_online"`
		Busy       bool   `json:"user_busy"`
	}
	out, err := onlineRows(ctx, s, presence.User, func(uuids []string) (pgx.Rows, error) {
		return s.o.DB.Query(ctx, `SELECT id_user, user_uuid, user_enabled, user_firstname, user_lastname, user_superadmin, user_2fa_enabled
			FROM core.t_users WHERE user_uuid = ANY(@uuids) AND deleted_at IS NULL
			AND (id_user IN (`+f.SQL+`) OR id_user = @me) ORDER BY user_firstname, id_user`,
			f.With(map[string]any{"uuids": uuids, "me": c.ID}))
	}, func(row pgx.CollectableRow, busy map[string]string) (user, error) {
		var u user
		err := row.Scan(&u.ID, &u.UUID, &u.Enabled, &u.Firstname, &u.Lastname, &u.Superadmin, &u.TwoFA)
		u.Name, u.Online = u.Firstname+" "+u.Lastname, true
		_, u.Busy = busy[u.UUID]
		return u, err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// onlineParticipants is GET /api/user/participants/online[?with_projects][&with_sites].
func (s *Service) onlineParticipants(w http.ResponseWriter, r *http.Request, c *authn.Caller) {
	ctx := r.Context()
	withProjects, withSites := boolParam(r, "with_projects"), boolParam(r, "with_sites")
	f := access.For(access.FromAuthn(c)).Participants()
	out, err := onlineRows(ctx, s, presence.Participant, func(uuids []string) (pgx.Rows, error) {
		return s.o.DB.Query(ctx, `SELECT p.id_participant, p.participant_uuid, p.participant_name, p.participant_email,
			p.participant_token_enabled, p.participant_enabled, p.id_participant_group, p.id_project, pr.project_name, pr.id_site, st.site_name
			FROM core.t_participants p JOIN core.t_projects pr ON pr.id_project = p.id_project JOIN core.t_sites st ON st.id_site = pr.id_site
			WHERE p.participant_uuid = ANY(@uuids) AND p.deleted_at IS NULL AND p.id_participant IN (`+f.SQL+`)
			ORDER BY p.participant_name, p.id_participant`, f.With(map[string]any{"uuids": uuids}))
	}, func(row pgx.CollectableRow, busy map[string]string) (map[string]any, error) {
		var id, project, site int32
		var group *int32
		var uuid, name, projectName, siteName string
		var email *string
		var tokenEnabled, enabled bool
		if err := row.Scan(&id, &uuid, &name, &email, &tokenEnabled, &enabled, &group, &project, &projectName, &site, &siteName); err != nil {
			return nil, err
		}
		_, isBusy := busy[uuid]
		p := map[string]any{"id_participant": id, "participant_uuid": uuid, "participant_name": name, "participant_email": email,
			"participant_token_enabled": tokenEnabled, "participant_enabled": enabled, "id_participant_group": group,
			"id_project": project, "participant_online": true, "participant_busy": isBusy}
		if withProjects {
			p["project_name"] = projectName
		}
		if withSites {
			p["id_site"], p["site_name"] = site, siteName
		}
		return p, nil
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// onlineDevices is GET /api/user/devices/online; device_status is OpenTera's whole status
// record {online, busy, status}.
func (s *Service) onlineDevices(w http.ResponseWriter, r *http.Request, c *authn.Caller) {
	ctx := r.Context()
	f := access.For(access.FromAuthn(c)).Devices()
	type device struct {
		ID      int32  `json:"id_device"`
		UUID    string `json:"device_uuid"`
		Name    string `json:"device_name"`
		Type    int32  `json:"id_device_type"`
		Subtype *int32 `json:"id_device_subtype"`
		Enabled bool   `json:"device_enabled"`
		Online  bool   `json:"device_online"`
		Busy    bool   `json:"device_busy"`
		Status  struct {
			Online bool            `json:"online"`
			Busy   bool            `json:"busy"`
			Status json.RawMessage `json:"status"`
		} `json:"device_status"`
	}
	out, err := onlineRows(ctx, s, presence.Device, func(uuids []string) (pgx.Rows, error) {
		return s.o.DB.Query(ctx, `SELECT id_device, device_uuid, device_name, id_device_type, id_device_subtype, device_enabled
			FROM core.t_devices WHERE device_uuid = ANY(@uuids) AND deleted_at IS NULL AND id_device IN (`+f.SQL+`)
			ORDER BY device_name, id_device`, f.With(map[string]any{"uuids": uuids}))
	}, func(row pgx.CollectableRow, busy map[string]string) (device, error) {
		var d device
		err := row.Scan(&d.ID, &d.UUID, &d.Name, &d.Type, &d.Subtype, &d.Enabled)
		_, d.Busy = busy[d.UUID]
		d.Online = true
		d.Status.Online, d.Status.Busy, d.Status.Status = true, d.Busy, json.RawMessage("null")
		return d, err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for i := range out {
		st, err := s.store.DeviceStatusOf(ctx, out[i].UUID)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if st != nil {
			out[i].Status.Status = st
		}
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// disconnectPrincipal is GET /api/user/disconnect?id_user|user_uuid|id_participant|
// participant_uuid|id_device|device_uuid (UserQueryDisconnect): admins of the principal only;
// the caller uses logout for itself. /api/service/disconnect (ServiceQueryDisconnect) is the
// same for a service, over what its projects give it.
func (s *Service) disconnectPrincipal(w http.ResponseWriter, r *http.Request, c *authn.Caller) {
	ctx := r.Context()
	q := r.URL.Query()
	type sel struct{ param, kind, table, idCol, uuidCol string }
	var chosen *sel
	var value string
	for _, p := range []sel{
		{"id_user", presence.User, "core.t_users", "id_user", "user_uuid"},
		{"user_uuid", presence.User, "core.t_users", "id_user", "user_uuid"},
		{"id_participant", presence.Participant, "core.t_participants", "id_participant", "participant_uuid"},
		{"participant_uuid", presence.Participant, "core.t_participants", "id_participant", "participant_uuid"},
		{"id_device", presence.Device, "core.t_devices", "id_device", "device_uuid"},
		{"device_uuid", presence.Device, "core.t_devices", "id_device", "device_uuid"},
	} {
		if v := q.Get(p.param); v != "" {
			if strings.HasPrefix(p.param, "id_") {
				if _, err := strconv.ParseInt(v, 10, 32); err != nil {
					server.WriteJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]string{p.param: fmt.Sprintf("invalid literal for int() with base 10: '%s'", v)},
						"message": "Input payload validation failed"})
					return
				}
				if v == "0" {
					continue // OpenTera's `if args['id_user']` skips 0
				}
			}
			chosen, value = &p, v
			break
		}
	}
	if chosen == nil {
		server.WriteJSON(w, http.StatusBadRequest, "Invalid request")
		return
	}
	sc := access.For(access.FromAuthn(c)).AdminOnly() // a service's scope ignores admin_only
	var f access.Fragment
	switch chosen.kind {
	case presence.User:
		f = sc.Users()
	case presence.Participant:
		f = sc.Participants()
	default:
		f = sc.Devices()
	}
	col := chosen.uuidCol
	if chosen.param == chosen.idCol {
		col = chosen.idCol + "::text"
	}
	var uuid string
	err := s.o.DB.QueryRow(ctx, `SELECT `+chosen.uuidCol+` FROM `+chosen.table+` WHERE `+col+` = @v AND deleted_at IS NULL
		AND `+chosen.idCol+` IN (`+f.SQL+`)`, f.With(map[string]any{"v": value})).Scan(&uuid)
	if errors.Is(err, pgx.ErrNoRows) {
		server.WriteJSON(w, http.StatusForbidden, "Forbidden")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if chosen.kind == presence.User && c.Kind == authn.KindUser && uuid == c.UUID {
		server.WriteJSON(w, http.StatusBadRequest, "Use Logout instead to disconnect current user")
		return
	}
	if err := presence.Disconnect(s.o.NATS, chosen.kind, uuid, "usermanager"); err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, "Success")
}

// deviceStatus is POST /api/device/status {status, timestamp} (DeviceQueryStatus): refused for
// a device that is not onlineable or not online; emits DEVICE_STATUS_CHANGED.
func (s *Service) deviceStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.caller(r, authn.KindDevice)
	if err != nil {
		var ae *authn.Error
		if !errors.As(err, &ae) {
			s.internal(w, r, err)
			return
		}
		unauthorized(w)
		return
	}
	var name string
	var onlineable bool
	err = s.o.DB.QueryRow(ctx, `SELECT device_name, device_onlineable FROM core.t_devices WHERE id_device = $1`, c.ID).Scan(&name, &onlineable)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !onlineable {
		server.WriteJSON(w, http.StatusForbidden, "Device is not onlineable")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || req["status"] == nil || req["timestamp"] == nil {
		server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	status, err := pyjson.Dumps(req["status"]) // json.dumps(request.json['status'])
	if err != nil {
		server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	timestamp, err := pyjson.Dumps(req["timestamp"])
	if err != nil {
		server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	ok, err := s.updateDeviceStatus(ctx, c.UUID, name, status, timestamp)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if !ok {
		server.WriteJSON(w, http.StatusForbidden, "Status update forbidden on offline device.")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, "{\"uuid\": %s, \"status\": %s, \"timestamp\": %s}\n", pyjson.Quote(c.UUID), pyjson.Quote(status), timestamp)
}

// updateDeviceStatus records {status, timestamp} for an online device and emits
// DEVICE_STATUS_CHANGED with it (UserManagerModule.update_device_status_rpc_callback); false
// when the device is offline.
func (s *Service) updateDeviceStatus(ctx context.Context, uuid, name, status, timestamp string) (bool, error) {
	online, err := s.store.IsOnline(ctx, presence.Device, uuid)
	if err != nil || !online {
		return false, err
	}
	record := `{"status": ` + pyjson.Quote(status) + `, "timestamp": ` + timestamp + `}`
	kv, err := s.store.Presence(ctx)
	if err != nil {
		return false, err
	}
	if _, err := kv.Put(ctx, "status."+uuid, []byte(record)); err != nil {
		return false, fmt.Errorf("record device status: %w", err)
	}
	return true, presence.Publish(s.o.NATS, presence.Device, uuid, &eventsv1.DeviceEvent{DeviceUuid: uuid,
		Type: eventsv1.DeviceEvent_DEVICE_STATUS_CHANGED, DeviceName: name, DeviceStatus: record})
}
