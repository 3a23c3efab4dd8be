// Package filetransfer is the filetransfer target (OpenTera's FileTransferService, `/file`):
// asset files uploaded, downloaded, described and deleted with asset access tokens (assets.go),
// zip archives of a session's, participant's or project's assets built by durable jobs on
// PostgreSQL (archives.go, jobs.go), and /api/user/assets/archive that asks for one. The bytes
// live in a blob store (services/internal/blob: a directory or an S3 bucket), always streamed.
package filetransfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/blob"
)

// ServiceKey is OpenTera's key of the service whose assets this target stores.
const ServiceKey = "FileTransferService"

// Options configure the target.
type Options struct {
	DB   *pgxpool.Pool
	NATS *nats.Conn
	// JS carries core's database events (asset deletions); nil consumes none.
	JS   jetstream.JetStream
	Blob blob.Store
	Log  *slog.Logger
	// Verifier checks asset access tokens; Signer signs the one an upload answers with.
	Verifier *authn.Verifier
	Signer   *authn.Signer
	// PublicURL is how clients reach the site, for asset_url and archive_url.
	PublicURL string
	// MaxUploadBytes caps an upload's request body (OpenTera's proxy: 500 MB on /file).
	MaxUploadBytes int64
	// JobLease is how long a claimed archive job is its worker's before another may take it
	// over; the worker renews it every third of it while it zips.
	JobLease time.Duration
	// PollInterval is how often the job queue and the expired archives are checked.
	PollInterval time.Duration
	// ArchiveLifetime is how long a completed archive is kept (OpenTera: 30 days).
	ArchiveLifetime time.Duration
	// OrphanGrace is the age past which a blob no row names is deleted (default 24h): longer
	// than any upload takes between its bytes and its rows.
	OrphanGrace time.Duration
	// SweepInterval is how often the blob store is listed for orphans (default 1h).
	SweepInterval time.Duration
	// Metrics receives the target's metrics; nil registers nothing.
	Metrics prometheus.Registerer
}

// Service is the filetransfer target.
type Service struct {
	server.NoGRPC // the target's surface is plain HTTP (multipart uploads and file downloads, as OpenTera's)

	o    Options
	wake chan struct{}
	m    metrics

	mu          sync.Mutex
	serviceUUID string // FileTransferService's t_services uuid, read once the database answers
	serviceID   int32

	now         func() time.Time // the sweeper's clock (tests move it)
	sweepPasses atomic.Int64
}

type metrics struct {
	uploaded, downloaded prometheus.Counter
	archives             *prometheus.CounterVec
	orphansDeleted       prometheus.Counter
	orphanBytesDeleted   prometheus.Counter
}

// New returns the target.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxUploadBytes <= 0 {
		o.MaxUploadBytes = 500 << 20
	}
	if o.JobLease <= 0 {
		o.JobLease = time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.ArchiveLifetime <= 0 {
		o.ArchiveLifetime = 30 * 24 * time.Hour
	}
	if o.OrphanGrace <= 0 {
		o.OrphanGrace = 24 * time.Hour
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = time.Hour
	}
	s := &Service{o: o, wake: make(chan struct{}, 1), now: time.Now, m: metrics{
		uploaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_filetransfer_uploaded_bytes_total",
			Help: "Bytes of asset files stored."}),
		downloaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_filetransfer_downloaded_bytes_total",
			Help: "Bytes of asset and archive files served."}),
		archives: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tera_filetransfer_archive_jobs_total",
			Help: "Archive jobs by outcome: completed, retried (failed or taken over after a lost lease), given up."}, []string{"outcome"}),
		orphansDeleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_filetransfer_orphan_blobs_deleted_total",
			Help: "Blobs deleted by the sweeper: no asset or archive row named them past the grace period."}),
		orphanBytesDeleted: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_filetransfer_orphan_bytes_deleted_total",
			Help: "Bytes of the orphan blobs deleted by the sweeper."}),
	}}
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.m.uploaded, s.m.downloaded, s.m.archives, s.m.orphansDeleted, s.m.orphanBytesDeleted)
	}
	return s
}

// Name implements server.Service.
func (s *Service) Name() string { return "filetransfer" }

// Checks are the target's readiness checks: the blob store answers.
func (s *Service) Checks() []server.Check {
	return []server.Check{{Name: "blob-store", Fn: s.o.Blob.Check}}
}

// Run works the archive job queue, removes expired archives, the files of assets deleted in
// core and, every SweepInterval, the blobs no row names (sweep.go), until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if s.o.JS != nil {
		done := make(chan struct{})
		go func() { defer close(done); s.consumeDeletions(ctx) }()
		defer func() { <-done }()
	}
	t := time.NewTicker(s.o.PollInterval)
	defer t.Stop()
	sweep := time.NewTicker(s.o.SweepInterval)
	defer sweep.Stop()
	for {
		s.runDueJobs(ctx)
		s.purgeExpired(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			s.sweepOrphans(ctx, s.now().Add(-s.o.OrphanGrace))
		case <-t.C:
		case <-s.wake:
		}
	}
}

// self returns FileTransferService's uuid and id (core.t_services), the owner of the assets
// this target stores.
func (s *Service) self(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, int32, error) {
	s.mu.Lock()
	u, id := s.serviceUUID, s.serviceID
	s.mu.Unlock()
	if u != "" {
		return u, id, nil
	}
	err := db.QueryRow(ctx, `SELECT service_uuid, id_service FROM core.t_services WHERE service_key = $1 AND deleted_at IS NULL`,
		ServiceKey).Scan(&u, &id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, fmt.Errorf("service %s is not registered in core.t_services", ServiceKey)
	}
	if err != nil {
		return "", 0, fmt.Errorf("read service %s: %w", ServiceKey, err)
	}
	s.mu.Lock()
	s.serviceUUID, s.serviceID = u, id
	s.mu.Unlock()
	return u, id, nil
}

func (s *Service) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
