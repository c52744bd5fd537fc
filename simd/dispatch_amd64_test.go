//go:build !purego

package simd

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The kernel sets send short binary codes to Go or to the POPCNT kernel;
// check the vector Hamming kernels at those lengths too.
func TestHammingKernelsAllLengths(t *testing.T) {
	type kernels struct {
		name   string
		ok     bool
		single func(a, b []uint64) int
		block  func(q, block []uint64, out []float32)
	}
	for _, k := range []kernels{
		{"popcnt", hasAVX2, hammingPOPCNT, hammingBlockPOPCNT},
		{"avx512", hasVPOPCNT, hammingAVX512, hammingBlockAVX512},
	} {
		t.Run(k.name, func(t *testing.T) {
			if !k.ok {
				t.Skip("CPU lacks the features")
			}
			r := newRand(13)
			for n := 0; n <= 40; n++ {
				a, b := randWords(r, n, n%3), randWords(r, 5*n, 1)
				require.Equal(t, hammingGeneric(a, b[:n]), k.single(a, b[:n]), "n=%d", n)
				out := make([]float32, 5)
				k.block(a, b, out)
				for i := range out {
					require.Equal(t, float32(hammingGeneric(a, b[i*n:(i+1)*n])), out[i], "n=%d row %d", n, i)
				}
			}
		})
	}
}
