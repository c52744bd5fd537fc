// Package text is ragd's keyword retrieval: textbook BM25 over a bleve
// index, one index per shard, with collection statistics that add up
// exactly across the shards of a collection.
//
// # What it owns
//
// An Index is a bleve scorch index in one folder (scorch's root.bolt and
// its *.zap segments, opened directly, without bleve's top-level package and
// its process-wide goroutines). It holds one document per shard document
// number (Num, as the bleve ID of eight hex digits) with two fields: "text",
// the analysed text, indexed with term frequencies and norms but no
// positions and nothing stored; and "len", the text's length in tokens,
// stored only. The text itself lives in the shard's store; this index is
// derived from it and can be rebuilt from it at any time.
//
// bleve does the analysis (Config.Analyzer: English by default, bleve's
// language analyzers, "standard", "cjk") and keeps the postings. The
// scoring is ours: bleve 2.6's own "bm25" is not textbook BM25 (its average
// length comes out as a few tokens, tf is square-rooted, a coordination
// factor applies) and loses 0.14 nDCG@10 to Lucene on Cranfield. Search
// walks zap's postings iterators itself and scores
//
//	Σ over query terms t   idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))
//	idf(t) = ln(1 + (N − df(t) + 0.5)/(df(t) + 0.5))
//
// as Lucene's BM25Similarity does, but with exact lengths (Lucene rounds
// them to one byte). On Cranfield this scores nDCG@10 0.3725 against
// Lucene 8.7's 0.368 (TestCranfield).
//
// # Exact statistics
//
//   - dl: zap keeps each document's field length exactly and reports
//     float32(1/√len) with every posting; rounding 1/norm² gives the length
//     back exactly below 6,660,631 tokens (TestLenFromNorm).
//   - df: the postings count of each segment less its deleted documents,
//     from bleve.
//   - N: bleve's live document count.
//   - TotalLen, Σ dl over live documents: kept by Apply in the index's
//     internal storage, in the same bleve batch as the documents, from the
//     new texts' token counts and the replaced or deleted documents' stored
//     lengths. It survives restarts with the documents it describes.
//
// Stats reports these per index; Stats.Add sums shards exactly; Search
// takes the sum, so that every shard scores a document as one index
// holding the whole collection would, bit for bit (the statistics phase of
// Elasticsearch's dfs_query_then_fetch). Search is exhaustive in effect but
// prunes with MaxScore: documents that cannot reach the k-th score are
// skipped, with the same top k as a full scan.
//
// # Durability and recovery
//
// Apply records the caller's change-log sequence (Seq) in the same batch as
// the documents. A batch is searchable when Apply returns and reaches disk
// shortly after through bleve's persister; Flush waits for that, Close
// flushes. After a crash the folder holds a whole earlier batch boundary,
// and Seq says where the caller replays from.
//
// Open checks a folder before bleve reads it: the root file must not be
// shorter than the pages its bbolt meta page says are in use (bbolt maps
// the file and would touch the missing pages: a SIGBUS, which no recover
// catches); the latest snapshot scorch recorded must load (scorch itself
// would quietly fall back to an older one, or to an empty index, when a
// segment is missing or unreadable); and every segment file of it must
// match the CRC-32 that ends it (bleve writes it but never checks it). A
// damaged folder yields a *CorruptionError (errors.Is(err, ErrCorrupt)):
// delete it and rebuild. bleve panics on some damage (a garbled footer, a
// bad bolt page); Open turns such a panic into a CorruptionError, though
// bleve may then keep a file handle open until the process exits. scorch
// also logs such failures through the standard library's log package.
// Damage that appears while an Index is open is not detected.
//
// # Concurrency
//
// Every method of Index is safe for concurrent use. Apply and Flush run one
// at a time; Count, Stats and Search each read one consistent snapshot and
// run alongside Apply. Stats and Search are two calls, so a batch applied
// between them shifts the statistics slightly; nothing fails. Close waits
// for running calls. An Index owns bleve's goroutines for its folder
// (introducer, persister, merger, analysis workers) and stops them on
// Close. One folder is open in one Index at a time (ErrLocked).
package text
