package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The score-tile kernels are the micro-kernel of package flat's exact batch
// search, a matrix product Q·Bᵀ of queries by stored rows in the outer-
// product form of BLIS and GotoBLAS rather than the dot-product form of the
// batch kernels (batch.go):
//
//   - the queries are packed beforehand into a panel, element k of the
//     panel's L queries side by side (panel[k*L+i] = q_i[k]), so that one
//     k-step loads L/w whole registers of queries (w = lanes per register);
//   - the R stored rows are read in place (any row stride): each k-step
//     broadcasts element k of each row to a register;
//   - R·L/w accumulators, one per (row, register of queries), each take one
//     FMA per k-step: R·L/w FMAs for R + L/w loads, and no horizontal sums
//     at the end: lane i of the accumulators of row r is row_r·q_i.
//
// AVX2: R = 6, L = 16 (2 registers): 12 accumulators, the 2 query registers
// and 2 for broadcasts fill the 16 YMM registers; 8 loads per 12 FMAs.
// AVX-512: R = 12, L = 32: 24 accumulators, 2 query registers, 4 for
// broadcasts; 14 loads per 24 FMAs.
//
// Each accumulator adds its products in k order, so a lane's result
// depends only on its row and query (and is the same in both sets: FMA
// for FMA, in the same order).
//
// The epilogue turns each dot product into a score s = alpha[r]·dot +
// beta[r] (one FMA: a metric's affine form, such as |r|² − 2·r·q for
// squared L2), stores the R×L scores to out (row by row), compares them
// with the per-query bounds (s <= bound[i], ordered: false when either is
// NaN) and stores each row's L-bit mask of passing queries to masks[r]. It
// returns the OR of all masks, so that the caller looks at the scores only
// when some pass.

// tileShape returns the kernel's rows and query registers.
func tileShape(s isa) (rows, qregs int) {
	if s.z {
		return 12, 2
	}
	return 6, 2
}

// tileRow returns the address of element 0 of row r of the tile, plus disp
// bytes: rows are reached from one base pointer per four rows, the
// stride and three strides in registers.
func tileRow(bases []GPPhysical, stride, stride3 GPPhysical, r, disp int) Mem {
	b := bases[r/4]
	switch r % 4 {
	case 0:
		return Mem{Base: b, Disp: disp}
	case 1:
		return mem(b, stride, 1, disp)
	case 2:
		return mem(b, stride, 2, disp)
	}
	return mem(b, stride3, 1, disp)
}

// genScoreTile emits scoreTileISA.
func genScoreTile(s isa) {
	R, V := tileShape(s)
	w := s.bytes() / 4
	L := V * w
	fn := "scoreTile" + s.name
	TEXT(fn, NOSPLIT, "func(panel, rows []float32, dim, stride int, alpha, beta, bound, out []float32, masks []uint32, next []float32) uint32")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s scores %d rows against a panel of %d queries (dim > 0); see ScoreTile.", fn, R, L))

	// Registers: accumulators first, then the query registers, then the
	// broadcasts.
	acc := make([][]VecPhysical, R)
	n := 0
	for r := range R {
		for range V {
			acc[r] = append(acc[r], s.v(n))
			n++
		}
	}
	qv := make([]VecPhysical, V)
	for v := range V {
		qv[v] = s.v(n)
		n++
	}
	var bc []VecPhysical
	for n < s.nregs() {
		bc = append(bc, s.v(n))
		n++
	}
	if len(bc) < 1 {
		panic("asm: score tile needs a broadcast register")
	}

	var (
		pq      = RSI // panel pointer
		cnt     = RCX // k-steps left
		stride  = R8  // row stride in bytes
		stride3 = R9
		bases   []GPPhysical
	)
	for i, g := range []GPPhysical{RDI, R10, R11, R12} {
		if i < (R+3)/4 {
			bases = append(bases, g)
		}
	}

	// The next tile's memory, prefetched a few lines per iteration of the
	// main loop: from pf up to pfEnd.
	pf, pfEnd := RDX, R13
	Load(Param("next").Base(), pf)
	Load(Param("next").Len(), pfEnd)
	LEAQ(mem(pf, pfEnd, 4, 0), pfEnd)

	Load(Param("panel").Base(), pq)
	Load(Param("rows").Base(), bases[0])
	Load(Param("dim"), cnt)
	Load(Param("stride"), stride)
	SHLQ(U8(2), stride)
	LEAQ(mem(stride, stride, 2, 0), stride3)
	for i := 1; i < len(bases); i++ {
		LEAQ(mem(bases[i-1], stride, 4, 0), bases[i])
	}
	for r := range R {
		for v := range V {
			zeroVec(s, acc[r][v])
		}
	}

	nb := 0
	step := func(u int) {
		for v := range V {
			VMOVUPS(Mem{Base: pq, Disp: 4 * (u*L + v*w)}, qv[v])
		}
		for r := range R {
			b := bc[nb%len(bc)]
			nb++
			VBROADCASTSS(tileRow(bases, stride, stride3, r, 4*u), b)
			for v := range V {
				VFMADD231PS(qv[v], b, acc[r][v])
			}
		}
	}
	advance := func(u int) {
		ADDQ(U32(4*u*L), pq)
		for _, b := range bases {
			ADDQ(U32(4*u), b)
		}
	}

	const unroll = 4
	loop, one, oneLoop, epi := fn+"_loop", fn+"_one", fn+"_oneloop", fn+"_epilogue"
	// Lines to prefetch per iteration of unroll k-steps: the next tile
	// holds about R·dim/16 lines and the loop runs dim/unroll times.
	pfPer := (R*unroll + 15) / 16
	Label(loop)
	CMPQ(cnt, U32(unroll))
	JB(LabelRef(one))
	noPf := fn + "_nopf"
	CMPQ(pf, pfEnd)
	JAE(LabelRef(noPf))
	for i := range pfPer {
		PREFETCHT0(Mem{Base: pf, Disp: 64 * i})
	}
	ADDQ(U32(64*pfPer), pf)
	Label(noPf)
	for u := range unroll {
		step(u)
	}
	advance(unroll)
	SUBQ(U32(unroll), cnt)
	JMP(LabelRef(loop))
	Label(one)
	TESTQ(cnt, cnt)
	JE(LabelRef(epi))
	Label(oneLoop)
	step(0)
	advance(1)
	DECQ(cnt)
	JNE(LabelRef(oneLoop))

	// Epilogue: scores, stores, masks.
	Label(epi)
	var (
		pAlpha = RSI
		pBeta  = RDI
		pBound = R8
		pOut   = R9
		pMask  = R10
		any    = R11
		m0     = RAX
		m1     = RBX
	)
	Load(Param("alpha").Base(), pAlpha)
	Load(Param("beta").Base(), pBeta)
	Load(Param("bound").Base(), pBound)
	Load(Param("out").Base(), pOut)
	Load(Param("masks").Base(), pMask)
	XORL(any.As32(), any.As32())
	// After the loop the query and broadcast registers are free.
	free := append(append([]VecPhysical{}, bc...), qv...)
	alpha, beta, cmp := free[0], free[1], free[2]
	for r := range R {
		VBROADCASTSS(Mem{Base: pAlpha, Disp: 4 * r}, alpha)
		VBROADCASTSS(Mem{Base: pBeta, Disp: 4 * r}, beta)
		for v := range V {
			a := acc[r][v]
			VFMADD213PS(beta, alpha, a) // a = alpha·a + beta
			VMOVUPS(a, Mem{Base: pOut, Disp: 4 * (r*L + v*w)})
			m := m0
			if v > 0 {
				m = m1
			}
			bm := Mem{Base: pBound, Disp: 4 * v * w}
			if s.z {
				VCMPPS(U8(0x12), bm, a, K1) // LE_OQ
				KMOVW(K1, m.As32())
			} else {
				VCMPPS(U8(0x12), bm, a, cmp)
				VMOVMSKPS(cmp, m.As32())
			}
			if v > 0 {
				SHLL(U8(uint8(v*w)), m1.As32())
				ORL(m1.As32(), m0.As32())
			}
		}
		MOVL(m0.As32(), Mem{Base: pMask, Disp: 4 * r})
		ORL(m0.As32(), any.As32())
	}
	Store(any.As32(), ReturnIndex(0))
	if s.z {
		for i := 16; i < s.nregs(); i++ {
			VPXORD(s.v(i), s.v(i), s.v(i))
		}
	}
	vzeroupper()
	RET()
}

func genTile() {
	genScoreTile(avx2)
	genScoreTile(avx512)
}
