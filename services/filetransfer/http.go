package filetransfer

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/pyjson"
)

// HTTPRoutes implements server.HTTPService. FileTransferService admits dynamic user and
// participant tokens, device and service tokens (service_or_others_token_required with
// allow_static_tokens=False: a participant's static token is refused; Tera refuses it on the
// archive POSTs too, where OpenTera admits it) and, as it, answers a missing or refused
// credential 403 "Forbidden". The archive request of the user API admits users only, with the
// user API's 401.
func (s *Service) HTTPRoutes() []server.Route {
	anyone := &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_USER,
		optionsv1.Principal_PRINCIPAL_PARTICIPANT, optionsv1.Principal_PRINCIPAL_DEVICE, optionsv1.Principal_PRINCIPAL_SERVICE},
		ParticipantFull: true}
	users := &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_USER}}
	routes := []server.Route{
		{Path: "/file/api/assets", Access: anyone, MaxBodyBytes: s.o.MaxUploadBytes, Methods: map[string]http.HandlerFunc{
			http.MethodGet: s.downloadAsset, http.MethodPost: s.uploadAsset, http.MethodDelete: s.deleteAsset}},
		{Path: "/file/api/assets/infos", Access: anyone, Methods: map[string]http.HandlerFunc{
			http.MethodGet: s.assetInfos, http.MethodPost: s.postAssetInfos}},
		{Path: "/file/api/archives", Access: anyone, MaxBodyBytes: s.o.MaxUploadBytes, Methods: map[string]http.HandlerFunc{
			http.MethodGet: s.downloadArchive, http.MethodPost: s.uploadArchive, http.MethodDelete: s.deleteArchive}},
		{Path: "/file/api/archives/infos", Access: anyone, Methods: map[string]http.HandlerFunc{
			http.MethodGet: s.archiveInfos, http.MethodPost: s.postArchiveInfos}},
	}
	for i := range routes {
		routes[i].ForbiddenWithoutCredential = true
	}
	return append(routes, server.Route{Path: "/api/user/assets/archive", Access: users, Methods: map[string]http.HandlerFunc{
		http.MethodGet: s.requestArchive}})
}

// writeJSON answers a value as OpenTera's Flask-RESTX does (a bare string for messages).

func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.o.Log.Error("filetransfer request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	server.WriteJSON(w, http.StatusInternalServerError, "Internal Server Error")
}

// caller is the authenticated principal (the server applied the route's rule before).
func caller(r *http.Request) (*authn.Caller, access.Scope) {
	c := authn.FromContext(r.Context())
	return c, access.For(access.FromAuthn(c))
}

// errAccessToken is any refusal of an asset access token: OpenTera's has_access_to_asset
// answers one 403 whether the token is invalid, expired, of another asset or of another
// requester.
var errAccessToken = errors.New("access token refused")

// allowedAssets verifies an asset access token for the caller: signed by the site's keys, not
// expired, and issued to this requester (OpenTera's requester_uuid). It returns the assets the
// token names.
func (s *Service) allowedAssets(c *authn.Caller, token string) ([]string, error) {
	if s.o.Verifier == nil || token == "" || c == nil {
		return nil, errAccessToken
	}
	claims, err := s.o.Verifier.VerifyAssetToken(token)
	if err != nil || claims.RequesterUUID != c.UUID || len(claims.AssetUUIDs) == 0 {
		return nil, errAccessToken
	}
	return claims.AssetUUIDs, nil
}

func (s *Service) allowsAsset(c *authn.Caller, token, assetUUID string) bool {
	uuids, err := s.allowedAssets(c, token)
	if err != nil {
		return false
	}
	for _, u := range uuids {
		if u == assetUUID {
			return true
		}
	}
	return false
}

// isoTime is OpenTera's isoformat() of a timestamp, in UTC.
func isoTime(t *time.Time) *string { return pyjson.IsoTime(t) }

// secureFilename is werkzeug's secure_filename: ASCII only, path separators as spaces, runs
// of spaces as one '_', only letters, digits, '_', '.' and '-' kept, no leading or trailing
// '.' or '_'.
func secureFilename(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			b.WriteRune(' ')
		case r < unicode.MaxASCII:
			b.WriteRune(r)
		}
	}
	fields := strings.Fields(b.String())
	joined := strings.Join(fields, "_")
	var out strings.Builder
	for _, r := range joined {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
			out.WriteRune(r)
		}
	}
	return strings.Trim(out.String(), "._")
}
