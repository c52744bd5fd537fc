// Package store is the durable source of truth of one shard: its documents
// and its change log, in one bbolt file, and the catalog of collection
// configs, in another. Everything else about a shard (the HNSW graph, the
// text index, the metadata bitmaps) is derived from a Store and can be
// rebuilt from it.
//
// # What it owns
//
// A Store keeps every document under a shard-local number (Doc.Num) that it
// assigns: a new ID gets the next number of a persisted counter, an upsert
// keeps the number of the document it replaces, and no number is ever given
// out twice, not even after a delete. Derived indexes are keyed by Num.
//
// Every change (a put, or a delete that found its document) gets a sequence
// number and a record in the change log: its kind, the document's ID and
// number, not its contents. A derived index records the last sequence number
// it holds; on start it replays the log after that point, reading each
// changed document's current state by number. Once an index's snapshot is
// durable it calls TruncateLog, and the records it no longer needs go. The
// counters (next number, last sequence, document count) live in the file and
// survive truncation and restarts.
//
// Writes go through Apply, which commits a batch of ops all or nothing.
// Concurrent Apply calls are merged by one committer goroutine into one
// transaction and one fsync (group commit); a lone call is committed at once
// instead of waiting for a timer, unlike bbolt's DB.Batch.
//
// # Concurrency
//
// Every method of Store and Catalog is safe for concurrent use. Reads run in
// bbolt read transactions on consistent snapshots and neither block writes
// nor are blocked by them; View gives many reads one snapshot. A Reader is
// valid only inside its View call and is not itself safe for concurrent use.
// Close commits what is already queued, then stops the committer and waits
// for reads in progress.
//
// # Durability
//
// Apply returns only after its transaction is committed and fsynced: an
// acknowledged write survives a crash of the process or the machine. A crash
// at any instant leaves each Apply call either wholly applied or not at all.
// Config.NoSync breaks this and exists for tests only.
//
// # Formats
//
// The buckets, keys and record encodings are in docs/format/store.md. A
// record that does not decode, or fails its CRC-32C, is reported as a
// *CorruptionError (errors.Is(err, ErrCorrupt)), never a panic; so is a file
// that bbolt cannot read. A file of a newer format version is refused with
// ErrUnsupportedVersion, a file of another program or kind with ErrNotStore.
//
// The package logs only lifecycle events and failed group commits, through
// Config.Logger; it never logs document text or vectors.
package store
