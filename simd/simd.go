package simd

// kernelSet is one implementation of every kernel. The exported functions
// check lengths and call through the set chosen at start-up.
type kernelSet struct {
	name      string
	dot       func(a, b []float32) float32
	l2Squared func(a, b []float32) float32
	dotInt8   func(a, b []int8) int32
	l2Int8    func(a, b []int8) int32
	hamming   func(a, b []uint64) int
}

var generic = kernelSet{
	name:      "generic",
	dot:       dotGeneric,
	l2Squared: l2SquaredGeneric,
	dotInt8:   dotInt8Generic,
	l2Int8:    l2SquaredInt8Generic,
	hamming:   hammingGeneric,
}

// impl is chosen once in init (see dispatch_*.go) and never changes.
var impl = generic

// Impl names the kernel set chosen for this CPU: "avx512", "avx2" or "generic".
func Impl() string { return impl.name }

func mustSameLen(a, b int) {
	if a != b {
		panic("simd: length mismatch")
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

// Cosine returns the cosine similarity of a and b (raw, not normalised
// vectors), which must have the same length. A zero vector has similarity 0
// with every vector. For vectors already normalised to unit length, Dot gives
// the same value with a third of the work.
func Cosine(a, b []float32) float32 {
	mustSameLen(len(a), len(b))
	return cosineFromParts(impl.dot(a, b), impl.dot(a, a), impl.dot(b, b))
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
