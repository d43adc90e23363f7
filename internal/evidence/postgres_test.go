package evidence_test

import (
	"database/sql"
	"io"
	"sync"
	"testing"

	"github.com/watchword/watchword/internal/evidence"
	"github.com/watchword/watchword/internal/storetest"
)

// Several instances start at once and each ensures the schema.
func TestPostgresEnsureSchemaConcurrently(t *testing.T) {
	db, err := sql.Open("pgx", storetest.OpenPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			b, err := evidence.NewPostgresBlobs(db, evidence.Keys{Current: keyA})
			if err == nil {
				err = b.EnsureSchema(t.Context())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("EnsureSchema: %v", err)
		}
	}
	var storage string
	err = db.QueryRow(`SELECT attstorage FROM pg_attribute
		WHERE attrelid = 'evidence_chunks'::regclass AND attname = 'data'`).Scan(&storage)
	if err != nil || storage != "e" {
		t.Fatalf("storage of evidence_chunks.data: %q, %v; want e (EXTERNAL: ciphertext does not compress)", storage, err)
	}
}

// PostgresBlobs streams too: a 32 MiB blob goes in and out with a heap
// that grows by a few megabytes.
func TestPostgresStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 32 MiB")
	}
	const size = 32 << 20
	blobs := pgBackend(t).open(t, evidence.Keys{Current: keyA})
	id := evidence.NewID()
	var n int64
	grew := heapGrowth(t, func() {
		var err error
		if n, err = blobs.Put(t.Context(), id, newVideoSource(size)); err != nil {
			t.Fatalf("Put: %v", err)
		}
	})
	t.Logf("Put of 32 MiB: heap peak %.2f MiB over the start", float64(grew)/(1<<20))
	if n != size || grew > 8<<20 {
		t.Errorf("Put stored %d bytes with the heap %d bytes higher, want %d with a few MB", n, grew, size)
	}
	grew = heapGrowth(t, func() {
		b, err := blobs.Open(t.Context(), id)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer b.Close()
		if n, err = io.Copy(io.Discard, b); err != nil {
			t.Fatalf("read: %v", err)
		}
	})
	t.Logf("read of 32 MiB: heap peak %.2f MiB over the start", float64(grew)/(1<<20))
	if n != size || grew > 8<<20 {
		t.Errorf("read %d bytes with the heap %d bytes higher, want %d with a few MB", n, grew, size)
	}
}
