package fleet

import (
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/email"
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

// buildEmail builds the email target (services/email); its settings are checked here, at
// start, since only a process running it needs an SMTP server.
func buildEmail(d *Deps) ([]server.Service, error) {
	c := d.Config.Email
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.SMTP.Host == "" {
		d.Log.Warn("email.smtp.host is not set: /email/api/send answers 503 until it is")
	}
	svc, err := email.New(email.Options{DB: d.DB, Log: d.Log, SMTP: c.SMTP, Sender: c.Sender, MaxAttempts: c.MaxAttempts,
		RetryBackoff: c.RetryBackoff.D(), PollInterval: c.PollInterval.D(), Metrics: d.Metrics})
	if err != nil {
		return nil, err
	}
	return []server.Service{svc}, nil
}
