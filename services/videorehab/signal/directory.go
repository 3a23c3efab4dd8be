package signal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketRooms is the NATS KV bucket of room placements: key = room, value = the owning pod.
const BucketRooms = "tera_videorehab_rooms"

// RoomTTL is how long a placement outlives its pod's last refresh (a pod that died frees
// its rooms within it); pods refresh theirs every RoomTTL/3.
const RoomTTL = 30 * time.Second

// Owner is a pod holding a room.
type Owner struct {
	Pod string `json:"pod"`
	// URL is the pod's signalling URL as clients reach it.
	URL string `json:"url"`
}

// Directory places rooms on pods: the first pod a peer of a room reaches claims it, the
// others redirect to it.
type Directory struct {
	js jetstream.JetStream
	me Owner

	mu      sync.Mutex
	kv      jetstream.KeyValue
	claimed map[string]uint64 // room → revision of our placement
}

// NewDirectory returns the directory of pod me; the bucket is bound on first use (the pod
// starts while NATS is down).
func NewDirectory(js jetstream.JetStream, me Owner) (*Directory, error) {
	if me.Pod == "" || me.URL == "" {
		return nil, errors.New("signal: a pod needs a name and a signalling URL")
	}
	return &Directory{js: js, me: me, claimed: map[string]uint64{}}, nil
}

// Me is this pod.
func (d *Directory) Me() Owner { return d.me }

func (d *Directory) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kv == nil {
		kv, err := d.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: BucketRooms, History: 1, TTL: RoomTTL,
			Description: "videorehab room placements (room → pod)"})
		if err != nil {
			return nil, fmt.Errorf("kv bucket %s: %w", BucketRooms, err)
		}
		d.kv = kv
	}
	return d.kv, nil
}

// roomKey is a KV key for any room id.
func roomKey(room string) string {
	h := sha256.Sum256([]byte(room))
	return hex.EncodeToString(h[:16])
}

// Claim returns the room's owner, claiming it for this pod when nobody holds it.
func (d *Directory) Claim(ctx context.Context, room string) (Owner, bool, error) {
	kv, err := d.bucket(ctx)
	if err != nil {
		return Owner{}, false, err
	}
	key := roomKey(room)
	mine, _ := json.Marshal(d.me)
	for range 3 {
		rev, err := kv.Create(ctx, key, mine)
		if err == nil {
			d.mu.Lock()
			d.claimed[room] = rev
			d.mu.Unlock()
			return d.me, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return Owner{}, false, fmt.Errorf("claim room: %w", err)
		}
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return Owner{}, false, fmt.Errorf("room owner: %w", err)
		}
		var o Owner
		if err := json.Unmarshal(e.Value(), &o); err != nil || o.Pod == "" {
			return Owner{}, false, fmt.Errorf("room owner %s: unreadable placement", key)
		}
		if o.Pod == d.me.Pod {
			d.mu.Lock()
			d.claimed[room] = e.Revision()
			d.mu.Unlock()
			return d.me, true, nil
		}
		return o, false, nil
	}
	return Owner{}, false, errors.New("claim room: placement kept changing")
}

// Refresh keeps the placements of live (the rooms this pod still holds) and releases the
// other rooms it claimed.
func (d *Directory) Refresh(ctx context.Context, live []string) error {
	kv, err := d.bucket(ctx)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, r := range live {
		keep[r] = true
	}
	d.mu.Lock()
	claimed := make(map[string]uint64, len(d.claimed))
	for r, rev := range d.claimed {
		claimed[r] = rev
	}
	d.mu.Unlock()
	mine, _ := json.Marshal(d.me)
	var errs []error
	for room, rev := range claimed {
		key := roomKey(room)
		if !keep[room] {
			err := kv.Delete(ctx, key, jetstream.LastRevision(rev))
			if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) && !isWrongRevision(err) {
				errs = append(errs, err)
				continue
			}
			d.mu.Lock()
			if d.claimed[room] == rev {
				delete(d.claimed, room)
			}
			d.mu.Unlock()
			continue
		}
		nrev, err := kv.Update(ctx, key, mine, rev)
		if err != nil {
			// Expired (NATS was away longer than the TTL): claim again if still free.
			nrev, err = kv.Create(ctx, key, mine)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("room %s: %w", key, err))
			continue
		}
		d.mu.Lock()
		d.claimed[room] = nrev
		d.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Release frees every placement of this pod (shutdown).
func (d *Directory) Release(ctx context.Context) error { return d.Refresh(ctx, nil) }

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
