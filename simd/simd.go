package simd

//go:generate go run -C asm . -group float32 -pkg simd -out ../float32_amd64.s -stubs ../float32_stub_amd64.go
//go:generate go run -C asm . -group int8 -pkg simd -out ../int8_amd64.s -stubs ../int8_stub_amd64.go
//go:generate go run -C asm . -group hamming -pkg simd -out ../hamming_amd64.s -stubs ../hamming_stub_amd64.go

import "math"

// kernelSet is one implementation of every kernel. The exported functions
// check lengths and call through the set chosen at start-up. Within a set the
// block kernels give, row for row, bit for bit the single-vector kernel's
// result, and l2SquaredBounded gives l2Squared's whenever that is <= bound.
type kernelSet struct {
	name             string
	dot              func(a, b []float32) float32
	l2Squared        func(a, b []float32) float32
	l2SquaredBounded func(a, b []float32, bound float32) float32
	cosine           func(a, b []float32) float32
	dotBlock         func(q, block, out []float32)
	l2SquaredBlock   func(q, block, out []float32)
	cosineBlock      func(q, block, out []float32)
	dotBlockBatch    func(qs, block []float32, dim int, out []float32, stride int)
	dotInt8          func(a, b []int8) int32
	l2Int8           func(a, b []int8) int32
	dotInt8Block     func(q, block []int8, out []float32)
	l2Int8Block      func(q, block []int8, out []float32)
	hamming          func(a, b []uint64) int
	hammingBlock     func(q, block []uint64, out []float32)
}

// generic is the portable set (portable.go), the implementation off amd64
// and under the purego tag.
var generic = kernelSet{
	name:             "generic",
	dot:              dotGo,
	l2Squared:        l2SquaredGo,
	l2SquaredBounded: l2SquaredBoundedGo,
	cosine:           cosineGo,
	dotBlock:         dotBlockGo,
	l2SquaredBlock:   l2SquaredBlockGo,
	cosineBlock:      cosineBlockGo,
	dotBlockBatch:    dotBlockBatchGo,
	dotInt8:          dotInt8Generic,
	l2Int8:           l2SquaredInt8Generic,
	dotInt8Block:     dotInt8BlockGo,
	l2Int8Block:      l2SquaredInt8BlockGo,
	hamming:          hammingGeneric,
	hammingBlock:     hammingBlockGo,
}

// impl is chosen once in init (see dispatch_*.go) and never changes.
var impl = generic

// Impl names the kernel set chosen for this CPU: "avx512", "avx2" or
// "generic". Building with the purego tag forces "generic".
func Impl() string { return impl.name }

func mustSameLen(a, b int) {
	if a != b {
		panic("simd: length mismatch")
	}
}

func mustBlockLen(q, block, out int) {
	if block != q*out {
		panic("simd: block length is not len(q)*len(out)")
	}
}

// Dot returns the dot product of a and b, which must have the same length.
func Dot(a, b []float32) float32 {
	mustSameLen(len(a), len(b))
	return impl.dot(a, b)
}

// L2Squared returns the squared Euclidean distance between a and b, which
// must have the same length.
func L2Squared(a, b []float32) float32 {
	mustSameLen(len(a), len(b))
	return impl.l2Squared(a, b)
}

// L2SquaredBounded is L2Squared for a search that only wants distances up
// to bound (partial-distance elimination, as in HNSW: a candidate farther
// than the current worst result can be rejected without reading all of it).
// When L2Squared(a, b) <= bound it returns exactly that value. Otherwise it
// returns some value greater than bound: it checks the running sum every 128
// floats and stops once the sum exceeds bound (sums of squares only grow).
// Vectors shorter than 128 floats are always computed in full. If a or b
// holds a NaN, the result is NaN or a value greater than bound.
func L2SquaredBounded(a, b []float32, bound float32) float32 {
	mustSameLen(len(a), len(b))
	return impl.l2SquaredBounded(a, b, bound)
}

// Cosine returns the cosine similarity of a and b (raw, not normalised
// vectors), which must have the same length. A zero vector has similarity 0
// with every vector. The dot product and both norms come from one pass over
// the data. For vectors already normalised to unit length, Dot gives the
// same value more cheaply.
func Cosine(a, b []float32) float32 {
	mustSameLen(len(a), len(b))
	return impl.cosine(a, b)
}

// Norm returns the Euclidean length of v.
func Norm(v []float32) float32 {
	return float32(math.Sqrt(float64(impl.dot(v, v))))
}

// Normalize scales v in place to unit Euclidean length and reports whether
// it did. A zero vector, or one whose squared length is not finite (it holds
// NaN or ±Inf, or overflows float32), is left unchanged and Normalize
// returns false.
func Normalize(v []float32) bool {
	n := impl.dot(v, v)
	if !(n > 0) || n > math.MaxFloat32 {
		return false
	}
	s := float32(1 / math.Sqrt(float64(n)))
	for i := range v {
		v[i] *= s
	}
	return true
}

// DotInt8 returns the dot product of two int8 vectors of the same length.
// The result is exact for lengths up to 2^17.
func DotInt8(a, b []int8) int32 {
	mustSameLen(len(a), len(b))
	return impl.dotInt8(a, b)
}

// L2SquaredInt8 returns the squared Euclidean distance between two int8
// vectors of the same length. The result is exact for lengths up to 2^15.
func L2SquaredInt8(a, b []int8) int32 {
	mustSameLen(len(a), len(b))
	return impl.l2Int8(a, b)
}

// Hamming returns the number of differing bits between two bit vectors
// packed into uint64 words; a and b must have the same length.
func Hamming(a, b []uint64) int {
	mustSameLen(len(a), len(b))
	return impl.hamming(a, b)
}

// DotBlock sets out[i] to Dot(q, row i) for each of the len(out) rows laid
// back to back in block (row i is block[i*len(q):(i+1)*len(q)]). The results
// are bit for bit those of Dot. len(block) must be len(q)*len(out).
func DotBlock(q, block, out []float32) {
	mustBlockLen(len(q), len(block), len(out))
	impl.dotBlock(q, block, out)
}

// DotBlockBatch is DotBlock for several queries at once, a matrix product
// with the second matrix transposed: qs holds len(qs)/dim queries and block
// len(block)/dim rows, each dim floats laid back to back, and DotBlockBatch
// sets out[i*stride+j] to the dot product of query i and row j. Elements of
// out between the rows of results are left alone. dim must be positive,
// len(qs) and len(block) multiples of it, stride at least the number of
// rows, and out long enough to hold the last result (with no queries or no
// rows, out is not used).
//
// It is the kernel of a dense layer, y = x·Wᵀ with W stored one row per
// output: on AVX-512 and AVX2 it runs 4×4 (3×4) tiles of queries by rows,
// loading each chunk of a query and of a row once for all the tile's
// products, and is 1.5–2.2× faster than one DotBlock per query. It is
// 1.2–1.5× faster again when every vector starts on a 64-byte boundary (dim
// a multiple of 16, qs and block aligned). For speed, the rows should fit in
// L1 cache (a few tens of KiB: call it block by block) and the queries in
// L2.
//
// The sums run in another order than Dot's, so a result equals Dot's only up
// to rounding (and NaN and ±Inf come out as in Dot); but it depends only on
// the query and the row, not on the other queries and rows of the call nor
// on their positions: computing a pair alone gives the same bits.
func DotBlockBatch(qs, block []float32, dim int, out []float32, stride int) {
	if dim < 1 || len(qs)%dim != 0 || len(block)%dim != 0 {
		panic("simd: batch lengths are not multiples of a positive dim")
	}
	nq, nb := len(qs)/dim, len(block)/dim
	if stride < nb {
		panic("simd: batch stride is less than the number of rows")
	}
	if nq == 0 || nb == 0 {
		return
	}
	// len(out) >= (nq-1)*stride + nb, without overflow.
	if nb > len(out) || nq > 1 && stride > (len(out)-nb)/(nq-1) {
		panic("simd: batch output too short")
	}
	impl.dotBlockBatch(qs, block, dim, out, stride)
}

// L2SquaredBlock sets out[i] to L2Squared(q, row i) for each of the len(out)
// rows laid back to back in block, bit for bit. len(block) must be
// len(q)*len(out).
func L2SquaredBlock(q, block, out []float32) {
	mustBlockLen(len(q), len(block), len(out))
	impl.l2SquaredBlock(q, block, out)
}

// CosineBlock sets out[i] to Cosine(q, row i) for each of the len(out) rows
// laid back to back in block, bit for bit. len(block) must be
// len(q)*len(out).
func CosineBlock(q, block, out []float32) {
	mustBlockLen(len(q), len(block), len(out))
	impl.cosineBlock(q, block, out)
}

// DotInt8Block sets out[i] to DotInt8(q, row i), as a float32, for each of
// the len(out) rows laid back to back in block. len(block) must be
// len(q)*len(out).
func DotInt8Block(q, block []int8, out []float32) {
	mustBlockLen(len(q), len(block), len(out))
	impl.dotInt8Block(q, block, out)
}

// L2SquaredInt8Block sets out[i] to L2SquaredInt8(q, row i), as a float32,
// for each of the len(out) rows laid back to back in block. len(block) must
// be len(q)*len(out).
func L2SquaredInt8Block(q, block []int8, out []float32) {
	mustBlockLen(len(q), len(block), len(out))
	impl.l2Int8Block(q, block, out)
}

// HammingBlock sets out[i] to Hamming(q, row i), as a float32, for each of
// the len(out) rows laid back to back in block. len(block) must be
// len(q)*len(out).
func HammingBlock(q, block []uint64, out []float32) {
	mustBlockLen(len(q), len(block), len(out))
	impl.hammingBlock(q, block, out)
}

// namedSet labels a kernel set for tests and benchmarks.
type namedSet struct {
	label string
	set   kernelSet
}
