// Package flat is ragd's exact (brute-force) vector search: every query
// against every admitted row, as a batch, at the speed of a matrix
// product. It serves batches of searches over collections below the size
// where a graph pays off and over small allowed sets (hnsw.Graph.SearchExact,
// used by index.Collection.SearchBatch), and ground truth for the
// benchmarks. A single filtered search keeps hnsw's own scan: for one query
// the rows gathered from an allow-list cost a copy each, and flat took 1.7–
// 1.8× the time of the graph's loop (BenchmarkExactScanSingle in hnsw). flat/cuda is the same search on a GPU, loaded at run time.
//
// # What it owns
//
// Engine searches vectors it does not own: a Vectors view of the caller's
// slab, or of a graph's chunks (row stride and several chunks allowed),
// with an optional allow-list (a *roaring.Bitmap, or IDs) and an optional
// Exclude function for deleted rows. Index is FAISS's IndexFlat: it owns
// its vectors (append with consecutive ids, delete by masking) and caches
// what a search needs (unit vectors for Cosine, squared norms for L2).
//
// Results follow hnsw's conventions: distances are "smaller is nearer"
// (squared Euclidean, 1 − cosine, −dot), nearest first, ties by lower id,
// and each distance is the one the simd kernels give (simd.L2Squared and so
// on; |q − r|²/2 for Cosine over unit rows, as hnsw computes it), so that a
// search here and one through hnsw's exact scan agree.
//
// # Algorithm
//
// The queries are cut into blocks (Config.CacheBytes) and each block is
// packed into panels of 16 (AVX2) or 32 (AVX-512) queries, element k of
// every query side by side. The rows are walked in tiles of 6 (AVX2) or
// 12 (AVX-512), read in place; every panel of the block meets the tile in
// simd.ScoreTile, the register-blocked micro-kernel of a GEMM (queries ×
// rowsᵀ, the layout of BLIS and GotoBLAS), which turns each dot product
// into a score that ranks like the distance (|r|² − 2·q·r for L2, the norms
// cached or computed once per tile) and compares it with the query's
// current k-th best. Only scores that pass reach Go, where a bounded max-
// heap per query keeps the k best. The tile stays in cache while the
// panels stream past it, so each row is read from memory once per block.
// Blocks, and when there are fewer blocks than threads slices of the rows,
// are spread over Config.Threads goroutines; slices are merged at the end.
// Finally each query's k winners get their exact distance from the simd
// kernels and are sorted.
//
// Fewer queries than Config.SmallBatch take the direct path instead: each
// row against each query with the single-vector kernels (squared L2
// bounded by the k-th best, as in hnsw), every row read once for all.
//
// The matrix-product scores carry the rounding of |r|² − 2·q·r, so a row
// whose distance ties the k-th best within that rounding may be swapped
// with it; apart from such ties the results are those of a brute-force
// scan. Rows whose score is NaN are never returned.
//
// # Concurrency
//
// Engine is safe for concurrent use: each Search takes its scratch space
// from a pool and runs on its own goroutines, which it waits for before it
// returns. A steady loop of searches allocates nothing (with Threads 1; a
// parallel search starts Threads−1 goroutines). The Vectors, queries and
// allow-list must not change while a Search reads them; Exclude is called
// from several goroutines at once. Index is safe for concurrent use:
// searches share a read lock, Add and Delete take the write lock.
//
// The package neither logs nor retains its arguments; Search takes a
// context because it fans out over cores, and returns ctx.Err() when the
// context ends before it does.
package flat
