package authn

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token lifetimes (REFERENCE §3/§10).
const (
	UserTokenLifetime        = time.Hour
	UserRefreshLifetime      = 30 * time.Minute
	ParticipantTokenLifetime = time.Hour
	ParticipantRefreshLife   = 30 * time.Minute
	// ServiceTokenLifetime bounds service tokens (OpenTera's have none); a service asks again.
	ServiceTokenLifetime = 24 * time.Hour
	// ServiceClientTokenLifetime is the lifetime of the tokens login issues to a service for its
	// client credentials (POST /api/service/token): short, since the service can always ask
	// again, and a disabled service is refused by the principal check before it ends anyway.
	ServiceClientTokenLifetime = time.Hour
	// MaxTokenLifetime is the longest lifetime of a key-signed token: keep a retired signing
	// key at least this long.
	MaxTokenLifetime = ServiceTokenLifetime
)

// Issuer is OpenTera's iss claim, kept so clients that read it see the same value.
const Issuer = "TeraServer"

// Claims are OpenTera's token claims; which uuid is set says the principal kind.
type Claims struct {
	jwt.RegisteredClaims
	UserUUID       string              `json:"user_uuid,omitempty"`
	IDUser         int64               `json:"id_user,omitempty"`
	UserFullname   string              `json:"user_fullname,omitempty"`
	UserSuperadmin *bool               `json:"user_superadmin,omitempty"`
	ServiceAccess  map[string][]string `json:"service_access,omitempty"`

	ParticipantUUID string `json:"participant_uuid,omitempty"`
	IDParticipant   int64  `json:"id_participant,omitempty"`

	DeviceUUID string `json:"device_uuid,omitempty"`
	IDDevice   int64  `json:"id_device,omitempty"`

	ServiceUUID string `json:"service_uuid,omitempty"`
}

// Kind says which principal the claims name.
func (c *Claims) Kind() (Kind, error) {
	n := 0
	var k Kind
	if c.UserUUID != "" {
		n, k = n+1, KindUser
	}
	if c.ParticipantUUID != "" {
		n, k = n+1, KindParticipant
	}
	if c.DeviceUUID != "" {
		n, k = n+1, KindDevice
	}
	if c.ServiceUUID != "" {
		n, k = n+1, KindService
	}
	if n != 1 {
		return 0, errors.New("token names no single principal")
	}
	return k, nil
}

// Signer issues tokens with the newest key of a key set.
type Signer struct {
	Keys *KeySet
	Now  func() time.Time
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Sign signs claims as an ES256 JWT. iss and jti are filled when empty, iat too unless
// lifetime is 0, which means a static token: no iat, no exp.
func (s *Signer) Sign(c Claims, lifetime time.Duration) (string, error) {
	k, err := s.Keys.signer()
	if err != nil {
		return "", err
	}
	now := s.now()
	if c.Issuer == "" {
		c.Issuer = Issuer
	}
	if c.IssuedAt == nil && lifetime > 0 {
		c.IssuedAt = jwt.NewNumericDate(now)
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	if lifetime > 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(lifetime))
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, &c)
	t.Header["kid"] = k.kid
	out, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return out, nil
}

// UserToken issues a user's dynamic token (REFERENCE §3 claims).
func (s *Signer) UserToken(id int64, uuid, fullname string, superadmin bool, serviceAccess map[string][]string, lifetime time.Duration) (string, error) {
	if serviceAccess == nil {
		serviceAccess = map[string][]string{}
	}
	sa := superadmin
	return s.Sign(Claims{UserUUID: uuid, IDUser: id, UserFullname: fullname, UserSuperadmin: &sa, ServiceAccess: serviceAccess}, lifetime)
}

// ParticipantToken issues a participant's dynamic token (role full).
func (s *Signer) ParticipantToken(id int64, uuid, fullname string, lifetime time.Duration) (string, error) {
	return s.Sign(Claims{ParticipantUUID: uuid, IDParticipant: id, UserFullname: fullname}, lifetime)
}

// ServiceToken issues a service's token.
func (s *Signer) ServiceToken(uuid string) (string, error) {
	return s.Sign(Claims{ServiceUUID: uuid}, ServiceTokenLifetime)
}

// DeviceStaticToken issues a device's static token (no exp); it is stored in t_devices and
// checked against it.
func (s *Signer) DeviceStaticToken(id int64, uuid string) (string, error) {
	return s.Sign(Claims{DeviceUUID: uuid, IDDevice: id}, 0)
}

// StaticToken mints a participant's or device's static token as OpenTera does: an HS256 JWT
// under the server setting key (ParticipantTokenEncryptionKey for participants,
// TokenEncryptionKey for devices), iss TeraServer, a random jti, no iat and no exp. Tera checks
// static tokens by equality with the stored one (the verifier never checks their signature), so
// the key only keeps tokens in OpenTera's own format, interchangeable with imported ones.
func StaticToken(key string, c Claims) (string, error) {
	if k, err := c.Kind(); err != nil || (k != KindParticipant && k != KindDevice) {
		return "", errors.New("static token: claims must name one participant or device")
	}
	if key == "" {
		return "", errors.New("static token: empty key")
	}
	c.Issuer, c.ID, c.IssuedAt, c.ExpiresAt = Issuer, uuid.NewString(), nil, nil
	out, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString([]byte(key))
	if err != nil {
		return "", fmt.Errorf("sign static token: %w", err)
	}
	return out, nil
}
