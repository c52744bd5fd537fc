package simd

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fuzz targets derive vectors from the fuzz input and compare every
// kernel set this CPU can run with the pure-Go reference. Run one with e.g.
//
//	go test ./simd -run '^$' -fuzz '^FuzzDot$' -fuzztime 30s

// fuzzFloats splits data into an offset byte and two float32 vectors of
// equal length, two bytes per element: an int16 scaled by 1/256, so sums
// cannot overflow, except that -32768, 32767 and -32767 stand for NaN, +Inf
// and -Inf.
func fuzzFloats(data []byte) (a, b []float32) {
	if len(data) == 0 {
		return nil, nil
	}
	off := int(data[0] % 4)
	data = data[1:]
	n := len(data) / 4
	buf := make([]float32, 2*n+2*off)
	a, b = buf[off:off+n], buf[n+2*off:2*n+2*off]
	for i := range 2 * n {
		v := int16(binary.LittleEndian.Uint16(data[2*i:]))
		var f float32
		switch v {
		case math.MinInt16:
			f = float32(math.NaN())
		case math.MaxInt16:
			f = float32(math.Inf(1))
		case -math.MaxInt16:
			f = float32(math.Inf(-1))
		default:
			f = float32(v) / 256
		}
		if i < n {
			a[i] = f
		} else {
			b[i-n] = f
		}
	}
	return a, b
}

// fuzzRel bounds the rounding difference between any two summation orders
// of n terms, relative to Σ|terms|: each is within about n·2^-24 of the
// exact sum.
func fuzzRel(n int) float64 { return float64(n+16) * 0x1p-23 }

func fuzzSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 1, 0, 2})
	f.Add(make([]byte, 1+4*17))
	seq := make([]byte, 1+4*100)
	for i := range seq {
		seq[i] = byte(i * 37)
	}
	f.Add(seq)
	nan := make([]byte, 1+4*40)
	nan[5], nan[6] = 0x00, 0x80 // a[2] = NaN
	f.Add(nan)
}

func FuzzDot(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := fuzzFloats(data)
		want := dotGeneric(a, b)
		for _, ns := range kernelSets() {
			got := ns.set.dot(a, b)
			requireClose(t, want, got, fuzzRel(len(a)), absDot(a, b), ns.label+" dot")
			out := []float32{0}
			ns.set.dotBlock(a, b, out)
			requireBitEqual(t, got, out[0], ns.label+" dotBlock")
		}
	})
}

func FuzzL2(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := fuzzFloats(data)
		want := l2SquaredGeneric(a, b)
		// A bound from the data: somewhere between 0 and the distance.
		frac := float32(0.5)
		if len(data) > 0 {
			frac = float32(data[len(data)-1]) / 200
		}
		for _, ns := range kernelSets() {
			got := ns.set.l2Squared(a, b)
			requireClose(t, want, got, fuzzRel(len(a)), absL2(a, b), ns.label+" l2Squared")
			out := []float32{0}
			ns.set.l2SquaredBlock(a, b, out)
			requireBitEqual(t, got, out[0], ns.label+" l2SquaredBlock")
			bound := frac * got
			if math.IsNaN(float64(got)) || math.IsInf(float64(got), 0) {
				bound = frac * 100
			}
			gotB := ns.set.l2SquaredBounded(a, b, bound)
			switch {
			case got <= bound:
				requireBitEqual(t, got, gotB, ns.label+" l2SquaredBounded")
			case math.IsNaN(float64(got)):
				require.True(t, math.IsNaN(float64(gotB)) || gotB > bound, "%s l2SquaredBounded: %v", ns.label, gotB)
			default:
				require.Greater(t, gotB, bound, ns.label+" l2SquaredBounded")
			}
		}
	})
}

func FuzzCosine(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := fuzzFloats(data)
		want := cosineGeneric(a, b)
		for _, ns := range kernelSets() {
			got := ns.set.cosine(a, b)
			requireClose(t, want, got, 3*fuzzRel(len(a)), 1, ns.label+" cosine")
			out := []float32{0}
			ns.set.cosineBlock(a, b, out)
			requireBitEqual(t, got, out[0], ns.label+" cosineBlock")
		}
	})
}

func FuzzInt8(f *testing.F) {
	fuzzSeeds(f)
	f.Add([]byte{0x80, 0x80, 0x80, 0x7f, 0x7f, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		off := 0
		if len(data) > 0 {
			off, data = int(data[0]%4), data[1:]
		}
		n := len(data) / 2
		buf := make([]int8, 2*n+2*off)
		a, b := buf[off:off+n], buf[n+2*off:2*n+2*off]
		for i := range n {
			a[i], b[i] = int8(data[i]), int8(data[n+i])
		}
		dot, l2 := dotInt8Generic(a, b), l2SquaredInt8Generic(a, b)
		for _, ns := range kernelSets() {
			require.Equal(t, dot, ns.set.dotInt8(a, b), ns.label+" dotInt8")
			require.Equal(t, l2, ns.set.l2Int8(a, b), ns.label+" l2SquaredInt8")
			out := []float32{0}
			ns.set.dotInt8Block(a, b, out)
			require.Equal(t, float32(dot), out[0], ns.label+" dotInt8Block")
			ns.set.l2Int8Block(a, b, out)
			require.Equal(t, float32(l2), out[0], ns.label+" l2SquaredInt8Block")
		}
	})
}

func FuzzHamming(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		off := 0
		if len(data) > 0 {
			off, data = int(data[0]%4), data[1:]
		}
		n := len(data) / 16
		buf := make([]uint64, 2*n+2*off)
		a, b := buf[off:off+n], buf[n+2*off:2*n+2*off]
		for i := range n {
			a[i] = binary.LittleEndian.Uint64(data[8*i:])
			b[i] = binary.LittleEndian.Uint64(data[8*(n+i):])
		}
		want := hammingGeneric(a, b)
		for _, ns := range kernelSets() {
			require.Equal(t, want, ns.set.hamming(a, b), ns.label+" hamming")
			out := []float32{0}
			ns.set.hammingBlock(a, b, out)
			require.Equal(t, float32(want), out[0], ns.label+" hammingBlock")
		}
	})
}
