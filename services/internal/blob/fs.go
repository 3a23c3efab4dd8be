package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tmpPrefix names a Put in progress; keys cannot start with it, so a leftover of a killed
// process is never read as an object.
const tmpPrefix = ".tmp-"

// Dir is the filesystem backend: one file per key under a directory.
type Dir struct {
	root string
}

// OpenDir opens (creating it, mode 0700 as OpenTera) a directory store.
func OpenDir(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("blob: no directory")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("blob dir %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("blob dir: %w", err)
	}
	d := &Dir{root: abs}
	_, _ = d.SweepAbandoned(context.Background(), time.Now().Add(-staleTmp)) // best effort
	return d, nil
}

// staleTmp is the age past which a temporary file is a Put that will never finish: its process
// was killed mid-upload (a live Put writes to its file all along).
const staleTmp = time.Hour

// SweepAbandoned removes the temporary files last written before cutoff: Puts whose process
// was killed (a live Put writes to its file all along).
func (d *Dir) SweepAbandoned(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // removed while walking, or unreadable: not ours to sweep
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), tmpPrefix) {
			return nil
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			switch err := os.Remove(p); {
			case err == nil:
				n++
			case !errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("blob sweep: %w", err)
			}
		}
		return nil
	})
	return n, err
}

// Root is the directory.
func (d *Dir) Root() string { return d.root }

func (d *Dir) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes to a temporary file beside the target, syncs it and renames it into place.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	p, err := d.path(key)
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return 0, fmt.Errorf("blob put %s: %w", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"*")
	if err != nil {
		return 0, fmt.Errorf("blob put %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return n, fmt.Errorf("blob put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("blob put %s: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("blob put %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return n, fmt.Errorf("blob put %s: %w", key, err)
	}
	done = true
	return n, nil
}

type fileObject struct {
	*os.File
	info Info
}

func (o fileObject) Info() Info { return o.info }

// Open opens the file.
func (d *Dir) Open(_ context.Context, key string) (Object, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fsErr(key, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fsErr(key, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, ErrNotFound
	}
	return fileObject{f, Info{Size: st.Size(), ModTime: st.ModTime()}}, nil
}

// Stat stats the file.
func (d *Dir) Stat(_ context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return Info{}, fsErr(key, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, ErrNotFound
	}
	return Info{Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the file.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}

// Move renames the file (the destination's directory created as Put does).
func (d *Dir) Move(_ context.Context, from, to string) error {
	src, err := d.path(from)
	if err != nil {
		return err
	}
	dst, err := d.path(to)
	if err != nil {
		return err
	}
	st, err := os.Stat(src)
	if err != nil {
		return fsErr(from, err)
	}
	if !st.Mode().IsRegular() {
		return ErrNotFound
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("blob move %s: %w", to, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("blob move %s to %s: %w", from, to, err)
	}
	return nil
}

// List walks the directory: every regular file whose path is a valid key (a Put's temporary
// file is not one).
func (d *Dir) List(ctx context.Context, fn func(string, Info) error) error {
	return filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return fmt.Errorf("blob list: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		if CheckKey(key) != nil {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blob list %s: %w", key, err)
		}
		return fn(key, Info{Size: info.Size(), ModTime: info.ModTime()})
	})
}

// Check verifies the directory is still there and writable.
func (d *Dir) Check(context.Context) error {
	f, err := os.CreateTemp(d.root, tmpPrefix+"check-*")
	if err != nil {
		return errors.New("blob directory is not writable")
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func fsErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return fmt.Errorf("blob %s: %w", key, err)
}

// ctxReader stops a copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
