package login

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/seed"
	"github.com/tera-health/tera/services/internal/store"
)

// userLogin is GET /api/user/login: HTTP Basic only (a token is refused with 401). The query is
// parsed strictly, as OpenTera's parse_args(strict=True), once the credentials are checked.
func (s *Service) userLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user, pass, ok := r.BasicAuth()
	if !ok {
		s.event(r, typeToken, statusOf(&authn.Error{Reason: authn.ReasonInvalidToken}), authn.KindUser, "", "user login without basic credentials")
		unauthorized(w)
		return
	}
	_, p, err := s.v.VerifyPassword(ctx, authn.KindUser, user, pass)
	if err != nil {
		s.authFailure(w, r, typePassword, authn.KindUser, err)
		return
	}
	if !strictQuery(w, r, "with_websocket") {
		return
	}
	s.userNextStep(w, r, p, "", nil, boolParam(r, "with_websocket"))
}

// strictQuery answers 400 (Flask-RESTX's message) for a query parameter the endpoint does not
// parse, and reports whether the request may go on.
func strictQuery(w http.ResponseWriter, r *http.Request, known ...string) bool {
	var unknown []string
	for k := range r.URL.Query() {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return true
	}
	slices.Sort(unknown)
	server.WriteJSON(w, http.StatusBadRequest, obj{{"message", "Unknown arguments: " + strings.Join(unknown, ", ")}})
	return false
}

// verifyAs verifies the request's credentials as a principal of kind (loginEndpoint as
// authn.Verifier.Verify takes it) and notes the caller; on a refusal it has answered, as
// authFailure does for typ.
func (s *Service) verifyAs(w http.ResponseWriter, r *http.Request, cr authn.Credentials, typ loginType, kind authn.Kind, loginEndpoint bool) (*authn.Caller, *authn.Principal, bool) {
	c, p, err := s.v.Verify(r.Context(), cr, loginEndpoint)
	if err == nil && (c == nil || c.Kind != kind) {
		err = &authn.Error{Reason: authn.ReasonInvalidToken}
	}
	if err != nil {
		s.authFailure(w, r, typ, kind, err)
		return nil, nil, false
	}
	server.NoteCaller(r.Context(), c)
	return c, p, true
}

// authFailure answers a failed authentication: 401, or 503 when PostgreSQL or NATS could not
// say who the caller is (as every other target answers then, see authn.Verifier.Authenticate).
func (s *Service) authFailure(w http.ResponseWriter, r *http.Request, typ loginType, kind authn.Kind, err error) {
	var ae *authn.Error
	if !errors.As(err, &ae) {
		if unreachable(err) {
			s.internal(w, r, err)
			return
		}
		s.log.Error("authentication failed on our side", "path", r.URL.Path, "err", err)
		server.WriteJSON(w, http.StatusServiceUnavailable, "Service temporarily unavailable")
		return
	}
	s.failed(r, typ, kind, err)
	unauthorized(w)
}

// userNextStep continues a user's login once the password (or OTP) is verified: the client
// version gate, then forced password change, 2FA setup, 2FA validation, or the token. The
// login session (the cookie) stays open after every step, as OpenTera's login_user does, so
// the two-step endpoints answer for what the user is, not for a missing session.
func (s *Service) userNextStep(w http.ResponseWriter, r *http.Request, p *authn.Principal, sessionID string, ls *loginSession, withWS bool) {
	ctx := r.Context()
	server.NoteCaller(ctx, &authn.Caller{Kind: authn.KindUser, ID: p.ID})
	if ls == nil {
		ls = &loginSession{UserUUID: p.UUID}
	}
	versionInfo, blocked, err := s.versionGate(ctx, r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if blocked != nil {
		if sessionID != "" {
			s.endSession(ctx, w, sessionID)
		}
		server.WriteJSON(w, http.StatusUpgradeRequired, blocked)
		return
	}
	var reason, redirect, message string
	switch {
	case p.ForcePasswordChange:
		ls.Stage, reason, redirect, message = stagePasswordChange, "password_change", "/login_change_password", "Password change required for this user."
	case p.TwoFA && (!p.TwoFAOTP || p.OTPSecret == ""):
		ls.Stage, reason, redirect, message = stage2FASetup, "2fa_setup", "/login_setup_2fa", "2FA enabled but OTP not set for this user.Please setup 2FA."
	case p.TwoFA && ls.Stage != stage2FADone:
		ls.Stage, reason, redirect, message = stage2FA, "2fa", "/login_validate_2fa", "2FA required for this user."
	}
	if reason != "" {
		if _, err := s.saveSession(ctx, w, r, sessionID, ls); err != nil {
			s.internal(w, r, err)
			return
		}
		server.WriteJSON(w, http.StatusOK, append(versionInfo, kv{"message", message}, kv{"reason", reason}, kv{"redirect_url", redirect}))
		return
	}
	reply, err := s.userTokenReply(ctx, r, p, withWS, ls.AuthCode, versionInfo)
	if errors.Is(err, errAlreadyLoggedIn) {
		s.event(r, typePassword, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_ALREADY_LOGGED_IN, authn.KindUser, p.UUID, "user already logged in")
		server.WriteJSON(w, http.StatusForbidden, "User already logged in.")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ls.Stage = stageLoggedIn
	if _, err := s.saveSession(ctx, w, r, sessionID, ls); err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, reply)
}

// userTokenReply issues the token of a fully authenticated user: OpenTera's reply, after the
// version information the gate returned.
func (s *Service) userTokenReply(ctx context.Context, r *http.Request, p *authn.Principal, withWS bool, authCode string, versionInfo obj) (obj, error) {
	access, err := s.serviceAccess(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	token, err := s.signer.UserToken(p.ID, p.UUID, p.Name, p.Superadmin, access, authn.UserTokenLifetime)
	if err != nil {
		return nil, err
	}
	reply := append(obj{}, versionInfo...)
	if withWS {
		// OpenTera refuses a second websocket to an online user.
		if online, err := s.isOnline(ctx, presence.User, p.UUID); err != nil {
			return nil, err
		} else if online {
			return nil, errAlreadyLoggedIn
		}
		key, err := s.state.NewConnectKey(ctx, authn.ConnectTarget{Kind: authn.KindUser, UUID: p.UUID})
		if err != nil {
			return nil, err
		}
		reply = append(reply, kv{"websocket_url", s.websocketURL("user", key)})
	}
	reply = append(reply, kv{"user_uuid", p.UUID}, kv{"user_fullname", p.Name}, kv{"user_token", token})
	if authCode != "" {
		redirect, err := s.completeAuthCode(ctx, authCode, reply)
		if err != nil {
			return nil, err
		}
		if redirect != "" {
			reply = append(reply, kv{"redirect_url", redirect})
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE core.t_users SET user_lastonline = now() WHERE id_user = $1`, p.ID); err != nil {
		return nil, err
	}
	s.event(r, typePassword, statusOf(nil), authn.KindUser, p.UUID, "user logged in")
	return reply, nil
}

// serviceAccess is the service_access claim: global service roles through the user's groups.
func (s *Service) serviceAccess(ctx context.Context, idUser int64) (map[string][]string, error) {
	rows, err := s.db.Query(ctx, `
		SELECT DISTINCT s.service_key, r.service_role_name
		FROM core.t_users_users_groups uug
		JOIN core.t_services_access sa ON sa.id_user_group = uug.id_user_group AND sa.deleted_at IS NULL
		JOIN core.t_services_roles r ON r.id_service_role = sa.id_service_role AND r.deleted_at IS NULL
			AND r.id_site IS NULL AND r.id_project IS NULL
		JOIN core.t_services s ON s.id_service = r.id_service AND s.deleted_at IS NULL
		WHERE uug.id_user = $1 AND uug.deleted_at IS NULL
		ORDER BY 1, 2`, idUser)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var k, role string
		if err := rows.Scan(&k, &role); err != nil {
			return nil, err
		}
		out[k] = append(out[k], role)
	}
	return out, rows.Err()
}

// defaultVersions applies to databases seeded before the setting was.
const defaultVersions = seed.ServerVersions

// clientFields are the keys of a client entry of ServerVersions, in OpenTera's order
// (ClientVersions.to_dict); a field the entry lacks is null.
var clientFields = []string{"client_name", "client_description", "client_version", "client_documentation_url",
	"client_windows_download_url", "client_mac_download_url", "client_linux_download_url"}

// versionGate checks X-Client-Name/X-Client-Version against ServerVersions as OpenTera does:
// a known client gets version_latest (its whole entry), a version that differs adds
// version_error, a different major version is refused (the 426 body). OpenTeraPlus 1.0.0 is
// known even when the setting does not list it; unknown clients are not checked.
func (s *Service) versionGate(ctx context.Context, r *http.Request) (info obj, blocked obj, err error) {
	name, version := r.Header.Get("X-Client-Name"), r.Header.Get("X-Client-Version")
	if r.Header.Values("X-Client-Name") == nil || r.Header.Values("X-Client-Version") == nil {
		return nil, nil, nil
	}
	raw, err := s.setting(ctx, "ServerVersions")
	if err != nil {
		return nil, nil, err
	}
	if raw == "" {
		raw = defaultVersions
	}
	clients := map[string]map[string]any{"OpenTeraPlus": {"client_name": "OpenTeraPlus", "client_description": "OpenTeraPlus Qt Client",
		"client_version": "1.0.0", "client_documentation_url": "https://github.com/introlab/openteraplus"}}
	var sv struct {
		Clients json.RawMessage `json:"clients"`
	}
	if json.Unmarshal([]byte(raw), &sv) == nil {
		var stored map[string]map[string]any
		if json.Unmarshal(sv.Clients, &stored) == nil { // a list (an old format) is ignored, as OpenTera does
			for _, c := range stored {
				if n, ok := c["client_name"].(string); ok {
					clients[n] = c
				}
			}
		}
	}
	c, ok := clients[name]
	if !ok {
		return nil, nil, nil
	}
	latest := make(obj, 0, len(clientFields))
	for _, f := range clientFields {
		latest = append(latest, kv{f, c[f]})
	}
	info = obj{{"version_latest", latest}}
	want, _ := c["client_version"].(string)
	if want == version {
		return info, nil, nil
	}
	const mismatch = "Client major version mismatch"
	gotParts, wantParts := strings.Split(version, "."), strings.Split(want, ".")
	if gotParts[0] != wantParts[0] {
		return nil, obj{{"version_latest", latest}, {"current_version", gotParts}, {"version_error", mismatch},
			{"message", "Client major version too old, not accepting login"}}, nil
	}
	return append(info, kv{"version_error", mismatch}), nil, nil
}

// sessionUser resolves the user of a two-step request: the login session cookie, whatever step
// it is at (OpenTera's user_session_required only asks for a logged-in session; each endpoint
// then checks what the user needs), else HTTP Basic (for clients without a cookie jar). It
// returns nil after answering 401.
func (s *Service) sessionUser(w http.ResponseWriter, r *http.Request) (string, *loginSession, *authn.Principal) {
	ctx := r.Context()
	id, ls, err := s.loadSession(ctx, r)
	if err != nil {
		s.internal(w, r, err)
		return "", nil, nil
	}
	if ls != nil && ls.UserUUID != "" {
		p, err := s.v.Dir.ByUUID(ctx, authn.KindUser, ls.UserUUID)
		if err != nil {
			s.internal(w, r, err)
			return "", nil, nil
		}
		if p == nil || !p.Enabled {
			s.event(r, typePassword, statusOf(&authn.Error{Reason: authn.ReasonDisabledAccount}), authn.KindUser, ls.UserUUID, "disabled during login")
			unauthorized(w)
			return "", nil, nil
		}
		server.NoteCaller(ctx, &authn.Caller{Kind: authn.KindUser, ID: p.ID})
		return id, ls, p
	}
	if user, pass, ok := r.BasicAuth(); ok {
		_, p, err := s.v.VerifyPassword(ctx, authn.KindUser, user, pass)
		if err != nil {
			s.authFailure(w, r, typePassword, authn.KindUser, err)
			return "", nil, nil
		}
		server.NoteCaller(ctx, &authn.Caller{Kind: authn.KindUser, ID: p.ID})
		return "", &loginSession{UserUUID: p.UUID}, p
	}
	unauthorized(w)
	return "", nil, nil
}

// sessionArgs resolves the user of a two-step request and its required arguments, answering
// 401 or 400 (Missing arguments) itself: p is nil then.
func (s *Service) sessionArgs(w http.ResponseWriter, r *http.Request, names ...string) (string, *loginSession, *authn.Principal, []string) {
	id, ls, p := s.sessionUser(w, r)
	if p == nil {
		return "", nil, nil, nil
	}
	args := make([]string, len(names))
	for i, n := range names {
		if args[i] = formValue(r, n); args[i] == "" {
			server.WriteJSON(w, http.StatusBadRequest, "Missing arguments")
			return "", nil, nil, nil
		}
	}
	return id, ls, p, args
}

// refuseStep answers a two-step request the user cannot make (403) and ends the login
// session, as OpenTera logs the user out then.
func (s *Service) refuseStep(w http.ResponseWriter, r *http.Request, id, message string) {
	s.endSession(r.Context(), w, id)
	server.WriteJSON(w, http.StatusForbidden, message)
}

func formValue(r *http.Request, name string) string {
	if v := r.URL.Query().Get(name); v != "" {
		return v
	}
	if r.Method != http.MethodPost {
		return ""
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return jsonField(r, name)
	}
	return r.PostFormValue(name)
}

// jsonField reads a field of a JSON body (cached on first read).
func jsonField(r *http.Request, name string) string {
	m, _ := r.Context().Value(jsonBodyKey{}).(map[string]any)
	if m == nil {
		_ = json.NewDecoder(r.Body).Decode(&m)
		if m == nil {
			m = map[string]any{}
		}
		*r = *r.WithContext(context.WithValue(r.Context(), jsonBodyKey{}, m))
	}
	switch v := m[name].(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

type jsonBodyKey struct{}

var totpOpts = totp.ValidateOpts{Period: 30, Skew: 1, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// userLogin2FA is GET|POST /api/user/login/2fa?otp_code=: the second step of a 2FA login.
func (s *Service) userLogin2FA(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ls, p, args := s.sessionArgs(w, r, "otp_code")
	if p == nil {
		return
	}
	code := args[0]
	if !p.TwoFA {
		s.refuseStep(w, r, id, "User does not have 2FA enabled")
		return
	}
	if !p.TwoFAOTP || p.OTPSecret == "" {
		s.refuseStep(w, r, id, "User does not have 2FA OTP enabled or secret set")
		return
	}
	ok, err := s.checkOTP(ctx, p, p.OTPSecret, code)
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) {
			s.failed(r, typePassword, authn.KindUser, err)
			s.refuseStep(w, r, id, "Too many 2FA attempts. Please wait and try again.")
			return
		}
		s.internal(w, r, err)
		return
	}
	if !ok {
		s.event(r, typePassword, statusOf(&authn.Error{Reason: authn.ReasonWrongPassword}), authn.KindUser, p.UUID, "wrong OTP code")
		unauthorizedKeepSession(w)
		return
	}
	ls.Stage = stage2FADone
	s.userNextStep(w, r, p, id, ls, boolParam(r, "with_websocket"))
}

// checkOTP validates a TOTP code under the 2FA attempt limit (5 per 900 s, every replica).
func (s *Service) checkOTP(ctx context.Context, p *authn.Principal, secret, code string) (bool, error) {
	key := "user." + p.UUID
	n, err := authn.Attempts(ctx, s.state.TwoFAAttempts, key)
	if err != nil {
		return false, err
	}
	if n >= authn.Max2FAAttempts {
		return false, &authn.Error{Reason: authn.ReasonTooManyAttempts, Kind: authn.KindUser, UUID: p.UUID}
	}
	ok, _ := totp.ValidateCustom(code, secret, s.o.Now(), totpOpts)
	if !ok {
		_, err := authn.AddAttempt(ctx, s.state.TwoFAAttempts, key)
		return false, err
	}
	_ = authn.ResetAttempts(ctx, s.state.TwoFAAttempts, key)
	return true, nil
}

// userSetup2FAGet is GET /api/user/login/setup_2fa: a new OTP secret and its QR code, for a
// user whose 2FA is enabled without a secret yet.
func (s *Service) userSetup2FAGet(w http.ResponseWriter, r *http.Request) {
	id, ls, p := s.sessionUser(w, r)
	if p == nil {
		return
	}
	if !s.canSetup2FA(w, r, id, p) {
		return
	}
	secret, qr, err := s.newOTPKey(p.Name)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if id != "" {
		ls.PendingSecret = secret
		if _, err := s.saveSession(r.Context(), w, r, id, ls); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	server.WriteJSON(w, http.StatusOK, obj{{"qr_code", qr}, {"otp_secret", secret}})
}

// canSetup2FA applies OpenTera's checks of both setup steps, answering 403 when they fail.
func (s *Service) canSetup2FA(w http.ResponseWriter, r *http.Request, id string, p *authn.Principal) bool {
	switch {
	case !p.TwoFA:
		s.refuseStep(w, r, id, "User does not have 2FA enabled")
		return false
	case p.OTPSecret != "":
		s.refuseStep(w, r, id, "User already has 2FA OTP secret set")
		return false
	}
	return true
}

// userSetup2FAPost is POST /api/user/login/setup_2fa {otp_secret, otp_code, with_email_enabled}:
// the code confirms the secret, which is stored. As OpenTera, the reply sends the client to the
// 2FA validation ({message, redirect_url}); the session moves to that step.
func (s *Service) userSetup2FAPost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ls, p, args := s.sessionArgs(w, r, "otp_secret", "otp_code")
	if p == nil {
		return
	}
	secret, code := args[0], args[1]
	if !s.canSetup2FA(w, r, id, p) {
		return
	}
	ok, err := s.checkOTP(ctx, p, secret, code)
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) {
			s.refuseStep(w, r, id, "Too many 2FA attempts. Please wait and try again.")
			return
		}
		s.internal(w, r, err)
		return
	}
	if !ok {
		s.event(r, typePassword, statusOf(&authn.Error{Reason: authn.ReasonWrongPassword}), authn.KindUser, p.UUID, "wrong OTP code")
		server.WriteJSON(w, http.StatusUnauthorized, "Invalid OTP code")
		return
	}
	email := boolParam(r, "with_email_enabled") || strings.EqualFold(formValue(r, "with_email_enabled"), "true")
	if _, err := s.db.Exec(ctx, `UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true,
		user_2fa_otp_secret = $2, user_2fa_email_enabled = $3 WHERE id_user = $1`, p.ID, secret, email); err != nil {
		s.internal(w, r, err)
		return
	}
	ls.Stage, ls.PendingSecret = stage2FA, ""
	if _, err := s.saveSession(ctx, w, r, id, ls); err != nil {
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, obj{{"message", "2FA enabled for this user."}, {"redirect_url", "/login_validate_2fa?code=" + url.QueryEscape(code)}})
}

// userChangePassword is POST /api/user/login/change_password {new_password, confirm_password}
// for a user whose password change is forced. As OpenTera, it answers "Password changed" and
// the session stays: the client logs in again, and a second change is refused with 400.
func (s *Service) userChangePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, _, p, args := s.sessionArgs(w, r, "new_password", "confirm_password")
	if p == nil {
		return
	}
	newPw, confirm := args[0], args[1]
	if newPw != confirm {
		server.WriteJSON(w, http.StatusBadRequest, "New password and confirm password do not match")
		return
	}
	if !p.ForcePasswordChange {
		server.WriteJSON(w, http.StatusBadRequest, "User not required to change password")
		return
	}
	if err := store.SetUserPassword(ctx, s.db, int32(p.ID), newPw); err != nil {
		var pe *store.PasswordPolicyError
		if errors.As(err, &pe) {
			server.WriteJSON(w, http.StatusBadRequest, pe.Message)
			return
		}
		s.internal(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, "Password changed")
}

// userLogout is GET /api/user/logout (Basic or token): the token is revoked everywhere and the
// user's websockets are closed.
func (s *Service) userLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _, ok := s.verifyAs(w, r, authn.CredentialsFromRequest(r), typeToken, authn.KindUser, true)
	if !ok {
		return
	}
	if c.TokenID != "" && !c.TokenExpires.IsZero() {
		if err := s.state.Revoke(ctx, c.TokenID, c.TokenExpires); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	s.disconnect(authn.KindUser, c.UUID)
	if id, _, _ := s.loadSession(ctx, r); id != "" {
		s.endSession(ctx, w, id)
	}
	server.WriteJSON(w, http.StatusOK, "User logged out.")
}

// userRefresh is GET /api/user/refresh_token (dynamic token only): a new token valid 30 min,
// the old one revoked.
func (s *Service) userRefresh(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cr := authn.CredentialsFromRequest(r)
	if strings.HasPrefix(strings.ToLower(cr.Authorization), "basic ") {
		s.failed(r, typeToken, authn.KindUser, &authn.Error{Reason: authn.ReasonInvalidToken})
		unauthorized(w)
		return
	}
	c, p, err := s.v.Verify(ctx, cr, false)
	if err == nil && (c == nil || c.Kind != authn.KindUser || c.Method != authn.MethodToken) {
		err = &authn.Error{Reason: authn.ReasonInvalidToken}
	}
	if err != nil {
		s.authFailure(w, r, typeToken, authn.KindUser, err)
		return
	}
	server.NoteCaller(r.Context(), c)
	access, err := s.serviceAccess(ctx, p.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	token, err := s.signer.UserToken(p.ID, p.UUID, p.Name, p.Superadmin, access, authn.UserRefreshLifetime)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if err := s.state.Revoke(ctx, c.TokenID, c.TokenExpires); err != nil {
		s.internal(w, r, err)
		return
	}
	reply := obj{{"refresh_token", token}}
	online, err := s.isOnline(ctx, presence.User, p.UUID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	// An online user keeps its socket: OpenTera gives no new websocket_url then.
	if boolParam(r, "with_websocket") && !online {
		key, err := s.state.NewConnectKey(ctx, authn.ConnectTarget{Kind: authn.KindUser, UUID: p.UUID})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		reply = append(reply, kv{"websocket_url", s.websocketURL("user", key)})
	}
	s.event(r, typeToken, statusOf(nil), authn.KindUser, p.UUID, "user token refreshed")
	server.WriteJSON(w, http.StatusOK, reply)
}

// newOTPKey draws a TOTP secret as OpenTera does (issuer OpenTera-<server>, 6 digits, 30 s,
// SHA1) and its QR code as a base64 PNG.
func (s *Service) newOTPKey(account string) (secret, qrPNG string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "OpenTera-" + s.o.ServerName, AccountName: account, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("generate otp key: %w", err)
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return "", "", fmt.Errorf("otp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", "", fmt.Errorf("encode qr code: %w", err)
	}
	return key.Secret(), base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}
