package logging

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	loggingv1 "github.com/tera-health/tera/pkg/api/tera/logging/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
)

// ServiceKey is the OpenTera service whose global admin role opens the log entries.
const ServiceKey = "LoggingService"

type api struct {
	*Service
	loggingv1.UnimplementedLoggingServiceServer
}

// filter is the part of a query both endpoints share: dates, level, paging, stats.
type filter struct {
	where  []string
	args   pgx.NamedArgs
	limit  int32
	offset int32
	stats  bool
}

func newFilter(tsCol, levelCol string, limit, offset int32, start, end string, level int32, stats bool) (*filter, error) {
	f := &filter{args: pgx.NamedArgs{}, limit: limit, offset: offset, stats: stats}
	if limit < 0 {
		return nil, apierr.InvalidArgument("limit: must not be negative")
	}
	if offset < 0 {
		return nil, apierr.InvalidArgument("offset: must not be negative")
	}
	// OpenTera filters on the level only when it is given and not 0.
	if level != 0 {
		f.where = append(f.where, levelCol+" = @level")
		f.args["level"] = level
	}
	for _, d := range []struct {
		name, value, op string
	}{{"start_date", start, ">="}, {"end_date", end, "<="}} {
		if d.value == "" {
			continue
		}
		t, err := parseISO(d.value)
		if err != nil {
			return nil, apierr.InvalidArgument(fmt.Sprintf("%s: %q is not an ISO 8601 date and time", d.name, d.value))
		}
		f.where = append(f.where, fmt.Sprintf("%s %s @%s", tsCol, d.op, d.name))
		f.args[d.name] = t
	}
	return f, nil
}

func (f *filter) whereSQL() string {
	if len(f.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.where, " AND ")
}

// page is ORDER BY, LIMIT and OFFSET (0 means none, as OpenTera's falsy checks).
func (f *filter) page(order string) string {
	q := " ORDER BY " + order
	if f.limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.limit)
	}
	if f.offset > 0 {
		q += fmt.Sprintf(" OFFSET %d", f.offset)
	}
	return q
}

// isoLayouts are the forms of ISO 8601 accepted for start_date and end_date; a time without
// an offset is UTC.
var isoLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02"}

func parseISO(s string) (time.Time, error) {
	var err error
	for _, l := range isoLayouts {
		var t time.Time
		if t, err = time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// isoTime formats like Python's isoformat() on an aware UTC datetime.
func isoTime(t time.Time) string {
	u := t.UTC()
	if u.Nanosecond()/1000 == 0 {
		return u.Format("2006-01-02T15:04:05+00:00")
	}
	return u.Format("2006-01-02T15:04:05.000000+00:00")
}

// stats answers {count, min_timestamp, max_timestamp}; OpenTera gives the current time for an
// empty set.
func (s *api) stats(ctx context.Context, with, from, tsCol string, f *filter) (*structpb.Value, error) {
	var count int64
	var lo, hi *time.Time
	q := with + fmt.Sprintf("SELECT count(*), min(%[1]s), max(%[1]s) FROM %[2]s", tsCol, from) + f.whereSQL()
	if err := s.o.DB.QueryRow(ctx, q, f.args).Scan(&count, &lo, &hi); err != nil {
		return nil, s.internal(ctx, err)
	}
	now := time.Now()
	if lo == nil {
		lo, hi = &now, &now
	}
	return structpb.NewValue(map[string]any{"count": count, "min_timestamp": isoTime(*lo), "max_timestamp": isoTime(*hi)})
}

func (s *api) internal(ctx context.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	s.o.Log.ErrorContext(ctx, "logging: database error", "err", err)
	return apierr.Internal("Database error")
}

// canReadLogs: superadmins and holders of the LoggingService global admin role, read from the
// database (not the token's service_access claim) so a revoked role takes effect at once.
func (s *api) canReadLogs(ctx context.Context, c *authn.Caller) (bool, error) {
	if c.Superadmin {
		return true, nil
	}
	roles, err := access.ServiceRoles(ctx, s.o.DB, int32(c.ID))
	if err != nil {
		return false, err
	}
	return slices.Contains(roles[ServiceKey], "admin"), nil
}

func (s *api) GetLogEntries(ctx context.Context, r *loggingv1.GetLogEntriesRequest) (*loggingv1.GetLogEntriesResponse, error) {
	ok, err := s.canReadLogs(ctx, authn.FromContext(ctx))
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	if !ok {
		return nil, apierr.Forbidden("Forbidden")
	}
	f, err := newFilter(`"timestamp"`, "log_level", r.Limit, r.Offset, r.StartDate, r.EndDate, r.LogLevel, r.Stats)
	if err != nil {
		return nil, err
	}
	if f.stats {
		v, err := s.stats(ctx, "", "logging.t_log_entry", `"timestamp"`, f)
		if err != nil {
			return nil, err
		}
		return &loggingv1.GetLogEntriesResponse{Result: v}, nil
	}
	rows, err := s.o.DB.Query(ctx, `SELECT id_log_entry, log_level, sender, message, "timestamp" FROM logging.t_log_entry`+
		f.whereSQL()+f.page(`"timestamp" DESC, id_log_entry DESC`), f.args)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	var out []any
	for rows.Next() {
		var id int64
		var level int32
		var sender, message string
		var ts time.Time
		if err := rows.Scan(&id, &level, &sender, &message, &ts); err != nil {
			rows.Close()
			return nil, s.internal(ctx, err)
		}
		out = append(out, map[string]any{"id_log_entry": id, "log_level": level, "sender": sender, "message": message,
			"timestamp": isoTime(ts)})
	}
	if err := rows.Err(); err != nil {
		return nil, s.internal(ctx, err)
	}
	return &loggingv1.GetLogEntriesResponse{Result: list(out)}, nil
}

func list(items []any) *structpb.Value {
	l, err := structpb.NewList(items)
	if err != nil {
		// Only maps of strings, numbers and nils are built here.
		panic(err)
	}
	return structpb.NewListValue(l)
}

// loginColumns are t_logins' columns in OpenTera's JSON, in order.
var loginColumns = []string{"id_login_event", "login_timestamp", "login_log_level", "login_sender", "login_user_uuid",
	"login_participant_uuid", "login_device_uuid", "login_service_uuid", "login_status", "login_type", "login_client_ip",
	"login_server_endpoint", "login_client_name", "login_client_version", "login_os_name", "login_os_version", "login_message"}

func (s *api) GetLoginEntries(ctx context.Context, r *loggingv1.GetLoginEntriesRequest) (*loggingv1.GetLoginEntriesResponse, error) {
	c := authn.FromContext(ctx)
	f, err := newFilter("l.login_timestamp", "l.login_log_level", r.Limit, r.Offset, r.StartDate, r.EndDate, r.LogLevel, r.Stats)
	if err != nil {
		return nil, err
	}
	// The principals the caller can access, by uuid, with their names: computed in the same
	// statement as the read (ARCHITECTURE §4).
	sc := access.For(access.FromAuthn(c))
	users, parts, devs := sc.Users(), sc.Participants(), sc.Devices()
	with := `WITH au AS (SELECT user_uuid AS uuid, user_firstname || ' ' || user_lastname AS name FROM core.t_users
	                      WHERE id_user IN (` + users.SQL + `)),
	              ap AS (SELECT participant_uuid AS uuid, participant_name AS name FROM core.t_participants
	                      WHERE id_participant IN (` + parts.SQL + `)),
	              ad AS (SELECT device_uuid AS uuid, device_name AS name FROM core.t_devices
	                      WHERE id_device IN (` + devs.SQL + `)) `
	f.args = users.With(parts.With(devs.With(f.args)))

	var byUUID []string
	for _, u := range []struct{ arg, value, col, set string }{
		{"f_user", r.UserUuid, "l.login_user_uuid", "au"},
		{"f_participant", r.ParticipantUuid, "l.login_participant_uuid", "ap"},
		{"f_device", r.DeviceUuid, "l.login_device_uuid", "ad"},
	} {
		if u.value == "" {
			continue
		}
		byUUID = append(byUUID, fmt.Sprintf("(%s = @%s AND @%s IN (SELECT uuid FROM %s))", u.col, u.arg, u.arg, u.set))
		f.args[u.arg] = u.value
	}
	switch {
	case len(byUUID) > 0:
		// OpenTera ORs the uuid filters; each one only for an accessible principal.
		f.where = append(f.where, "("+strings.Join(byUUID, " OR ")+")")
	case !(c.Kind == authn.KindUser && c.Superadmin):
		f.where = append(f.where, `(l.login_user_uuid IN (SELECT uuid FROM au)
			OR l.login_participant_uuid IN (SELECT uuid FROM ap) OR l.login_device_uuid IN (SELECT uuid FROM ad))`)
	}

	if f.stats {
		v, err := s.stats(ctx, with, "logging.t_logins l", "l.login_timestamp", f)
		if err != nil {
			return nil, err
		}
		return &loggingv1.GetLoginEntriesResponse{Result: v}, nil
	}
	cols := "l." + strings.Join(loginColumns, ", l.")
	q := with + `SELECT ` + cols + `,
	       (SELECT name FROM au WHERE uuid = l.login_user_uuid LIMIT 1),
	       (SELECT name FROM ap WHERE uuid = l.login_participant_uuid LIMIT 1),
	       (SELECT name FROM ad WHERE uuid = l.login_device_uuid LIMIT 1)
	  FROM logging.t_logins l` + f.whereSQL() + f.page("l.login_timestamp DESC, l.id_login_event DESC")
	rows, err := s.o.DB.Query(ctx, q, f.args)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	defer rows.Close()
	var out []any
	for rows.Next() {
		var id int64
		var ts time.Time
		var level, status, typ int32
		var sender, ip string
		var user, part, dev, svc, endpoint, client, clientVer, os, osVer, message, userName, partName, devName *string
		if err := rows.Scan(&id, &ts, &level, &sender, &user, &part, &dev, &svc, &status, &typ, &ip, &endpoint, &client,
			&clientVer, &os, &osVer, &message, &userName, &partName, &devName); err != nil {
			return nil, s.internal(ctx, err)
		}
		e := map[string]any{"id_login_event": id, "login_timestamp": isoTime(ts), "login_log_level": level,
			"login_sender": sender, "login_user_uuid": str(user), "login_participant_uuid": str(part),
			"login_device_uuid": str(dev), "login_service_uuid": str(svc), "login_status": status, "login_type": typ,
			"login_client_ip": ip, "login_server_endpoint": str(endpoint), "login_client_name": str(client),
			"login_client_version": str(clientVer), "login_os_name": str(os), "login_os_version": str(osVer),
			"login_message": str(message)}
		if r.WithNames {
			e["login_user_name"], e["login_participant_name"], e["login_device_name"] = str(userName), str(partName), str(devName)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.internal(ctx, err)
	}
	return &loggingv1.GetLoginEntriesResponse{Result: list(out)}, nil
}

// str is a nullable column as JSON (nil is null).
func str(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}
