// Package texmex reads and writes the TEXMEX vector files used by the ANN
// benchmarks (SIFT1M, GIST1M, ann-benchmarks' exports): .fvecs for float32
// vectors and .ivecs for int32 vectors such as ground-truth neighbour ids.
//
// # Format
//
// A file is a sequence of rows and nothing else: no header, no footer, no
// checksum. Every row is
//
//	+---------------+---------------+---------------+-----+-------------------+
//	| dim (int32)   | v[0]          | v[1]          | ... | v[dim-1]          |
//	+---------------+---------------+---------------+-----+-------------------+
//	  4 bytes         4 bytes         4 bytes               4 bytes
//
// all little-endian; v[i] is an IEEE-754 float32 in .fvecs and an int32 in
// .ivecs (.bvecs, with one byte per value, is not supported). Every row of a
// file has the same dim, so a file of n rows is exactly n*(4+4*dim) bytes.
// Rows are numbered from 0 in the order they appear.
//
// This package accepts a file only if it is well formed: at least one row, a
// dim in [1, MaxDim], the same dim on every row and no truncated row. Any
// violation is a *FormatError naming the file, the row and the byte offset
// (errors.Is(err, ErrFormat) holds); malformed input never panics. Paths that
// end in ".gz" are transparently gunzipped on read and gzipped on write.
//
// # Use
//
// ReadFvecs and ReadIvecs load a whole file (or its first rows) into one
// contiguous row-major slab, which is what a benchmark wants; Reader streams
// rows one at a time for files that should not be held in memory. WriteFvecs,
// WriteIvecs and WriteFile write through a temporary file that is fsynced and
// renamed over the target, so a reader never sees a half-written file.
//
// # Concurrency
//
// The functions are safe for concurrent use. A Reader or Writer is not; use
// one per goroutine.
package texmex
