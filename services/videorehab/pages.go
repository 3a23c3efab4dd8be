package videorehab

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/server"
)

// The pages of video sessions, at OpenTera's VideoRehabService paths under /rehab: the user's
// session lobby (a user token: it starts a session), the participant's page (a participant
// token: it waits on the participant's websocket for an invitation and joins), and the session
// page of users, participants and devices (PathUsers, PathParticipants, PathDevices with
// ?key=<session_key>; the token comes in the URL's fragment, so it stays out of server logs).
// Every page is a static file (web/): the scripts read what they need from the API with the
// caller's token, so no page carries data of its own.
const (
	PathUserSessionLobby = "/rehab/user_session_lobby"
	PathParticipant      = "/rehab/participant"
	pathStatic           = "/rehab/static/"
)

//go:embed web
var webFS embed.FS

// contentSecurityPolicy lets a page run its own scripts only, reach its own origin (API,
// websockets), show camera and remote streams, and be framed by its own origin only (the
// participant page frames the session page, as OpenTera's does).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; " +
	"base-uri 'none'; form-action 'none'"

// pageRoutes are the pages and their static files.
func pageRoutes() []server.Route {
	public := &optionsv1.Access{Public: true}
	users := &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_USER}}
	participants := &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_PARTICIPANT}}
	get := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h}
	}
	routes := []server.Route{
		// OpenTera's lobby and participant dashboard authenticate (token_required): so do
		// these, with the token in ?token= or the Authorization header.
		{Path: PathUserSessionLobby, Access: users, Methods: get(serveFile("web/lobby.html"))},
		{Path: PathParticipant, Access: participants, Methods: get(serveFile("web/participant.html"))},
		// The session page, as OpenTera's per-session page, opens with the session key alone;
		// the signalling authenticates the token and admits with the key.
		{Path: PathUsers, Access: public, Methods: get(serveFile("web/session.html"))},
		{Path: PathParticipants, Access: public, Methods: get(serveFile("web/session.html"))},
		{Path: PathDevices, Access: public, Methods: get(serveFile("web/session.html"))},
	}
	files, _ := fs.ReadDir(webFS, "web/static")
	for _, f := range files {
		if f.IsDir() {
			continue
		}
		routes = append(routes, server.Route{Path: pathStatic + f.Name(), Access: public,
			Methods: get(serveFile("web/static/" + f.Name()))})
	}
	return routes
}

// serveFile answers one embedded file.
func serveFile(name string) http.HandlerFunc {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic("videorehab: embedded page missing: " + name)
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".html":
		ctype = "text/html; charset=utf-8"
	}
	page := strings.HasSuffix(name, ".html")
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("X-Content-Type-Options", "nosniff")
		if page {
			// Tokens travel in these pages' URLs: never cached, never sent on as a referrer.
			h.Set("Cache-Control", "no-store")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), autoplay=(self)")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b)
	}
}
