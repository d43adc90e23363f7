package evidence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"time"
)

// pgChunkSize is the size of the stored form kept in one row: large enough
// that a 100 MB video is a few hundred rows, small enough that a read or a
// write holds little memory.
const pgChunkSize = 256 << 10

// pgSchema creates the tables of PostgresBlobs. A blob's row is inserted
// first with complete = false and marked complete after its last chunk,
// so a half-written blob is never served, and one left by a crash is
// removed by RemoveIncomplete. Chunks are ciphertext, which does not
// compress: STORAGE EXTERNAL spares PostgreSQL the attempt (set once:
// ALTER TABLE would lock the table at every start).
const pgSchema = `
CREATE TABLE IF NOT EXISTS evidence_blobs (
	blob_id    TEXT PRIMARY KEY,
	size       BIGINT NOT NULL DEFAULT 0,
	chunks     INTEGER NOT NULL DEFAULT 0,
	complete   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS evidence_blobs_incomplete ON evidence_blobs (created_at) WHERE NOT complete;
CREATE TABLE IF NOT EXISTS evidence_chunks (
	blob_id TEXT NOT NULL REFERENCES evidence_blobs (blob_id) ON DELETE CASCADE,
	seq     INTEGER NOT NULL,
	data    BYTEA NOT NULL,
	PRIMARY KEY (blob_id, seq)
);
DO $$ BEGIN
	IF (SELECT attstorage FROM pg_attribute
	    WHERE attrelid = 'evidence_chunks'::regclass AND attname = 'data') <> 'e' THEN
		ALTER TABLE evidence_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
	END IF;
END $$;
`

// pgSchemaLock is the advisory lock key that serializes EnsureSchema
// across instances: concurrent CREATE TABLE IF NOT EXISTS can still fail
// on PostgreSQL's catalog unique indexes.
const pgSchemaLock = 0x77776576 // "wwev"

// PostgresBlobs is a Blobs that keeps blobs in PostgreSQL, in chunks of
// their stored form, so that several instances of the server share them.
// It is safe for concurrent use.
type PostgresBlobs struct {
	db   *sql.DB
	keys *keyring
}

var _ Blobs = (*PostgresBlobs)(nil)

// NewPostgresBlobs returns a PostgresBlobs over db, a database/sql handle
// of PostgreSQL (the pgx driver); keys seal and open the blobs. Call
// EnsureSchema before use.
func NewPostgresBlobs(db *sql.DB, keys Keys) (*PostgresBlobs, error) {
	k, err := newKeyring(keys)
	if err != nil {
		return nil, err
	}
	return &PostgresBlobs{db: db, keys: k}, nil
}

// EnsureSchema creates the tables evidence_blobs and evidence_chunks if
// they do not exist. Several instances may call it at once.
func (p *PostgresBlobs) EnsureSchema(ctx context.Context) error {
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("evidence: schema: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgSchemaLock); err != nil {
		return fmt.Errorf("evidence: schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, pgSchema); err != nil {
		return fmt.Errorf("evidence: schema: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("evidence: schema: %w", err)
	}
	return nil
}

// Put implements Blobs. Each chunk is inserted by itself, so no
// transaction stays open while a slow client uploads; the blob becomes
// visible when its row is marked complete at the end.
func (p *PostgresBlobs) Put(ctx context.Context, id string, r io.Reader) (size int64, err error) {
	if err := checkID(id); err != nil {
		return 0, err
	}
	res, err := p.db.ExecContext(ctx,
		`INSERT INTO evidence_blobs (blob_id) VALUES ($1) ON CONFLICT (blob_id) DO NOTHING`, id)
	if err != nil {
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	} else if n == 0 {
		return 0, fmt.Errorf("%w: %s", ErrExists, id)
	}
	defer func() {
		if err != nil {
			p.removeFailed(ctx, id)
		}
	}()

	src := &countingReader{r: r}
	sealed, err := p.keys.seal(id, src)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, pgChunkSize)
	seq := 0
	for {
		n, rerr := io.ReadFull(sealed, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			return 0, fmt.Errorf("evidence: put %s: %w", id, rerr)
		}
		if n > 0 {
			if _, err := p.db.ExecContext(ctx,
				`INSERT INTO evidence_chunks (blob_id, seq, data) VALUES ($1, $2, $3)`, id, seq, buf[:n]); err != nil {
				return 0, fmt.Errorf("evidence: put %s: %w", id, err)
			}
			seq++
		}
		if rerr != nil {
			break
		}
	}
	if src.n == 0 {
		return 0, ErrEmpty
	}
	res, err = p.db.ExecContext(ctx,
		`UPDATE evidence_blobs SET size = $2, chunks = $3, complete = TRUE WHERE blob_id = $1 AND NOT complete`,
		id, src.n, seq)
	if err != nil {
		return 0, fmt.Errorf("evidence: put %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// Deleted while being written (RemoveIncomplete with a tiny age).
		return 0, fmt.Errorf("evidence: put %s: blob removed while written (%v)", id, err)
	}
	return src.n, nil
}

// removeFailed deletes what a failed Put wrote, even when the failure is
// the cancellation of ctx.
func (p *PostgresBlobs) removeFailed(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	p.db.ExecContext(ctx, `DELETE FROM evidence_blobs WHERE blob_id = $1`, id)
}

// Open implements Blobs. The Blob reads one chunk at a time, each with
// its own query, so no connection is held while a slow client downloads;
// its reads use ctx.
func (p *PostgresBlobs) Open(ctx context.Context, id string) (Blob, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var size int64
	var chunks int
	err := p.db.QueryRowContext(ctx,
		`SELECT size, chunks FROM evidence_blobs WHERE blob_id = $1 AND complete`, id).Scan(&size, &chunks)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: open %s: %w", id, err)
	}
	if size <= 0 || storedSize(size) > int64(chunks)*pgChunkSize || storedSize(size) <= int64(chunks-1)*pgChunkSize {
		return nil, fmt.Errorf("%w: %s: size %d does not fit %d chunks", ErrDecrypt, id, size, chunks)
	}
	cr := &chunkReader{ctx: ctx, db: p.db, id: id, chunks: chunks, buf: make([]byte, 0, pgChunkSize)}
	dec, err := p.keys.open(id, cr)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", id, err)
	}
	return &blobReader{dec: dec, size: size}, nil
}

// chunkReader reads the stored form of a blob, one chunk at a time.
type chunkReader struct {
	ctx    context.Context
	db     *sql.DB
	id     string
	chunks int
	seq    int    // next chunk to fetch
	buf    []byte // the current chunk
	off    int    // read offset in buf
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if c.seq == c.chunks {
			return 0, io.EOF
		}
		if err := c.fetch(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

func (c *chunkReader) fetch() error {
	rows, err := c.db.QueryContext(c.ctx,
		`SELECT data FROM evidence_chunks WHERE blob_id = $1 AND seq = $2`, c.id, c.seq)
	if err != nil {
		return fmt.Errorf("evidence: read %s: %w", c.id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("evidence: read %s: %w", c.id, err)
		}
		return fmt.Errorf("%w: %s: chunk %d is gone (deleted while read?)", ErrNotFound, c.id, c.seq)
	}
	// RawBytes points into the driver's buffer: copying it into ours
	// allocates nothing per chunk.
	var data sql.RawBytes
	if err := rows.Scan(&data); err != nil {
		return fmt.Errorf("evidence: read %s: %w", c.id, err)
	}
	if len(data) > pgChunkSize || (len(data) < pgChunkSize && c.seq != c.chunks-1) {
		return fmt.Errorf("%w: %s: chunk %d has %d bytes", ErrDecrypt, c.id, c.seq, len(data))
	}
	c.buf = append(c.buf[:0], data...)
	c.off = 0
	c.seq++
	return rows.Close()
}

// Delete implements Blobs; the chunks go with the blob's row.
func (p *PostgresBlobs) Delete(ctx context.Context, id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if _, err := p.db.ExecContext(ctx, `DELETE FROM evidence_blobs WHERE blob_id = $1`, id); err != nil {
		return fmt.Errorf("evidence: delete %s: %w", id, err)
	}
	return nil
}

// RemoveIncomplete removes the blobs whose upload a crash interrupted,
// if they were begun more than age ago (by the database's clock, which
// every instance shares), and returns how many it removed.
func (p *PostgresBlobs) RemoveIncomplete(ctx context.Context, age time.Duration) (int, error) {
	res, err := p.db.ExecContext(ctx,
		`DELETE FROM evidence_blobs WHERE NOT complete AND created_at < now() - make_interval(secs => $1)`,
		age.Seconds())
	if err != nil {
		return 0, fmt.Errorf("evidence: remove incomplete: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("evidence: remove incomplete: %w", err)
	}
	return int(n), nil
}
