package logstream

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
)

// QueueSize bounds the records waiting to be published; beyond it records are dropped (and
// counted), never waited for: logging must not slow a request down or block on NATS.
const QueueSize = 4096

// Tee publishes the Warn and Error records of a logger as LogEvents, besides passing every
// record to the wrapped handler. Publishing happens on Run's goroutine, which never logs, so a
// failure to publish cannot produce a record to publish.
type Tee struct {
	q         chan *eventsv1.LogEvent
	nc        *nats.Conn
	sender    string
	published prometheus.Counter
	dropped   prometheus.Counter
}

// NewTee returns a tee publishing on nc with sender as LogEvent.sender.
func NewTee(nc *nats.Conn, sender string) *Tee {
	return &Tee{
		q: make(chan *eventsv1.LogEvent, QueueSize), nc: nc, sender: sender,
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_log_events_published_total",
			Help: "Warnings and errors published as LogEvents on tera.log.<level>."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_log_events_dropped_total",
			Help: "Warnings and errors not published: queue full or NATS refused them."}),
	}
}

// Collectors are the tee's metrics.
func (t *Tee) Collectors() []prometheus.Collector {
	return []prometheus.Collector{t.published, t.dropped}
}

// Handler wraps h: every record goes to h, Warn and above are also queued for publishing.
func (t *Tee) Handler(h slog.Handler) slog.Handler { return &teeHandler{tee: t, inner: h} }

// Run publishes queued records until ctx ends, then whatever is still queued.
func (t *Tee) Run(ctx context.Context) error {
	for {
		select {
		case ev := <-t.q:
			t.publish(ev)
		case <-ctx.Done():
			for {
				select {
				case ev := <-t.q:
					t.publish(ev)
				default:
					_ = t.nc.Flush()
					return nil
				}
			}
		}
	}
}

func (t *Tee) publish(ev *eventsv1.LogEvent) {
	b, err := proto.Marshal(ev)
	if err == nil {
		err = t.nc.Publish(Subject(ev.Level), b)
	}
	if err != nil {
		t.dropped.Inc()
		return
	}
	t.published.Inc()
}

func (t *Tee) enqueue(ev *eventsv1.LogEvent) {
	select {
	case t.q <- ev:
	default:
		t.dropped.Inc()
	}
}

// LevelOf maps a slog level to OpenTera's LogEvent level.
func LevelOf(l slog.Level) eventsv1.LogEvent_LogLevel {
	switch {
	case l >= slog.LevelError:
		return eventsv1.LogEvent_LOGLEVEL_ERROR
	case l >= slog.LevelWarn:
		return eventsv1.LogEvent_LOGLEVEL_WARNING
	case l >= slog.LevelInfo:
		return eventsv1.LogEvent_LOGLEVEL_INFO
	}
	return eventsv1.LogEvent_LOGLEVEL_DEBUG
}

type teeHandler struct {
	tee   *Tee
	inner slog.Handler
	// attrs are the attributes added by With, already rendered as key=value.
	attrs string
	group string
}

func (h *teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.inner.Enabled(ctx, l)
}

func (h *teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		var b strings.Builder
		b.WriteString(r.Message)
		if h.attrs != "" {
			b.WriteString(h.attrs)
		}
		r.Attrs(func(a slog.Attr) bool {
			writeAttr(&b, h.group, a)
			return true
		})
		h.tee.enqueue(&eventsv1.LogEvent{Level: LevelOf(r.Level), Timestamp: float64(r.Time.UnixNano()) / 1e9,
			Sender: h.tee.sender, Message: b.String()})
	}
	if h.inner.Enabled(ctx, r.Level) {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

func (h *teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	return &teeHandler{tee: h.tee, inner: h.inner.WithAttrs(as), attrs: b.String(), group: h.group}
}

func (h *teeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &teeHandler{tee: h.tee, inner: h.inner.WithGroup(name), attrs: h.attrs, group: h.group + name + "."}
}

// writeAttr renders an attribute as logfmt, groups flattened with dots.
func writeAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			writeAttr(b, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	s := v.String()
	if strings.ContainsAny(s, " \"=\n") || s == "" {
		s = fmt.Sprintf("%q", s)
	}
	b.WriteString(" " + prefix + a.Key + "=" + s)
}
