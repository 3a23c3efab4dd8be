// Package blobtest starts a real S3 server for tests: gofakes3, an S3 implementation in Go
// speaking the S3 REST protocol over HTTP, so the blob package's S3 backend (minio-go) is
// exercised end to end, signatures and multipart uploads included. Objects live in a temporary
// directory (gofakes3's afero backend), not in the test's memory.
//
// TERA_TEST_S3_ENDPOINT (host:port, plain HTTP) points the tests at an S3 server started
// beforehand instead (SeaweedFS, MinIO…), with TERA_TEST_S3_ACCESS_KEY and
// TERA_TEST_S3_SECRET_KEY as its credentials; each test gets a bucket of its own.
package blobtest

import (
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"

	"github.com/tera-health/tera/services/internal/blob"
)

// NewS3 starts an S3 server for the test's lifetime (or uses TERA_TEST_S3_ENDPOINT's) and
// returns the configuration of a bucket on it (created by the backend at open).
func NewS3(t testing.TB) blob.S3Config {
	t.Helper()
	if ep := os.Getenv("TERA_TEST_S3_ENDPOINT"); ep != "" {
		b := make([]byte, 6)
		rand.Read(b)
		return blob.S3Config{Endpoint: ep, Bucket: fmt.Sprintf("tera-test-%x", b), Region: "us-east-1", Insecure: true,
			AccessKeyID: os.Getenv("TERA_TEST_S3_ACCESS_KEY"), SecretAccessKey: os.Getenv("TERA_TEST_S3_SECRET_KEY"),
			PartSize: 5 << 20, CreateBucket: true}
	}
	fs, err := s3afero.FsPath(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	be, err := s3afero.MultiBucket(fs)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be, gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	t.Cleanup(srv.Close)
	return blob.S3Config{Endpoint: srv.Listener.Addr().String(), Bucket: "tera-test", Region: "us-east-1", Insecure: true,
		AccessKeyID: "test", SecretAccessKey: "test-secret", PartSize: 5 << 20, CreateBucket: true}
}
