package devmode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/fleet"
)

// devKeys gives tera dev what the operator's Secrets give a cluster: a token signing key set in
// <data-dir>/keys and a device CA in <data-dir>/device-ca, generated once and kept.
func devKeys(cfg *fleet.Config, dataDir string) error {
	keys := filepath.Join(dataDir, "keys")
	if m, _ := filepath.Glob(filepath.Join(keys, "signing-key-*.pem")); len(m) == 0 {
		if _, err := authn.GenerateKeyFile(keys); err != nil {
			return fmt.Errorf("generate signing key: %w", err)
		}
	}
	ca := filepath.Join(dataDir, "device-ca")
	if _, err := os.Stat(filepath.Join(ca, "ca.crt")); os.IsNotExist(err) {
		if err := GenerateDeviceCA(ca, "Tera dev device CA"); err != nil {
			return err
		}
	}
	cfg.Auth.SigningKeysDir, cfg.Auth.DeviceCADir = keys, ca
	return nil
}

// GenerateDeviceCA writes a self-signed P-256 CA as dir/ca.crt and dir/ca.key.
func GenerateDeviceCA(dir, name string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name, Organization: []string{"Tera"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
