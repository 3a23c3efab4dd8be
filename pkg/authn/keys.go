package authn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Signing keys live in one directory, mounted from a Kubernetes Secret, one file per key:
//
//	signing-key-<kid>.pem   ECDSA P-256 private key, PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY")
//
// Every key verifies; the newest signs. "Newest" is the greatest kid in byte order, so kids must
// sort by creation time (the operator uses the UTC creation time, e.g. 20260301T120000Z).
//
// Rotation: add a new file to the Secret. Each process re-reads the directory every
// ReloadInterval; a newly seen key verifies at once but only starts signing after SignDelay, so
// every replica (kubelet Secret sync ≤ ~90 s, then one reload) knows it before any token signed
// with it reaches them. Remove an old key once the longest-lived token it signed has expired
// (user and participant tokens: 1 h; see the lifetimes in tokens.go). Static participant and
// device tokens are checked against the database, not against a key, so removing a key never
// invalidates them.
const (
	keyFilePrefix  = "signing-key-"
	keyFileSuffix  = ".pem"
	ReloadInterval = 30 * time.Second
	SignDelay      = 2 * time.Minute
)

type signingKey struct {
	kid       string
	priv      *ecdsa.PrivateKey
	firstSeen time.Time
}

// KeySet holds the signing and verification keys. It is safe for concurrent use.
type KeySet struct {
	dir string
	now func() time.Time

	mu   sync.RWMutex
	keys map[string]*signingKey
}

// LoadKeySet reads every signing-key-<kid>.pem of dir. At least one key is required.
func LoadKeySet(dir string) (*KeySet, error) {
	ks := &KeySet{dir: dir, now: time.Now, keys: map[string]*signingKey{}}
	if err := ks.Reload(); err != nil {
		return nil, err
	}
	// Keys present at start sign at once: a process that starts has no peer that knows less.
	for _, k := range ks.keys {
		k.firstSeen = time.Time{}
	}
	return ks, nil
}

// NewKeySet builds a key set from keys held in memory (tests, tools).
func NewKeySet(keys map[string]*ecdsa.PrivateKey) *KeySet {
	ks := &KeySet{now: time.Now, keys: map[string]*signingKey{}}
	for kid, k := range keys {
		ks.keys[kid] = &signingKey{kid: kid, priv: k}
	}
	return ks
}

// Reload re-reads the directory: new keys are added (signing after SignDelay), removed ones are
// dropped. A directory that became unreadable or empty keeps the current keys.
func (ks *KeySet) Reload() error {
	if ks.dir == "" {
		return nil
	}
	entries, err := os.ReadDir(ks.dir)
	if err != nil {
		return fmt.Errorf("signing keys: %w", err)
	}
	found := map[string]*ecdsa.PrivateKey{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, keyFilePrefix) || !strings.HasSuffix(name, keyFileSuffix) {
			continue
		}
		kid := strings.TrimSuffix(strings.TrimPrefix(name, keyFilePrefix), keyFileSuffix)
		b, err := os.ReadFile(filepath.Join(ks.dir, name))
		if err != nil {
			return fmt.Errorf("signing key %s: %w", kid, err)
		}
		k, err := ParseECKey(b)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", kid, err)
		}
		found[kid] = k
	}
	if len(found) == 0 {
		return fmt.Errorf("signing keys: no %s<kid>%s file in %s", keyFilePrefix, keyFileSuffix, ks.dir)
	}
	now := ks.now()
	ks.mu.Lock()
	defer ks.mu.Unlock()
	next := make(map[string]*signingKey, len(found))
	for kid, k := range found {
		if old, ok := ks.keys[kid]; ok && old.priv.Equal(k) {
			next[kid] = old
			continue
		}
		next[kid] = &signingKey{kid: kid, priv: k, firstSeen: now}
	}
	ks.keys = next
	return nil
}

// ParseECKey reads a P-256 private key in PKCS#8 or SEC 1 PEM.
func ParseECKey(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return ec, nil
}

// GenerateKeyFile writes a new P-256 key as dir/signing-key-<kid>.pem (PKCS#8), kid being the
// UTC time, and returns the kid.
func GenerateKeyFile(dir string) (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	kid := time.Now().UTC().Format("20060102T150405.000000000Z")
	kid = strings.ReplaceAll(kid, ".", "")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(dir, keyFilePrefix+kid+keyFileSuffix)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", err
	}
	return kid, nil
}

// signer returns the key that signs now: the newest key past its SignDelay (or present at start).
func (ks *KeySet) signer() (*signingKey, error) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	kids := make([]string, 0, len(ks.keys))
	for kid := range ks.keys {
		kids = append(kids, kid)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(kids)))
	now := ks.now()
	for _, kid := range kids {
		k := ks.keys[kid]
		if k.firstSeen.IsZero() || now.Sub(k.firstSeen) >= SignDelay {
			return k, nil
		}
	}
	if len(kids) > 0 {
		return ks.keys[kids[len(kids)-1]], nil
	}
	return nil, errors.New("no signing key")
}

// public returns the verification key of kid.
func (ks *KeySet) public(kid string) (crypto.PublicKey, bool) {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	k, ok := ks.keys[kid]
	if !ok {
		return nil, false
	}
	return &k.priv.PublicKey, true
}

// JWKS is the public key set as served at /.well-known/jwks.json.
func (ks *KeySet) JWKS() []byte {
	ks.mu.RLock()
	kids := make([]string, 0, len(ks.keys))
	for kid := range ks.keys {
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	type jwk struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Y   string `json:"y"`
		Kid string `json:"kid"`
		Use string `json:"use"`
		Alg string `json:"alg"`
	}
	out := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, kid := range kids {
		pub := ks.keys[kid].priv.PublicKey
		out.Keys = append(out.Keys, jwk{Kty: "EC", Crv: "P-256", X: b64(pub.X), Y: b64(pub.Y), Kid: kid, Use: "sig", Alg: "ES256"})
	}
	ks.mu.RUnlock()
	b, _ := json.Marshal(out)
	return b
}

func b64(i *big.Int) string {
	b := make([]byte, 32)
	i.FillBytes(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
