package fleet

import (
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/videorehab"
)

// buildVideoRehab builds the videorehab target (services/videorehab): the session manager of
// video sessions, with the routes of its media and pages mounted.
func buildVideoRehab(d *Deps) ([]server.Service, error) {
	if err := d.Config.VideoRehab.Validate(); err != nil {
		return nil, err
	}
	return []server.Service{videorehab.New(videorehab.Options{DB: d.DB, NATS: d.NATS, JS: d.JS, Log: d.Log,
		PublicURL: d.Config.PublicURL})}, nil
}
