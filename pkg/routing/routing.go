// Package routing is the one table of which target serves which HTTP path behind a site's
// single host (ARCHITECTURE §2). The operator renders the Ingress from it, `tera dev` and the
// end-to-end router route by it, and the fleet's tests check it against the routes each target
// really serves.
//
// It lives in pkg, not in services, because the operator module may not import services, and
// because it is part of the public contract: whoever fronts a site with another proxy routes
// by the same table.
package routing

import (
	"sort"
	"strings"
)

// Targets.
const (
	Login        = "login"
	Core         = "core"
	UserManager  = "usermanager"
	WebSocket    = "websocket"
	FileTransfer = "filetransfer"
	Logging      = "logging"
	VideoRehab   = "videorehab"
	Email        = "email"
)

// Prefixes maps each target to the path prefixes it owns. A prefix matches by path element,
// as an Ingress path of type Prefix does: "/login" matches "/login" and "/login/oidc", not
// "/login_setup_2fa". The longest matching prefix wins, so core's "/api" takes every /api/**
// path no other target claims.
var Prefixes = map[string][]string{
	Login: {
		"/api/user/login", "/api/user/logout", "/api/user/refresh_token",
		"/api/participant/login", "/api/participant/logout", "/api/participant/refresh_token",
		"/api/device/login", "/api/device/logout", "/api/device/register",
		"/api/service/auth/code", "/api/service/token",
		"/login", "/login_validate_2fa", "/login_setup_2fa", "/login_change_password",
		"/.well-known",
	},
	Core: {"/api"},
	UserManager: {
		"/api/user/users/online", "/api/user/participants/online", "/api/user/devices/online",
		"/api/user/disconnect", "/api/device/status", "/api/service/disconnect",
	},
	WebSocket: {"/wss"},
	// The archive request of the user API is the filetransfer target's: it writes the archive's
	// record and job (OpenTera's UserQueryAssetsArchive calls FileTransferService to do so).
	FileTransfer: {"/file", "/api/user/assets/archive"},
	Logging:      {"/log"},
	VideoRehab:   {"/rehab"},
	Email:        {"/email"},
}

// Route sends the paths under Prefix to Target.
type Route struct {
	Prefix string
	Target string
}

// Routes are the table's rules, longest prefix first (then by prefix).
func Routes() []Route {
	var out []Route
	for t, ps := range Prefixes {
		for _, p := range ps {
			out = append(out, Route{Prefix: p, Target: t})
		}
	}
	Sort(out)
	return out
}

// Sort orders routes longest prefix first, then by prefix: the order to try them in.
func Sort(rs []Route) {
	sort.SliceStable(rs, func(i, j int) bool {
		if len(rs[i].Prefix) != len(rs[j].Prefix) {
			return len(rs[i].Prefix) > len(rs[j].Prefix)
		}
		return rs[i].Prefix < rs[j].Prefix
	})
}

// Matches reports whether path is under prefix, element-wise.
func Matches(prefix, path string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return strings.HasPrefix(path, "/")
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// Target is the target serving path, or "" when no prefix matches.
func Target(path string) string {
	return Match(Routes(), path)
}

// Match is the target of the first route (in Sort order) matching path, or "".
func Match(routes []Route, path string) string {
	for _, r := range routes {
		if Matches(r.Prefix, path) {
			return r.Target
		}
	}
	return ""
}
