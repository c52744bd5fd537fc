package simd

// The portable kernels: the generic set, used off amd64 and under the
// purego tag. The float32 ones are plain Go like the reference kernels in
// generic.go, but keep four independent sums, so that the loop runs at the
// CPU's throughput instead of its add (or fused multiply-add) latency: about
// twice the reference's speed. For int8 and Hamming the reference loops are
// already as fast as four sums (measured), so the set uses them. Like the
// assembly, these kernels are tested and fuzzed against the reference.
//
// Summation scheme (the block and bounded kernels depend on it for bit for
// bit agreement): element i goes to sum i mod 4, except the last len%4
// elements, which go to sum 0 in order; the result is (s0+s1)+(s2+s3).

// dotSums adds a·b into the four sums.
func dotSums(a, b []float32, s0, s1, s2, s3 float32) (float32, float32, float32, float32) {
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += x[0] * y[0]
		s1 += x[1] * y[1]
		s2 += x[2] * y[2]
		s3 += x[3] * y[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0, s1, s2, s3
}

// l2Sums adds |a-b|² into the four sums.
func l2Sums(a, b []float32, s0, s1, s2, s3 float32) (float32, float32, float32, float32) {
	b = b[:len(a)]
	i := 0
	for ; i+4 <= len(a); i += 4 {
		x, y := a[i:i+4:i+4], b[i:i+4:i+4]
		d0, d1, d2, d3 := x[0]-y[0], x[1]-y[1], x[2]-y[2], x[3]-y[3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return s0, s1, s2, s3
}

func dotGo(a, b []float32) float32 {
	s0, s1, s2, s3 := dotSums(a, b, 0, 0, 0, 0)
	return (s0 + s1) + (s2 + s3)
}

func l2SquaredGo(a, b []float32) float32 {
	s0, s1, s2, s3 := l2Sums(a, b, 0, 0, 0, 0)
	return (s0 + s1) + (s2 + s3)
}

// l2SquaredBoundedGo runs l2Sums boundedEvery floats at a time (a multiple
// of 4, so the elements land in the same sums as in l2SquaredGo) and stops
// once the partial result exceeds bound.
func l2SquaredBoundedGo(a, b []float32, bound float32) float32 {
	if len(a) < boundedMin {
		return l2SquaredGo(a, b)
	}
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	for i := 0; i < len(a); i += boundedEvery {
		end := min(i+boundedEvery, len(a))
		s0, s1, s2, s3 = l2Sums(a[i:end], b[i:end], s0, s1, s2, s3)
		if s := (s0 + s1) + (s2 + s3); s > bound {
			return s
		}
	}
	return (s0 + s1) + (s2 + s3)
}

func cosineGo(a, b []float32) float32 {
	return cosineFromParts(dotGo(a, b), dotGo(a, a), dotGo(b, b))
}

func dotBlockGo(q, block, out []float32) {
	for i := range out {
		out[i] = dotGo(q, block[i*len(q):(i+1)*len(q)])
	}
}

// dotBlockBatchGo is one dotBlockGo per query: each result is dotGo's.
func dotBlockBatchGo(qs, block []float32, dim int, out []float32, stride int) {
	nb := len(block) / dim
	for i := range len(qs) / dim {
		dotBlockGo(qs[i*dim:(i+1)*dim], block, out[i*stride:i*stride+nb])
	}
}

func l2SquaredBlockGo(q, block, out []float32) {
	for i := range out {
		out[i] = l2SquaredGo(q, block[i*len(q):(i+1)*len(q)])
	}
}

func cosineBlockGo(q, block, out []float32) {
	qq := dotGo(q, q)
	for i := range out {
		r := block[i*len(q) : (i+1)*len(q)]
		out[i] = cosineFromParts(dotGo(q, r), qq, dotGo(r, r))
	}
}

func dotInt8BlockGo(q, block []int8, out []float32) {
	for i := range out {
		out[i] = float32(dotInt8Generic(q, block[i*len(q):(i+1)*len(q)]))
	}
}

func l2SquaredInt8BlockGo(q, block []int8, out []float32) {
	for i := range out {
		out[i] = float32(l2SquaredInt8Generic(q, block[i*len(q):(i+1)*len(q)]))
	}
}

func hammingBlockGo(q, block []uint64, out []float32) {
	for i := range out {
		out[i] = float32(hammingGeneric(q, block[i*len(q):(i+1)*len(q)]))
	}
}
