package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The batch dot kernels compute out[i*stride+j] = q_i·r_j for nq queries and
// nb rows, all dim floats long, laid back to back: a matrix product with the
// second matrix transposed. They are register-blocked: a tile of R queries by
// C rows keeps R·C accumulators, one per pair, and each step loads R query
// chunks and C row chunks for R·C FMAs: 8 loads for 16 FMAs in the 4×4
// AVX-512 tile, 7 for 12 in the 3×4 AVX2 one, against two loads per FMA in
// DotBlock. (Measured on AVX-512: 4×4 runs at about 80 % of what the FMA
// units sustain alongside loads; 6×4 was 2–5 % faster, 2×8 slower, neither
// worth the extra code.)
//
// Summation scheme, the same for every tile shape so that a result does not
// depend on which tile computed it: the pair's accumulator takes chunk k by
// FMA in order, the last, partial chunk (masked, missing lanes zero) last;
// then the lanes are added as a tree, halves first (lane l + lane l+w/2, and
// so on down to one lane), as hsum does. A full AVX-512 tile (16
// accumulators of 16 lanes) reduces them all at once with a transposing
// butterfly of shuffles that builds exactly that tree for each pair while
// sharing the adds, and stores each query's four results with one 128-bit
// store; AVX2 tiles do the same for each two queries (8 accumulators of 8
// lanes); the rest reduce each accumulator with hsum.
//
// Loops: queries in panels of R (the last panel has 1 to R-1), and within a
// panel the rows in tiles of C, then one at a time; within a tile two chunks
// per iteration. The caller picks the block of rows so that it stays in
// cache while every panel passes.

// Batch kernel registers. The query and row pointers advance one chunk per
// step; the other vectors of a tile are reached through rBS and rBS3.
var (
	rBS    = R8  // dim*4: bytes from one query (or row) to the next
	rBS3   = R9  // 3*dim*4
	rBQ0   = R10 // first query of the panel
	rBW0   = R11 // first row of the tile
	rBSO   = R12 // stride*4: bytes from one output row to the next
	rBPQ   = RSI // query pointer within the tile
	rBPW   = RDI // row pointer within the tile
	rBCnt  = RCX // chunks left in the tile
	rBOut  = RDX // out[i*stride+j] of the tile's first pair
	rBRows = RBX // rows left in the panel
	rBTmp  = RAX
)

// rowAddr returns the address of vector i (0 to 3) of a tile whose first
// vector is at base, plus disp bytes.
func rowAddr(base GPPhysical, i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: base, Disp: disp}
	case 1:
		return mem(base, rBS, 1, disp)
	case 2:
		return mem(base, rBS, 2, disp)
	case 3:
		return mem(base, rBS3, 1, disp)
	}
	panic("asm: tile vector out of range")
}

// butterflyOrder is the accumulator that a transposing butterfly puts in
// lane j of each group of four: pairs (0, 2), then (1, 3), are merged last.
var butterflyOrder = [4]int{0, 2, 1, 3}

// butterflyGroup is, for the AVX-512 butterfly, the accumulator (plus
// butterflyOrder) whose sums land in lanes 4g to 4g+3.
var butterflyGroup = [4]int{0, 8, 4, 12}

// batchKernel emits the tiles of one batch kernel.
type batchKernel struct {
	s     isa
	fn    string
	full  Mem // whole chunks per vector, on the stack
	mask  Mem // AVX2: the tail mask, on the stack
	label int
}

func (k *batchKernel) newLabel(what string) string {
	k.label++
	return fmt.Sprintf("%s_%s%d", k.fn, what, k.label)
}

// oneReg reports whether an r×c tile reduces with one butterfly over all its
// accumulators (AVX-512, 4×4).
func (k *batchKernel) oneReg(r, c int) bool { return k.s.z && r == 4 && c == 4 }

// pairRegs reports whether an AVX2 tile reduces each two queries with one
// butterfly (rows in fours).
func (k *batchKernel) pairRegs(r, c int) bool { return !k.s.z && c == 4 && r >= 2 }

// accIndex returns the register number of the accumulator of query i and
// row j in an r×c tile, arranged so that the butterflies of reduce leave
// each query's results in consecutive lanes.
func (k *batchKernel) accIndex(r, c, i, j int) int {
	switch {
	case k.oneReg(r, c):
		return butterflyOrder[j] + butterflyGroup[i]
	case k.pairRegs(r, c) && i < r&^1:
		return 8*(i/2) + 4*(i%2) + butterflyOrder[j]
	}
	return i*c + j
}

// tile emits one r×c tile: the dot products of queries rBQ0… with rows
// rBW0…, stored at rBOut with output row stride rBSO.
func (k *batchKernel) tile(r, c int) {
	s := k.s
	acc := make([][]VecPhysical, r)
	for i := range acc {
		for j := range c {
			acc[i] = append(acc[i], s.v(k.accIndex(r, c, i, j)))
		}
	}
	next := r * c
	hold := make([]VecPhysical, r) // the query chunks of a step
	for i := range hold {
		hold[i] = s.v(next + i)
	}
	if next+r+1 > s.nregs() || !s.z && r == 1 && next+3 > s.nregs() {
		panic(fmt.Sprintf("asm: %s: %d×%d tile needs too many registers", k.fn, r, c))
	}
	row := s.v(next + r) // one row chunk at a time
	for i := range r {
		for j := range c {
			zeroVec(s, acc[i][j])
		}
	}
	MOVQ(rBQ0, rBPQ)
	MOVQ(rBW0, rBPW)
	advance := func(n int) {
		ADDQ(U32(n*s.bytes()), rBPQ)
		ADDQ(U32(n*s.bytes()), rBPW)
	}
	step := func(disp int) {
		for i := range r {
			VMOVUPS(rowAddr(rBPQ, i, disp), hold[i])
		}
		for j := range c {
			if r == 1 {
				VFMADD231PS(rowAddr(rBPW, j, disp), hold[0], acc[0][j])
				continue
			}
			VMOVUPS(rowAddr(rBPW, j, disp), row)
			for i := range r {
				VFMADD231PS(row, hold[i], acc[i][j])
			}
		}
	}

	// Two chunks per iteration, then one if the count is odd.
	tail, loop, one := k.newLabel("tail"), k.newLabel("loop"), k.newLabel("one")
	MOVQ(k.full, rBCnt)
	SUBQ(U32(2), rBCnt)
	JB(LabelRef(one))
	Label(loop)
	step(0)
	step(s.bytes())
	advance(2)
	SUBQ(U32(2), rBCnt)
	JAE(LabelRef(loop))
	Label(one)
	// rBCnt is -1 when one whole chunk is left, -2 when none.
	CMPQ(rBCnt, I32(-1))
	JNE(LabelRef(tail))
	step(0)
	advance(1)

	// The partial chunk, if any: one query at a time, reloading the rows,
	// so that on AVX2 a register is free for the mask.
	Label(tail)
	done := k.newLabel("reduce")
	TESTQ(U32(s.bytes()-1), rBS)
	JE(LabelRef(done))
	q, m := hold[0], VecPhysical(nil)
	if !s.z {
		// The mask takes the second query's register, or the one after
		// the row's.
		m = s.v(next + 1)
		if r == 1 {
			m = s.v(next + 2)
		}
		VMOVDQU(k.mask, m)
	}
	load := func(a Mem, v VecPhysical) {
		if s.z {
			VMOVUPS_Z(a, K1, v)
		} else {
			VMASKMOVPS(a, m, v)
		}
	}
	for i := range r {
		load(rowAddr(rBPQ, i, 0), q)
		for j := range c {
			load(rowAddr(rBPW, j, 0), row)
			VFMADD231PS(row, q, acc[i][j])
		}
	}

	Label(done)
	k.reduce(r, c, acc, row)
}

// outAddr returns the address of output row i (0 to 3) of the tile, plus
// disp bytes. Row 3 is reached through rBTmp, which reduce sets.
func outAddr(i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: rBOut, Disp: disp}
	case 1:
		return mem(rBOut, rBSO, 1, disp)
	case 2:
		return mem(rBOut, rBSO, 2, disp)
	case 3:
		return mem(rBTmp, rBSO, 1, disp)
	}
	panic("asm: tile output row out of range")
}

// reduce sums each accumulator's lanes and stores the results.
func (k *batchKernel) reduce(r, c int, acc [][]VecPhysical, tmp VecPhysical) {
	s := k.s
	if r == 4 {
		LEAQ(mem(rBOut, rBSO, 2, 0), rBTmp)
	}
	i := 0
	switch {
	case k.oneReg(r, c):
		v := butterfly(s, flatAccs(acc, 0, r), tmp)
		VMOVUPS(x(v), outAddr(0, 0))
		for i := 1; i < 4; i++ {
			VEXTRACTF32X4(U8(i), v, x(tmp))
			VMOVUPS(x(tmp), outAddr(i, 0))
		}
		return
	case k.pairRegs(r, c):
		for ; i+2 <= r; i += 2 {
			v := butterfly(s, flatAccs(acc, i, i+2), tmp)
			VMOVUPS(x(v), outAddr(i, 0))
			VEXTRACTF128(U8(1), v, x(tmp))
			VMOVUPS(x(tmp), outAddr(i+1, 0))
		}
	}
	for ; i < r; i++ {
		for j := range c {
			hsum(s, acc[i][j], tmp)
			VMOVSS(x(acc[i][j]), outAddr(i, 4*j))
		}
	}
}

// flatAccs returns the accumulators of queries from to to, in register
// order: accIndex numbered them so that the butterfly, fed in register order,
// leaves each query's results in consecutive lanes.
func flatAccs(acc [][]VecPhysical, from, to int) []VecPhysical {
	var a []VecPhysical
	for _, row := range acc[from:to] {
		a = append(a, row...)
	}
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && regIndex(a[j]) < regIndex(a[j-1]); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	return a
}

// butterfly reduces one accumulator per lane (16 accumulators of 16 lanes,
// or 8 of 8) to one register whose lane 4g+j holds the sum of accumulator
// butterflyOrder[j] + butterflyGroup[g] (AVX-512) or butterflyOrder[j] + 4g
// (AVX2), each added in the order described at the top of this file. It
// clobbers a and tmp and returns the register holding the result.
func butterfly(s isa, a []VecPhysical, tmp VecPhysical) VecPhysical {
	n := len(a)
	if n != s.bytes()/4 {
		panic("asm: butterfly needs one accumulator per lane")
	}
	// Halves: a[i] and a[i+n/2] become one register, a[i]'s half-sums in
	// its low half and a[i+n/2]'s in its high half.
	h := n / 2
	for i := range h {
		lo, hi := a[i], a[i+h]
		if s.z {
			VSHUFF32X4(U8(0x44), hi, lo, tmp)
			VSHUFF32X4(U8(0xee), hi, lo, hi)
		} else {
			VPERM2F128(U8(0x20), hi, lo, tmp)
			VPERM2F128(U8(0x31), hi, lo, hi)
		}
		VADDPS(hi, tmp, lo)
	}
	a = a[:h]
	if s.z {
		// Quarters: the two 128-bit lanes of each half.
		h /= 2
		for i := range h {
			lo, hi := a[i], a[i+h]
			VSHUFF32X4(U8(0x88), hi, lo, tmp)
			VSHUFF32X4(U8(0xdd), hi, lo, hi)
			VADDPS(hi, tmp, lo)
		}
		a = a[:h]
	}
	// Within each 128-bit lane: float pairs (0,1)+(2,3), then single floats.
	VUNPCKLPD(a[2], a[0], tmp)
	VUNPCKHPD(a[2], a[0], a[2])
	VADDPS(a[2], tmp, a[0])
	VUNPCKLPD(a[3], a[1], tmp)
	VUNPCKHPD(a[3], a[1], a[3])
	VADDPS(a[3], tmp, a[1])
	VSHUFPS(U8(0x88), a[1], a[0], tmp)
	VSHUFPS(U8(0xdd), a[1], a[0], a[1])
	VADDPS(a[1], tmp, a[0])
	return a[0]
}

// zeroVec clears v.
func zeroVec(s isa, v VecPhysical) {
	if s.z {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

// addRows emits dst += n*rBS.
func addRows(dst GPPhysical, n int) {
	switch n {
	case 1:
		ADDQ(rBS, dst)
	case 4:
		LEAQ(mem(dst, rBS, 4, 0), dst)
	case 3:
		ADDQ(rBS3, dst)
	default:
		panic("asm: unsupported tile size")
	}
}

// batchTile returns the tile of an instruction set's kernel: R queries by C
// rows, all registers but a few for the loads.
func batchTile(s isa) (R, C int) {
	if s.z {
		return 4, 4 // 16 accumulators + 4 queries + 1 row of 32 registers
	}
	return 3, 4 // 12 accumulators + 3 queries + 1 row: all 16
}

// genDotBatch emits dotBatchISA(q, block, out []float32, nq, nb, dim,
// stride int).
func genDotBatch(s isa) {
	R, C := batchTile(s)
	fn := "dotBatch" + s.name
	TEXT(fn, NOSPLIT, "func(q, block, out []float32, nq, nb, dim, stride int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets out[i*stride+j] to q_i·r_j for nq queries and nb rows of dim floats (dim, nq, nb > 0), in tiles of %d×%d.", fn, R, C))
	k := &batchKernel{s: s, fn: fn}
	nqLeft, blockBase, outPanel, nbAll := AllocLocal(8), AllocLocal(8), AllocLocal(8), AllocLocal(8)
	k.full = AllocLocal(8)
	if !s.z {
		k.mask = AllocLocal(32)
	}

	w := s.bytes() / 4
	Load(Param("dim"), RCX)
	if s.z {
		setTailMask(K1, R8, R9, w)
	} else {
		// tailmask<>+4*(8-dim%8) holds dim%8 all-ones dwords, then zeros.
		MOVQ(RCX, R8)
		ANDQ(U32(7), R8)
		NEGQ(R8)
		LEAQ(tailMask.Offset(4*8), R9)
		VMOVDQU(mem(R9, R8, 4, 0), Y0)
		VMOVDQU(Y0, k.mask)
	}
	MOVQ(RCX, rBTmp)
	SHRQ(U8(map[bool]uint8{false: 3, true: 4}[s.z]), rBTmp)
	MOVQ(rBTmp, k.full)
	LEAQ(mem(RCX, RCX, 2, 0), rBS3)
	SHLQ(U8(2), rBS3)
	MOVQ(RCX, rBS)
	SHLQ(U8(2), rBS)
	Load(Param("stride"), rBSO)
	SHLQ(U8(2), rBSO)
	Load(Param("q").Base(), rBQ0)
	Load(Param("block").Base(), rBTmp)
	MOVQ(rBTmp, blockBase)
	Load(Param("out").Base(), rBTmp)
	MOVQ(rBTmp, outPanel)
	Load(Param("nq"), rBTmp)
	MOVQ(rBTmp, nqLeft)
	Load(Param("nb"), rBTmp)
	MOVQ(rBTmp, nbAll)

	// panel emits the work of one panel of r queries, all rows.
	panel := func(r int) {
		MOVQ(blockBase, rBW0)
		MOVQ(outPanel, rBOut)
		MOVQ(nbAll, rBRows)
		tiles, single, end := k.newLabel("tiles"), k.newLabel("single"), k.newLabel("panelend")
		Label(tiles)
		CMPQ(rBRows, U32(C))
		JB(LabelRef(single))
		k.tile(r, C)
		addRows(rBW0, C)
		ADDQ(U32(4*C), rBOut)
		SUBQ(U32(C), rBRows)
		JMP(LabelRef(tiles))
		Label(single)
		TESTQ(rBRows, rBRows)
		JE(LabelRef(end))
		k.tile(r, 1)
		ADDQ(rBS, rBW0)
		ADDQ(U32(4), rBOut)
		DECQ(rBRows)
		JMP(LabelRef(single))
		Label(end)
	}

	full, rest, done := fn+"_full", fn+"_rest", fn+"_done"
	Label(full)
	CMPQ(nqLeft, U32(R))
	JB(LabelRef(rest))
	panel(R)
	// Next panel: R queries and R output rows on.
	addRows(rBQ0, R)
	IMUL3Q(U32(R), rBSO, rBTmp)
	ADDQ(rBTmp, outPanel)
	SUBQ(U32(R), nqLeft)
	JMP(LabelRef(full))

	Label(rest)
	MOVQ(nqLeft, rBTmp)
	for r := 1; r < R; r++ {
		CMPQ(rBTmp, U32(r))
		JE(LabelRef(fmt.Sprintf("%s_rest%d", fn, r)))
	}
	JMP(LabelRef(done))
	for r := 1; r < R; r++ {
		Label(fmt.Sprintf("%s_rest%d", fn, r))
		panel(r)
		JMP(LabelRef(done))
	}

	Label(done)
	if s.z {
		// VZEROUPPER leaves Z16-Z31 alone: zero the ones used.
		for i := 16; i <= R*C+R; i++ {
			VPXORD(s.v(i), s.v(i), s.v(i))
		}
	}
	vzeroupper()
	RET()
}
