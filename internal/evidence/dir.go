package evidence

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

// tempPrefix starts the names of DirBlobs' files being written. A dot is
// never in an id, so a half-written file is never opened as a blob.
const tempPrefix = ".tmp-"

// DirBlobs is a Blobs that keeps one file per blob in a folder: the file
// is named by the blob id and holds the stored form described in the
// package documentation. It is safe for concurrent use, also by several
// processes sharing the folder.
type DirBlobs struct {
	dir  string
	keys *keyring
}

var _ Blobs = (*DirBlobs)(nil)

// NewDirBlobs returns a DirBlobs over dir, which it creates (mode 0700)
// if need be; keys seal and open the blobs.
func NewDirBlobs(dir string, keys Keys) (*DirBlobs, error) {
	k, err := newKeyring(keys)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return &DirBlobs{dir: dir, keys: k}, nil
}

// Put implements Blobs. The blob is written to a temporary file in the
// same folder, synced, then linked under its id, which fails when the id
// is taken: a blob is never seen half-written and never overwritten.
func (d *DirBlobs) Put(ctx context.Context, id string, r io.Reader) (size int64, err error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(d.dir, tempPrefix+"*") // mode 0600
	if err != nil {
		return 0, fmt.Errorf("evidence: put: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp) // the blob is linked under its id by now, or failed
	}()

	src := &countingReader{r: ctxReader{ctx, r}}
	sealed, err := d.keys.seal(id, src)
	if err != nil {
		return 0, err
	}
	// A buffer of one whole DARE package lets sio seal straight into it.
	if _, err := io.CopyBuffer(onlyWriter{f}, sealed, make([]byte, 64<<10+32)); err != nil {
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	}
	if src.n == 0 {
		return 0, ErrEmpty
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	}
	if err := link(tmp, filepath.Join(d.dir, id)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%w: %s", ErrExists, id)
		}
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	}
	syncDir(d.dir)
	return src.n, nil
}

// link gives tmp the name final, failing with fs.ErrExist when final
// exists. A hard link does that atomically; on a file system without hard
// links, a check then a rename is close enough for random ids.
func link(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, serr := os.Lstat(final); serr == nil {
		return fs.ErrExist
	}
	return os.Rename(tmp, final)
}

// syncDir makes a new name in dir durable. Failing to is not worth
// failing an upload for: the file's content is synced already.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		f.Sync()
		f.Close()
	}
}

// Open implements Blobs.
func (d *DirBlobs) Open(ctx context.Context, id string) (Blob, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(d.dir, id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil, fmt.Errorf("evidence: open %s: %w", id, err)
	}
	b, err := d.open(ctx, id, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

func (d *DirBlobs) open(ctx context.Context, id string, f *os.File) (Blob, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("evidence: open %s: %w", id, err)
	}
	size, err := plainSize(fi.Size())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	dec, err := d.keys.open(id, ctxReader{ctx, f})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	return &blobReader{dec: dec, closer: f, size: size}, nil
}

// Delete implements Blobs.
func (d *DirBlobs) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(d.dir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("evidence: delete %s: %w", id, err)
	}
	return nil
}

// RemoveIncomplete removes the temporary files of uploads that a crash
// interrupted, if they are older than age, and returns how many it
// removed. Uploads in progress are younger than any sensible age (an
// hour, say).
func (d *DirBlobs) RemoveIncomplete(ctx context.Context, age time.Duration) (int, error) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return 0, fmt.Errorf("evidence: %w", err)
	}
	cutoff := time.Now().Add(-age)
	n := 0
	for _, e := range entries {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if !strings.HasPrefix(e.Name(), tempPrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(d.dir, e.Name())); err == nil {
			n++
		}
	}
	return n, nil
}

// ctxReader fails its reads once ctx is done, so a cancelled request stops
// a long copy.
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

// onlyWriter hides the ReadFrom of *os.File, so that io.CopyBuffer uses
// the buffer it is given.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }
