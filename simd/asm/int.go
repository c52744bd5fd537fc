package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The integer kernels (int8 dot and squared L2, Hamming) are exact, so the
// order of their sums does not matter; each is one vector pass whose result
// ends in R8, wrapped as a single-pair kernel and as a block kernel.

// iop is an integer kernel's operation.
type iop int

const (
	opDotI8 iop = iota
	opL2I8
	opHamming
)

// ikernel emits one pass of an integer kernel.
type ikernel struct {
	s     isa
	op    iop
	vnni  bool   // use AVX-512 VNNI (VPDPBUSD / VPDPWSSD)
	label string // unique label prefix

	acc  []VecPhysical // int32 (int8 kernels) or int64 (Hamming) lanes
	accS []VecPhysical // VNNI dot: sums of b
	t0   VecPhysical
	t1   VecPhysical
	c80  VecPhysical // VNNI dot: bytes 0x80
	ones VecPhysical // VNNI dot: bytes 0x01
}

// chunkBytes is the number of input bytes one chunk covers.
func (k *ikernel) chunkBytes() int {
	switch {
	case k.op == opHamming:
		return k.s.bytes()
	case k.op == opDotI8 && k.vnni:
		return 64
	}
	return k.s.bytes() / 2 // sign-extended to 16 bits
}

// elemBytes is the size of one element.
func (k *ikernel) elemBytes() int {
	if k.op == opHamming {
		return 8
	}
	return 1
}

// lanes is the number of elements per chunk.
func (k *ikernel) lanes() int { return k.chunkBytes() / k.elemBytes() }

// scalarTail reports whether the kernel ends with a scalar loop rather than
// a masked chunk (AVX2).
func (k *ikernel) scalarTail() bool { return !k.s.z }

func newIKernel(s isa, op iop, vnni bool, label string) *ikernel {
	k := &ikernel{s: s, op: op, vnni: vnni, label: label}
	n := 0
	next := func() VecPhysical { n++; return s.v(n - 1) }
	for range accs {
		k.acc = append(k.acc, next())
	}
	if op == opDotI8 && vnni {
		for range accs {
			k.accS = append(k.accS, next())
		}
		k.c80, k.ones = next(), next()
	}
	k.t0, k.t1 = next(), next()
	return k
}

// prologue sets up what depends only on the length (in CX).
func (k *ikernel) prologue() {
	MOVQ(rN, rMainEnd)
	ANDQ(I32(-accs*k.lanes()), rMainEnd)
	MOVQ(rN, rFullEnd)
	ANDQ(I32(-k.lanes()), rFullEnd)
	if k.s.z {
		setTailMask(K1, R8, R9, k.lanes())
	}
	if k.c80 != nil {
		MOVL(U32(0x80808080), R8.As32())
		VPBROADCASTD(R8.As32(), k.c80)
		MOVL(U32(0x01010101), R8.As32())
		VPBROADCASTD(R8.As32(), k.ones)
	}
}

// chunk emits the work for one chunk at element offset rI+off into
// accumulator j.
func (k *ikernel) chunk(off, j int, masked bool) {
	eb := uint8(k.elemBytes())
	am := mem(rQ, rI, eb, off*int(eb))
	bm := mem(RDI, rI, eb, off*int(eb))
	t0, t1 := k.t0, k.t1
	switch {
	case k.op == opHamming && !k.s.z:
		// Scalar POPCNT, four words, into R10.
		for w := 0; w < k.lanes(); w++ {
			MOVQ(mem(rQ, rI, 8, 8*(off+w)), R8)
			XORQ(mem(RDI, rI, 8, 8*(off+w)), R8)
			POPCNTQ(R8, R8)
			ADDQ(R8, R10)
		}
	case k.op == opHamming:
		if masked {
			VMOVDQU64_Z(am, K1, t0)
			VMOVDQU64_Z(bm, K1, t1)
			VPXORQ(t1, t0, t0)
		} else {
			VMOVDQU64(am, t0)
			VPXORQ(bm, t0, t0)
		}
		VPOPCNTQ(t0, t0)
		VPADDQ(t0, k.acc[j], k.acc[j])
	case k.op == opDotI8 && k.vnni:
		// a·b = Σ (a+128)·b − 128·Σ b, with a+128 = a^0x80 unsigned,
		// the form VPDPBUSD multiplies. Exact modulo 2^32.
		if masked {
			VMOVDQU8_Z(am, K1, t0)
			VPXORD(k.c80, t0, t0)
			VMOVDQU8_Z(bm, K1, t1)
		} else {
			VPXORD(am, k.c80, t0)
			VMOVDQU64(bm, t1)
		}
		raw("VPDPBUSD", t1, t0, k.acc[j])
		raw("VPDPBUSD", t1, k.ones, k.accS[j])
	default:
		// Sign-extend both to 16 bits, then multiply and add pairs to 32.
		if masked {
			VMOVDQU8_Z(am, K1, y(t0))
			VPMOVSXBW(y(t0), t0)
			VMOVDQU8_Z(bm, K1, y(t1))
			VPMOVSXBW(y(t1), t1)
		} else {
			VPMOVSXBW(am, t0) // m128 for AVX2, m256 for AVX-512
			VPMOVSXBW(bm, t1)
		}
		if k.op == opL2I8 {
			VPSUBW(t1, t0, t0)
			if k.vnni {
				raw("VPDPWSSD", t0, t0, k.acc[j])
				return
			}
			VPMADDWD(t0, t0, t0)
		} else {
			VPMADDWD(t1, t0, t0)
		}
		VPADDD(t0, k.acc[j], k.acc[j])
	}
}

func (k *ikernel) zero(v VecPhysical) {
	if k.s.z {
		VPXORD(v, v, v)
	} else {
		VPXOR(v, v, v)
	}
}

// pass emits the loop over one pair and leaves the result in R8.
func (k *ikernel) pass() {
	L := func(s string) string { return k.label + "_" + s }
	n := k.lanes()
	for _, v := range append(append([]VecPhysical(nil), k.acc...), k.accS...) {
		k.zero(v)
	}
	XORQ(rI, rI)
	XORQ(R10, R10) // scalar sum
	CMPQ(rI, rMainEnd)
	JAE(LabelRef(L("rem")))
	Label(L("loop"))
	for j := range accs {
		k.chunk(j*n, j, false)
	}
	ADDQ(U32(accs*n), rI)
	CMPQ(rI, rMainEnd)
	JB(LabelRef(L("loop")))
	Label(L("rem"))
	CMPQ(rI, rFullEnd)
	JAE(LabelRef(L("tail")))
	k.chunk(0, 0, false)
	ADDQ(U32(n), rI)
	JMP(LabelRef(L("rem")))

	Label(L("tail"))
	if k.scalarTail() {
		Label(L("scalar"))
		CMPQ(rI, rN)
		JAE(LabelRef(L("reduce")))
		switch k.op {
		case opHamming:
			MOVQ(mem(rQ, rI, 8, 0), R8)
			XORQ(mem(RDI, rI, 8, 0), R8)
			POPCNTQ(R8, R8)
			ADDQ(R8, R10)
		case opDotI8:
			MOVBQSX(mem(rQ, rI, 1, 0), R8)
			MOVBQSX(mem(RDI, rI, 1, 0), R9)
			IMULQ(R9, R8)
			ADDQ(R8, R10)
		case opL2I8:
			MOVBQSX(mem(rQ, rI, 1, 0), R8)
			MOVBQSX(mem(RDI, rI, 1, 0), R9)
			SUBQ(R9, R8)
			IMULQ(R8, R8)
			ADDQ(R8, R10)
		}
		INCQ(rI)
		JMP(LabelRef(L("scalar")))
	} else {
		CMPQ(rI, rN)
		JAE(LabelRef(L("reduce")))
		k.chunk(0, accs-1, true)
	}

	Label(L("reduce"))
	add := VPADDD
	if k.op == opHamming {
		add = VPADDQ
	}
	tree := func(a []VecPhysical) {
		for step := 1; step < len(a); step *= 2 {
			for i := 0; i+step < len(a); i += 2 * step {
				add(a[i+step], a[i], a[i])
			}
		}
	}
	tree(k.acc)
	v := k.acc[0]
	if k.accS != nil {
		tree(k.accS)
		VPSLLD(U8(7), k.accS[0], k.accS[0])
		VPSUBD(k.accS[0], v, v)
	}
	t := k.t0
	if k.s.z {
		VEXTRACTI64X4(U8(1), v, y(t))
		add(y(t), y(v), y(v))
		VEXTRACTI32X4(U8(1), y(v), x(t))
	} else {
		VEXTRACTI128(U8(1), v, x(t))
	}
	add(x(t), x(v), x(v))
	VPSHUFD(U8(0x4e), x(v), x(t))
	add(x(t), x(v), x(v))
	if k.op == opHamming {
		VMOVQ(x(v), R8)
		ADDQ(R10, R8)
		return
	}
	VPSHUFD(U8(0xb1), x(v), x(t))
	add(x(t), x(v), x(v))
	VMOVD(x(v), R8.As32())
	ADDL(R10.As32(), R8.As32())
}

// genIntPair emits the single-pair kernel.
func genIntPair(s isa, op iop, vnni bool, name, sig, ret string) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is the %s kernel for one pair of vectors of equal length.", name, s.name))
	Load(Param("a").Base(), rQ)
	Load(Param("a").Len(), rN)
	Load(Param("b").Base(), RDI)
	k := newIKernel(s, op, vnni, name)
	k.prologue()
	k.pass()
	if ret == "int32" {
		Store(R8.As32(), ReturnIndex(0))
	} else {
		Store(R8, ReturnIndex(0))
	}
	VZEROUPPER()
	RET()
}

// genIntBlock emits the block kernel: one query against len(out) rows,
// results converted to float32.
func genIntBlock(s isa, op iop, vnni bool, name, sig string) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is the %s kernel for a block of rows.", name, s.name))
	Load(Param("q").Base(), rQ)
	Load(Param("q").Len(), rN)
	Load(Param("block").Base(), RDI)
	Load(Param("out").Base(), rOut)
	Load(Param("out").Len(), rRows)
	k := newIKernel(s, op, vnni, name)
	k.prologue()
	MOVQ(rN, rStride)
	if op == opHamming {
		SHLQ(U8(3), rStride)
	}
	cvt := k.t1 // free between passes
	Label(name + "_row")
	TESTQ(rRows, rRows)
	JE(LabelRef(name + "_done"))
	k.pass()
	VXORPS(x(cvt), x(cvt), x(cvt))
	if op == opHamming {
		VCVTSI2SSQ(R8, x(cvt), x(cvt))
	} else {
		VCVTSI2SSL(R8.As32(), x(cvt), x(cvt))
	}
	VMOVSS(x(cvt), Mem{Base: rOut})
	ADDQ(U32(4), rOut)
	ADDQ(rStride, RDI)
	DECQ(rRows)
	JMP(LabelRef(name + "_row"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

func genInt8() {
	type variant struct {
		s    isa
		vnni bool
		sfx  string
	}
	for _, v := range []variant{{avx2, false, "AVX2"}, {avx512, false, "AVX512"}, {avx512, true, "VNNI"}} {
		for _, o := range []struct {
			op   iop
			name string
		}{{opDotI8, "dotInt8"}, {opL2I8, "l2SquaredInt8"}} {
			genIntPair(v.s, o.op, v.vnni, o.name+v.sfx, "func(a, b []int8) int32", "int32")
			genIntBlock(v.s, o.op, v.vnni, o.name+"Block"+v.sfx, "func(q, block []int8, out []float32)")
		}
	}
}

func genHamming() {
	// AVX2 has no vector popcount worth having at these lengths: the AVX2
	// kernel is a scalar POPCNT loop (one word per cycle).
	genIntPair(avx2, opHamming, false, "hammingPOPCNT", "func(a, b []uint64) int", "int")
	genIntBlock(avx2, opHamming, false, "hammingBlockPOPCNT", "func(q, block []uint64, out []float32)")
	genIntPair(avx512, opHamming, false, "hammingAVX512", "func(a, b []uint64) int", "int")
	genIntBlock(avx512, opHamming, false, "hammingBlockAVX512", "func(q, block []uint64, out []float32)")
}
