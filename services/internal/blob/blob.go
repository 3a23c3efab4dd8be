// Package blob stores the bytes of files (assets, archives) behind one small interface, on a
// filesystem directory or an S3 bucket. Every operation streams: a Put copies its reader in
// bounded chunks (the filesystem through a temporary file renamed into place, S3 through a
// multipart upload of PartSize parts), an Open reads lazily and seeks (ranges), so no file is
// ever held whole in memory whatever its size.
//
// Keys are OpenTera's layout: the files directory of FileTransferService holds each asset and
// archive under its uuid, so `tera import opentera` copies that directory key for key.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// SweepLock is the PostgreSQL advisory lock between the writers of blobs whose rows commit
// late and the filetransfer target's orphan sweeper: `tera import opentera --files-dir` holds it
// shared for its transaction, a sweep pass exclusively (pg_try_advisory_lock), so no pass
// deletes a blob an import copied or reuses before its rows are committed.
const SweepLock int64 = 0x7465726162736c6b // "terabslk"

// ErrNotFound is returned for a key that holds nothing.
var ErrNotFound = errors.New("blob: not found")

// Store is a blob store.
type Store interface {
	// Put stores everything r yields under key, replacing what was there, and returns the size
	// written. The object appears whole or not at all: a failed or cancelled Put leaves the
	// previous content (or nothing).
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open returns the object for reading; ErrNotFound when there is none.
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns the object's size and modification time; ErrNotFound when there is none.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Move puts the object at from under to (replacing what was there) and removes from;
	// ErrNotFound when from holds nothing. On the filesystem it is a rename, on S3 a
	// server-side copy then a delete: not atomic there, callers serialize moves to one key.
	Move(ctx context.Context, from, to string) error
	// List calls fn for every object, in no promised order, until fn returns an error (List
	// returns it). Puts in progress are not objects and are never listed.
	List(ctx context.Context, fn func(key string, info Info) error) error
	// SweepAbandoned removes what Puts that never finished left in the store, when older than
	// cutoff: on the filesystem a temporary file last written before it (a killed process's),
	// on S3 a multipart upload started before it, whose parts the server keeps (and bills)
	// until the upload is aborted. It returns how many it removed; a Put still running on one
	// of them then fails.
	SweepAbandoned(ctx context.Context, cutoff time.Time) (int, error)
	// Check reports whether the store is reachable and writable-looking (readiness).
	Check(ctx context.Context) error
}

// Object is an open object: a reader that seeks (http.ServeContent serves ranges from it).
type Object interface {
	io.ReadSeekCloser
	Info() Info
}

// Info describes an object.
type Info struct {
	Size    int64
	ModTime time.Time
}

// Config is tera.yaml `blob`.
type Config struct {
	// Backend is "filesystem" (the default) or "s3".
	Backend string `json:"backend" env:"TERA_BLOB_BACKEND"`
	// Dir is the filesystem backend's directory (created if missing). tera dev uses
	// <data dir>/files.
	Dir string   `json:"dir" env:"TERA_BLOB_DIR"`
	S3  S3Config `json:"s3"`
}

// S3Config locates an S3-compatible bucket.
type S3Config struct {
	// Endpoint is host[:port] of the S3 API (s3.amazonaws.com, a MinIO or Ceph service…).
	Endpoint string `json:"endpoint" env:"TERA_BLOB_S3_ENDPOINT"`
	Bucket   string `json:"bucket" env:"TERA_BLOB_S3_BUCKET"`
	Region   string `json:"region" env:"TERA_BLOB_S3_REGION"`
	// Prefix is prepended to every key ("tera/"), so one bucket can hold several sites.
	Prefix string `json:"prefix" env:"TERA_BLOB_S3_PREFIX"`
	// Insecure talks plain HTTP to the endpoint (in-cluster object stores without TLS).
	Insecure bool `json:"insecure" env:"TERA_BLOB_S3_INSECURE"`
	// AccessKeyID and SecretAccessKey are static credentials; both empty uses the
	// environment's (AWS_* variables, IAM role of the pod).
	AccessKeyID     string `json:"access_key_id" env:"TERA_BLOB_S3_ACCESS_KEY_ID"`
	SecretAccessKey string `json:"secret_access_key" env:"TERA_BLOB_S3_SECRET_ACCESS_KEY" secret:"true"`
	// SecretAccessKeyFile holds the secret key (a mounted Secret); it wins over SecretAccessKey.
	SecretAccessKeyFile string `json:"secret_access_key_file"`
	// PartSize is the size of one multipart upload part, which is also the memory one upload
	// buffers (default 16 MiB, S3's minimum is 5 MiB).
	PartSize int64 `json:"part_size"`
	// CreateBucket creates the bucket at start when it is missing (tests, tera dev).
	CreateBucket bool `json:"create_bucket"`
}

// DefaultPartSize is the multipart part size when none is configured.
const DefaultPartSize = 16 << 20

const minPartSize = 5 << 20

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	switch c.Backend {
	case "", "filesystem":
		if c.Dir == "" {
			errs = append(errs, errors.New("filetransfer.blob.dir is required with the filesystem backend (env TERA_BLOB_DIR)"))
		}
	case "s3":
		if c.S3.Endpoint == "" {
			errs = append(errs, errors.New("filetransfer.blob.s3.endpoint is required with the s3 backend"))
		} else if strings.Contains(c.S3.Endpoint, "://") {
			errs = append(errs, fmt.Errorf("filetransfer.blob.s3.endpoint: %q must be host[:port], without a scheme (set blob.s3.insecure for plain HTTP)", c.S3.Endpoint))
		}
		if c.S3.Bucket == "" {
			errs = append(errs, errors.New("filetransfer.blob.s3.bucket is required with the s3 backend"))
		}
		if (c.S3.AccessKeyID == "") != (c.S3.SecretAccessKey == "" && c.S3.SecretAccessKeyFile == "") {
			errs = append(errs, errors.New("filetransfer.blob.s3.access_key_id and secret_access_key (or secret_access_key_file) go together"))
		}
		if c.S3.PartSize != 0 && c.S3.PartSize < minPartSize {
			errs = append(errs, fmt.Errorf("filetransfer.blob.s3.part_size: %d is below S3's minimum of 5 MiB", c.S3.PartSize))
		}
	default:
		errs = append(errs, fmt.Errorf("filetransfer.blob.backend: %q is not one of filesystem, s3", c.Backend))
	}
	return errors.Join(errs...)
}

// Open opens the configured store (Validate first).
func Open(ctx context.Context, c Config) (Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Backend == "s3" {
		return OpenS3(ctx, c.S3)
	}
	return OpenDir(c.Dir)
}

// CheckKey refuses keys that could escape the store or mean different objects on different
// backends: empty, absolute, with empty, "." or ".." segments, or with characters beyond
// letters, digits and -._/.
func CheckKey(key string) error {
	if key == "" || len(key) > 512 {
		return fmt.Errorf("blob key %q: empty or too long", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tmpPrefix) {
			return fmt.Errorf("blob key %q: bad path segment", key)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
				return fmt.Errorf("blob key %q: character %q not allowed", key, r)
			}
		}
	}
	return nil
}
