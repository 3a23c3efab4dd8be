package fleet

import (
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/core"
	"github.com/tera-health/tera/services/internal/logstream"
	"github.com/tera-health/tera/services/internal/outbox"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/logging"
	"github.com/tera-health/tera/services/usermanager"
)

// The targets of ARCHITECTURE §2 that this binary serves. Each registers here, in one place;
// a target missing from this list is not built yet.
func init() {
	register(Target{
		Name:      "core",
		Paths:     []string{"/api/"},
		NeedsDB:   true,
		NeedsNATS: true,
		Build: func(d *Deps) ([]server.Service, error) {
			mirror := presence.NewMirror(presence.NewStore(d.JS))
			return []server.Service{core.NewRelay(d.DB, d.JS, d.Log), core.NewSessionCleanup(d.DB, d.Log), core.New(d.DB, d.Log).WithPresence(mirror), server.Background("presence-mirror", mirror.Run)}, nil
		},
		Outbox: true,
	})
	register(Target{
		Name: "login",
		Paths: []string{"/api/user/login", "/api/user/logout", "/api/user/refresh_token", "/api/participant/login",
			"/api/participant/logout", "/api/participant/refresh_token", "/api/device/login", "/api/device/logout",
			"/api/device/register", "/api/service/auth/code", "/login", "/.well-known/"},
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildLogin,
	})
	register(Target{
		Name: "usermanager",
		Paths: []string{"/api/user/users/online", "/api/user/participants/online", "/api/user/devices/online",
			"/api/user/disconnect", "/api/device/status"},
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildUserManager,
		Consumers: []consumerRef{{outbox.StreamName, usermanager.ConsumerName}},
	})
	register(Target{
		Name:      "websocket",
		Paths:     []string{"/wss"},
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildWebsocket,
	})
	register(Target{
		Name:      "logging",
		Paths:     []string{"/log/"},
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildLogging,
		Consumers: []consumerRef{{logstream.StreamName, logging.ConsumerName}},
	})
	register(Target{
		Name:      "email",
		Paths:     []string{"/email/"},
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildEmail,
	})
}
