package fleet

import (
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/routing"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/core"
	"github.com/tera-health/tera/services/filetransfer"
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
		Name:      routing.Core,
		NeedsDB:   true,
		NeedsNATS: true,
		Build: func(d *Deps) ([]server.Service, error) {
			mirror := presence.NewMirror(presence.NewStore(d.JS))
			regs, err := registrations(d.Config)
			if err != nil {
				return nil, err
			}
			api := core.New(d.DB, d.Log).WithPresence(mirror).WithTracing(d.Tracing).WithNATS(d.NATS)
			if d.Keys != nil {
				api.WithAssetTokens(&authn.Signer{Keys: d.Keys}, d.Config.PublicURL)
			}
			return []server.Service{core.NewRelay(d.DB, d.JS, d.Log, d.Tracing), core.NewSessionCleanup(d.DB, d.Log), core.NewServiceRegistry(d.DB, d.Log, regs),
				api, server.Background("presence-mirror", mirror.Run)}, nil
		},
		Outbox: true,
	})
	register(Target{
		Name:      routing.Login,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildLogin,
	})
	register(Target{
		Name:      routing.UserManager,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildUserManager,
		Consumers: []consumerRef{{outbox.StreamName, usermanager.ConsumerName}},
	})
	register(Target{
		Name:      routing.WebSocket,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildWebsocket,
	})
	register(Target{
		Name:      routing.Logging,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildLogging,
		Consumers: []consumerRef{{logstream.StreamName, logging.ConsumerName}},
	})
	register(Target{
		Name:      routing.FileTransfer,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildFileTransfer,
		Consumers: []consumerRef{{outbox.StreamName, filetransfer.ConsumerName}},
	})
	register(Target{
		Name:      routing.VideoRehab,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildVideoRehab,
	})
	register(Target{
		Name:      routing.Email,
		NeedsDB:   true,
		NeedsNATS: true,
		Build:     buildEmail,
	})
}
