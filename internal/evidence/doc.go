// Package evidence stores the files users upload for staff review (the
// photo and video of an unbind request, the documents and selfie of an
// identity verification): it checks what they are from their bytes,
// encrypts them at rest, and serves them back to staff with headers that
// keep a browser from treating them as anything but a picture or a video.
//
// # Storage
//
// A Blobs stores opaque content under a server-chosen id (NewID). Two
// implementations: DirBlobs keeps one file per blob in a folder (the
// default, under the data folder), PostgresBlobs keeps the blob in rows of
// a table, so that several instances of the server share it. Both stream:
// neither ever holds a whole blob in memory, and a Put that fails for any
// reason (including its reader's error, such as a size limit tripping)
// leaves nothing stored.
//
// # Format
//
// Every stored blob, whatever the store, is a 38-byte header followed by a
// DARE 2.0 stream:
//
//	offset  size  content
//	0       4     magic "WWEV"
//	4       1     format version, 1
//	5       1     id of the Key that sealed the blob (Keys rotate)
//	6       32    random salt
//	38      ...   DARE 2.0 (github.com/minio/sio), AES-256-GCM only:
//	              packages of 16-byte header, up to 64 KiB of ciphertext,
//	              16-byte tag
//
// The DARE key of a blob is HKDF-SHA256 of the Key's secret, with the salt
// and, as info, the first 6 bytes of the header and the blob id. So no two
// blobs share a key (nor a nonce space), a blob copied under another id
// does not open, and changing any header byte changes the key, which the
// first package's tag then refuses. A blob written under an old key opens
// as long as that key is among Keys.Old.
//
// # Why sio
//
// DARE (MinIO's "Data At Rest Encryption") splits a stream into packages
// of 64 KiB, each sealed with AES-GCM under a nonce derived from one
// random stream nonce and the package's sequence number, and flags the
// last package: reordered, dropped, duplicated or truncated packages all
// fail to open, and it streams both ways with one package in memory. That
// is exactly what a large video needs, and it is a small, audited,
// long-used library (MinIO's server-side encryption), which we prefer to
// hand-written chunked AEAD framing, where truncation and reordering are
// the classic mistakes.
//
// # Ingestion
//
// Ingester.Ingest decides an upload's type from its first bytes only
// (never from the client's Content-Type or file name), enforces the size
// limit while streaming, and for images checks the declared dimensions,
// and the number of scans of a JPEG, before decoding (no pixel floods, no
// scan floods), decodes the image fully, and stores a re-encoded copy for
// staff, without EXIF/GPS metadata or trailing bytes, with the EXIF
// orientation applied to its pixels. Blobs are stored under ids of NewID,
// never under names from the client.
//
// Serve streams a stored file to staff with Content-Type from the allowed
// list only, Content-Disposition, X-Content-Type-Options: nosniff,
// Cache-Control: no-store and a sandboxing Content-Security-Policy.
package evidence
