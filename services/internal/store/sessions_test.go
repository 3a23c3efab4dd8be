package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// Every filter of ListSessions, alone and combined, gives the rows a plain query over the
// fixture gives, and the statement names only the filters set: an "@x IS NULL OR …" filter would
// make PostgreSQL plan the statement again on every call (see sessionQuery).
func TestListSessionsFilters(t *testing.T) {
	pool := fixture(t)
	ctx := context.Background()
	type row struct {
		ID     int32
		UUID   string
		Status int32
		Start  time.Time
	}
	rows, err := pool.Query(ctx, `SELECT s.id_session, s.session_uuid, s.session_status, s.session_start_datetime
		FROM core.t_sessions s WHERE s.deleted_at IS NULL AND s.id_session IN (
		  SELECT id_session FROM core.t_sessions_participants WHERE id_participant = 1 AND deleted_at IS NULL
		  UNION SELECT id_session FROM core.t_sessions WHERE id_creator_participant = 1)
		ORDER BY s.session_start_datetime DESC, s.id_session DESC`)
	if err != nil {
		t.Fatal(err)
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil || len(all) < 5 {
		t.Fatalf("fixture: %d sessions of participant 1, %v", len(all), err)
	}
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	mid := all[len(all)/2]
	midDay := day(mid.Start)
	status := mid.Status
	ids := func(rs []row) []int32 {
		out := []int32{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	where := func(keep func(row) bool) []int32 {
		var out []row
		for _, r := range all {
			if keep(r) {
				out = append(out, r)
			}
		}
		return ids(out)
	}
	for _, c := range []struct {
		name string
		f    store.SessionFilter
		want []int32
	}{
		{"none", store.SessionFilter{}, ids(all)},
		{"id", store.SessionFilter{ID: &mid.ID}, []int32{mid.ID}},
		{"uuid", store.SessionFilter{UUID: &mid.UUID}, []int32{mid.ID}},
		{"status", store.SessionFilter{Status: &status}, where(func(r row) bool { return r.Status == status })},
		{"start", store.SessionFilter{Start: &midDay}, where(func(r row) bool { return !day(r.Start).Before(midDay) })},
		{"end", store.SessionFilter{End: &midDay}, where(func(r row) bool { return !day(r.Start).After(midDay) })},
		{"limit", store.SessionFilter{Limit: 2}, ids(all[:2])},
		{"limit and offset", store.SessionFilter{Limit: 2, Offset: 3}, ids(all[3:5])},
		{"offset", store.SessionFilter{Offset: 3}, ids(all[3:])},
		{"status, start and end, full", store.SessionFilter{Status: &status, Start: &midDay, End: &midDay, Full: true},
			where(func(r row) bool { return r.Status == status && day(r.Start).Equal(midDay) })},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := store.ListSessions(ctx, pool, superadmin, store.SessionsOfParticipant, 1, c.f)
			if err != nil {
				t.Fatal(err)
			}
			gotIDs := []int32{}
			for _, s := range got {
				gotIDs = append(gotIDs, s.IDSession)
				if c.f.Full != (s.Participants != nil) {
					t.Fatalf("session %d: full=%v but participants %v", s.IDSession, c.f.Full, s.Participants)
				}
			}
			if !slices.Equal(gotIDs, c.want) {
				t.Fatalf("got %v, want %v", gotIDs, c.want)
			}
			for _, scope := range []access.Scope{superadmin, access.For(access.ServiceCaller(1))} {
				if q := store.SessionsQuery(scope, store.SessionsOfParticipant, c.f); strings.Contains(q, "IS NULL OR") {
					t.Fatalf("statement has an optional filter:\n%s", q)
				}
			}
		})
	}
}
