package authn

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// AssetTokenLifetime is how long an asset access token is valid (OpenTera's 1800 s).
const AssetTokenLifetime = 30 * time.Minute

// AssetAudience is the aud claim of asset access tokens: it keeps them apart from principal
// tokens (which name a principal, an asset token names none) and from any other signed kind.
const AssetAudience = "tera-assets"

// AssetClaims are the claims of an access token to assets, tests or test types (OpenTera's
// get_access_token of TeraAsset, TeraTest and TeraTestType: asset_uuids, test_uuids or
// test_type_uuids, can_edit for test types, and requester_uuid), signed by the same keys as
// every token. The service owning them (the filetransfer target for assets) grants access to
// the listed objects to whoever presents it, without asking core again. Exactly one list is set.
type AssetClaims struct {
	jwt.RegisteredClaims
	AssetUUIDs    []string `json:"asset_uuids,omitempty"`
	TestUUIDs     []string `json:"test_uuids,omitempty"`
	TestTypeUUIDs []string `json:"test_type_uuids,omitempty"`
	CanEdit       *bool    `json:"can_edit,omitempty"`
	RequesterUUID string   `json:"requester_uuid"`
}

// Allows reports whether the token names the asset.
func (c *AssetClaims) Allows(assetUUID string) bool { return slices.Contains(c.AssetUUIDs, assetUUID) }

// AllowsTest and AllowsTestType report whether the token names the test or test type.
func (c *AssetClaims) AllowsTest(testUUID string) bool { return slices.Contains(c.TestUUIDs, testUUID) }
func (c *AssetClaims) AllowsTestType(uuid string) bool { return slices.Contains(c.TestTypeUUIDs, uuid) }

// AssetToken signs an asset access token naming the assets and the requester's uuid, valid
// AssetTokenLifetime.
func (s *Signer) AssetToken(requesterUUID string, assetUUIDs []string) (string, error) {
	return s.accessToken(AssetClaims{AssetUUIDs: assetUUIDs, RequesterUUID: requesterUUID})
}

// TestToken signs a test access token (the test answers in the test type's service).
func (s *Signer) TestToken(requesterUUID string, testUUIDs []string) (string, error) {
	return s.accessToken(AssetClaims{TestUUIDs: testUUIDs, RequesterUUID: requesterUUID})
}

// TestTypeToken signs a test type access token; canEdit lets the service's editor change it.
func (s *Signer) TestTypeToken(requesterUUID string, testTypeUUIDs []string, canEdit bool) (string, error) {
	return s.accessToken(AssetClaims{TestTypeUUIDs: testTypeUUIDs, CanEdit: &canEdit, RequesterUUID: requesterUUID})
}

func (s *Signer) accessToken(c AssetClaims) (string, error) {
	if c.RequesterUUID == "" || c.lists() != 1 {
		return "", errors.New("access token: a requester and one non-empty list of uuids are required")
	}
	k, err := s.Keys.signer()
	if err != nil {
		return "", err
	}
	now := s.now()
	c.RegisteredClaims = jwt.RegisteredClaims{Issuer: Issuer, ID: uuid.NewString(), Audience: jwt.ClaimStrings{AssetAudience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(AssetTokenLifetime))}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, &c)
	t.Header["kid"] = k.kid
	out, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("sign asset token: %w", err)
	}
	return out, nil
}

// VerifyAssetToken checks an asset, test or test type access token's signature against the key set (the same
// keys, published as JWKS, that verify every token), its issuer, audience and expiry, and
// returns its claims. Principal tokens are refused (wrong audience), so a user token cannot
// stand in for an asset token, nor an asset token for a login.
func (v *Verifier) VerifyAssetToken(token string) (*AssetClaims, error) {
	var c AssetClaims
	_, err := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(Issuer), jwt.WithAudience(AssetAudience),
		jwt.WithExpirationRequired(), jwt.WithLeeway(tokenLeeway), jwt.WithTimeFunc(v.now)).
		ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			k, ok := v.Keys.public(kid)
			if !ok {
				return nil, errors.New("unknown key id")
			}
			return k, nil
		})
	if err != nil {
		return nil, fmt.Errorf("asset token: %w", err)
	}
	if c.lists() != 1 || c.RequesterUUID == "" {
		return nil, errors.New("asset token: no single list of uuids or no requester")
	}
	return &c, nil
}

// lists counts the non-empty uuid lists.
func (c *AssetClaims) lists() int {
	n := 0
	for _, l := range [][]string{c.AssetUUIDs, c.TestUUIDs, c.TestTypeUUIDs} {
		if len(l) > 0 {
			n++
		}
	}
	return n
}
