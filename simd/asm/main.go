// Command asm generates the amd64 assembly kernels of package simd with avo
// (github.com/mmcloughlin/avo). It lives in its own module so that the main
// module does not depend on avo. Run it through go generate in ../:
//
//	go generate ./simd
//
// Each run writes one group of kernels (-group float32, int8, hamming or tile) to
// the .s file named by -out and its Go declarations to the file named by
// -stubs. The generated files are committed; edit this generator, not them.
//
// avo v0.5.0 knows AVX-512 F/BW/VL/VPOPCNTDQ but not AVX-512 VNNI, so the two
// VNNI instructions (VPDPBUSD, VPDPWSSD) are emitted as raw instructions
// through build.Instruction; the Go assembler itself supports them.
package main

import (
	"flag"

	"fmt"
	"github.com/mmcloughlin/avo/gotypes"
	"os"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

var group = flag.String("group", "", "kernel group to generate: float32, int8, hamming or tile")

func main() {
	flag.Parse()
	ConstraintExpr("!purego")
	switch *group {
	case "float32":
		genFloat32()
	case "int8":
		genInt8()
	case "hamming":
		genHamming()
	case "tile":
		genTile()
	default:
		fmt.Fprintf(os.Stderr, "asm: unknown -group %q\n", *group)
		os.Exit(2)
	}
	Generate()
}

// isa describes one vector instruction set as the generator uses it.
type isa struct {
	name string // kernel name suffix: "AVX2", "AVX512"
	z    bool   // 512-bit registers, opmask tails
}

var (
	avx2   = isa{name: "AVX2"}
	avx512 = isa{name: "AVX512", z: true}
)

// bytes is the width of one vector register in bytes.
func (s isa) bytes() int {
	if s.z {
		return 64
	}
	return 32
}

// nregs is the number of vector registers available.
func (s isa) nregs() int {
	if s.z {
		return 32
	}
	return 16
}

// v returns full-width vector register i.
func (s isa) v(i int) VecPhysical {
	if s.z {
		return zr[i]
	}
	return yr[i]
}

var (
	xr = []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15,
		X16, X17, X18, X19, X20, X21, X22, X23, X24, X25, X26, X27, X28, X29, X30, X31}
	yr = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15,
		Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31}
	zr = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
)

// regIndex returns the number of a vector register (X5, Y5 and Z5 are 5).
func regIndex(r VecPhysical) int {
	for i := range zr {
		if r == xr[i] || r == yr[i] || r == zr[i] {
			return i
		}
	}
	panic("asm: not a vector register")
}

func x(r VecPhysical) VecPhysical { return xr[regIndex(r)] }
func y(r VecPhysical) VecPhysical { return yr[regIndex(r)] }

// raw emits an instruction avo does not know (the AVX-512 VNNI ones).
// Operands are in Go assembler order, the destination last.
func raw(op string, src2, src1, dst Op) {
	Instruction(&ir.Instruction{
		Opcode:   op,
		Operands: []Op{src2, src1, dst},
		Inputs:   []Op{src2, src1, dst},
		Outputs:  []Op{dst},
	})
}

// mem returns the address base + idx*scale + disp.
func mem(base, idx Register, scale uint8, disp int) Mem {
	return Mem{Base: base, Index: idx, Scale: scale, Disp: disp}
}

// setTailMask sets opmask k to the low (n mod lanes) bits, lanes <= 64,
// clobbering tmp and CX's copy in tmp2. n is in CX and is left intact.
func setTailMask(k OpmaskPhysical, tmp, tmp2 GPPhysical, lanes int) {
	MOVQ(RCX, tmp2)
	ANDQ(U32(lanes-1), tmp2)
	MOVQ(U32(1), tmp)
	// SHLQ by CL needs the count in CX: swap it in and out.
	XCHGQ(tmp2, RCX)
	SHLQ(CL, tmp)
	XCHGQ(tmp2, RCX)
	DECQ(tmp)
	KMOVQ(tmp, k)
}

// addr returns the stack address of a parameter or result.
func addr(c gotypes.Component) Mem {
	b, err := c.Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// storeF stores a float32 result with VMOVSS: avo's Store would use the
// SSE MOVSS, which must not run while the upper halves of the vector
// registers are dirty (an SSE/AVX transition).
func storeF(v VecPhysical, c gotypes.Component) { VMOVSS(x(v), addr(c)) }
