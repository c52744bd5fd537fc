package modelfile

import (
	"bytes"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// small is a file with every feature: pieces of several lengths (one
// multi-byte), both dtypes, a scalar and tensors whose data needs padding.
func small() *File {
	return &File{
		Pieces: []Piece{{"<unk>", 0}, {"▁the", -3.5}, {"a", -1e-300}, {":30", 30}},
		Tensors: []Tensor{
			{Name: "vec", DType: Float32, Shape: []int{3}, Data: []float32{1, -2.5, 3e-9}},
			{Name: "mat", DType: Float16, Shape: []int{3, 1}, Data: []float32{0.5, -65504, 6e-8}},
			{Name: "scalar", DType: Float32, Data: []float32{1e-6}},
			{Name: "empty", DType: Float16, Shape: []int{0, 4}, Data: []float32{}},
		},
	}
}

func encode(t testing.TB, f *File) []byte {
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, f))
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	f := small()
	b := encode(t, f)
	got, err := Decode(b)
	require.NoError(t, err)
	require.Equal(t, f.Pieces, got.Pieces)
	require.Len(t, got.Tensors, len(f.Tensors))
	for i, want := range f.Tensors {
		g := got.Tensors[i]
		require.Equal(t, want.Name, g.Name)
		require.Equal(t, want.DType, g.DType)
		require.Equal(t, len(want.Shape), len(g.Shape))
		if len(want.Shape) > 0 {
			require.Equal(t, want.Shape, g.Shape)
		}
		require.Len(t, g.Data, len(want.Data))
		if len(g.Data) > 0 {
			require.Zero(t, uintptr(unsafe.Pointer(&g.Data[0]))%64, "%s: data not on a cache line", want.Name)
		}
		for j, x := range want.Data {
			if want.DType == Float16 {
				h, ok := toFloat16(x)
				require.True(t, ok)
				x = fromFloat16(h)
			}
			require.Equal(t, x, g.Data[j], "%s[%d]", want.Name, j)
		}
	}
	require.NotNil(t, got.Tensor("mat"))
	require.Nil(t, got.Tensor("nope"))
	require.Equal(t, float32(-65504), got.Tensor("mat").Data[1])
}

func TestEncodeRejects(t *testing.T) {
	cases := []struct {
		name string
		edit func(f *File)
	}{
		{"empty piece", func(f *File) { f.Pieces[1].Text = "" }},
		{"long piece", func(f *File) { f.Pieces[1].Text = string(make([]byte, 256)) }},
		{"invalid UTF-8", func(f *File) { f.Pieces[1].Text = "\xff" }},
		{"empty name", func(f *File) { f.Tensors[0].Name = "" }},
		{"shape mismatch", func(f *File) { f.Tensors[0].Shape = []int{4} }},
		{"rank", func(f *File) { f.Tensors[3].Shape = []int{0, 1, 1, 1, 1} }},
		{"dtype", func(f *File) { f.Tensors[0].DType = 9 }},
		{"float16 overflow", func(f *File) { f.Tensors[1].Data[0] = 65520 }},
		{"float16 NaN", func(f *File) { f.Tensors[1].Data[0] = float32(math.NaN()) }},
		{"float32 Inf", func(f *File) { f.Tensors[0].Data[0] = float32(math.Inf(1)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := small()
			c.edit(f)
			require.Error(t, Encode(&bytes.Buffer{}, f))
		})
	}
}

// fixCRC rewrites the trailer so that a mutated body passes the checksum
// and reaches the structural checks.
func fixCRC(b []byte) {
	if len(b) >= headerSize+trailerSize {
		le.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
	}
}

// withBits replaces the first element stored as the bits of x (in a
// float32 or, size 2, float16) with the given bits and fixes the CRC.
func withBits(b []byte, x float32, bits uint32, size int) []byte {
	var want []byte
	if size == 4 {
		want = le.AppendUint32(nil, math.Float32bits(x))
	} else {
		h, _ := toFloat16(x)
		want = le.AppendUint16(nil, h)
	}
	i := bytes.Index(b[headerSize:], want) + headerSize
	if size == 4 {
		le.PutUint32(b[i:], bits)
	} else {
		le.PutUint16(b[i:], uint16(bits))
	}
	fixCRC(b)
	return b
}

func TestDecodeRejects(t *testing.T) {
	good := encode(t, small())
	cases := []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"empty", func(b []byte) []byte { return nil }, "truncated"},
		{"header only", func(b []byte) []byte { return b[:headerSize] }, "truncated"},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, "truncated"},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, "trailing bytes"},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "not a model file"},
		{"version", func(b []byte) []byte { b[8] = 2; return b }, "version 2"},
		{"flags", func(b []byte) []byte { b[12] = 1; fixCRC(b); return b }, "flags"},
		{"bit flip", func(b []byte) []byte { b[len(b)/2] ^= 4; return b }, "CRC-32C"},
		{"piece count", func(b []byte) []byte { le.PutUint32(b[16:], 1000); fixCRC(b); return b }, "past the end"},
		{"tensor count", func(b []byte) []byte { le.PutUint32(b[20:], 5); fixCRC(b); return b }, ""},
		{"huge counts", func(b []byte) []byte { le.PutUint32(b[16:], math.MaxUint32); fixCRC(b); return b }, "limits"},
		{"NaN float32", func(b []byte) []byte { return withBits(b, 1.0, 0x7fc00000, 4) }, "tensor vec holds NaN"},
		{"Inf float16", func(b []byte) []byte { return withBits(b, 0.5, 0x7c00, 2) }, "tensor mat holds NaN"},
		{"piece length", func(b []byte) []byte { b[headerSize+4*8] = 0; fixCRC(b); return b }, "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.edit(bytes.Clone(good)))
			require.ErrorIs(t, err, ErrCorrupt)
			var ce *CorruptionError
			require.True(t, errors.As(err, &ce))
			require.Contains(t, err.Error(), c.want)
		})
	}
}

// TestDecodeEveryTruncation cuts the file at every length and, with the
// checksum fixed up, flips every byte: nothing panics, and a shorter file
// always fails.
func TestDecodeEveryTruncation(t *testing.T) {
	good := encode(t, small())
	for n := range len(good) {
		_, err := Decode(good[:n])
		require.ErrorIs(t, err, ErrCorrupt, "length %d", n)
	}
	for i := headerSize; i < len(good)-trailerSize; i++ {
		b := bytes.Clone(good)
		b[i] ^= 0xff
		fixCRC(b)
		_, _ = Decode(b) // may succeed (a changed weight); must not panic
	}
}

func TestFloat16(t *testing.T) {
	// Every finite binary16 survives float32 and back.
	for h := range 1 << 16 {
		f := fromFloat16(uint16(h))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			require.Equal(t, uint16(0x1f), uint16(h>>10)&0x1f, "h=%#04x", h)
			continue
		}
		back, ok := toFloat16(f)
		require.True(t, ok, "h=%#04x", h)
		require.Equal(t, uint16(h), back, "h=%#04x (%g)", h, f)
	}
	// Rounding to nearest, ties to even, against a search over neighbours.
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		x := float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(50)-35)))
		h, ok := toFloat16(x)
		if math.Abs(float64(x)) > 65519 {
			require.False(t, ok)
			continue
		}
		require.True(t, ok, "%g", x)
		got := float64(fromFloat16(h))
		for _, d := range []int{-1, 1} {
			n := int(h&0x7fff) + d
			if n < 0 || n >= 0x7c00 {
				continue
			}
			other := float64(fromFloat16(h&0x8000 | uint16(n)))
			eg, eo := math.Abs(got-float64(x)), math.Abs(other-float64(x))
			require.True(t, eg < eo || eg == eo && h&1 == 0, "%g rounded to %g, %g is nearer", x, got, other)
		}
	}
	for _, c := range []struct {
		x    float32
		want uint16
	}{
		{0, 0}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000},
		{65504, 0x7bff}, {0x1p-24, 1}, {0x1p-25, 0}, {0x1.8p-25, 1}, {0x1p-14, 0x0400},
		{1 + 0x1p-11, 0x3c00}, {1 + 0x1.8p-11, 0x3c01}, {1 + 0x1.8p-10, 0x3c02},
	} {
		h, ok := toFloat16(c.x)
		require.True(t, ok)
		require.Equal(t, c.want, h, "%g", c.x)
	}
}

func FuzzDecode(f *testing.F) {
	good := encode(f, small())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, fix := range []bool{false, true} {
			b := bytes.Clone(b)
			if fix && len(b) >= headerSize+trailerSize {
				le.PutUint64(b[24:], uint64(len(b)))
				fixCRC(b)
			}
			file, err := Decode(b)
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt)
				continue
			}
			// What decodes encodes to a file that decodes the same.
			for i := range file.Tensors {
				file.Tensors[i].DType = Float32
			}
			again, err := Decode(encode(t, file))
			require.NoError(t, err)
			require.Equal(t, len(file.Tensors), len(again.Tensors))
		}
	})
}
