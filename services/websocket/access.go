package websocket

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/presence"
)

// accessSet is what one principal may see of presence events (REFERENCE §5): for a user the
// users, participants and devices it can access; for a participant its devices; for a device
// its participants.
type accessSet struct {
	users, participants, devices map[string]struct{}
}

// accessEntry is the cached set of one principal, shared by its sockets on this replica.
type accessEntry struct {
	p          principal
	set        atomic.Pointer[accessSet]
	epoch      atomic.Uint64
	at         atomic.Int64
	refreshing atomic.Bool
	refs       int
}

// accessCache computes access sets in SQL (services/internal/access) and refreshes them in the
// background when a database event arrived since (epoch) or the TTL passed, so filtering never
// waits on the database and a role change is seen within the TTL.
type accessCache struct {
	db    *pgxpool.Pool
	ttl   time.Duration
	log   *slog.Logger
	epoch atomic.Uint64

	mu      sync.Mutex
	entries map[string]*accessEntry
	queue   chan *accessEntry
}

func newAccessCache(db *pgxpool.Pool, ttl time.Duration, log *slog.Logger) *accessCache {
	return &accessCache{db: db, ttl: ttl, log: log, entries: map[string]*accessEntry{}, queue: make(chan *accessEntry, 4096)}
}

func (a *accessCache) invalidate() { a.epoch.Add(1) }

// acquire returns the principal's entry, computing it the first time.
func (a *accessCache) acquire(ctx context.Context, p principal) (*accessEntry, error) {
	a.mu.Lock()
	e := a.entries[p.key()]
	if e != nil {
		e.refs++
		a.mu.Unlock()
		return e, nil
	}
	a.mu.Unlock()
	e = &accessEntry{p: p}
	epoch := a.epoch.Load()
	set, err := a.compute(ctx, p)
	if err != nil {
		return nil, err
	}
	e.set.Store(set)
	e.epoch.Store(epoch)
	e.at.Store(time.Now().UnixNano())
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.entries[p.key()]; old != nil {
		old.refs++
		return old, nil
	}
	e.refs = 1
	a.entries[p.key()] = e
	return e, nil
}

func (a *accessCache) release(p principal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.entries[p.key()]; e != nil {
		e.refs--
		if e.refs <= 0 {
			delete(a.entries, p.key())
		}
	}
}

// get returns the current set and schedules a refresh when it is stale.
func (a *accessCache) get(e *accessEntry) *accessSet {
	if (e.epoch.Load() != a.epoch.Load() || time.Since(time.Unix(0, e.at.Load())) > a.ttl) && e.refreshing.CompareAndSwap(false, true) {
		select {
		case a.queue <- e:
		default:
			e.refreshing.Store(false)
		}
	}
	return e.set.Load()
}

func (a *accessCache) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-a.queue:
					epoch := a.epoch.Load()
					cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					set, err := a.compute(cctx, e.p)
					cancel()
					if err == nil {
						e.set.Store(set)
						e.epoch.Store(epoch)
						e.at.Store(time.Now().UnixNano())
					} else if ctx.Err() == nil {
						a.log.Warn("access refresh failed; keeping the previous set", "kind", e.p.Kind, "err", err)
					}
					e.refreshing.Store(false)
				}
			}
		}()
	}
	wg.Wait()
}

func (a *accessCache) compute(ctx context.Context, p principal) (*accessSet, error) {
	set := &accessSet{users: map[string]struct{}{}, participants: map[string]struct{}{}, devices: map[string]struct{}{}}
	var rows pgx.Rows
	var err error
	switch p.Kind {
	case presence.User:
		sc := access.For(access.UserCaller(p.ID))
		users, parts, devs := sc.Users(), sc.Participants(), sc.Devices()
		rows, err = a.db.Query(ctx, `SELECT 'u', user_uuid::text FROM core.t_users WHERE id_user IN (`+users.SQL+`)
			UNION ALL SELECT 'p', participant_uuid::text FROM core.t_participants WHERE id_participant IN (`+parts.SQL+`)
			UNION ALL SELECT 'd', device_uuid::text FROM core.t_devices WHERE id_device IN (`+devs.SQL+`)`,
			users.With(parts.With(devs.Args)))
		set.users[p.UUID] = struct{}{} // "You are always available to yourself!"
	case presence.Participant:
		rows, err = a.db.Query(ctx, `SELECT 'd', d.device_uuid::text FROM core.t_devices_participants dp
			JOIN core.t_devices d ON d.id_device = dp.id_device AND d.deleted_at IS NULL
			WHERE dp.id_participant = $1 AND dp.deleted_at IS NULL`, p.ID)
	default:
		rows, err = a.db.Query(ctx, `SELECT 'p', pa.participant_uuid::text FROM core.t_devices_participants dp
			JOIN core.t_participants pa ON pa.id_participant = dp.id_participant AND pa.deleted_at IS NULL
			WHERE dp.id_device = $1 AND dp.deleted_at IS NULL`, p.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("access of %s: %w", p.Kind, err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, uuid string
		if err := rows.Scan(&kind, &uuid); err != nil {
			return nil, fmt.Errorf("access of %s: %w", p.Kind, err)
		}
		switch kind {
		case "u":
			set.users[uuid] = struct{}{}
		case "p":
			set.participants[uuid] = struct{}{}
		case "d":
			set.devices[uuid] = struct{}{}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("access of %s: %w", p.Kind, err)
	}
	return set, nil
}

// members are the invitees of a session, by kind.
type members struct {
	users, participants, devices map[string]struct{}
}

// filter decides which events a client receives (OpenTera's *EventManager.filter_*). Session
// members are read once per delivery, from SQL, for the events that need them.
type filter struct {
	s        *Service
	sessions map[string]*members
}

func newFilter(s *Service, evs []event) *filter {
	f := &filter{s: s}
	for _, e := range evs {
		var uuid string
		switch m := e.msg.(type) {
		case *eventsv1.LeaveSessionEvent:
			uuid = m.SessionUuid
		case *eventsv1.JoinSessionReplyEvent:
			uuid = m.SessionUuid
		default:
			continue
		}
		if f.sessions == nil {
			f.sessions = map[string]*members{}
		}
		if _, ok := f.sessions[uuid]; !ok {
			mem, err := s.sessionMembers(uuid)
			if err != nil {
				s.log.Warn("session members not read; event not delivered", "session", uuid, "err", err)
			}
			f.sessions[uuid] = mem
		}
	}
	return f
}

func has(set map[string]struct{}, k string) bool { _, ok := set[k]; return ok }

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func (f *filter) inSession(c *client, session string) bool {
	m := f.sessions[session]
	if m == nil {
		return false
	}
	switch c.p.Kind {
	case presence.User:
		return has(m.users, c.p.UUID)
	case presence.Participant:
		return has(m.participants, c.p.UUID)
	}
	return has(m.devices, c.p.UUID)
}

func (f *filter) allows(c *client, msg proto.Message) bool {
	kind, me := c.p.Kind, c.p.UUID
	switch m := msg.(type) {
	case *eventsv1.UserEvent:
		return kind == presence.User && has(f.s.access.get(c.acc).users, m.UserUuid)
	case *eventsv1.ParticipantEvent:
		switch kind {
		case presence.User, presence.Device:
			return has(f.s.access.get(c.acc).participants, m.ParticipantUuid)
		}
		return m.ParticipantUuid == me
	case *eventsv1.DeviceEvent:
		switch kind {
		case presence.User, presence.Participant:
			return has(f.s.access.get(c.acc).devices, m.DeviceUuid)
		}
		return m.DeviceUuid == me
	case *eventsv1.JoinSessionEvent:
		switch kind {
		case presence.User:
			return contains(m.SessionUsers, me)
		case presence.Participant:
			return contains(m.SessionParticipants, me)
		}
		return contains(m.SessionDevices, me)
	case *eventsv1.JoinSessionReplyEvent:
		if !f.inSession(c, m.SessionUuid) {
			return false
		}
		switch kind {
		case presence.User:
			return m.UserUuid != me
		case presence.Participant:
			return m.ParticipantUuid != me
		}
		return m.DeviceUuid != me
	case *eventsv1.LeaveSessionEvent:
		return f.inSession(c, m.SessionUuid)
	case *eventsv1.StopSessionEvent:
		return true
	case *eventsv1.ArchiveEvent:
		return m.OwnerUuid == me
	}
	// DatabaseEvent (OpenTera: "Disabled database events for now") and anything else.
	return false
}

func (s *Service) sessionMembers(session string) (*members, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := s.o.DB.Query(ctx, `
		SELECT 'u', u.user_uuid::text FROM core.t_sessions s
		  JOIN core.t_sessions_users x ON x.id_session = s.id_session AND x.deleted_at IS NULL
		  JOIN core.t_users u ON u.id_user = x.id_user
		  WHERE s.session_uuid = $1 AND s.deleted_at IS NULL
		UNION ALL SELECT 'p', p.participant_uuid::text FROM core.t_sessions s
		  JOIN core.t_sessions_participants x ON x.id_session = s.id_session AND x.deleted_at IS NULL
		  JOIN core.t_participants p ON p.id_participant = x.id_participant
		  WHERE s.session_uuid = $1 AND s.deleted_at IS NULL
		UNION ALL SELECT 'd', d.device_uuid::text FROM core.t_sessions s
		  JOIN core.t_sessions_devices x ON x.id_session = s.id_session AND x.deleted_at IS NULL
		  JOIN core.t_devices d ON d.id_device = x.id_device
		  WHERE s.session_uuid = $1 AND s.deleted_at IS NULL`, session)
	if err != nil {
		return nil, fmt.Errorf("session members: %w", err)
	}
	defer rows.Close()
	m := &members{users: map[string]struct{}{}, participants: map[string]struct{}{}, devices: map[string]struct{}{}}
	for rows.Next() {
		var kind, uuid string
		if err := rows.Scan(&kind, &uuid); err != nil {
			return nil, fmt.Errorf("session members: %w", err)
		}
		switch kind {
		case "u":
			m.users[uuid] = struct{}{}
		case "p":
			m.participants[uuid] = struct{}{}
		case "d":
			m.devices[uuid] = struct{}{}
		}
	}
	return m, rows.Err()
}
