package authn

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// RevocationBound is the longest a revocation takes to be honoured by every verifier: a token
// revoked anywhere is refused everywhere from RevocationBound after Revoke returned.
const RevocationBound = time.Second

// RevocationSet is this process's copy of the revoked-ids bucket, kept current by a KV watcher,
// so a token request checks revocation in memory instead of a NATS round trip.
//
// Propagation: NATS pushes each revocation to every watcher (milliseconds; TestRevocation*
// measure it across two verifiers). To make that a bound rather than a hope, the set proves
// its freshness: every RevocationBound/4 it reads the bucket's last sequence, and once its
// watcher has delivered up to that sequence the set is known to hold every revocation made
// before the read. It answers from memory only while that proof is younger than
// RevocationBound; otherwise (start, NATS disconnected, a reconnect not yet replayed, a
// lagging watcher) Revoked reports known=false and the verifier asks the bucket directly,
// which fails with a 503 when NATS is unreachable: a replica cut off from NATS never accepts
// a token on stale data.
type RevocationSet struct {
	bucket *Bucket
	log    *slog.Logger
	now    func() time.Time

	// freshAt (unix ns) is the latest instant before which every revocation is in ids; 0 while
	// no watcher is in sync.
	freshAt atomic.Int64
	mu      sync.RWMutex
	ids     map[string]time.Time // jti → when the token expires (then the entry is dropped)
}

// NewRevocationSet returns a set fed from the state's revoked-ids bucket once Run runs.
func NewRevocationSet(s *State, log *slog.Logger) *RevocationSet {
	if log == nil {
		log = slog.Default()
	}
	return &RevocationSet{bucket: s.Revoked, log: log, now: time.Now, ids: map[string]time.Time{}}
}

// Revoked reports whether jti is revoked; known is false while the set cannot prove it is
// current.
func (r *RevocationSet) Revoked(jti string) (revoked, known bool) {
	if !r.Synced() {
		return false, false
	}
	r.mu.RLock()
	_, revoked = r.ids[jti]
	r.mu.RUnlock()
	return revoked, true
}

// Synced reports whether the set currently answers from memory.
func (r *RevocationSet) Synced() bool {
	if r == nil {
		return false
	}
	f := r.freshAt.Load()
	return f != 0 && r.now().UnixNano()-f <= int64(RevocationBound)
}

var errConnectionChanged = errors.New("nats connection changed state")

// Run keeps the set in sync until ctx ends, re-watching the bucket after every NATS
// disconnect or watcher failure.
func (r *RevocationSet) Run(ctx context.Context) error {
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for ctx.Err() == nil {
		err := r.watch(ctx, prune.C)
		r.freshAt.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errConnectionChanged) {
			r.log.Warn("revocation watcher stopped; checking the bucket directly until it resumes", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// probe is a reading of the bucket's last sequence taken at a given instant.
type probe struct {
	at   time.Time
	last uint64
}

func lastSeq(ctx context.Context, kv jetstream.KeyValue) (uint64, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return 0, errors.New("bucket status without stream info")
	}
	return bs.StreamInfo().State.LastSeq, nil
}

func (r *RevocationSet) watch(ctx context.Context, prune <-chan time.Time) error {
	nc := r.bucket.js.Conn()
	// Registered before the watcher starts, so a state change during the replay is seen.
	status := nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(status)
	if !nc.IsConnected() {
		select {
		case <-ctx.Done():
			return nil
		case <-status:
			return errConnectionChanged
		}
	}
	kv, err := r.bucket.KV(ctx)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The replay covers everything up to the watcher's creation, so a sequence read before it
	// is reached once the replay ends.
	start := probe{at: r.now()}
	if start.last, err = lastSeq(wctx, kv); err != nil {
		return err
	}
	w, err := kv.WatchAll(wctx)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	probes := make(chan probe, 1)
	go func() {
		t := time.NewTicker(RevocationBound / 4)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				p := probe{at: r.now()}
				pctx, pcancel := context.WithTimeout(wctx, RevocationBound)
				last, err := lastSeq(pctx, kv)
				pcancel()
				if err != nil {
					continue // freshness then lapses and the verifier asks the bucket
				}
				p.last = last
				select {
				case probes <- p:
				case <-wctx.Done():
					return
				}
			}
		}
	}()
	fresh := map[string]time.Time{} // the replay, swapped in when complete
	var seen uint64                 // highest sequence the set reflects
	pending := []probe{start}
	settle := func() {
		for len(pending) > 0 && fresh == nil && seen >= pending[0].last {
			r.freshAt.Store(pending[0].at.UnixNano())
			pending = pending[1:]
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-status:
			return errConnectionChanged
		case <-prune:
			r.prune()
		case p := <-probes:
			if len(pending) < 16 {
				pending = append(pending, p)
			} else { // the watcher lags far behind: wait for the newest reading only
				pending = append(pending[:0], p)
			}
			settle()
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watcher closed")
			}
			if e == nil { // end of the initial replay
				if fresh != nil {
					r.mu.Lock()
					r.ids = fresh
					r.mu.Unlock()
					fresh = nil
					seen = max(seen, start.last)
					settle()
				}
				continue
			}
			seen = max(seen, e.Revision())
			if fresh != nil {
				applyRevocation(fresh, e)
				continue
			}
			r.mu.Lock()
			applyRevocation(r.ids, e)
			r.mu.Unlock()
			settle()
		}
	}
}

func applyRevocation(ids map[string]time.Time, e jetstream.KeyValueEntry) {
	switch e.Operation() {
	case jetstream.KeyValuePut:
		ids[e.Key()] = revocationExpiry(e)
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		delete(ids, e.Key())
	}
}

// revocationExpiry is the token expiry Revoke stores as the value (unix seconds); entries
// written without it are kept as long as the longest token lives.
func revocationExpiry(e jetstream.KeyValueEntry) time.Time {
	if s, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil {
		return time.Unix(s, 0)
	}
	return e.Created().Add(MaxTokenLifetime)
}

// prune drops the ids of tokens that have expired (they are refused as expired anyway).
func (r *RevocationSet) prune() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for jti, exp := range r.ids {
		if now.After(exp.Add(time.Minute)) {
			delete(r.ids, jti)
		}
	}
}
