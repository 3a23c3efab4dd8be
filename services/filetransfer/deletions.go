package filetransfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/outbox"
)

// ConsumerName is the durable consumer of asset deletions every filetransfer replica shares.
const ConsumerName = "filetransfer"

// consumeDeletions removes the file of every asset deleted in core by any path (the service
// API, a session's deletion cascading to its assets…), as OpenTera's asset_event_received:
// the asset's DatabaseEvent comes from core's outbox, so none is missed while this target is
// down. It retries until ctx ends when JetStream is not reachable yet.
func (s *Service) consumeDeletions(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.consumeOnce(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.o.Log.Warn("asset deletion events not consumed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (s *Service) consumeOnce(ctx context.Context) error {
	if err := outbox.EnsureStreams(ctx, s.o.JS); err != nil {
		return err
	}
	cons, err := s.o.JS.CreateOrUpdateConsumer(ctx, outbox.StreamName, jetstream.ConsumerConfig{
		Durable:        ConsumerName,
		Description:    "filetransfer: delete the files of deleted assets",
		FilterSubjects: []string{outbox.Subject("asset", outbox.Delete)},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        time.Minute,
		MaxDeliver:     10,
	})
	if err != nil {
		return fmt.Errorf("asset deletions consumer: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := s.onAssetDeleted(ctx, m.Data()); err != nil {
			s.o.Log.Warn("asset deletion not handled", "err", err)
			_ = m.NakWithDelay(5 * time.Second)
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("consume asset deletions: %w", err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}

func (s *Service) onAssetDeleted(ctx context.Context, data []byte) error {
	var ev eventsv1.DatabaseEvent
	if err := proto.Unmarshal(data, &ev); err != nil || ev.ObjectType != "asset" || ev.Type != eventsv1.DatabaseEvent_DB_DELETE {
		return nil // not ours to fix
	}
	var obj struct {
		ID int64 `json:"id_asset"`
	}
	if err := json.Unmarshal([]byte(ev.ObjectValue), &obj); err != nil || obj.ID == 0 {
		return nil
	}
	// The row stays (soft delete): its uuid names the file. Bytes first, then the file row, so
	// a failure in between is retried (the event is redelivered) rather than orphaning bytes.
	var assetUUID string
	err := s.o.DB.QueryRow(ctx, `SELECT f.asset_uuid FROM filetransfer.t_asset_file_data f
		JOIN core.t_assets a ON a.asset_uuid = f.asset_uuid WHERE a.id_asset = $1 AND a.deleted_at IS NOT NULL`, obj.ID).Scan(&assetUUID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // not a file of ours, or already removed (DELETE /file/api/assets)
	}
	if err != nil {
		return fmt.Errorf("asset %d file row: %w", obj.ID, err)
	}
	if err := s.o.Blob.Delete(ctx, assetUUID); err != nil {
		return fmt.Errorf("asset %s file: %w", assetUUID, err)
	}
	if _, err := s.o.DB.Exec(ctx, `DELETE FROM filetransfer.t_asset_file_data WHERE asset_uuid = $1`, assetUUID); err != nil {
		return fmt.Errorf("asset %s file row: %w", assetUUID, err)
	}
	s.o.Log.Info("file of a deleted asset removed", "asset_uuid", assetUUID)
	return nil
}
