package login

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/presence"
)

// participantLogin is GET /api/participant/login: Basic (login enabled) or a token (dynamic:
// role full; static: limited).
func (s *Service) participantLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cr := authn.CredentialsFromRequest(r)
	var c *authn.Caller
	var p *authn.Principal
	var err error
	if user, pass, ok := r.BasicAuth(); ok {
		c, p, err = s.v.VerifyPassword(ctx, authn.KindParticipant, user, pass)
	} else {
		c, p, err = s.v.Verify(ctx, cr, true)
		if err == nil && (c == nil || c.Kind != authn.KindParticipant) {
			err = &authn.Error{Reason: authn.ReasonInvalidToken}
		}
	}
	typ := typeToken
	if cr.Authorization != "" && strings.HasPrefix(strings.ToLower(cr.Authorization), "basic ") {
		typ = typePassword
	}
	if err != nil {
		s.authFailure(w, r, typ, authn.KindParticipant, err)
		return
	}
	server.NoteCaller(r.Context(), c)
	types, err := s.sessionTypesOfParticipant(ctx, p.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	reply := obj{{"participant_name", p.Name}, {"participant_uuid", p.UUID}}
	var dynamic string
	if c.Full {
		if dynamic, err = s.signer.ParticipantToken(p.ID, p.UUID, p.Name, authn.ParticipantTokenLifetime); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	// OpenTera gives a websocket URL to every participant not online yet, asked for or not;
	// one already online gets none, or a 403 when it asked for one.
	online, err := s.isOnline(ctx, presence.Participant, p.UUID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	switch {
	case !online:
		key, err := s.state.NewConnectKey(ctx, authn.ConnectTarget{Kind: authn.KindParticipant, UUID: p.UUID})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		reply = append(reply, kv{"websocket_url", s.websocketURL("participant", key)})
	case boolParam(r, "with_websocket"):
		s.event(r, typ, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_ALREADY_LOGGED_IN, authn.KindParticipant, p.UUID, "participant already logged in")
		server.WriteJSON(w, http.StatusForbidden, "Participant already logged in.")
		return
	}
	reply = append(reply, kv{"session_types_info", types})
	var base any
	if p.StaticToken != "" {
		base = p.StaticToken
	}
	reply = append(reply, kv{"base_token", base})
	if c.Full {
		reply = append(reply, kv{"participant_token", dynamic})
	}
	if _, err := s.db.Exec(ctx, `UPDATE core.t_participants SET participant_lastonline = now() WHERE id_participant = $1`, p.ID); err != nil {
		s.internal(w, r, err)
		return
	}
	s.event(r, typ, statusOf(nil), authn.KindParticipant, p.UUID, "participant logged in")
	server.WriteJSON(w, http.StatusOK, reply)
}

func (s *Service) sessionTypesOfParticipant(ctx context.Context, idParticipant int64) ([]obj, error) {
	return s.sessionTypes(ctx, `SELECT DISTINCT st.id_service, st.id_session_type, st.session_type_category, st.session_type_color, st.session_type_name
		FROM core.t_participants p
		JOIN core.t_sessions_types_projects stp ON stp.id_project = p.id_project AND stp.deleted_at IS NULL
		JOIN core.t_sessions_types st ON st.id_session_type = stp.id_session_type AND st.deleted_at IS NULL
		WHERE p.id_participant = $1 ORDER BY st.id_session_type`, idParticipant)
}

func (s *Service) sessionTypes(ctx context.Context, q string, arg int64) ([]obj, error) {
	rows, err := s.db.Query(ctx, q, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []obj{}
	for rows.Next() {
		var idService *int32
		var id, cat int32
		var color, name string
		if err := rows.Scan(&idService, &id, &cat, &color, &name); err != nil {
			return nil, err
		}
		out = append(out, obj{{"id_service", idService}, {"id_session_type", id}, {"session_type_category", cat},
			{"session_type_color", color}, {"session_type_name", name}})
	}
	return out, rows.Err()
}

// participantLogout is GET /api/participant/logout: a dynamic token is revoked (a static token
// never is).
func (s *Service) participantLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _, ok := s.verifyAs(w, r, authn.CredentialsFromRequest(r), typeToken, authn.KindParticipant, true)
	if !ok {
		return
	}
	if c.Method == authn.MethodToken {
		if err := s.state.Revoke(ctx, c.TokenID, c.TokenExpires); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	s.disconnect(authn.KindParticipant, c.UUID)
	server.WriteJSON(w, http.StatusOK, "Participant logged out.")
}

// participantRefresh is GET /api/participant/refresh_token (dynamic token only).
func (s *Service) participantRefresh(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cr := authn.CredentialsFromRequest(r)
	c, p, ok := s.verifyAs(w, r, cr, typeToken, authn.KindParticipant, false)
	if !ok {
		return
	}
	if c.Method != authn.MethodToken {
		server.WriteJSON(w, http.StatusForbidden, "Forbidden")
		return
	}
	token, err := s.signer.ParticipantToken(p.ID, p.UUID, p.Name, authn.ParticipantRefreshLife)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if err := s.state.Revoke(ctx, c.TokenID, c.TokenExpires); err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, obj{{"refresh_token", token}})
}

// deviceLogin is GET /api/device/login: static token (header or ?token=) or a client
// certificate forwarded by a trusted proxy.
func (s *Service) deviceLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cr := authn.CredentialsFromRequest(r)
	typ := typeToken
	if cr.Authorization == "" && cr.Token == "" && cr.ClientCert != "" {
		typ = typeCertificate
	}
	c, _, ok := s.verifyAs(w, r, cr, typ, authn.KindDevice, true)
	if !ok {
		return
	}
	var info obj
	var onlineable bool
	{
		var (
			id, idType                           int32
			idSubtype                            *int32
			name, uid, typeName                  string
			subName, token, config, infos, notes *string
			enabled                              bool
			lastOnline                           *string
		)
		err := s.db.QueryRow(ctx, `SELECT d.id_device, d.device_uuid, d.device_name, d.id_device_type, d.id_device_subtype,
			d.device_token, d.device_enabled, d.device_onlineable, d.device_config, d.device_infos, d.device_notes,
			to_char(d.device_lastonline AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
			t.device_type_name, st.device_subtype_name
			FROM core.t_devices d JOIN core.t_devices_types t ON t.id_device_type = d.id_device_type
			LEFT JOIN core.t_devices_subtypes st ON st.id_device_subtype = d.id_device_subtype
			WHERE d.id_device = $1`, c.ID).Scan(&id, &uid, &name, &idType, &idSubtype, &token, &enabled, &onlineable, &config, &infos, &notes,
			&lastOnline, &typeName, &subName)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		info = obj{{"id_device", id}, {"device_uuid", uid}, {"device_name", name}, {"id_device_type", idType}, {"id_device_subtype", idSubtype},
			{"device_token", token}, {"device_enabled", enabled}, {"device_onlineable", onlineable}, {"device_config", config},
			{"device_infos", infos}, {"device_notes", notes}, {"device_lastonline", lastOnline}, {"device_type", typeName}, {"device_subtype", subName}}
	}
	if onlineable {
		// An onlineable device has one websocket: OpenTera refuses every login while it is online.
		if online, err := s.isOnline(ctx, presence.Device, c.UUID); err != nil {
			s.internal(w, r, err)
			return
		} else if online {
			s.event(r, loginTypeOf(c.Method), eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_ALREADY_LOGGED_IN, authn.KindDevice, c.UUID, "device already logged in")
			server.WriteJSON(w, http.StatusForbidden, "Device already logged in.")
			return
		}
	}
	participants := []obj{}
	rows, err := s.db.Query(ctx, `SELECT p.participant_name, p.participant_uuid FROM core.t_devices_participants dp
		JOIN core.t_participants p ON p.id_participant = dp.id_participant AND p.deleted_at IS NULL
		WHERE dp.id_device = $1 AND dp.deleted_at IS NULL ORDER BY p.id_participant`, c.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for rows.Next() {
		var n, u string
		if err := rows.Scan(&n, &u); err != nil {
			rows.Close()
			s.internal(w, r, err)
			return
		}
		participants = append(participants, obj{{"participant_name", n}, {"participant_uuid", u}})
	}
	rows.Close()
	types, err := s.sessionTypes(ctx, `SELECT DISTINCT st.id_service, st.id_session_type, st.session_type_category, st.session_type_color, st.session_type_name
		FROM core.t_devices_projects dp
		JOIN core.t_sessions_types_projects stp ON stp.id_project = dp.id_project AND stp.deleted_at IS NULL
		JOIN core.t_sessions_types st ON st.id_session_type = stp.id_session_type AND st.deleted_at IS NULL
		WHERE dp.id_device = $1 AND dp.deleted_at IS NULL ORDER BY st.id_session_type`, c.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	reply := obj{{"device_info", info}, {"participants_info", participants}, {"session_types_info", types}}
	if onlineable {
		key, err := s.state.NewConnectKey(ctx, authn.ConnectTarget{Kind: authn.KindDevice, UUID: c.UUID})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		reply = append(reply, kv{"websocket_url", s.websocketURL("device", key)})
	}
	if _, err := s.db.Exec(ctx, `UPDATE core.t_devices SET device_lastonline = now() WHERE id_device = $1`, c.ID); err != nil {
		s.internal(w, r, err)
		return
	}
	s.event(r, loginTypeOf(c.Method), statusOf(nil), authn.KindDevice, c.UUID, "device logged in")
	server.WriteJSON(w, http.StatusOK, reply)
}

// deviceLogout is GET /api/device/logout: closes the device's websocket.
func (s *Service) deviceLogout(w http.ResponseWriter, r *http.Request) {
	c, _, ok := s.verifyAs(w, r, authn.CredentialsFromRequest(r), typeToken, authn.KindDevice, true)
	if !ok {
		return
	}
	s.disconnect(authn.KindDevice, c.UUID)
	server.WriteJSON(w, http.StatusOK, "Device logged out.")
}

// deviceRegister is GET|POST /api/device/register?key=&name=&type_key=&subtype_name=&onlineable=
// (no authentication but the site's register key; 1 request/s). POST carries a PEM CSR
// (application/octet-stream) that the device CA signs. The new device is disabled until an
// administrator enables it.
func (s *Service) deviceRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.register.Allow() {
		server.WriteJSON(w, http.StatusTooManyRequests, "Too many requests")
		return
	}
	// OpenTera's strict parser runs first: unknown or missing arguments are a 400 before the
	// key is compared.
	if !strictQuery(w, r, "key", "name", "type_key", "subtype_name", "onlineable") {
		return
	}
	q := r.URL.Query()
	name, typeKey, subName := q.Get("name"), q.Get("type_key"), q.Get("subtype_name")
	if q.Get("key") == "" || name == "" || typeKey == "" {
		server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	key, err := s.setting(ctx, "DeviceRegisterKey")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if key == "" || q.Get("key") != key {
		server.WriteJSON(w, http.StatusUnauthorized, "Invalid registration key")
		return
	}
	var csr []byte
	if r.Method == http.MethodPost {
		if s.ca == nil {
			// A deployment without a device CA (auth.device_ca_dir) cannot sign: the server's
			// configuration, not the request, is at fault.
			server.WriteJSON(w, http.StatusServiceUnavailable, "Certificate registration is not configured on this server (auth.device_ca_dir)")
			return
		}
		if csr, err = io.ReadAll(io.LimitReader(r.Body, 64<<10)); err != nil || len(csr) == 0 {
			server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
			return
		}
	}
	onlineable := boolParam(r, "onlineable")
	devUUID := uuid.NewString()
	var certPEM string
	if csr != nil {
		if certPEM, err = s.ca.sign(csr, devUUID, name); err != nil {
			server.WriteJSON(w, http.StatusBadRequest, "Invalid certificate request")
			return
		}
	}
	var token string
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var idType int32
		if err := tx.QueryRow(ctx, `INSERT INTO core.t_devices_types (device_type_name, device_type_key) VALUES ($1, $1)
			ON CONFLICT (device_type_key) DO UPDATE SET device_type_key = EXCLUDED.device_type_key RETURNING id_device_type`, typeKey).Scan(&idType); err != nil {
			return err
		}
		var idSub *int32
		if subName != "" {
			var id int32
			err := tx.QueryRow(ctx, `SELECT id_device_subtype FROM core.t_devices_subtypes WHERE id_device_type = $1 AND device_subtype_name = $2`, idType, subName).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				err = tx.QueryRow(ctx, `INSERT INTO core.t_devices_subtypes (id_device_type, device_subtype_name) VALUES ($1, $2) RETURNING id_device_subtype`, idType, subName).Scan(&id)
			}
			if err != nil {
				return err
			}
			idSub = &id
		}
		var cert *string
		if certPEM != "" {
			cert = &certPEM
		}
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO core.t_devices (device_uuid, device_name, id_device_type, id_device_subtype, device_enabled,
			device_onlineable, device_certificate) VALUES ($1, $2, $3, $4, false, $5, $6) RETURNING id_device`,
			devUUID, name, idType, idSub, onlineable, cert).Scan(&id); err != nil {
			return err
		}
		var err error
		if token, err = s.signer.DeviceStaticToken(id, devUUID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE core.t_devices SET device_token = $2 WHERE id_device = $1`, id, token)
		return err
	})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	reply := obj{{"device_name", name}, {"device_uuid", devUUID}, {"device_enabled", false}, {"device_token", token}}
	if certPEM != "" {
		reply = append(reply, kv{"device_certificate", certPEM}, kv{"ca_info", s.ca.certPEM})
	}
	s.log.Info("device registered", "device_uuid", devUUID, "certificate", certPEM != "")
	server.WriteJSON(w, http.StatusOK, reply)
}

// authCode is the server side of a service SSO code (OpenTera's service_auth_code_<code>).
type authCode struct {
	ServiceUUID string          `json:"service_uuid"`
	EndpointURL string          `json:"endpoint_url"`
	UserData    json.RawMessage `json:"user_data,omitempty"`
}

// serviceAuthCode is GET /api/service/auth/code?endpoint_url= (service token): a code the
// service sends the browser to /login?auth_code= with; after the login the service reads the
// user's data from the tera_service_auth_codes bucket.
func (s *Service) serviceAuthCode(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _, ok := s.verifyAs(w, r, authn.CredentialsFromRequest(r), typeToken, authn.KindService, false)
	if !ok {
		return
	}
	endpoint := r.URL.Query().Get("endpoint_url")
	if endpoint == "" {
		server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	code := authn.RandomHex(16)
	b, _ := json.Marshal(authCode{ServiceUUID: c.UUID, EndpointURL: endpoint})
	if _, err := s.state.AuthCodes.Create(ctx, code, b); err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, obj{{"auth_code", code}})
}

// completeAuthCode stores the logged-in user's data under the code and returns where the
// browser goes next: <service clientendpoint>/<endpoint_url>/?auth_code=<code>.
func (s *Service) completeAuthCode(ctx context.Context, code string, userData obj) (string, error) {
	e, err := s.state.AuthCodes.Get(ctx, code)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var ac authCode
	if err := json.Unmarshal(e.Value(), &ac); err != nil {
		return "", nil
	}
	var clientEndpoint string
	err = s.db.QueryRow(ctx, `SELECT service_clientendpoint FROM core.t_services WHERE service_uuid = $1 AND deleted_at IS NULL AND service_enabled`,
		ac.ServiceUUID).Scan(&clientEndpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	ac.UserData, _ = json.Marshal(userData)
	b, _ := json.Marshal(ac)
	if _, err := s.state.AuthCodes.Update(ctx, code, b, e.Revision()); err != nil {
		return "", err
	}
	return strings.TrimSuffix(clientEndpoint, "/") + "/" + strings.Trim(ac.EndpointURL, "/") + "/?auth_code=" + code, nil
}
