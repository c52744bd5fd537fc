// Package simd holds the distance kernels that every search in ragd runs:
// float32 dot product, squared Euclidean distance and cosine similarity, int8
// dot product and squared distance for scalar-quantised (SQ8) codes, and
// Hamming distance over binary codes packed into uint64 words.
//
// Each kernel comes in two shapes: one vector against one vector, and one
// query against a block of vectors laid out back to back in a slab (stride =
// the query's length), writing one result per vector into a caller's slice.
//
// The implementation is chosen once, at start-up, from the CPU's features
// (golang.org/x/sys/cpu): AVX-512, AVX2 with FMA, or the portable Go code in
// generic.go, which is the reference every fast path is tested and fuzzed
// against. Impl reports the choice.
//
// Contract: the kernels never allocate, never log and never retain their
// arguments. Lengths must agree (a and b of the same length; a block holding
// exactly len(out) vectors); a mismatch is a programming error and panics,
// like an out-of-range index. Validation of user input happens at the index
// boundary, not here. NaN and ±Inf propagate as they do in the reference:
// a result is NaN exactly when the reference's is, and ±Inf likewise. Sums are
// accumulated in a different order from the reference, so finite results may
// differ from it by rounding.
//
// All functions are safe for concurrent use.
package simd
