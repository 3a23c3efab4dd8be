package routing

import "testing"

func TestTarget(t *testing.T) {
	for path, want := range map[string]string{
		"/api/user/login":                 Login,
		"/api/user/login/2fa":             Login,
		"/api/user/loginx":                Core,
		"/api/user/logout":                Login,
		"/api/user/participants":          Core,
		"/api/user/participants/online":   UserManager,
		"/api/user/participants/onlinex":  Core,
		"/login":                          Login,
		"/login/oidc/callback":            Login,
		"/login_setup_2fa":                Login,
		"/loginx":                         "",
		"/logout":                         "",
		"/.well-known/jwks.json":          Login,
		"/wss/user":                       WebSocket,
		"/log/api/logging/log_entries":    Logging,
		"/api":                            Core,
		"/apix":                           "",
		"/":                               "",
		"/api/device/register":            Login,
		"/api/device/status":              UserManager,
		"/api/service/auth/code":          Login,
		"/api/service/sessions":           Core,
		"/api/service/disconnect":         UserManager,
		"/rehab/room":                     VideoRehab,
		"/file/api/assets":                FileTransfer,
		"/api/participant/refresh_token":  Login,
		"/api/participant/participants":   Core,
		"/api/user/users/online/whatever": UserManager,
	} {
		if got := Target(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}

func TestRoutesAreUniqueAndOrdered(t *testing.T) {
	seen := map[string]string{}
	rs := Routes()
	for i, r := range rs {
		if other, dup := seen[r.Prefix]; dup {
			t.Errorf("%s claimed by %s and %s", r.Prefix, other, r.Target)
		}
		seen[r.Prefix] = r.Target
		if i > 0 && len(rs[i-1].Prefix) < len(r.Prefix) {
			t.Errorf("%s after the shorter %s", r.Prefix, rs[i-1].Prefix)
		}
		if r.Prefix == "" || r.Prefix[0] != '/' || (len(r.Prefix) > 1 && r.Prefix[len(r.Prefix)-1] == '/') {
			t.Errorf("prefix %q: want /a/b form", r.Prefix)
		}
	}
}
