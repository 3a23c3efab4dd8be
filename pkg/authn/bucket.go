package authn

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is a NATS KV bucket bound on first use and re-tried on every use until bound, so a
// process starts, answers /livez and reports unready while NATS is unreachable, instead of
// failing at start and being restarted in a loop.
type Bucket struct {
	js  jetstream.JetStream
	cfg jetstream.KeyValueConfig
	mu  sync.Mutex
	kv  jetstream.KeyValue
}

func newBucket(js jetstream.JetStream, cfg jetstream.KeyValueConfig) *Bucket {
	cfg.History = 1
	return &Bucket{js: js, cfg: cfg}
}

// KV returns the bound bucket, creating or updating it on first use.
func (b *Bucket) KV(ctx context.Context) (jetstream.KeyValue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kv != nil {
		return b.kv, nil
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, b.cfg)
	if err != nil {
		return nil, fmt.Errorf("kv bucket %s: %w", b.cfg.Bucket, err)
	}
	b.kv = kv
	return kv, nil
}

// Get reads a key.
func (b *Bucket) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	kv, err := b.KV(ctx)
	if err != nil {
		return nil, err
	}
	return kv.Get(ctx, key)
}

// Put writes a key.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	kv, err := b.KV(ctx)
	if err != nil {
		return 0, err
	}
	return kv.Put(ctx, key, value)
}

// Create writes a key that must not exist.
func (b *Bucket) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	kv, err := b.KV(ctx)
	if err != nil {
		return 0, err
	}
	return kv.Create(ctx, key, value, opts...)
}

// Update writes a key at the expected revision.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	kv, err := b.KV(ctx)
	if err != nil {
		return 0, err
	}
	return kv.Update(ctx, key, value, revision)
}

// Delete removes a key.
func (b *Bucket) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	kv, err := b.KV(ctx)
	if err != nil {
		return err
	}
	return kv.Delete(ctx, key, opts...)
}

// Purge removes a key and its history.
func (b *Bucket) Purge(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	kv, err := b.KV(ctx)
	if err != nil {
		return err
	}
	return kv.Purge(ctx, key, opts...)
}
