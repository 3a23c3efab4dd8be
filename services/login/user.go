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

// userLogin is GET /api/user/login: HTTP Basic only (a token is refused with 401).
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
	s.userNextStep(w, r, p, "", nil, boolParam(r, "with_websocket"), r.URL.Query().Get("auth_code"))
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
		writeJSON(w, http.StatusServiceUnavailable, "Service temporarily unavailable")
		return
	}
	s.failed(r, typ, kind, err)
	unauthorized(w)
}

// userNextStep continues a user's login once the password (or OTP) is verified: forced password
// change, 2FA setup, 2FA validation, or the token.
func (s *Service) userNextStep(w http.ResponseWriter, r *http.Request, p *authn.Principal, sessionID string, ls *loginSession, withWS bool, authCode string) {
	ctx := r.Context()
	server.NoteCaller(ctx, &authn.Caller{Kind: authn.KindUser, ID: p.ID})
	if ls == nil {
		ls = &loginSession{UserUUID: p.UUID, AuthCode: authCode}
	}
	var reason, redirect, message string
	switch {
	case p.ForcePasswordChange:
		ls.Stage, reason, redirect, message = stagePasswordChange, "password_change", "/login_change_password", "Password change required"
	case p.TwoFA && (!p.TwoFAOTP || p.OTPSecret == ""):
		ls.Stage, reason, redirect, message = stage2FASetup, "2fa_setup", "/login_setup_2fa", "2FA enabled but OTP not set for this user. Please setup 2FA."
	case p.TwoFA && ls.Stage != "2fa_done":
		ls.Stage, reason, redirect, message = stage2FA, "2fa", "/login_validate_2fa", "2FA required for this user."
	}
	if reason != "" {
		if _, err := s.saveSession(ctx, w, r, sessionID, ls); err != nil {
			s.internal(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, obj{{"message", message}, {"reason", reason}, {"redirect_url", redirect}})
		return
	}
	reply, code, err := s.userTokenReply(ctx, r, p, withWS, ls.AuthCode)
	if errors.Is(err, errAlreadyLoggedIn) {
		s.event(r, typePassword, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_ALREADY_LOGGED_IN, authn.KindUser, p.UUID, "user already logged in")
		writeJSON(w, http.StatusForbidden, "User already logged in.")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if sessionID != "" {
		s.endSession(ctx, w, sessionID)
	}
	writeJSON(w, code, reply)
}

// userTokenReply issues the token of a fully authenticated user, after the client version
// gate; it returns OpenTera's reply and status (426 for a client too old).
func (s *Service) userTokenReply(ctx context.Context, r *http.Request, p *authn.Principal, withWS bool, authCode string) (obj, int, error) {
	versionExtra, blocked, err := s.versionGate(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	if blocked != nil {
		return blocked, http.StatusUpgradeRequired, nil
	}
	access, err := s.serviceAccess(ctx, p.ID)
	if err != nil {
		return nil, 0, err
	}
	token, err := s.signer.UserToken(p.ID, p.UUID, p.Name, p.Superadmin, access, authn.UserTokenLifetime)
	if err != nil {
		return nil, 0, err
	}
	reply := obj{{"user_uuid", p.UUID}, {"user_fullname", p.Name}, {"user_token", token}}
	if withWS {
		// OpenTera refuses a second websocket to an online user.
		if online, err := s.isOnline(ctx, presence.User, p.UUID); err != nil {
			return nil, 0, err
		} else if online {
			return nil, 0, errAlreadyLoggedIn
		}
		key, err := s.state.NewConnectKey(ctx, authn.ConnectTarget{Kind: authn.KindUser, UUID: p.UUID})
		if err != nil {
			return nil, 0, err
		}
		reply = append(reply, kv{"websocket_url", s.websocketURL("user", key)})
	}
	reply = append(reply, versionExtra...)
	if authCode != "" {
		redirect, err := s.completeAuthCode(ctx, authCode, reply)
		if err != nil {
			return nil, 0, err
		}
		if redirect != "" {
			reply = append(reply, kv{"redirect_url", redirect})
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE core.t_users SET user_lastonline = now() WHERE id_user = $1`, p.ID); err != nil {
		return nil, 0, err
	}
	s.event(r, typePassword, statusOf(nil), authn.KindUser, p.UUID, "user logged in")
	return reply, http.StatusOK, nil
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

// versionGate checks X-Client-Name/X-Client-Version against ServerVersions: a different major
// version is refused (426 body), a different minor one is answered with version_latest and
// version_error; unknown clients are not checked.
func (s *Service) versionGate(ctx context.Context, r *http.Request) (extra obj, blocked obj, err error) {
	name, version := r.Header.Get("X-Client-Name"), r.Header.Get("X-Client-Version")
	if name == "" || version == "" {
		return nil, nil, nil
	}
	raw, err := s.setting(ctx, "ServerVersions")
	if err != nil {
		return nil, nil, err
	}
	if raw == "" {
		raw = defaultVersions
	}
	var sv struct {
		Clients map[string]struct {
			ClientVersion string `json:"client_version"`
		} `json:"clients"`
	}
	if json.Unmarshal([]byte(raw), &sv) != nil {
		return nil, nil, nil
	}
	c, ok := sv.Clients[name]
	if !ok || c.ClientVersion == "" {
		return nil, nil, nil
	}
	wantMajor, wantMinor := splitVersion(c.ClientVersion)
	gotMajor, gotMinor := splitVersion(version)
	switch {
	case gotMajor != wantMajor:
		return nil, obj{{"version_latest", c.ClientVersion}, {"current_version", version},
			{"version_error", "Client major version too old, not accepting login"},
			{"message", "Client major version too old, not accepting login"}}, nil
	case gotMinor != wantMinor:
		return obj{{"version_latest", c.ClientVersion}, {"version_error", "Client version mismatch"}}, nil, nil
	}
	return nil, nil, nil
}

func splitVersion(v string) (int, int) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	major, _ := strconv.Atoi(parts[0])
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(parts[1])
	}
	return major, minor
}

// sessionUser resolves the user of a two-step request: the login session cookie, else HTTP
// Basic (for clients without a cookie jar). It returns nil after answering 401.
func (s *Service) sessionUser(w http.ResponseWriter, r *http.Request, stages ...string) (string, *loginSession, *authn.Principal) {
	ctx := r.Context()
	id, ls, err := s.loadSession(ctx, r)
	if err != nil {
		s.internal(w, r, err)
		return "", nil, nil
	}
	if ls != nil {
		for _, st := range stages {
			if ls.Stage == st {
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
				return id, ls, p
			}
		}
	}
	if user, pass, ok := r.BasicAuth(); ok {
		_, p, err := s.v.VerifyPassword(ctx, authn.KindUser, user, pass)
		if err != nil {
			s.authFailure(w, r, typePassword, authn.KindUser, err)
			return "", nil, nil
		}
		return "", &loginSession{UserUUID: p.UUID}, p
	}
	unauthorized(w)
	return "", nil, nil
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
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
		return
	}
	ctx := r.Context()
	code := formValue(r, "otp_code")
	id, ls, p := s.sessionUser(w, r, stage2FA)
	if p == nil {
		return
	}
	if code == "" {
		writeJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	if !p.TwoFA || !p.TwoFAOTP || p.OTPSecret == "" {
		writeJSON(w, http.StatusForbidden, "User does not have 2FA enabled")
		return
	}
	ok, err := s.checkOTP(ctx, p, p.OTPSecret, code)
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) {
			s.failed(r, typePassword, authn.KindUser, err)
			writeJSON(w, http.StatusForbidden, "Too many 2FA attempts")
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
	ls.Stage = "2fa_done"
	s.userNextStep(w, r, p, id, ls, boolParam(r, "with_websocket"), "")
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

// userSetup2FA is GET /api/user/login/setup_2fa (a new secret and its QR code) and POST
// {otp_secret, otp_code, with_email_enabled} (confirm: the secret is stored, 2FA enabled).
func (s *Service) userSetup2FA(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ls, p := s.sessionUser(w, r, stage2FASetup)
	if p == nil {
		return
	}
	switch r.Method {
	case http.MethodGet:
		if p.TwoFAOTP && p.OTPSecret != "" {
			writeJSON(w, http.StatusForbidden, "2FA already enabled for this user")
			return
		}
		secret, qr, err := s.newOTPKey(p.Name)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if id != "" {
			ls.PendingSecret = secret
			if _, err := s.saveSession(ctx, w, r, id, ls); err != nil {
				s.internal(w, r, err)
				return
			}
		}
		writeJSON(w, http.StatusOK, obj{{"qr_code", qr}, {"otp_secret", secret}})
	case http.MethodPost:
		secret, code := formValue(r, "otp_secret"), formValue(r, "otp_code")
		if secret == "" || code == "" {
			writeJSON(w, http.StatusBadRequest, "Missing arguments")
			return
		}
		if p.TwoFAOTP && p.OTPSecret != "" {
			writeJSON(w, http.StatusForbidden, "2FA already enabled for this user")
			return
		}
		ok, err := s.checkOTP(ctx, p, secret, code)
		if err != nil {
			var ae *authn.Error
			if errors.As(err, &ae) {
				writeJSON(w, http.StatusForbidden, "Too many 2FA attempts")
				return
			}
			s.internal(w, r, err)
			return
		}
		if !ok {
			writeJSON(w, http.StatusUnauthorized, "Invalid OTP code")
			return
		}
		email := boolParam(r, "with_email_enabled") || strings.EqualFold(formValue(r, "with_email_enabled"), "true")
		if _, err := s.db.Exec(ctx, `UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true,
			user_2fa_otp_secret = $2, user_2fa_email_enabled = $3 WHERE id_user = $1`, p.ID, secret, email); err != nil {
			s.internal(w, r, err)
			return
		}
		p.TwoFA, p.TwoFAOTP, p.OTPSecret = true, true, secret
		ls.Stage = "2fa_done" // the code just confirmed counts as this login's second factor
		s.userNextStep(w, r, p, id, ls, boolParam(r, "with_websocket"), "")
	default:
		writeJSON(w, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
	}
}

// userChangePassword is POST /api/user/login/change_password {new_password, confirm_password}
// for a user whose password change is forced.
func (s *Service) userChangePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, ls, p := s.sessionUser(w, r, stagePasswordChange)
	if p == nil {
		return
	}
	newPw, confirm := formValue(r, "new_password"), formValue(r, "confirm_password")
	if newPw == "" || confirm == "" {
		writeJSON(w, http.StatusBadRequest, "Missing arguments")
		return
	}
	if newPw != confirm {
		writeJSON(w, http.StatusBadRequest, "New password and confirm password do not match")
		return
	}
	if err := store.SetUserPassword(ctx, s.db, int32(p.ID), newPw); err != nil {
		var pe *store.PasswordPolicyError
		if errors.As(err, &pe) {
			writeJSON(w, http.StatusBadRequest, pe.Message)
			return
		}
		s.internal(w, r, err)
		return
	}
	p.ForcePasswordChange = false
	s.userNextStep(w, r, p, id, ls, boolParam(r, "with_websocket"), "")
}

// userLogout is GET /api/user/logout (Basic or token): the token is revoked everywhere and the
// user's websockets are closed.
func (s *Service) userLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, _, err := s.v.Verify(ctx, authn.CredentialsFromRequest(r), true)
	if err == nil && (c == nil || c.Kind != authn.KindUser) {
		err = &authn.Error{Reason: authn.ReasonInvalidToken}
	}
	if err != nil {
		s.authFailure(w, r, typeToken, authn.KindUser, err)
		return
	}
	server.NoteCaller(r.Context(), c)
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
	writeJSON(w, http.StatusOK, "User logged out.")
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
	writeJSON(w, http.StatusOK, reply)
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
