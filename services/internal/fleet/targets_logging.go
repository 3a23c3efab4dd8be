package fleet

import (
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/logstream"
	"github.com/tera-health/tera/services/logging"
)

// buildLogging builds the logging target (services/logging) from the process's dependencies.
func buildLogging(d *Deps) ([]server.Service, error) {
	level, err := logstream.ParseLevel(d.Config.Logging.Level) // validated at start
	if err != nil {
		return nil, err
	}
	c := d.Config.Logging
	return []server.Service{logging.New(logging.Options{DB: d.DB, JS: d.JS, Log: d.Log, PipelineLog: d.LocalLog,
		Level: level, Retention: c.Retention.D(), PurgeInterval: c.PurgeInterval.D(), PurgeBatch: c.PurgeBatch,
		Metrics: d.Metrics})}, nil
}
