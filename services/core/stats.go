package core

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/stats

type stats struct {
	*Service
	corev1.UnimplementedStatsServiceServer
}

func (s *stats) GetStats(ctx context.Context, r *corev1.GetStatsRequest) (*corev1.GetStatsResponse, error) {
	// Every refusal is OpenTera's 403 "Forbidden": the selectors carry no message of their own.
	c, ok := firstSelected([]idSelector[store.StatsSelector]{{r.IdUserGroup, store.StatsOfUserGroup, "", ""}, // declared in proto
		{r.IdUser, store.StatsOfUser, access.Users, ""}, {r.IdSite, store.StatsOfSite, access.Sites, ""},
		{r.IdProject, store.StatsOfProject, access.Projects, ""}, {r.IdGroup, store.StatsOfGroup, access.ParticipantGroups, ""},
		{r.IdSession, store.StatsOfSession, access.Sessions, ""}, {r.IdParticipant, store.StatsOfParticipant, access.Participants, ""},
		{r.IdDevice, store.StatsOfDevice, access.Devices, ""}})
	if !ok {
		return nil, apierr.MissingArgument("Missing id argument")
	}
	m := caller(ctx)
	if err := s.requireSelected(ctx, m, c.obj, c.id, "Forbidden"); err != nil {
		return nil, err
	}
	out, err := store.Stats(ctx, s.db, m.acc, c.by, c.id, r.WithParticipants, r.WithWarnings)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	st, err := structpb.NewStruct(out)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &corev1.GetStatsResponse{Stats: st}, nil
}
