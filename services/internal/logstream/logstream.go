// Package logstream is the JetStream side of OpenTera's log topics (ARCHITECTURE §3): every
// target publishes its warnings and errors as LogEvents on tera.log.<level> and login attempts
// as LoginEvents on tera.login; the stream keeps them until the logging target has stored them,
// so nothing is lost while it is down.
package logstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
)

// StreamName is the JetStream stream holding log and login events.
const StreamName = "TERA_LOG"

// SubjectLogin carries a LoginEvent for every login success and failure.
const SubjectLogin = "tera.login"

// SubjectLogPrefix prefixes the subjects of LogEvents: tera.log.<level>.
const SubjectLogPrefix = "tera.log."

// MaxAge bounds how long the stream keeps events the logging target has not consumed: a
// logging target down for longer than this loses the oldest ones.
const MaxAge = 7 * 24 * time.Hour

// MaxBytes bounds the stream's storage; the oldest events go first beyond it.
const MaxBytes = 1 << 30

// levelNames are OpenTera's topic names (log.trace … log.fatal).
var levelNames = map[eventsv1.LogEvent_LogLevel]string{
	eventsv1.LogEvent_LOGLEVEL_TRACE:    "trace",
	eventsv1.LogEvent_LOGLEVEL_DEBUG:    "debug",
	eventsv1.LogEvent_LOGLEVEL_INFO:     "info",
	eventsv1.LogEvent_LOGLEVEL_WARNING:  "warning",
	eventsv1.LogEvent_LOGLEVEL_CRITICAL: "critical",
	eventsv1.LogEvent_LOGLEVEL_ERROR:    "error",
	eventsv1.LogEvent_LOGLEVEL_FATAL:    "fatal",
}

// Subject is the subject of a LogEvent of the given level.
func Subject(l eventsv1.LogEvent_LogLevel) string {
	if n, ok := levelNames[l]; ok {
		return SubjectLogPrefix + n
	}
	return SubjectLogPrefix + "unknown"
}

// ParseLevel reads a level name (trace, debug, info, warning, critical, error, fatal).
func ParseLevel(s string) (eventsv1.LogEvent_LogLevel, error) {
	for l, n := range levelNames {
		if n == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("%q is not one of trace, debug, info, warning, critical, error, fatal", s)
}

// EnsureStream creates or updates the stream; safe to call at every start, from every target.
func EnsureStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "log and login events (LogEvent, LoginEvent) of every target, for the logging target",
		Subjects:    []string{SubjectLogPrefix + ">", SubjectLogin},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      MaxAge,
		MaxBytes:    MaxBytes,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return nil
}

// Ensurer ensures the stream in the background until it succeeds (NATS may be down at start)
// and reports, as a readiness check, whether it has: a target is not ready, so takes no
// traffic, before the events it would publish have a stream to land in.
type Ensurer struct {
	js   jetstream.JetStream
	done chan struct{}
}

// NewEnsurer returns an ensurer; Run does the work.
func NewEnsurer(js jetstream.JetStream) *Ensurer { return &Ensurer{js: js, done: make(chan struct{})} }

// Run retries EnsureStream every second until it succeeds or ctx ends.
func (e *Ensurer) Run(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := EnsureStream(cctx, e.js)
		cancel()
		if err == nil {
			close(e.done)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// Check is the readiness check.
func (e *Ensurer) Check(context.Context) error {
	select {
	case <-e.done:
		return nil
	default:
		return errors.New("log stream " + StreamName + " not created yet")
	}
}
