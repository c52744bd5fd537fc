// Package index is ragd's retrieval engine: collections of documents,
// sharded, durable, searchable by vector, by BM25 keywords, or both fused,
// under metadata filters. It is usable as a library, without the server.
//
// # Shape
//
// An Index is a directory of collections (Open). A Collection is N shards;
// documents go to a shard by a hash of their ID. A shard binds:
//
//   - a store (index/store, bbolt): documents and a change log numbered by
//     sequence — the source of truth;
//   - an HNSW graph (hnsw) over the documents' vectors, keyed by the
//     shard's document numbers;
//   - a text index (index/text, bleve postings, textbook BM25);
//   - a metadata index (index/filter, roaring bitmaps) and the bitmap of
//     live document numbers.
//
// # Writes and durability
//
// Upsert and Delete validate everything first, then commit each shard's
// part in one store transaction (concurrent writers share a group commit)
// and return once it is fsynced and applied to the derived indexes, in
// change-log order. The graph and the text index are derived: each records
// the last sequence it holds (the graph in its snapshot, written in the
// background and on Close without stopping writes; the text index with
// every batch). Opening a shard loads them and replays the change log
// after that sequence; a missing, damaged or too old one is rebuilt from
// the store, and the log says so. The metadata index is rebuilt from the
// store on open.
//
// A committed batch that fails to apply to the graph or the text index is
// repaired at once from the store (its documents take their stored state)
// and the write succeeds; if the repair fails too, the write reports the
// error, the maintenance goroutine keeps retrying, and until it succeeds
// no graph snapshot and no text sequence passes the batch, so a restart
// replays it. Stats counts failures, repairs and documents awaiting one.
//
// DeleteByFilter matches on the metadata bitmaps and deletes in bounded
// batches, each atomic with respect to the shard's other writes.
//
// # Deletes and compaction
//
// A delete, and an upsert that replaces a vector, leave a tombstone in the
// shard's graph: searches walk through it, never return it. A maintenance
// goroutine compacts a shard's graph in bounded steps once its tombstones
// pass Config.CompactTombstoneRatio of its nodes (Qdrant's vacuum optimizer
// policy; the repair itself is FreshDiskANN's consolidation, in place, as
// Weaviate's tombstone cleanup does it), freeing their slots for new
// vectors; Collection.Compact does it on demand. Neither blocks searches or
// writes.
//
// # Search
//
// A search validates the request, evaluates the filter per shard to a
// bitmap, runs the vector leg (HNSW with the bitmap as allow-list) and the
// text leg (BM25 with collection-wide statistics gathered from every shard
// first) on all shards in parallel, merges each leg across shards (exactly:
// the same top-k as one shard holding everything, up to ties), fuses the two
// legs of a hybrid search (relative-score or reciprocal rank fusion) and
// loads the hits' documents. Each hit says what each leg scored and ranked
// it.
//
// # Concurrency
//
// Index, Collection and their methods are safe for concurrent use.
// Searches take no lock that a write holds for long: graph reads are
// lock-free, the text and metadata indexes allow concurrent readers, and
// store reads are snapshot transactions. Writes wait for no snapshot and no
// compaction; within a shard they wait only for each other (the apply
// order), and for a DeleteByFilter batch in progress.
package index
