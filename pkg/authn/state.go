package authn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Shared ephemeral state of authentication lives in NATS KV buckets (ARCHITECTURE §3), so every
// replica sees the same revocations, attempt counters and one-time keys.
const (
	// BucketRevoked holds revoked token ids (jti → ""), each with a per-key TTL equal to the
	// token's remaining lifetime.
	BucketRevoked = "tera_revoked_tokens"
	// BucketLoginAttempts counts failed password logins per principal uuid; a key lives 120 s
	// after the last failure (OpenTera's UserLoginAttempts./ParticipantLoginAttempts.).
	BucketLoginAttempts = "tera_login_attempts"
	// Bucket2FAAttempts counts failed OTP codes per user uuid, 900 s after the last failure.
	Bucket2FAAttempts = "tera_2fa_attempts"
	// BucketConnectKeys maps a websocket connect key (the id= of websocket_url) to the
	// principal, for 60 s; the websocket target consumes it (ConsumeConnectKey).
	BucketConnectKeys = "tera_ws_connect_keys"
	// BucketLoginSessions holds the server side of the two-step login flows (2FA, forced
	// password change, setup) for 5 minutes, keyed by the session cookie.
	BucketLoginSessions = "tera_login_sessions"
	// BucketAuthCodes holds service SSO codes (OpenTera's service_auth_code_<code>) for 300 s.
	BucketAuthCodes = "tera_service_auth_codes"
)

// Limits of REFERENCE §3.
const (
	MaxLoginAttempts    = 5
	LoginAttemptsWindow = 120 * time.Second
	Max2FAAttempts      = 5
	TwoFAAttemptsWindow = 900 * time.Second
	ConnectKeyTTL       = 60 * time.Second
	LoginSessionTTL     = 5 * time.Minute
	AuthCodeTTL         = 300 * time.Second
)

// State is the set of KV buckets.
type State struct {
	Revoked       *Bucket
	Attempts      *Bucket
	TwoFAAttempts *Bucket
	ConnectKeys   *Bucket
	LoginSessions *Bucket
	AuthCodes     *Bucket
}

// OpenState binds the buckets, creating them if needed, within ctx. A bucket it cannot bind
// then (NATS unreachable at start) is bound on first use instead, so the error is only for
// callers that want to know; the State is usable either way.
func OpenState(ctx context.Context, js jetstream.JetStream) (*State, error) {
	s := &State{
		// Per-key TTLs need LimitMarkerTTL on the bucket (nats-server 2.11+); TTL caps them.
		Revoked: newBucket(js, jetstream.KeyValueConfig{Bucket: BucketRevoked, TTL: MaxTokenLifetime + time.Minute, LimitMarkerTTL: time.Minute,
			Description: "revoked token ids, TTL = remaining lifetime"}),
		Attempts:      newBucket(js, jetstream.KeyValueConfig{Bucket: BucketLoginAttempts, TTL: LoginAttemptsWindow, Description: "failed login attempts"}),
		TwoFAAttempts: newBucket(js, jetstream.KeyValueConfig{Bucket: Bucket2FAAttempts, TTL: TwoFAAttemptsWindow, Description: "failed 2FA attempts"}),
		ConnectKeys:   newBucket(js, jetstream.KeyValueConfig{Bucket: BucketConnectKeys, TTL: ConnectKeyTTL, Description: "websocket connect keys"}),
		LoginSessions: newBucket(js, jetstream.KeyValueConfig{Bucket: BucketLoginSessions, TTL: LoginSessionTTL, Description: "two-step login state"}),
		AuthCodes:     newBucket(js, jetstream.KeyValueConfig{Bucket: BucketAuthCodes, TTL: AuthCodeTTL, Description: "service SSO auth codes"}),
	}
	var errs []error
	for _, b := range []*Bucket{s.Revoked, s.Attempts, s.TwoFAAttempts, s.ConnectKeys, s.LoginSessions, s.AuthCodes} {
		if _, err := b.KV(ctx); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return s, errors.Join(errs...)
}

// Revoke marks a token id revoked until exp. Revoking twice is fine.
func (s *State) Revoke(ctx context.Context, jti string, exp time.Time) error {
	ttl := time.Until(exp)
	if ttl <= 0 {
		return nil // expired tokens are refused anyway
	}
	if ttl < time.Second {
		ttl = time.Second
	}
	// The value is the expiry, so a RevocationSet can forget the id once the token is dead.
	exps := strconv.FormatInt(exp.Unix(), 10)
	_, err := s.Revoked.Create(ctx, jti, []byte(exps), jetstream.KeyTTL(ttl.Round(time.Second)+time.Second))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return err
}

// IsRevoked reports whether a token id was revoked.
func (s *State) IsRevoked(ctx context.Context, jti string) (bool, error) {
	if jti == "" {
		return false, nil
	}
	_, err := s.Revoked.Get(ctx, jti)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Attempts reads a failure counter.
func Attempts(ctx context.Context, kv *Bucket, key string) (int, error) {
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, _ := strconv.Atoi(string(e.Value()))
	return n, nil
}

// AddAttempt increments a failure counter atomically (compare-and-set across replicas) and
// returns the new count; the bucket TTL expires it after the last failure.
func AddAttempt(ctx context.Context, kv *Bucket, key string) (int, error) {
	for range 20 {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if _, err := kv.Create(ctx, key, []byte("1")); err == nil {
				return 1, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		n, _ := strconv.Atoi(string(e.Value()))
		n++
		if _, err := kv.Update(ctx, key, []byte(strconv.Itoa(n)), e.Revision()); err == nil {
			return n, nil
		}
	}
	return 0, errors.New("attempt counter: too much contention")
}

// ResetAttempts clears a counter after a success.
func ResetAttempts(ctx context.Context, kv *Bucket, key string) error {
	err := kv.Purge(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

// ConnectTarget is what a websocket connect key stands for.
type ConnectTarget struct {
	Kind Kind   `json:"kind"`
	UUID string `json:"uuid"`
	// TokenID is the jti of the token the login returned, so a logout can close the socket.
	TokenID string `json:"token_id,omitempty"`
}

// NewConnectKey stores a single-use websocket key for 60 s and returns it.
func (s *State) NewConnectKey(ctx context.Context, t ConnectTarget) (string, error) {
	key := RandomHex(16)
	b, _ := json.Marshal(t)
	if _, err := s.ConnectKeys.Create(ctx, key, b); err != nil {
		return "", err
	}
	return key, nil
}

// ConsumeConnectKey returns the target of a connect key issued for a principal of kind and
// deletes it; a second use, an unknown or an expired key yields ok=false. A key of another kind
// (a participant's key on /wss/user) is refused and left for its own path.
func (s *State) ConsumeConnectKey(ctx context.Context, key string, kind Kind) (ConnectTarget, bool, error) {
	var t ConnectTarget
	e, err := s.ConnectKeys.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return t, false, nil
	}
	if err != nil {
		return t, false, err
	}
	if time.Since(e.Created()) > ConnectKeyTTL {
		return t, false, nil
	}
	if err := json.Unmarshal(e.Value(), &t); err != nil || t.Kind != kind {
		return ConnectTarget{}, false, nil
	}
	// Only the delete that matches the revision we read wins: single use across replicas.
	if err := s.ConnectKeys.Delete(ctx, key, jetstream.LastRevision(e.Revision())); err != nil {
		return ConnectTarget{}, false, nil
	}
	return t, true, nil
}

// RandomHex returns n random bytes, hex-encoded.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
