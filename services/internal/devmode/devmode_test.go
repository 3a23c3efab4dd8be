package devmode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tera dev keeps files under its data dir unless the TERA_BLOB_* environment names another
// store, as `tera serve` reads it; an S3 bucket is then created when missing.
func TestDevBlobFollowsTheEnvironment(t *testing.T) {
	for _, k := range []string{"TERA_BLOB_BACKEND", "TERA_BLOB_DIR", "TERA_BLOB_S3_ENDPOINT", "TERA_BLOB_S3_BUCKET",
		"TERA_BLOB_S3_INSECURE", "TERA_BLOB_S3_ACCESS_KEY_ID", "TERA_BLOB_S3_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	c, err := devBlob("/data")
	if err != nil || c.Backend != "filesystem" || c.Dir != filepath.Join("/data", "files") {
		t.Fatalf("default: %+v %v", c, err)
	}
	if got := filesWhere(c); got != "/data/files" {
		t.Errorf("banner: %q", got)
	}

	t.Setenv("TERA_BLOB_BACKEND", "s3")
	if _, err := devBlob("/data"); err == nil || !strings.Contains(err.Error(), "endpoint") {
		t.Fatalf("s3 without an endpoint: %v", err)
	}
	t.Setenv("TERA_BLOB_S3_ENDPOINT", "127.0.0.1:8333")
	t.Setenv("TERA_BLOB_S3_BUCKET", "tera")
	t.Setenv("TERA_BLOB_S3_INSECURE", "true")
	t.Setenv("TERA_BLOB_S3_ACCESS_KEY_ID", "dev")
	t.Setenv("TERA_BLOB_S3_SECRET_ACCESS_KEY", "dev-secret")
	c, err = devBlob("/data")
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "s3" || c.S3.Endpoint != "127.0.0.1:8333" || c.S3.Bucket != "tera" || !c.S3.Insecure ||
		c.S3.AccessKeyID != "dev" || c.S3.SecretAccessKey != "dev-secret" || !c.S3.CreateBucket {
		t.Errorf("s3 from the environment: %+v", c)
	}
	if got := filesWhere(c); got != "S3 bucket tera at http://127.0.0.1:8333" {
		t.Errorf("banner: %q", got)
	}

	t.Setenv("TERA_BLOB_BACKEND", "ftp")
	if _, err := devBlob("/data"); err == nil || !strings.Contains(err.Error(), "TERA_BLOB") {
		t.Fatalf("an unknown backend: %v", err)
	}
}
