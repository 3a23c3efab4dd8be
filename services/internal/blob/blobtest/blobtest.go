// Package blobtest gives tests an S3 server. By default it is gofakes3, an S3 implementation in
// Go, served over HTTP on loopback so the blob package's S3 backend (minio-go) talks the wire
// protocol to it: multipart uploads of parts, ranged GETs, copies, deletes, listings. Objects
// live in a temporary directory (gofakes3's afero backend), not in the test's memory.
//
// gofakes3 accepts any request, signed or not, and ignores checksums; here it sits behind
// VerifySigV4, which refuses requests not signed with AWS Signature Version 4 by the test's key
// pair and bodies that do not match their declared SHA-256 or x-amz-checksum-* header, as S3
// does, and its listings are cut into S3's pages (paged). What gofakes3 still does not do as S3
// (README "File transfer" lists it): it does not refuse multipart parts under 5 MiB, holds
// multipart parts and then the assembled object in memory until the upload completes, has no
// UploadPartCopy (so ComposeObject, the copy of objects over 5 GiB, fails), and returns no
// checksums.
//
// TERA_TEST_S3_ENDPOINT (host:port, plain HTTP) points the tests at an S3 server started
// beforehand instead (SeaweedFS, MinIO, Ceph…), with TERA_TEST_S3_ACCESS_KEY and
// TERA_TEST_S3_SECRET_KEY as its credentials and TERA_TEST_S3_REGION (default us-east-1). Each
// test gets a bucket of its own, emptied and removed when the test ends.
package blobtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/tera-health/tera/services/internal/blob"
)

// External reports whether the tests run against TERA_TEST_S3_ENDPOINT's server.
func External() bool { return os.Getenv("TERA_TEST_S3_ENDPOINT") != "" }

// NewS3 starts an S3 server for the test's lifetime (or uses TERA_TEST_S3_ENDPOINT's) and
// returns the configuration of a bucket on it, created by the backend at open.
func NewS3(t testing.TB) blob.S3Config {
	t.Helper()
	if ep := os.Getenv("TERA_TEST_S3_ENDPOINT"); ep != "" {
		region := os.Getenv("TERA_TEST_S3_REGION")
		if region == "" {
			region = "us-east-1"
		}
		b := make([]byte, 6)
		rand.Read(b)
		c := blob.S3Config{Endpoint: ep, Bucket: fmt.Sprintf("tera-test-%x", b), Region: region, Insecure: true,
			AccessKeyID: os.Getenv("TERA_TEST_S3_ACCESS_KEY"), SecretAccessKey: os.Getenv("TERA_TEST_S3_SECRET_KEY"),
			PartSize: 5 << 20, CreateBucket: true}
		t.Cleanup(func() { removeBucket(t, c) })
		return c
	}
	fs, err := s3afero.FsPath(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	be, err := s3afero.MultiBucket(fs)
	if err != nil {
		t.Fatal(err)
	}
	const access, secret = "test", "test-secret"
	fake := gofakes3.New(paged{be}, gofakes3.WithLogger(gofakes3.DiscardLog())).Server()
	srv := httptest.NewServer(VerifySigV4(fake, access, secret))
	t.Cleanup(srv.Close)
	return blob.S3Config{Endpoint: srv.Listener.Addr().String(), Bucket: "tera-test", Region: "us-east-1", Insecure: true,
		AccessKeyID: access, SecretAccessKey: secret, PartSize: 5 << 20, CreateBucket: true}
}

// paged gives gofakes3's afero backend S3's listing pages: at most max-keys keys (1,000 by
// default) per answer, truncated, and the rest after the marker; alone it answers every key at
// once, so a client's paging would go untested. Its pages hold at most ListPage keys, which
// S3 allows ("the response might contain fewer keys"), so that tests page through a few
// hundred objects rather than thousands.
type paged struct{ gofakes3.Backend }

// ListPage is the most keys one listing page of the in-process server holds.
const ListPage = 100

func (p paged) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	all, err := p.Backend.ListBucket(bucket, prefix, gofakes3.ListBucketPage{})
	if err != nil || page.MaxKeys <= 0 || len(all.CommonPrefixes) > 0 {
		return all, err // listings by delimiter are not paged here
	}
	slices.SortFunc(all.Contents, func(a, b *gofakes3.Content) int { return strings.Compare(a.Key, b.Key) })
	out := gofakes3.NewObjectList()
	for _, c := range all.Contents {
		if page.HasMarker && c.Key <= page.Marker {
			continue
		}
		if int64(len(out.Contents)) == min(page.MaxKeys, ListPage) {
			out.IsTruncated = true
			out.NextMarker = out.Contents[len(out.Contents)-1].Key
			break
		}
		out.Add(c)
	}
	return out, nil
}

// Client is a minio-go client of the configuration's server, for tests that look at the bucket
// beside the blob store (incomplete uploads).
func Client(t testing.TB, c blob.S3Config) *minio.Client {
	t.Helper()
	cl, err := minio.New(c.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, ""),
		Secure: !c.Insecure, Region: c.Region})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// removeBucket empties an external server's test bucket (objects and incomplete uploads) and
// removes it, so test runs leave nothing behind.
func removeBucket(t testing.TB, c blob.S3Config) {
	cl := Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ok, err := cl.BucketExists(ctx, c.Bucket); err != nil || !ok {
		return
	}
	for u := range cl.ListIncompleteUploads(ctx, c.Bucket, "", true) {
		if u.Err == nil {
			cl.RemoveIncompleteUpload(ctx, c.Bucket, u.Key)
		}
	}
	for o := range cl.ListObjects(ctx, c.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err == nil {
			cl.RemoveObject(ctx, c.Bucket, o.Key, minio.RemoveObjectOptions{})
		}
	}
	if err := cl.RemoveBucket(ctx, c.Bucket); err != nil {
		t.Logf("external S3 server: test bucket %s not removed: %v", c.Bucket, err)
	}
}
