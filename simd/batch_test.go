package simd

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// batchShape is one call of a batch kernel: nq queries against nb rows.
type batchShape struct{ nq, nb int }

// batchShapes cover every path of the kernels: whole 4-query (AVX-512) and
// 3-query (AVX2) panels, each shorter last panel, whole 4-row tiles and 1 to
// 3 rows left over, and nothing at all.
var batchShapes = []batchShape{
	{0, 3}, {3, 0}, {1, 1}, {1, 4}, {2, 5}, {3, 3}, {4, 4}, {5, 7}, {6, 8}, {7, 2}, {8, 9}, {11, 13},
}

// batchLens are the lengths the batch kernels are checked at: every tail of
// 8- and 16-lane registers, with and without a whole two-chunk iteration, and
// the model sizes; the long ones with fewer shapes.
func batchLens() []int {
	var ls []int
	for n := 1; n <= 65; n++ {
		ls = append(ls, n)
	}
	return append(ls, 127, 128, 129, 256, 512, 1536)
}

// runBatch calls the set's batch kernel on qs and block into a fresh output
// of stride nb+pad (pad > 0 leaves gaps that must stay untouched), preceded
// by off floats, and returns the output with the results at out[off:].
func runBatch(s kernelSet, qs, block []float32, dim, nq, nb, pad, off int) []float32 {
	stride := nb + pad
	out := make([]float32, off+max(nq*stride, 1)+2)
	for i := range out {
		out[i] = 42
	}
	s.dotBlockBatch(qs, block, dim, out[off:], stride)
	return out
}

// checkBatch compares every result with the reference and with the pair
// computed alone, and checks that nothing else in out was written.
func checkBatch(t *testing.T, s kernelSet, qs, block []float32, dim, nq, nb, pad, off int, rel float64, msg string) {
	t.Helper()
	out := runBatch(s, qs, block, dim, nq, nb, pad, off)
	stride := nb + pad
	written := make([]bool, len(out))
	for i := range nq {
		q := qs[i*dim : (i+1)*dim]
		for j := range nb {
			r := block[j*dim : (j+1)*dim]
			k := off + i*stride + j
			written[k] = true
			m := fmt.Sprintf("%s query %d row %d", msg, i, j)
			requireClose(t, dotGeneric(q, r), out[k], rel, absDot(q, r), m)
			alone := []float32{7}
			s.dotBlockBatch(q, r, dim, alone, 1)
			requireBitEqual(t, alone[0], out[k], m+": alone")
		}
	}
	for k, w := range written {
		if !w {
			require.Equalf(t, float32(42), out[k], "%s: out[%d] written", msg, k-off)
		}
	}
}

func TestDotBlockBatch(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(20)
			for _, dim := range batchLens() {
				shapes := batchShapes
				if dim > 129 {
					shapes = []batchShape{{1, 1}, {5, 7}, {8, 9}}
				}
				for si, sh := range shapes {
					oq, ob, oo := si%4, (si+1)%4, (si+2)%4 // unaligned starts
					qs, block := randFloats(r, sh.nq*dim, oq), randFloats(r, sh.nb*dim, ob)
					msg := fmt.Sprintf("dim=%d nq=%d nb=%d", dim, sh.nq, sh.nb)
					checkBatch(t, ns.set, qs, block, dim, sh.nq, sh.nb, si%3, oo, 1e-5, msg)
				}
			}
		})
	}
}

// TestDotBlockBatchModel runs the shapes of the local embedding model: 75
// tokens against a block of weight rows, and the attention products.
func TestDotBlockBatchModel(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(21)
			for _, c := range []struct{ nq, nb, dim int }{{75, 24, 256}, {75, 12, 512}, {75, 4, 1536}, {75, 75, 64}, {75, 32, 75}} {
				qs, block := randFloats(r, c.nq*c.dim, 0), randFloats(r, c.nb*c.dim, 0)
				out := runBatch(ns.set, qs, block, c.dim, c.nq, c.nb, 0, 0)
				for i := range c.nq {
					for j := range c.nb {
						q, row := qs[i*c.dim:(i+1)*c.dim], block[j*c.dim:(j+1)*c.dim]
						requireClose(t, dotGeneric(q, row), out[i*c.nb+j], 1e-5, absDot(q, row), fmt.Sprintf("%v query %d row %d", c, i, j))
					}
				}
			}
		})
	}
}

func TestDotBlockBatchSpecialValues(t *testing.T) {
	for _, ns := range kernelSets() {
		t.Run(ns.label, func(t *testing.T) {
			r := newRand(22)
			for _, dim := range []int{1, 7, 16, 17, 33, 64, 65, 129} {
				for _, pos := range []int{0, dim / 2, dim - 1} {
					for _, va := range specials {
						for _, vb := range append(specials, 1, -2) {
							// 5 queries × 6 rows: a special in query 1 and
							// query 4, in rows 2 and 5.
							qs, block := randFloats(r, 5*dim, 1), randFloats(r, 6*dim, 2)
							qs[dim+pos], qs[4*dim+(pos+dim/3)%dim] = va, vb
							block[2*dim+(pos+dim/3)%dim], block[5*dim+pos] = vb, va
							out := runBatch(ns.set, qs, block, dim, 5, 6, 0, 0)
							for i := range 5 {
								for j := range 6 {
									want := dotGeneric(qs[i*dim:(i+1)*dim], block[j*dim:(j+1)*dim])
									requireSameClass(t, want, out[i*6+j], fmt.Sprintf("dim=%d pos=%d a=%v b=%v query %d row %d", dim, pos, va, vb, i, j))
								}
							}
						}
					}
				}
			}
		})
	}
}

func TestDotBlockBatchExported(t *testing.T) {
	r := newRand(23)
	qs, block := randFloats(r, 3*10, 0), randFloats(r, 2*10, 0)
	out := make([]float32, 2*5+2)
	DotBlockBatch(qs, block, 10, out, 5)
	for i := range 3 {
		for j := range 2 {
			require.InDelta(t, Dot(qs[i*10:(i+1)*10], block[j*10:(j+1)*10]), out[i*5+j], 1e-5)
		}
		if i < 2 {
			require.Equal(t, []float32{0, 0, 0}, out[i*5+2:i*5+5], "gap written")
		}
	}

	// Nothing to do: out is not looked at.
	DotBlockBatch(nil, block, 10, nil, 2)
	DotBlockBatch(qs, nil, 10, nil, 0)

	for name, f := range map[string]func(){
		"zero dim":          func() { DotBlockBatch(nil, nil, 0, nil, 0) },
		"negative dim":      func() { DotBlockBatch(nil, nil, -1, nil, 0) },
		"queries not whole": func() { DotBlockBatch(qs[:29], block, 10, out, 2) },
		"rows not whole":    func() { DotBlockBatch(qs, block[:11], 10, out, 2) },
		"stride below rows": func() { DotBlockBatch(qs, block, 10, out, 1) },
		"negative stride":   func() { DotBlockBatch(qs[:0], block, 10, out, -1) },
		"out too short":     func() { DotBlockBatch(qs, block, 10, out[:2*5+1], 5) },
		"stride overflows":  func() { DotBlockBatch(qs, block, 10, out, math.MaxInt/2+1) },
		"one query short":   func() { DotBlockBatch(qs[:10], block, 10, out[:1], 2) },
	} {
		t.Run(name, func(t *testing.T) { require.Panics(t, f) })
	}
	require.NotPanics(t, func() { DotBlockBatch(qs, block, 10, out[:2*5+2], 5) }, "out just long enough")
}

// FuzzDotBlockBatch cuts the fuzz input's vectors into queries and rows of a
// length taken from the input and checks every kernel set's batch against
// the reference, and each result against the pair computed alone.
func FuzzDotBlockBatch(f *testing.F) {
	fuzzSeeds(f)
	f.Add(append([]byte{17, 3}, make([]byte, 1+4*17*5)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		dim, nq := int(data[0]%70)+1, int(data[1]%9)
		a, b := fuzzFloats(data[2:])
		off := len(data) % 4 // an unaligned start
		all := make([]float32, off+len(a)+len(b))[off:]
		copy(all[copy(all, a):], b)
		if nq*dim > len(all) {
			nq = len(all) / dim
		}
		qs := all[:nq*dim]
		nb := (len(all) - nq*dim) / dim
		block := all[nq*dim : (nq+nb)*dim]
		for _, ns := range kernelSets() {
			out := runBatch(ns.set, qs, block, dim, nq, nb, 1, 0)
			for i := range nq {
				q := qs[i*dim : (i+1)*dim]
				for j := range nb {
					r := block[j*dim : (j+1)*dim]
					got := out[i*(nb+1)+j]
					requireClose(t, dotGeneric(q, r), got, fuzzRel(dim), absDot(q, r), ns.label+" dotBlockBatch")
					alone := []float32{0}
					ns.set.dotBlockBatch(q, r, dim, alone, 1)
					requireBitEqual(t, alone[0], got, ns.label+" dotBlockBatch alone")
				}
				require.Equal(t, float32(42), out[i*(nb+1)+nb], ns.label+" gap written")
			}
		}
	})
}
