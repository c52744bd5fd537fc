package simd

import (
	"math"
	"math/bits"
)

// The pure-Go reference kernels: the plainest loops, one sum each. Every
// kernel set, the portable one included (portable.go), is tested and fuzzed
// against these.

func dotGeneric(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, x := range a {
		s += x * b[i]
	}
	return s
}

func l2SquaredGeneric(a, b []float32) float32 {
	var s float32
	b = b[:len(a)]
	for i, x := range a {
		d := x - b[i]
		s += d * d
	}
	return s
}

func dotInt8Generic(a, b []int8) int32 {
	var s int32
	b = b[:len(a)]
	for i, x := range a {
		s += int32(x) * int32(b[i])
	}
	return s
}

func l2SquaredInt8Generic(a, b []int8) int32 {
	var s int32
	b = b[:len(a)]
	for i, x := range a {
		d := int32(x) - int32(b[i])
		s += d * d
	}
	return s
}

func hammingGeneric(a, b []uint64) int {
	var s int
	b = b[:len(a)]
	for i, x := range a {
		s += bits.OnesCount64(x ^ b[i])
	}
	return s
}

// cosineFromParts turns a dot product and two squared norms into a cosine
// similarity; a zero vector has similarity 0 with everything.
func cosineFromParts(dot, na, nb float32) float32 {
	if na == 0 || nb == 0 {
		return 0
	}
	return float32(float64(dot) / math.Sqrt(float64(na)*float64(nb)))
}

// boundedMin and boundedEvery are L2SquaredBounded's rules: vectors shorter
// than boundedMin are computed in full; longer ones are checked against the
// bound every boundedEvery floats.
const (
	boundedMin   = 128
	boundedEvery = 128
)

// cosineGeneric is the reference cosine: float32 sums, combined in float64.
func cosineGeneric(a, b []float32) float32 {
	return cosineFromParts(dotGeneric(a, b), dotGeneric(a, a), dotGeneric(b, b))
}
