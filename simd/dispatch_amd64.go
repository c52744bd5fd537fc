//go:build !purego

package simd

import "golang.org/x/sys/cpu"

// The amd64 kernel sets, from the generated assembly (see asm/). Dispatch
// happens once, here, by CPU feature:
//
//	avx512: AVX-512 F, BW and VL (and the OS saving ZMM state); the int8 dot
//	        and squared-L2 kernels use AVX-512 VNNI and Hamming uses
//	        AVX-512 VPOPCNTDQ where the CPU has them.
//	avx2:   AVX2, FMA and POPCNT.
//	generic otherwise.

var avx2Set = kernelSet{
	name:             "avx2",
	dot:              dotAVX2,
	l2Squared:        l2SquaredAVX2,
	l2SquaredBounded: l2SquaredBoundedAVX2,
	cosine:           cosineAVX2,
	dotBlock:         dotBlockAVX2,
	l2SquaredBlock:   l2SquaredBlockAVX2,
	cosineBlock:      cosineBlockAVX2,
	dotBlockBatch:    dotBlockBatchAVX2,
	dotInt8:          dotInt8AVX2,
	l2Int8:           l2SquaredInt8AVX2,
	dotInt8Block:     dotInt8BlockAVX2,
	l2Int8Block:      l2SquaredInt8BlockAVX2,
	hamming:          hammingShortPOPCNT,
	hammingBlock:     hammingBlockPOPCNT,
}

// avx512Set is the set for AVX-512 F/BW/VL alone; avx512Full adds the VNNI
// and VPOPCNTDQ kernels.
var avx512Set = kernelSet{
	name:             "avx512",
	dot:              dotAVX512,
	l2Squared:        l2SquaredAVX512,
	l2SquaredBounded: l2SquaredBoundedAVX512,
	cosine:           cosineAVX512,
	dotBlock:         dotBlockAVX512,
	l2SquaredBlock:   l2SquaredBlockAVX512,
	cosineBlock:      cosineBlockAVX512,
	dotBlockBatch:    dotBlockBatchAVX512,
	dotInt8:          dotInt8AVX512,
	l2Int8:           l2SquaredInt8AVX512,
	dotInt8Block:     dotInt8BlockAVX512,
	l2Int8Block:      l2SquaredInt8BlockAVX512,
	hamming:          hammingShortPOPCNT,
	hammingBlock:     hammingBlockPOPCNT,
}

var (
	hasAVX2    = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasPOPCNT
	hasAVX512  = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL
	hasVNNI    = hasAVX512 && cpu.X86.HasAVX512VNNI
	hasVPOPCNT = hasAVX512 && cpu.X86.HasAVX512VPOPCNTDQ
)

// avx512Full returns avx512Set with the VNNI and VPOPCNTDQ kernels the CPU
// supports.
func avx512Full() kernelSet {
	s := avx512Set
	if hasVNNI {
		s.dotInt8, s.dotInt8Block = dotInt8VNNI, dotInt8BlockVNNI
		s.l2Int8, s.l2Int8Block = l2SquaredInt8VNNI, l2SquaredInt8BlockVNNI
	}
	if hasVPOPCNT {
		s.hamming, s.hammingBlock = hammingShortAVX512, hammingBlockShortAVX512
	}
	return s
}

func init() {
	switch {
	case hasAVX512:
		impl = avx512Full()
	case hasAVX2:
		impl = avx2Set
	}
}

// kernelSets returns every kernel set this CPU can run, for the tests and
// benchmarks; the last is the one chosen.
func kernelSets() []namedSet {
	sets := []namedSet{{"generic", generic}}
	if hasAVX2 {
		sets = append(sets, namedSet{"avx2", avx2Set})
	}
	if hasAVX512 {
		sets = append(sets, namedSet{"avx512-base", avx512Set})
		if hasVNNI || hasVPOPCNT {
			sets = append(sets, namedSet{"avx512", avx512Full()})
		}
	}
	return sets
}

func cosineAVX2(a, b []float32) float32   { return cosineFromParts(dotNormsAVX2(a, b)) }
func cosineAVX512(a, b []float32) float32 { return cosineFromParts(dotNormsAVX512(a, b)) }

// cosineBlockAVX2 and cosineBlockAVX512 call their kernels directly, not
// through function values, so that norms stays on the stack.

func cosineBlockAVX2(q, block, out []float32) {
	_, qq, _ := dotNormsAVX2(q, q)
	var norms [64]float32
	for len(out) > 0 {
		n := min(len(out), len(norms))
		dotNormBlockAVX2(q, block[:n*len(q)], out[:n], norms[:n])
		for i, nn := range norms[:n] {
			out[i] = cosineFromParts(out[i], qq, nn)
		}
		out, block = out[n:], block[n*len(q):]
	}
}

func cosineBlockAVX512(q, block, out []float32) {
	_, qq, _ := dotNormsAVX512(q, q)
	var norms [64]float32
	for len(out) > 0 {
		n := min(len(out), len(norms))
		dotNormBlockAVX512(q, block[:n*len(q)], out[:n], norms[:n])
		for i, nn := range norms[:n] {
			out[i] = cosineFromParts(out[i], qq, nn)
		}
		out, block = out[n:], block[n*len(q):]
	}
}

// dotBlockBatchAVX2 and dotBlockBatchAVX512 count the queries and rows for
// the kernels, which need at least one of each.

func dotBlockBatchAVX2(qs, block []float32, dim int, out []float32, stride int) {
	if nq, nb := len(qs)/dim, len(block)/dim; nq > 0 && nb > 0 {
		dotBatchAVX2(qs, block, out, nq, nb, dim, stride)
	}
}

func dotBlockBatchAVX512(qs, block []float32, dim int, out []float32, stride int) {
	if nq, nb := len(qs)/dim, len(block)/dim; nq > 0 && nb > 0 {
		dotBatchAVX512(qs, block, out, nq, nb, dim, stride)
	}
}

// Binary codes of a few words are done sooner in Go (two or three POPCNTs)
// than by an assembly call with its set-up and reduction; so are blocks of
// codes shorter than one 8-word register by the scalar POPCNT kernel.
const (
	hammingShort      = 4 // words; Go below this
	hammingBlockShort = 8 // words; POPCNT below this
)

func hammingShortPOPCNT(a, b []uint64) int {
	if len(a) <= hammingShort {
		return hammingGeneric(a, b)
	}
	return hammingPOPCNT(a, b)
}

func hammingShortAVX512(a, b []uint64) int {
	if len(a) <= hammingShort {
		return hammingGeneric(a, b)
	}
	return hammingAVX512(a, b)
}

func hammingBlockShortAVX512(q, block []uint64, out []float32) {
	if len(q) < hammingBlockShort {
		hammingBlockPOPCNT(q, block, out)
		return
	}
	hammingBlockAVX512(q, block, out)
}
