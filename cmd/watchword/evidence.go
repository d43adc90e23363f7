package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/watchword/watchword/internal/evidence"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
)

// evidenceStore is the review's Evidence over package evidence: blobs in
// the data folder, or in PostgreSQL when the server runs on it, so that
// several instances share them.
type evidenceStore struct {
	blobs    evidence.Blobs
	ingester *evidence.Ingester
}

// blobCleaner removes blobs a crashed upload left half written.
type blobCleaner interface {
	RemoveIncomplete(ctx context.Context, age time.Duration) (int, error)
}

// openEvidence opens the blob store that goes with db, under keys derived
// from the key file (the first seals; all open, as for TOTP secrets).
func openEvidence(ctx context.Context, db *sqlstore.DB, dataDir string, keys [][]byte) (*evidenceStore, error) {
	var ek evidence.Keys
	for i, k := range keys {
		key := evidence.Key{ID: secretbox.DeriveKey(k, "key-id")[0], Secret: secretbox.DeriveKey(k, "evidence")}
		if i == 0 {
			ek.Current = key
		} else {
			ek.Old = append(ek.Old, key)
		}
	}
	var blobs evidence.Blobs
	if db.Dialect() == "postgres" {
		pg, err := evidence.NewPostgresBlobs(db.SQL(), ek)
		if err != nil {
			return nil, fmt.Errorf("evidence store: %w", err)
		}
		if err := pg.EnsureSchema(ctx); err != nil {
			return nil, fmt.Errorf("evidence store: %w", err)
		}
		blobs = pg
	} else {
		dir, err := evidence.NewDirBlobs(filepath.Join(dataDir, "evidence"), ek)
		if err != nil {
			return nil, fmt.Errorf("evidence store: %w", err)
		}
		blobs = dir
	}
	return &evidenceStore{blobs: blobs, ingester: evidence.NewIngester(blobs)}, nil
}

// Ingest checks and stores one upload.
func (e *evidenceStore) Ingest(ctx context.Context, kind review.Kind, r io.Reader) (*review.Stored, error) {
	k := evidence.Video
	if kind == review.KindImage {
		k = evidence.Image
	}
	st, err := e.ingester.Ingest(ctx, k, r)
	switch {
	case errors.Is(err, evidence.ErrTooLarge):
		return nil, review.ErrTooLarge
	case errors.Is(err, evidence.ErrUnsupportedType):
		return nil, review.ErrUnsupportedType
	case err != nil:
		return nil, err
	}
	out := &review.Stored{BlobID: st.Original.ID, ContentType: st.View.ContentType, Size: st.Original.Size}
	if st.View.ID != st.Original.ID {
		out.ViewBlobID = st.View.ID
	}
	return out, nil
}

// Open streams a blob back.
func (e *evidenceStore) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	return e.blobs.Open(ctx, id)
}

// Delete removes a blob.
func (e *evidenceStore) Delete(ctx context.Context, id string) error {
	return e.blobs.Delete(ctx, id)
}

// removeIncomplete removes what crashed uploads left behind.
func (e *evidenceStore) removeIncomplete(ctx context.Context) (int, error) {
	if c, ok := e.blobs.(blobCleaner); ok {
		return c.RemoveIncomplete(ctx, time.Hour)
	}
	return 0, nil
}
