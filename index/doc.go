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
// background and on Close; the text index with every batch). Opening a
// shard loads them and replays the change log after that sequence; a
// missing, damaged or too old one is rebuilt from the store, and the log
// says so. The metadata index is rebuilt from the store on open.
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
// store reads are snapshot transactions.
package index
