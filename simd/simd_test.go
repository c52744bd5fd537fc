package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// testLens are the vector lengths every kernel is checked at: every length up
// to 65 (all tail shapes of 8- and 16-lane registers, with and without a
// whole 4-register iteration), around 128 and 384, and the common embedding
// sizes.
func testLens() []int {
	var ls []int
	for n := 0; n <= 65; n++ {
		ls = append(ls, n)
	}
	return append(ls, 127, 128, 129, 255, 256, 257, 383, 384, 385, 512, 768, 784, 1023, 1536)
}

// offsets are the start offsets of subslices, so that no kernel can rely on
// alignment.
var offsets = []int{0, 1, 2, 3}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// randFloats returns n values in [-1, 1) starting off floats into a larger,
// freshly allocated slice.
func randFloats(r *rand.Rand, n, off int) []float32 {
	s := make([]float32, n+off+3)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s[off : off+n]
}

func randInt8s(r *rand.Rand, n, off int) []int8 {
	s := make([]int8, n+off+3)
	for i := range s {
		s[i] = int8(r.Uint32())
	}
	return s[off : off+n]
}

func randWords(r *rand.Rand, n, off int) []uint64 {
	s := make([]uint64, n+off+3)
	for i := range s {
		s[i] = r.Uint64()
	}
	return s[off : off+n]
}

// absDot is Σ|a_i·b_i|, the scale of the rounding error of a dot product.
func absDot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += math.Abs(float64(a[i]) * float64(b[i]))
	}
	return s
}

// absL2 is Σ(a_i-b_i)², the scale of the rounding error of a squared L2.
func absL2(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i] - b[i])
		s += d * d
	}
	return s
}

// requireClose checks got against the reference want, which may differ by
// rounding, relative to the scale of the sum: rel*scale, plus a tiny
// absolute slack. Non-finite values must match exactly in kind.
func requireClose(t testing.TB, want, got float32, rel, scale float64, msg string) {
	t.Helper()
	requireSameClass(t, want, got, msg)
	if math.IsNaN(float64(want)) || math.IsInf(float64(want), 0) {
		return
	}
	tol := rel*scale + 1e-30
	require.LessOrEqualf(t, math.Abs(float64(got)-float64(want)), tol, "%s: want %v, got %v", msg, want, got)
}

// requireSameClass checks the contract on special values: got is NaN
// exactly when want is, and ±Inf exactly when want is (same sign).
func requireSameClass(t testing.TB, want, got float32, msg string) {
	t.Helper()
	w, g := float64(want), float64(got)
	require.Equalf(t, math.IsNaN(w), math.IsNaN(g), "%s: NaN: want %v, got %v", msg, want, got)
	require.Equalf(t, math.IsInf(w, 1), math.IsInf(g, 1), "%s: +Inf: want %v, got %v", msg, want, got)
	require.Equalf(t, math.IsInf(w, -1), math.IsInf(g, -1), "%s: -Inf: want %v, got %v", msg, want, got)
}

// requireBitEqual checks two results that must be identical, NaN included.
func requireBitEqual(t testing.TB, want, got float32, msg string) {
	t.Helper()
	require.Equalf(t, math.Float32bits(want), math.Float32bits(got), "%s: want %v, got %v", msg, want, got)
}

// checkFloat compares every float32 kernel of set s to the reference on a
// and b. rel is the allowed error relative to Σ|terms|.
func checkFloat(t testing.TB, s kernelSet, a, b []float32, rel float64) {
	t.Helper()
	requireClose(t, dotGeneric(a, b), s.dot(a, b), rel, absDot(a, b), "dot")
	requireClose(t, l2SquaredGeneric(a, b), s.l2Squared(a, b), rel, absL2(a, b), "l2Squared")
	// |Δcos| <= (|Δdot| + |cos|·(|Δaa|/aa + |Δbb|/bb)/2) / (|a||b|), and
	// Σ|a_i·b_i| <= |a||b|, so 3·rel bounds it.
	requireClose(t, cosineGeneric(a, b), s.cosine(a, b), 3*rel, 1, "cosine")
}

func TestFloat32Kernels(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(1)
			for _, n := range testLens() {
				for _, oa := range offsets {
					ob := (oa + 1) % 4
					a, b := randFloats(r, n, oa), randFloats(r, n, ob)
					checkFloat(t, ns.set, a, b, 1e-5)
					// Identical vectors: L2 must be exactly zero, cosine 1.
					require.Zero(t, ns.set.l2Squared(a, a), "l2Squared(a, a) n=%d", n)
				}
			}
		})
	}
}

func TestInt8Kernels(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(2)
			for _, n := range append(testLens(), 2047, 4096) {
				for _, oa := range offsets {
					a, b := randInt8s(r, n, oa), randInt8s(r, n, (oa+3)%4)
					require.Equal(t, dotInt8Generic(a, b), ns.set.dotInt8(a, b), "dotInt8 n=%d", n)
					require.Equal(t, l2SquaredInt8Generic(a, b), ns.set.l2Int8(a, b), "l2Int8 n=%d", n)
				}
			}
		})
	}
}

func TestInt8Extremes(t *testing.T) {
	// The largest magnitudes: -128·-128 and (127 - -128)² in every lane.
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			for _, n := range []int{1, 31, 64, 65, 1536, 1 << 15} {
				lo, hi := make([]int8, n), make([]int8, n)
				for i := range lo {
					lo[i], hi[i] = -128, 127
				}
				require.Equal(t, dotInt8Generic(lo, lo), ns.set.dotInt8(lo, lo), "dot lo·lo n=%d", n)
				require.Equal(t, dotInt8Generic(lo, hi), ns.set.dotInt8(lo, hi), "dot lo·hi n=%d", n)
				require.Equal(t, dotInt8Generic(hi, hi), ns.set.dotInt8(hi, hi), "dot hi·hi n=%d", n)
				require.Equal(t, l2SquaredInt8Generic(lo, hi), ns.set.l2Int8(lo, hi), "l2 lo,hi n=%d", n)
				require.Equal(t, l2SquaredInt8Generic(hi, lo), ns.set.l2Int8(hi, lo), "l2 hi,lo n=%d", n)
			}
		})
	}
}

func TestHammingKernels(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(3)
			for _, n := range testLens() {
				for _, oa := range offsets {
					a, b := randWords(r, n, oa), randWords(r, n, (oa+2)%4)
					require.Equal(t, hammingGeneric(a, b), ns.set.hamming(a, b), "hamming n=%d", n)
					require.Zero(t, ns.set.hamming(a, a), "hamming(a, a) n=%d", n)
				}
			}
		})
	}
}

// specials are the values injected into otherwise ordinary vectors.
var specials = []float32{
	float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, -0.0,
}

func TestSpecialValues(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(4)
			for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 33, 63, 64, 65, 100, 129, 784, 1536} {
				for _, pos := range []int{0, n / 2, n - 1} {
					for _, va := range specials {
						for _, vb := range append(specials, 1, -2) {
							a, b := randFloats(r, n, 1), randFloats(r, n, 2)
							a[pos], b[(pos+n/3)%n] = va, vb
							msg := fmt.Sprintf("n=%d pos=%d a=%v b=%v", n, pos, va, vb)
							requireSameClass(t, dotGeneric(a, b), ns.set.dot(a, b), "dot "+msg)
							requireSameClass(t, l2SquaredGeneric(a, b), ns.set.l2Squared(a, b), "l2Squared "+msg)
							requireSameClass(t, cosineGeneric(a, b), ns.set.cosine(a, b), "cosine "+msg)
							bound := float32(n) / 6
							got := ns.set.l2SquaredBounded(a, b, bound)
							if want := ns.set.l2Squared(a, b); want <= bound {
								requireBitEqual(t, want, got, "l2SquaredBounded "+msg)
							} else {
								require.Truef(t, got > bound || math.IsNaN(float64(got)), "l2SquaredBounded %s: got %v", msg, got)
							}
						}
					}
				}
			}
		})
	}
}

func TestCosineZeroVector(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			for _, n := range []int{0, 1, 17, 784} {
				z, v := make([]float32, n), randFloats(newRand(5), n, 0)
				require.Zero(t, ns.set.cosine(z, v))
				require.Zero(t, ns.set.cosine(v, z))
				require.Zero(t, ns.set.cosine(z, z))
				out := []float32{7, 7}
				ns.set.cosineBlock(z, append(append([]float32(nil), v...), z...), out)
				require.Equal(t, []float32{0, 0}, out)
				if n > 0 {
					require.InDelta(t, 1, ns.set.cosine(v, v), 1e-6)
				}
			}
		})
	}
}

func TestL2SquaredBounded(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(6)
			for _, n := range testLens() {
				for _, off := range offsets {
					a, b := randFloats(r, n, off), randFloats(r, n, 3-off)
					full := ns.set.l2Squared(a, b)
					requireClose(t, l2SquaredGeneric(a, b), full, 1e-5, absL2(a, b), "l2Squared")
					bounds := []float32{
						float32(math.Inf(1)), 2 * full, full, math.Nextafter32(full, 0),
						full * 0.75, full / 2, full / 4, full / 100, 0, -1, float32(math.Inf(-1)),
					}
					for _, bound := range bounds {
						got := ns.set.l2SquaredBounded(a, b, bound)
						if full <= bound {
							requireBitEqual(t, full, got, fmt.Sprintf("n=%d bound=%v", n, bound))
						} else {
							require.Greaterf(t, got, bound, "n=%d bound=%v full=%v", n, bound, full)
							require.LessOrEqualf(t, got, full, "n=%d: a partial sum above the full one", n)
						}
					}
				}
			}
		})
	}
}

// blockShapes are the dimension and row counts the block kernels are checked
// at: every remainder of 4-row passes, and the 64-row chunks of CosineBlock.
var (
	blockDims = []int{0, 1, 3, 8, 15, 16, 17, 31, 33, 64, 65, 100, 128, 129, 384, 784, 1536}
	blockRows = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 64, 65, 131}
)

func TestFloat32Blocks(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(7)
			s := ns.set
			for _, dim := range blockDims {
				for _, rows := range blockRows {
					if dim*rows > 1<<17 {
						continue
					}
					q, block := randFloats(r, dim, 1), randFloats(r, dim*rows, 2)
					if rows > 2 && dim > 0 {
						block[dim+dim/2] = float32(math.NaN()) // row 1
						copy(block[2*dim:3*dim], q)            // row 2 == q
					}
					out := make([]float32, rows)
					check := func(name string, blockFn func(q, block, out []float32), single func(a, b []float32) float32) {
						for i := range out {
							out[i] = 42
						}
						blockFn(q, block, out)
						for i := range rows {
							want := single(q, block[i*dim:(i+1)*dim])
							requireBitEqual(t, want, out[i], fmt.Sprintf("%s dim=%d rows=%d row %d", name, dim, rows, i))
						}
					}
					check("dot", s.dotBlock, s.dot)
					check("l2Squared", s.l2SquaredBlock, s.l2Squared)
					check("cosine", s.cosineBlock, s.cosine)
				}
			}
		})
	}
}

func TestIntBlocks(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(8)
			s := ns.set
			for _, dim := range append(blockDims, 2048) {
				for _, rows := range blockRows {
					q, block := randInt8s(r, dim, 3), randInt8s(r, dim*rows, 1)
					out := make([]float32, rows)
					s.dotInt8Block(q, block, out)
					for i := range rows {
						require.Equal(t, float32(s.dotInt8(q, block[i*dim:(i+1)*dim])), out[i], "dotInt8 dim=%d row %d", dim, i)
					}
					s.l2Int8Block(q, block, out)
					for i := range rows {
						require.Equal(t, float32(s.l2Int8(q, block[i*dim:(i+1)*dim])), out[i], "l2Int8 dim=%d row %d", dim, i)
					}
					wq, wblock := randWords(r, dim, 2), randWords(r, dim*rows, 0)
					s.hammingBlock(wq, wblock, out)
					for i := range rows {
						require.Equal(t, float32(s.hamming(wq, wblock[i*dim:(i+1)*dim])), out[i], "hamming dim=%d row %d", dim, i)
					}
				}
			}
		})
	}
}

// TestBlocksAgainstReference checks the block kernels of each set against
// the reference kernels directly (the tests above check them against their
// own set's single-vector kernels).
func TestBlocksAgainstReference(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(9)
			for _, dim := range []int{0, 5, 17, 100, 784} {
				rows := 11
				q, block := randFloats(r, dim, 0), randFloats(r, dim*rows, 1)
				out := make([]float32, rows)
				ns.set.dotBlock(q, block, out)
				for i := range rows {
					row := block[i*dim : (i+1)*dim]
					requireClose(t, dotGeneric(q, row), out[i], 1e-5, absDot(q, row), "dotBlock")
				}
				ns.set.l2SquaredBlock(q, block, out)
				for i := range rows {
					row := block[i*dim : (i+1)*dim]
					requireClose(t, l2SquaredGeneric(q, row), out[i], 1e-5, absL2(q, row), "l2SquaredBlock")
				}
				ns.set.cosineBlock(q, block, out)
				for i := range rows {
					requireClose(t, cosineGeneric(q, block[i*dim:(i+1)*dim]), out[i], 3e-5, 1, "cosineBlock")
				}
			}
		})
	}
}

func TestImpl(t *testing.T) {
	require.Contains(t, []string{"avx512", "avx2", "generic"}, Impl())
	sets := kernelSets()
	require.Equal(t, sets[len(sets)-1].set.name, Impl(), "the last set is the chosen one")
	t.Logf("kernel set: %s (%d sets testable here)", Impl(), len(sets))
}

func TestExported(t *testing.T) {
	r := newRand(10)
	a, b := randFloats(r, 100, 0), randFloats(r, 100, 0)
	require.InDelta(t, dotGeneric(a, b), Dot(a, b), 1e-4)
	require.InDelta(t, l2SquaredGeneric(a, b), L2Squared(a, b), 1e-4)
	require.InDelta(t, cosineGeneric(a, b), Cosine(a, b), 1e-5)
	require.Equal(t, L2Squared(a, b), L2SquaredBounded(a, b, float32(math.Inf(1))))
	require.InDelta(t, math.Sqrt(float64(dotGeneric(a, a))), Norm(a), 1e-5)
	ia, ib := randInt8s(r, 100, 0), randInt8s(r, 100, 0)
	require.Equal(t, dotInt8Generic(ia, ib), DotInt8(ia, ib))
	require.Equal(t, l2SquaredInt8Generic(ia, ib), L2SquaredInt8(ia, ib))
	wa, wb := randWords(r, 10, 0), randWords(r, 10, 0)
	require.Equal(t, hammingGeneric(wa, wb), Hamming(wa, wb))

	out := make([]float32, 2)
	block := append(append([]float32(nil), a...), b...)
	DotBlock(a, block, out)
	require.Equal(t, []float32{Dot(a, a), Dot(a, b)}, out)
	L2SquaredBlock(a, block, out)
	require.Equal(t, []float32{0, L2Squared(a, b)}, out)
	CosineBlock(a, block, out)
	require.Equal(t, []float32{Cosine(a, a), Cosine(a, b)}, out)
	iblock := append(append([]int8(nil), ia...), ib...)
	DotInt8Block(ia, iblock, out)
	require.Equal(t, []float32{float32(DotInt8(ia, ia)), float32(DotInt8(ia, ib))}, out)
	L2SquaredInt8Block(ia, iblock, out)
	require.Equal(t, []float32{0, float32(L2SquaredInt8(ia, ib))}, out)
	wblock := append(append([]uint64(nil), wa...), wb...)
	HammingBlock(wa, wblock, out)
	require.Equal(t, []float32{0, float32(Hamming(wa, wb))}, out)

	// Empty vectors.
	require.Zero(t, Dot(nil, nil))
	require.Zero(t, L2Squared(nil, nil))
	require.Zero(t, Cosine(nil, nil))
	require.Zero(t, Norm(nil))
	require.Zero(t, DotInt8(nil, nil))
	require.Zero(t, Hamming(nil, nil))
	out = []float32{5, 5, 5}
	DotBlock(nil, nil, out)
	require.Equal(t, []float32{0, 0, 0}, out)
	DotBlock(a, nil, nil)
}

func TestNormalize(t *testing.T) {
	r := newRand(11)
	for _, n := range []int{1, 3, 17, 784} {
		v := randFloats(r, n, 0)
		require.True(t, Normalize(v))
		require.InDelta(t, 1, Norm(v), 1e-6)
	}
	z := make([]float32, 5)
	require.False(t, Normalize(z))
	require.Equal(t, make([]float32, 5), z)
	require.False(t, Normalize(nil))
	inf := []float32{1, float32(math.Inf(1))}
	require.False(t, Normalize(inf))
	require.Equal(t, float32(1), inf[0])
	nan := []float32{1, float32(math.NaN())}
	require.False(t, Normalize(nan))
	huge := []float32{3e38, 3e38}
	require.False(t, Normalize(huge), "squared length overflows")
}

func TestLengthMismatchPanics(t *testing.T) {
	f2, f3 := make([]float32, 2), make([]float32, 3)
	i2, i3 := make([]int8, 2), make([]int8, 3)
	w2, w3 := make([]uint64, 2), make([]uint64, 3)
	cases := map[string]func(){
		"Dot":                func() { Dot(f2, f3) },
		"L2Squared":          func() { L2Squared(f3, f2) },
		"L2SquaredBounded":   func() { L2SquaredBounded(f2, f3, 1) },
		"Cosine":             func() { Cosine(f2, f3) },
		"DotInt8":            func() { DotInt8(i2, i3) },
		"L2SquaredInt8":      func() { L2SquaredInt8(i2, i3) },
		"Hamming":            func() { Hamming(w2, w3) },
		"DotBlock":           func() { DotBlock(f2, f3, f2) },
		"L2SquaredBlock":     func() { L2SquaredBlock(f2, f3, f2) },
		"CosineBlock":        func() { CosineBlock(f2, f2, f2) },
		"DotInt8Block":       func() { DotInt8Block(i2, i3, f2) },
		"L2SquaredInt8Block": func() { L2SquaredInt8Block(i2, i2, f2) },
		"HammingBlock":       func() { HammingBlock(w2, w3, f2) },
		"DotBlock-empty-q":   func() { DotBlock(nil, f2, f2) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) { require.Panics(t, f) })
	}
}

func TestNoAllocs(t *testing.T) {
	r := newRand(12)
	a, b := randFloats(r, 784, 0), randFloats(r, 784, 0)
	block, out := randFloats(r, 784*70, 0), make([]float32, 70)
	ia, iblock := randInt8s(r, 784, 0), randInt8s(r, 784*70, 0)
	wa, wblock := randWords(r, 24, 0), randWords(r, 24*70, 0)
	qs, bout := randFloats(r, 784*5, 0), make([]float32, 5*70)
	allocs := testing.AllocsPerRun(20, func() {
		Dot(a, b)
		L2Squared(a, b)
		L2SquaredBounded(a, b, 1)
		Cosine(a, b)
		Norm(a)
		DotBlock(a, block, out)
		L2SquaredBlock(a, block, out)
		CosineBlock(a, block, out)
		DotBlockBatch(qs, block, 784, bout, 70)
		DotInt8(ia, ia)
		L2SquaredInt8(ia, ia)
		DotInt8Block(ia, iblock, out)
		L2SquaredInt8Block(ia, iblock, out)
		Hamming(wa, wa)
		HammingBlock(wa, wblock, out)
	})
	require.Zero(t, allocs)
}
