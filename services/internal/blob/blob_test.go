package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/blob/blobtest"
)

// Both backends pass the same behaviour: the S3 one against an S3 server over HTTP (gofakes3
// behind a signature check, or TERA_TEST_S3_ENDPOINT's; see blobtest). Each backend also says
// what a Put in progress leaves in the store (temporary files, incomplete multipart uploads):
// nothing once it failed.
func TestStores(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(t *testing.T) (blob.Store, func() []string){
		"filesystem": func(t *testing.T) (blob.Store, func() []string) {
			dir := t.TempDir()
			s, err := blob.Open(ctx, blob.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			return s, func() []string {
				var tmp []string
				filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
					if err == nil && strings.HasPrefix(e.Name(), ".tmp-") {
						tmp = append(tmp, p)
					}
					return nil
				})
				return tmp
			}
		},
		"s3": func(t *testing.T) (blob.Store, func() []string) {
			c := blobtest.NewS3(t)
			s, err := blob.Open(ctx, blob.Config{Backend: "s3", S3: c})
			if err != nil {
				t.Fatal(err)
			}
			cl := blobtest.Client(t, c)
			return s, func() []string {
				var up []string
				for u := range cl.ListIncompleteUploads(ctx, c.Bucket, "", true) {
					if u.Err != nil {
						t.Fatalf("list incomplete uploads: %v", u.Err)
					}
					up = append(up, u.Key+" "+u.UploadID)
				}
				return up
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, inProgress := open(t)
			if err := s.Check(ctx); err != nil {
				t.Fatalf("check: %v", err)
			}
			// Larger than two S3 parts (5 MiB each): the multipart path.
			data := make([]byte, 12<<20+123)
			rand.Read(data)
			n, err := s.Put(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", bytes.NewReader(data))
			if err != nil || n != int64(len(data)) {
				t.Fatalf("put: %d %v", n, err)
			}
			o, err := s.Open(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001")
			if err != nil {
				t.Fatal(err)
			}
			if o.Info().Size != int64(len(data)) {
				t.Errorf("size %d, want %d", o.Info().Size, len(data))
			}
			h := sha256.New()
			if _, err := io.Copy(h, o); err != nil {
				t.Fatal(err)
			}
			if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Error("content read back differs")
			}
			// A range: seek into the middle.
			if _, err := o.Seek(7<<20, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1000)
			if _, err := io.ReadFull(o, buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, data[7<<20:7<<20+1000]) {
				t.Error("ranged read differs")
			}
			o.Close()
			// Replace, small.
			if _, err := s.Put(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", bytes.NewReader([]byte("small"))); err != nil {
				t.Fatal(err)
			}
			if st, err := s.Stat(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001"); err != nil || st.Size != 5 {
				t.Errorf("stat after replace: %+v %v", st, err)
			}
			// Empty, as an OpenTera upload of an empty file.
			if n, err := s.Put(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001", bytes.NewReader(nil)); err != nil || n != 0 {
				t.Fatalf("put empty: %d %v", n, err)
			}
			if st, err := s.Stat(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001"); err != nil || st.Size != 0 {
				t.Errorf("stat after an empty put: %+v %v", st, err)
			}
			if err := s.Delete(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(ctx, "0f1e2d3c-aaaa-bbbb-cccc-000000000001"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("open after delete: %v, want ErrNotFound", err)
			}
			if _, err := s.Stat(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("stat missing: %v, want ErrNotFound", err)
			}
			if err := s.Delete(ctx, "missing"); err != nil {
				t.Errorf("delete missing: %v", err)
			}
			for _, k := range []string{"", "../x", "/abs", "a//b", "a/./b", ".tmp-x", "a b", "é"} {
				if _, err := s.Put(ctx, k, bytes.NewReader(nil)); err == nil {
					t.Errorf("key %q accepted", k)
				}
			}
			// A failed upload leaves nothing readable.
			_, err = s.Put(ctx, "broken", io.MultiReader(bytes.NewReader(data[:6<<20]), failing{}))
			if err == nil {
				t.Fatal("put of a failing reader succeeded")
			}
			if _, err := s.Stat(ctx, "broken"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("a failed put left an object: %v", err)
			}
			if left := inProgress(); len(left) != 0 {
				t.Errorf("a failed put left its upload in the store: %v", left)
			}
			// A Put whose process died mid-way (here its reader stalls after more than one
			// part) stays in the store until swept; a sweep removes it only once older than
			// the cutoff, and the Put then fails, leaving nothing.
			pr, pw := io.Pipe()
			putErr := make(chan error, 1)
			go func() { _, err := s.Put(ctx, "abandoned", pr); putErr <- err }()
			if _, err := pw.Write(data[:6<<20]); err != nil {
				t.Fatal(err)
			}
			if left := inProgress(); len(left) != 1 {
				t.Fatalf("a Put in progress: %v in the store, want one", left)
			}
			if n, err := s.SweepAbandoned(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
				t.Errorf("sweep of Puts older than an hour: %d removed, %v", n, err)
			}
			if n, err := s.SweepAbandoned(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
				t.Errorf("sweep of the abandoned Put: %d removed, %v", n, err)
			}
			if left := inProgress(); len(left) != 0 {
				t.Errorf("the swept Put left %v", left)
			}
			pw.Write([]byte("end"))
			pw.Close()
			if err := <-putErr; err == nil {
				t.Error("the swept Put succeeded")
			}
			if _, err := s.Stat(ctx, "abandoned"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("the swept Put left an object: %v", err)
			}

			// Move: the bytes under the new key, the old one gone; a missing source is ErrNotFound.
			if _, err := s.Put(ctx, "staged", bytes.NewReader(data[:6<<20+7])); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "dir/final", bytes.NewReader([]byte("old content"))); err != nil {
				t.Fatal(err)
			}
			if err := s.Move(ctx, "staged", "dir/final"); err != nil {
				t.Fatalf("move: %v", err)
			}
			if _, err := s.Stat(ctx, "staged"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("moved source still there: %v", err)
			}
			if got := readAll(t, s, "dir/final"); !bytes.Equal(got, data[:6<<20+7]) {
				t.Errorf("moved content differs (%d bytes)", len(got))
			}
			if err := s.Move(ctx, "staged", "other"); !errors.Is(err, blob.ErrNotFound) {
				t.Errorf("move of a missing key: %v, want ErrNotFound", err)
			}
			// List: every object with its size, none of the failed or moved ones.
			if _, err := s.Put(ctx, "b", bytes.NewReader([]byte("bb"))); err != nil {
				t.Fatal(err)
			}
			listed := map[string]int64{}
			if err := s.List(ctx, func(k string, i blob.Info) error {
				if i.ModTime.IsZero() || time.Since(i.ModTime) > time.Hour {
					t.Errorf("%s: modification time %v", k, i.ModTime)
				}
				listed[k] = i.Size
				return nil
			}); err != nil {
				t.Fatalf("list: %v", err)
			}
			if want := map[string]int64{"dir/final": 6<<20 + 7, "b": 2}; fmt.Sprint(listed) != fmt.Sprint(want) {
				t.Errorf("listed %v, want %v", listed, want)
			}
			stop := errors.New("stop")
			if err := s.List(ctx, func(string, blob.Info) error { return stop }); !errors.Is(err, stop) {
				t.Errorf("list stopped by its callback: %v", err)
			}
			// More objects than one listing page holds (1,000 keys on S3, blobtest.ListPage
			// on the in-process server): every one listed once.
			many := 2*blobtest.ListPage + 5
			if blobtest.External() {
				many = 1005
			}
			start := time.Now()
			keys := make(chan int)
			errs := make(chan error, 8)
			for range 8 {
				go func() {
					var err error
					for i := range keys {
						if err == nil {
							_, err = s.Put(ctx, fmt.Sprintf("many/%04d", i), bytes.NewReader([]byte{byte(i)}))
						}
					}
					errs <- err
				}()
			}
			for i := range many {
				keys <- i
			}
			close(keys)
			for range 8 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			seen := map[string]int{}
			if err := s.List(ctx, func(k string, _ blob.Info) error { seen[k]++; return nil }); err != nil {
				t.Fatalf("list: %v", err)
			}
			for i := range many {
				if k := fmt.Sprintf("many/%04d", i); seen[k] != 1 {
					t.Fatalf("%s listed %d times (%d keys listed)", k, seen[k], len(seen))
				}
			}
			t.Logf("%d puts and a listing of them: %v", many, time.Since(start).Round(time.Millisecond))
			if len(seen) != many+2 {
				t.Errorf("%d keys listed, want %d", len(seen), many+2)
			}
			if left := inProgress(); len(left) != 0 {
				t.Errorf("uploads left in progress: %v", left)
			}
		})
	}
}

func readAll(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("client went away") }

// A cancelled put on the filesystem leaves no temporary file behind.
func TestDirCancelledPut(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "k", bytes.NewReader(make([]byte, 1<<20))); !errors.Is(err, context.Canceled) {
		t.Fatalf("put: %v, want context.Canceled", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "k")); !os.IsNotExist(err) {
		t.Errorf("object exists: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []blob.Config{
		{}, {Backend: "ftp", Dir: "/x"}, {Backend: "s3"}, {Backend: "s3", S3: blob.S3Config{Endpoint: "https://s3", Bucket: "b"}},
		{Backend: "s3", S3: blob.S3Config{Endpoint: "s3", Bucket: "b", AccessKeyID: "id"}},
		{Backend: "s3", S3: blob.S3Config{Endpoint: "s3", Bucket: "b", PartSize: 1024}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	for _, c := range []blob.Config{{Dir: "/x"}, {Backend: "s3", S3: blob.S3Config{Endpoint: "s3:9000", Bucket: "b"}}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// A Put abandoned by a killed process (its temporary file, untouched for over an hour) is
// removed when the directory is opened again; a recent one is left to its writer.
func TestDirSweepsAbandonedPuts(t *testing.T) {
	dir := t.TempDir()
	old, recent := filepath.Join(dir, ".tmp-old"), filepath.Join(dir, "sub", ".tmp-recent")
	os.MkdirAll(filepath.Dir(recent), 0o700)
	for _, p := range []string{old, recent} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, long, long)
	if _, err := blob.OpenDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("abandoned temporary file kept: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent temporary file removed: %v", err)
	}
}

// The S3 backend signs its requests with its key pair: a wrong secret or access key is refused
// by the server (gofakes3 alone accepts anything; blobtest's server checks signatures as S3).
func TestS3RefusesWrongCredentials(t *testing.T) {
	ctx := context.Background()
	c := blobtest.NewS3(t)
	good, err := blob.OpenS3(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.Put(ctx, "k", bytes.NewReader([]byte("content"))); err != nil {
		t.Fatal(err)
	}
	for what, bad := range map[string]blob.S3Config{
		"wrong secret":     func() blob.S3Config { b := c; b.SecretAccessKey += "x"; b.CreateBucket = false; return b }(),
		"wrong access key": func() blob.S3Config { b := c; b.AccessKeyID += "x"; b.CreateBucket = false; return b }(),
	} {
		s, err := blob.OpenS3(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(ctx); err == nil {
			t.Errorf("%s: check passed", what)
		}
		if _, err := s.Put(ctx, "k", bytes.NewReader([]byte("overwritten"))); err == nil {
			t.Errorf("%s: put accepted", what)
		}
		if _, err := s.Open(ctx, "k"); err == nil {
			t.Errorf("%s: open accepted", what)
		}
		if err := s.Delete(ctx, "k"); err == nil {
			t.Errorf("%s: delete accepted", what)
		}
	}
	if got := readAll(t, good, "k"); string(got) != "content" {
		t.Errorf("content after the refused requests: %q", got)
	}
}
