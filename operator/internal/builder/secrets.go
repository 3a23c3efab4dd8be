package builder

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

// SigningKeysSecret generates a fresh ECDSA P-256 token signing key, stored as
// signing-key-<kid>.pem (PKCS#8). The kid is the UTC creation time, as pkg/authn expects: the
// greatest kid signs, so keys added later for rotation take over. The reconciler creates the
// Secret once and never overwrites it.
func SigningKeysSecret(site *terav1.TeraSite, now time.Time) (*corev1.Secret, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	kid := strings.ReplaceAll(now.UTC().Format("20060102T150405.000000000Z"), ".", "")
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: SigningKeysName(site), Namespace: site.Namespace, Labels: ComponentLabels(site, "signing-keys")},
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"signing-key-" + kid + ".pem": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		},
	}, nil
}

// DeviceCASecret generates a self-signed ECDSA CA for device certificates (ca.crt, ca.key).
func DeviceCASecret(site *terav1.TeraSite, now time.Time) (*corev1.Secret, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Tera device CA " + site.Namespace + "/" + site.Name, Organization: []string{"Tera"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: DeviceCAName(site), Namespace: site.Namespace, Labels: ComponentLabels(site, "device-ca")},
		Type:       corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			"ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			"ca.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
		},
	}, nil
}

// ServiceCredentialsSecret generates an external service's OAuth2 client credentials: client_id
// (its service key) and a 256-bit random client_secret. Core reads the secret from its mount
// (it stores only the SHA-256) and the service from its environment, and trades it at login
// (POST /api/service/token) for short-lived service tokens. Created once, never overwritten:
// deleting the Secret rotates it (the operator generates a new one, core re-registers the hash
// when its pods roll).
func ServiceCredentialsSecret(site *terav1.TeraSite, e terav1.ExternalService) (*corev1.Secret, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceCredentialsName(site, e.Name), Namespace: site.Namespace,
			Labels: ComponentLabels(site, e.Name)},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{ServiceClientIDKey: []byte(e.ServiceKey), ServiceSecretKey: []byte(hex.EncodeToString(b))},
	}, nil
}
