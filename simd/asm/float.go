package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The float32 kernels all share one summation scheme, so that a block
// kernel's result for a row is bit for bit the single-vector kernel's:
//
//   - a vector is cut into chunks of one register (8 or 16 floats); chunk k
//     is added (by FMA) into accumulator k mod A, except the last, partial
//     chunk (loaded under a mask, missing lanes zero), which always goes to
//     accumulator A-1;
//   - at the end the accumulators are added pairwise as a tree
//     ((0+1)+(2+3))+..., then the register's lanes likewise.
//
// Multi-row block kernels run R rows through the same scheme at once,
// sharing each load of the query chunk.

// fop is a float32 kernel's operation.
type fop int

const (
	opDot     fop = iota // q·r
	opL2                 // |q-r|²
	opDotNorm            // q·r and r·r
	opCos                // q·r, r·r and q·q (single vector only)
)

// streams is the number of sums the operation keeps per row.
func (o fop) streams() int {
	switch o {
	case opDotNorm:
		return 2
	case opCos:
		return 3
	}
	return 1
}

// accs is the number of accumulators per stream of the integer kernels.
const accs = 4

// floatAccs is the number of accumulators per stream of a float32 kernel.
// Kernels that must agree bit for bit share it: dot and its block, squared L2
// with its bounded form and block, and the fused cosine with the dot-norm
// block.
func floatAccs(s isa, op fop) int {
	switch op {
	case opDot, opL2:
		return accsDotL2[s.z]
	}
	return accsCos[s.z]
}

var (
	accsDotL2 = map[bool]int{false: 4, true: 4}
	accsCos   = map[bool]int{false: 4, true: 4}
)

// General-purpose register roles shared by the float and integer kernels.
var (
	rQ       = RSI // query (a) pointer
	rN       = RCX // length in elements
	rI       = RAX // element index
	rMainEnd = R13 // length rounded down to a whole main-loop iteration
	rFullEnd = R11 // length rounded down to a whole chunk
	rMask    = R10 // AVX2: address of the tail mask in tailmask<>
	rOut     = RDX // block: out pointer
	rRows    = RBX // block: rows left
	rStride  = R12 // block: row stride in bytes
)

// rowRegs holds the row pointers of a multi-row pass; the first is DI.
var rowRegs = []GPPhysical{RDI, R8, R9, R10}

// fkernel emits one pass of a float32 kernel over R rows.
type fkernel struct {
	s     isa
	op    fop
	a     int          // accumulators per stream
	rows  []GPPhysical // row (b) pointers
	label string       // unique label prefix

	acc  [][][]VecPhysical // [row][stream][accumulator]
	q    VecPhysical       // the query chunk
	t    []VecPhysical     // one temporary per row
	m    VecPhysical       // AVX2 tail mask
	free []VecPhysical     // unused registers
}

func newFKernel(s isa, op fop, rows []GPPhysical, label string) *fkernel {
	k := &fkernel{s: s, op: op, a: floatAccs(s, op), rows: rows, label: label}
	n := 0
	next := func() VecPhysical {
		if n >= s.nregs() {
			panic(fmt.Sprintf("asm: %s: out of vector registers", label))
		}
		n++
		return s.v(n - 1)
	}
	k.acc = make([][][]VecPhysical, len(rows))
	for r := range rows {
		k.acc[r] = make([][]VecPhysical, op.streams())
		for st := range k.acc[r] {
			for range k.a {
				k.acc[r][st] = append(k.acc[r][st], next())
			}
		}
	}
	k.q = next()
	for range rows {
		k.t = append(k.t, next())
	}
	if !s.z {
		k.m = next()
	}
	for n < s.nregs() {
		k.free = append(k.free, next())
	}
	return k
}

// loadMasked loads the partial chunk at m into v with the missing lanes zero.
func (k *fkernel) loadMasked(m Mem, v VecPhysical) {
	if k.s.z {
		VMOVUPS_Z(m, K1, v)
	} else {
		VMASKMOVPS(m, k.m, v)
	}
}

// chunk emits the work for one chunk at element offset rI+off into
// accumulator j.
func (k *fkernel) chunk(off, j int, masked bool) {
	qm := mem(rQ, rI, 4, 4*off)
	if masked {
		k.loadMasked(qm, k.q)
	} else {
		VMOVUPS(qm, k.q)
	}
	for r, row := range k.rows {
		rm := mem(row, rI, 4, 4*off)
		t := k.t[r]
		acc := k.acc[r]
		switch k.op {
		case opDot:
			if masked {
				k.loadMasked(rm, t)
				VFMADD231PS(t, k.q, acc[0][j])
			} else {
				VFMADD231PS(rm, k.q, acc[0][j])
			}
		case opL2:
			if masked {
				k.loadMasked(rm, t)
				VSUBPS(t, k.q, t)
			} else {
				VSUBPS(rm, k.q, t)
			}
			VFMADD231PS(t, t, acc[0][j])
		case opDotNorm, opCos:
			if masked {
				k.loadMasked(rm, t)
			} else {
				VMOVUPS(rm, t)
			}
			VFMADD231PS(t, k.q, acc[0][j])
			VFMADD231PS(t, t, acc[1][j])
			if k.op == opCos {
				VFMADD231PS(k.q, k.q, acc[2][j])
			}
		}
	}
}

// zero clears v.
func (k *fkernel) zero(v VecPhysical) {
	if k.s.z {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

// reduceInto adds the accumulators a as a tree into a[0] and then a[0]'s
// lanes, leaving the sum in the low lane of a[0]'s X register. tmp is
// clobbered.
func (k *fkernel) reduceInto(a []VecPhysical, tmp VecPhysical) {
	for step := 1; step < len(a); step *= 2 {
		for i := 0; i+step < len(a); i += 2 * step {
			VADDPS(a[i+step], a[i], a[i])
		}
	}
	hsum(k.s, a[0], tmp)
}

// hsum adds the float32 lanes of v into its low lane, clobbering tmp.
func hsum(s isa, v, tmp VecPhysical) {
	if s.z {
		VEXTRACTF64X4(U8(1), v, y(tmp))
		VADDPS(y(tmp), y(v), y(v))
		VEXTRACTF32X4(U8(1), y(v), x(tmp))
	} else {
		VEXTRACTF128(U8(1), v, x(tmp))
	}
	VADDPS(x(tmp), x(v), x(v))
	VPERMILPS(U8(0x4e), x(v), x(tmp))
	VADDPS(x(tmp), x(v), x(v))
	VPERMILPS(U8(0xb1), x(v), x(tmp))
	VADDSS(x(tmp), x(v), x(v))
}

// boundCheck describes the early exit of the bounded squared-L2 kernel.
type boundCheck struct {
	every int         // check the partial sum every this many floats
	min   int         // only check vectors at least this long
	bound VecPhysical // holds the bound
	end   GPPhysical  // length rounded down to a multiple of every
	abort string      // label to jump to with the partial sum in X0
}

// pass emits the loop over one vector (R rows) and leaves the results in
// k.acc[r][st][0] (low lane of the X register).
func (k *fkernel) pass(bc *boundCheck) {
	w := k.s.bytes() / 4
	step := k.a * w
	for r := range k.acc {
		for st := range k.acc[r] {
			for _, v := range k.acc[r][st] {
				k.zero(v)
			}
		}
	}
	XORQ(rI, rI)
	L := func(s string) string { return k.label + "_" + s }

	if bc != nil {
		// Partial-distance elimination: every bc.every floats, reduce a copy
		// of the accumulators with the final tree and leave when it exceeds
		// the bound. Sums of squares only grow, so the final result would
		// exceed it too.
		if bc.every%step != 0 {
			panic("asm: bound check interval must be a whole number of iterations")
		}
		CMPQ(rN, U32(bc.min))
		JB(LabelRef(L("main")))
		Label(L("check"))
		CMPQ(rI, bc.end)
		JAE(LabelRef(L("main")))
		for it := 0; it < bc.every/step; it++ {
			for j := 0; j < k.a; j++ {
				k.chunk(it*step+j*w, j, false)
			}
		}
		ADDQ(U32(bc.every), rI)
		p := k.reducePartial()
		VUCOMISS(x(bc.bound), x(p))
		JA(LabelRef(bc.abort))
		JMP(LabelRef(L("check")))
	}

	Label(L("main"))
	CMPQ(rI, rMainEnd)
	JAE(LabelRef(L("rem")))
	Label(L("loop"))
	for j := 0; j < k.a; j++ {
		k.chunk(j*w, j, false)
	}
	ADDQ(U32(step), rI)
	CMPQ(rI, rMainEnd)
	JB(LabelRef(L("loop")))

	Label(L("rem"))
	for j := 0; j < k.a-1; j++ {
		CMPQ(rI, rFullEnd)
		JAE(LabelRef(L("tail")))
		k.chunk(0, j, false)
		ADDQ(U32(w), rI)
	}
	Label(L("tail"))
	CMPQ(rI, rN)
	JAE(LabelRef(L("reduce")))
	if !k.s.z {
		VMOVDQU(Mem{Base: rMask}, k.m)
	}
	k.chunk(0, k.a-1, true)

	Label(L("reduce"))
	for r := range k.acc {
		for st := range k.acc[r] {
			k.reduceInto(k.acc[r][st], k.q)
		}
	}
}

// reducePartial sums the single row's accumulators into X0's low lane
// without disturbing them, using the same tree as the final reduction.
func (k *fkernel) reducePartial() VecPhysical {
	a := k.acc[0][0]
	// The chunk registers are dead between iterations.
	pool := append([]VecPhysical{k.q}, k.t...)
	if k.m != nil {
		pool = append(pool, k.m)
	}
	pool = append(pool, k.free...)
	if len(pool) < len(a)/2+1 {
		panic("asm: not enough free registers for the partial sum")
	}
	tmp := pool[:len(a)/2]
	for i := range tmp {
		VADDPS(a[2*i+1], a[2*i], tmp[i])
	}
	for step := 1; step < len(tmp); step *= 2 {
		for i := 0; i+step < len(tmp); i += 2 * step {
			VADDPS(tmp[i+step], tmp[i], tmp[i])
		}
	}
	hsum(k.s, tmp[0], pool[len(a)/2])
	return tmp[0]
}

// floatPrologue loads q's length into CX and sets up the tail mask and the
// loop bounds that depend only on the length.
func floatPrologue(s isa, op fop) {
	w := s.bytes() / 4
	MOVQ(rN, rMainEnd)
	ANDQ(I32(-floatAccs(s, op)*w), rMainEnd)
	MOVQ(rN, rFullEnd)
	ANDQ(I32(-w), rFullEnd)
	if s.z {
		setTailMask(K1, R8, R9, w)
	} else {
		// tailmask<>+4*(8-n%8) holds n%8 all-ones dwords, then zeros.
		MOVQ(rN, R8)
		ANDQ(U32(7), R8)
		NEGQ(R8)
		LEAQ(tailMask.Offset(4*8), rMask)
		LEAQ(mem(rMask, R8, 4, 0), rMask)
	}
}

var tailMask Mem

func genTailMask() {
	tailMask = GLOBL("tailmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := U32(0)
		if i < 8 {
			v = U32(0xffffffff)
		}
		DATA(4*i, v)
	}
}

func genFloat32() {
	genTailMask()
	for _, s := range []isa{avx2, avx512} {
		genPair(s, "dot", opDot)
		genPair(s, "l2Squared", opL2)
		genBounded(s)
		genCos(s)
		genBlock(s, "dot", opDot, blockRows(s, opDot))
		genBlock(s, "l2Squared", opL2, blockRows(s, opL2))
		genBlock(s, "dotNorm", opDotNorm, blockRows(s, opDotNorm))
		genDotBatch(s)
	}
}

// blockRows is the number of rows a block kernel runs per pass: as many as
// fit the registers, at most four.
func blockRows(s isa, op fop) int {
	extra := 1 // q
	if !s.z {
		extra++ // mask
	}
	r := 4
	for r > 1 && r*(op.streams()*floatAccs(s, op)+1)+extra > s.nregs() {
		r--
	}
	return r
}

func vzeroupper() { VZEROUPPER() }

// genPair emits name+ISA(a, b []float32) float32.
func genPair(s isa, name string, op fop) {
	fn := name + s.name
	TEXT(fn, NOSPLIT, "func(a, b []float32) float32")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is the %s kernel for one pair of vectors of equal length.", fn, s.name))
	Load(Param("a").Base(), rQ)
	Load(Param("a").Len(), rN)
	Load(Param("b").Base(), RDI)
	floatPrologue(s, op)
	k := newFKernel(s, op, []GPPhysical{RDI}, fn)
	k.pass(nil)
	storeF(x(k.acc[0][0][0]), ReturnIndex(0))
	vzeroupper()
	RET()
}

// Bound checks in the bounded squared-L2 kernel: every checkEvery floats,
// for vectors of at least checkMin floats.
const (
	checkEvery = 128
	checkMin   = 128
)

// genBounded emits l2SquaredBoundedISA(a, b []float32, bound float32) float32.
func genBounded(s isa) {
	fn := "l2SquaredBounded" + s.name
	TEXT(fn, NOSPLIT, "func(a, b []float32, bound float32) float32")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is the %s squared-L2 kernel that may stop early once the partial sum exceeds bound.", fn, s.name))
	Load(Param("a").Base(), rQ)
	Load(Param("a").Len(), rN)
	Load(Param("b").Base(), RDI)
	floatPrologue(s, opL2)
	k := newFKernel(s, opL2, []GPPhysical{RDI}, fn)
	bv := k.free[0] // a low register: MOVSS cannot reach X16-X31
	k.free = k.free[1:]
	VMOVSS(addr(Param("bound")), x(bv))
	MOVQ(rN, R12)
	ANDQ(I32(-checkEvery), R12)
	k.pass(&boundCheck{every: checkEvery, min: checkMin, bound: bv, end: R12, abort: fn + "_abort"})
	storeF(x(k.acc[0][0][0]), ReturnIndex(0))
	vzeroupper()
	RET()
	Label(fn + "_abort")
	storeF(x(k.q), ReturnIndex(0)) // the partial sum, from reducePartial
	vzeroupper()
	RET()
}

// genCos emits dotNormsISA(a, b []float32) (dot, aa, bb float32).
func genCos(s isa) {
	fn := "dotNorms" + s.name
	TEXT(fn, NOSPLIT, "func(a, b []float32) (dot, aa, bb float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s returns a·b, a·a and b·b in one pass (%s).", fn, s.name))
	Load(Param("a").Base(), rQ)
	Load(Param("a").Len(), rN)
	Load(Param("b").Base(), RDI)
	floatPrologue(s, opCos)
	k := newFKernel(s, opCos, []GPPhysical{RDI}, fn)
	k.pass(nil)
	storeF(x(k.acc[0][0][0]), Return("dot"))
	storeF(x(k.acc[0][2][0]), Return("aa"))
	storeF(x(k.acc[0][1][0]), Return("bb"))
	vzeroupper()
	RET()
}

// genBlock emits a block kernel: one query against len(out) rows. For
// opDotNorm it takes a second output slice for the rows' squared norms.
func genBlock(s isa, name string, op fop, R int) {
	fn := name + "Block" + s.name
	sig := "func(q, block, out []float32)"
	if op == opDotNorm {
		sig = "func(q, block, dots, norms []float32)"
	}
	TEXT(fn, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s is the %s %s kernel for a block of rows, %d per pass.", fn, s.name, name, R))
	Load(Param("q").Base(), rQ)
	Load(Param("q").Len(), rN)
	Load(Param("block").Base(), RDI)
	var rNorms GPPhysical
	if op == opDotNorm {
		Load(Param("dots").Base(), rOut)
		Load(Param("dots").Len(), rRows)
		// The first register after the row pointers is free; on AVX2 a
		// dotNorm pass has one row, so this is never the mask's R10.
		rNorms = rowRegs[R]
	} else {
		Load(Param("out").Base(), rOut)
		Load(Param("out").Len(), rRows)
	}
	floatPrologue(s, op) // clobbers R8 and R9
	if op == opDotNorm {
		Load(Param("norms").Base(), rNorms)
	}
	MOVQ(rN, rStride)
	SHLQ(U8(2), rStride)

	store := func(k *fkernel) {
		for r := range k.rows {
			VMOVSS(x(k.acc[r][0][0]), Mem{Base: rOut, Disp: 4 * r})
			if op == opDotNorm {
				VMOVSS(x(k.acc[r][1][0]), Mem{Base: rNorms, Disp: 4 * r})
			}
		}
		ADDQ(U32(4*len(k.rows)), rOut)
		if op == opDotNorm {
			ADDQ(U32(4*len(k.rows)), rNorms)
		}
	}

	var kMulti *fkernel
	if R > 1 {
		Label(fn + "_multi")
		CMPQ(rRows, U32(R))
		JB(LabelRef(fn + "_single"))
		for r := 1; r < R; r++ {
			LEAQ(mem(rowRegs[r-1], rStride, 1, 0), rowRegs[r])
		}
		k := newFKernel(s, op, rowRegs[:R], fn+"_m")
		k.pass(nil)
		store(k)
		kMulti = k
		LEAQ(mem(rowRegs[R-1], rStride, 1, 0), RDI)
		SUBQ(U32(R), rRows)
		JMP(LabelRef(fn + "_multi"))
	}
	Label(fn + "_single")
	TESTQ(rRows, rRows)
	JE(LabelRef(fn + "_done"))
	k := newFKernel(s, op, rowRegs[:1], fn+"_s")
	k.pass(nil)
	store(k)
	ADDQ(rStride, RDI)
	DECQ(rRows)
	JMP(LabelRef(fn + "_single"))
	Label(fn + "_done")
	// VZEROUPPER leaves Z16-Z31 alone; zero the ones used so that no
	// dirty upper state outlives the call.
	for _, v := range highRegs(kMulti) {
		VPXORD(v, v, v)
	}
	vzeroupper()
	RET()
}

// highRegs returns the registers numbered 16 and up that k uses.
func highRegs(k *fkernel) []VecPhysical {
	if k == nil {
		return nil
	}
	free := map[VecPhysical]bool{}
	for _, v := range k.free {
		free[v] = true
	}
	var hi []VecPhysical
	for i := 16; i < k.s.nregs(); i++ {
		if v := k.s.v(i); !free[v] {
			hi = append(hi, v)
		}
	}
	return hi
}
