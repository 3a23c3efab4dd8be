package login

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// deviceCA signs device certificate requests. Kubernetes mounts it from a Secret as ca.crt and
// ca.key (PEM; the key PKCS#8, SEC 1 or PKCS#1) in auth.device_ca_dir.
type deviceCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM string
}

// DeviceCertValidity is how long a registered device's certificate is valid.
const DeviceCertValidity = 5 * 365 * 24 * time.Hour

func loadDeviceCA(dir string) (*deviceCA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil {
		return nil, errors.New("device CA: ca.crt is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, errors.New("device CA: ca.key is not PEM")
	}
	var key any
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("device CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("device CA key cannot sign")
	}
	return &deviceCA{cert: cert, key: signer, certPEM: string(certPEM)}, nil
}

var oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}

// sign issues a client certificate for the CSR's key, naming the device by its uuid (UID
// attribute) whatever subject the request asked for.
func (ca *deviceCA) sign(csrPEM []byte, deviceUUID, name string) (string, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil {
		return "", errors.New("not PEM")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", err
	}
	if err := csr.CheckSignature(); err != nil {
		return "", err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{CommonName: "Device: " + name, Organization: ca.cert.Subject.Organization,
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidUID, Value: deviceUUID}}},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    now.Add(DeviceCertValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}
