package fleet

import (
	"context"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/email"
	"github.com/tera-health/tera/services/filetransfer"
	"github.com/tera-health/tera/services/internal/blob"
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

// buildFileTransfer builds the filetransfer target (services/filetransfer) on the configured
// blob store; its settings are checked here, at start, since only a process running it needs a
// store.
func buildFileTransfer(d *Deps) ([]server.Service, error) {
	c := d.Config.FileTransfer
	if err := c.Validate(); err != nil {
		return nil, err
	}
	store, err := blob.Open(context.Background(), c.Blob)
	if err != nil {
		return nil, err
	}
	o := filetransfer.Options{DB: d.DB, NATS: d.NATS, JS: d.JS, Blob: store, Log: d.Log, PublicURL: d.Config.PublicURL,
		MaxUploadBytes: c.MaxUploadBytes, JobLease: c.JobLease.D(), PollInterval: c.PollInterval.D(),
		ArchiveLifetime: c.ArchiveLifetime.D(), OrphanGrace: c.OrphanGrace.D(), SweepInterval: c.SweepInterval.D(),
		Metrics: d.Metrics, Verifier: d.Verifier}
	if d.Keys != nil {
		o.Signer = &authn.Signer{Keys: d.Keys}
		if o.Verifier == nil {
			o.Verifier = &authn.Verifier{Keys: d.Keys}
		}
	}
	return []server.Service{filetransfer.New(o)}, nil
}
