package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is the S3 backend (minio-go, which speaks to AWS S3 and every compatible store).
type S3 struct {
	c        *minio.Client
	bucket   string
	prefix   string
	partSize uint64
}

// OpenS3 connects to the bucket (creating it when CreateBucket is set). The connection is not
// tested beyond that: an unreachable store makes the target unready (Check), not crash.
func OpenS3(ctx context.Context, c S3Config) (*S3, error) {
	secret := c.SecretAccessKey
	if c.SecretAccessKeyFile != "" {
		b, err := os.ReadFile(c.SecretAccessKeyFile)
		if err != nil {
			return nil, fmt.Errorf("blob.s3.secret_access_key_file: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}, &credentials.IAM{}})
	if c.AccessKeyID != "" {
		creds = credentials.NewStaticV4(c.AccessKeyID, secret, "")
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{Creds: creds, Secure: !c.Insecure, Region: c.Region})
	if err != nil {
		return nil, fmt.Errorf("blob s3 %s: %w", c.Endpoint, err)
	}
	ps := c.PartSize
	if ps == 0 {
		ps = DefaultPartSize
	}
	s := &S3{c: cl, bucket: c.Bucket, prefix: c.Prefix, partSize: uint64(ps)}
	if c.CreateBucket {
		ok, err := cl.BucketExists(ctx, c.Bucket)
		if err != nil {
			return nil, fmt.Errorf("blob s3 bucket %s: %w", c.Bucket, err)
		}
		if !ok {
			if err := cl.MakeBucket(ctx, c.Bucket, minio.MakeBucketOptions{Region: c.Region}); err != nil {
				return nil, fmt.Errorf("blob s3 create bucket %s: %w", c.Bucket, err)
			}
		}
	}
	return s, nil
}

func (s *S3) name(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// Put streams r as a multipart upload of PartSize parts (one part buffered at a time); the
// object appears only when the upload completes.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	name, err := s.name(key)
	if err != nil {
		return 0, err
	}
	// An empty stream of unknown length goes out without a Content-Length, which S3 refuses
	// (MissingContentLength): an empty file (OpenTera accepts them) is sent with its length.
	size := int64(-1)
	var first [1]byte
	n, err := io.ReadFull(r, first[:])
	switch {
	case errors.Is(err, io.EOF):
		size, r = 0, bytes.NewReader(nil)
	case err != nil:
		return 0, fmt.Errorf("blob put %s: %w", key, err)
	default:
		r = io.MultiReader(bytes.NewReader(first[:n]), r)
	}
	// Unsigned payloads (as the AWS SDKs send over TLS): each part still carries its CRC32C
	// checksum, which the store verifies, and no aws-chunked re-encoding of the stream is needed
	// (some S3-compatible stores do not decode it).
	info, err := s.c.PutObject(ctx, s.bucket, name, r, size, minio.PutObjectOptions{
		PartSize: s.partSize, ContentType: "application/octet-stream", DisableContentSha256: true})
	if err != nil {
		return 0, fmt.Errorf("blob put %s: %w", key, err)
	}
	return info.Size, nil
}

type s3Object struct {
	*minio.Object
	info Info
}

func (o s3Object) Info() Info { return o.info }

// Open returns a lazy reader: reads and seeks become ranged GETs.
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	name, err := s.name(key)
	if err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err(key, err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		return nil, s3Err(key, err)
	}
	return s3Object{o, Info{Size: st.Size, ModTime: st.LastModified}}, nil
}

// Stat heads the object.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	name, err := s.name(key)
	if err != nil {
		return Info{}, err
	}
	st, err := s.c.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Err(key, err)
	}
	return Info{Size: st.Size, ModTime: st.LastModified}, nil
}

// Delete removes the object (S3 answers success for a missing key).
func (s *S3) Delete(ctx context.Context, key string) error {
	name, err := s.name(key)
	if err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil {
		if e := s3Err(key, err); errors.Is(e, ErrNotFound) {
			return nil
		}
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}

// Move copies the object server side, then deletes the source. A single copy request takes
// objects up to 5 GiB; larger ones are copied part by part (ComposeObject).
func (s *S3) Move(ctx context.Context, from, to string) error {
	src, err := s.name(from)
	if err != nil {
		return err
	}
	dst, err := s.name(to)
	if err != nil {
		return err
	}
	st, err := s.c.StatObject(ctx, s.bucket, src, minio.StatObjectOptions{})
	if err != nil {
		return s3Err(from, err)
	}
	srcOpts := minio.CopySrcOptions{Bucket: s.bucket, Object: src}
	dstOpts := minio.CopyDestOptions{Bucket: s.bucket, Object: dst}
	if st.Size > maxSingleCopy {
		_, err = s.c.ComposeObject(ctx, dstOpts, srcOpts)
	} else {
		_, err = s.c.CopyObject(ctx, dstOpts, srcOpts)
	}
	if err != nil {
		return fmt.Errorf("blob move %s to %s: %w", from, to, err)
	}
	if err := s.c.RemoveObject(ctx, s.bucket, src, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("blob move %s: remove the source: %w", from, err)
	}
	return nil
}

// maxSingleCopy is S3's limit of one CopyObject request.
const maxSingleCopy = 5 << 30

// List lists the bucket under the prefix; keys come back without it. Multipart uploads in
// progress are not objects and are not listed.
func (s *S3) List(ctx context.Context, fn func(string, Info) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for o := range s.c.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("blob list: %w", o.Err)
		}
		key, ok := strings.CutPrefix(o.Key, s.prefix)
		if !ok || CheckKey(key) != nil {
			continue
		}
		if err := fn(key, Info{Size: o.Size, ModTime: o.LastModified}); err != nil {
			return err
		}
	}
	return nil
}

// SweepAbandoned aborts the multipart uploads under the prefix started before cutoff (an S3
// lifecycle rule AbortIncompleteMultipartUpload does the same on the server's side).
func (s *S3) SweepAbandoned(ctx context.Context, cutoff time.Time) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	uploads := s.c.ListIncompleteUploads(ctx, s.bucket, s.prefix, true)
	defer func() {
		cancel()
		for range uploads { // the lister ends on the cancel
		}
	}()
	core := minio.Core{Client: s.c}
	n := 0
	for u := range uploads {
		if u.Err != nil {
			return n, fmt.Errorf("blob sweep: list uploads: %w", u.Err)
		}
		key, ok := strings.CutPrefix(u.Key, s.prefix)
		if !ok || CheckKey(key) != nil || !u.Initiated.Before(cutoff) {
			continue
		}
		if err := core.AbortMultipartUpload(ctx, s.bucket, u.Key, u.UploadID); err != nil {
			if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
				continue // finished or aborted meanwhile
			}
			return n, fmt.Errorf("blob sweep: abort the upload of %s: %w", key, err)
		}
		n++
	}
	return n, nil
}

// Check asks whether the bucket exists.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return errors.New("object store does not answer")
	}
	if !ok {
		return errors.New("object store bucket is missing")
	}
	return nil
}

func s3Err(key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return ErrNotFound
	}
	return fmt.Errorf("blob %s: %w", key, err)
}
