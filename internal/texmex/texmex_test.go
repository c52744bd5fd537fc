package texmex

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// encode builds raw TEXMEX bytes: each row is written with its own length as
// dim, so tests can make rows of differing dimension on purpose.
func encode(rows ...[]uint32) []byte {
	var b []byte
	for _, r := range rows {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		for _, v := range r {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
	}
	return b
}

func f32(vs ...float32) []uint32 {
	out := make([]uint32, len(vs))
	for i, v := range vs {
		out[i] = math.Float32bits(v)
	}
	return out
}

// writeTemp writes b to a fresh file named name and returns its path.
func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func TestReadFvecs(t *testing.T) {
	three := encode(f32(1, 2), f32(3, 4), f32(5, -6.5))
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  []float32
		dim   int
	}{
		{"one row", encode(f32(1.5)), 0, []float32{1.5}, 1},
		{"all rows", three, 0, []float32{1, 2, 3, 4, 5, -6.5}, 2},
		{"negative limit reads all", three, -1, []float32{1, 2, 3, 4, 5, -6.5}, 2},
		{"limit", three, 2, []float32{1, 2, 3, 4}, 2},
		{"limit past end", three, 10, []float32{1, 2, 3, 4, 5, -6.5}, 2},
		// A limit stops reading: a broken tail after it is not looked at.
		{"limit before bad tail", append(three, 1, 2), 3, []float32{1, 2, 3, 4, 5, -6.5}, 2},
		{"special values", encode(f32(float32(math.Inf(1)), float32(math.Copysign(0, -1)))), 0,
			[]float32{float32(math.Inf(1)), float32(math.Copysign(0, -1))}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "x.fvecs", tt.in)
			data, dim, n, err := ReadFvecs(path, tt.limit)
			require.NoError(t, err)
			require.Equal(t, tt.dim, dim)
			require.Equal(t, len(tt.want)/tt.dim, n)
			require.Equal(t, tt.want, data)
		})
	}
}

func TestReadIvecs(t *testing.T) {
	path := writeTemp(t, "gt.ivecs", encode([]uint32{7, 0xFFFFFFFF, 3}, []uint32{1, 2, 1 << 31}))
	data, dim, n, err := ReadIvecs(path, 0)
	require.NoError(t, err)
	require.Equal(t, 3, dim)
	require.Equal(t, 2, n)
	require.Equal(t, []int32{7, -1, 3, 1, 2, math.MinInt32}, data)
}

func TestReadMalformed(t *testing.T) {
	two := encode(f32(1, 2), f32(3, 4))
	tests := []struct {
		name   string
		in     []byte
		row    int
		offset int64
		reason string
	}{
		{"empty", nil, 0, 0, "empty input: no rows"},
		{"short header", []byte{2, 0}, 0, 0, "truncated dimension header: got 2 of 4 bytes"},
		{"short header after rows", append(two, 2, 0, 0), 2, 24, "truncated dimension header: got 3 of 4 bytes"},
		{"zero dim", encode([]uint32{}), 0, 0, "dimension 0 is not positive"},
		{"negative dim", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}, 0, 0, "dimension -1 is not positive"},
		{"absurd dim", binary.LittleEndian.AppendUint32(nil, MaxDim+1), 0, 0, "dimension 65537 exceeds the maximum 65536"},
		{"header only", binary.LittleEndian.AppendUint32(nil, 3), 0, 0, "truncated row: got 0 of 12 value bytes"},
		{"truncated row", two[:len(two)-1], 1, 12, "truncated row: got 7 of 8 value bytes"},
		{"differing dims", encode(f32(1, 2), f32(3, 4), f32(5)), 2, 24, "dimension 1 differs from 2 of row 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, "bad.fvecs", tt.in)
			for _, read := range []func() error{
				func() error { _, _, _, err := ReadFvecs(path, 0); return err },
				func() error { _, _, _, err := ReadIvecs(path, 0); return err },
			} {
				err := read()
				require.ErrorIs(t, err, ErrFormat)
				var fe *FormatError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, FormatError{Name: path, Row: tt.row, Offset: tt.offset, Reason: tt.reason}, *fe)
				require.Contains(t, err.Error(), path)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	_, _, _, err := ReadFvecs(filepath.Join(t.TempDir(), "absent.fvecs"), 0)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestReaderStreams(t *testing.T) {
	r := NewReader(bytes.NewReader(encode(f32(1, 2, 3), f32(4, 5, 6))), "mem")
	require.Equal(t, 0, r.Dim())

	row, err := r.ReadFloat32(nil)
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3}, row)
	require.Equal(t, 3, r.Dim())

	// Appends to dst, and reuses no memory the caller holds.
	prev := []float32{9}
	row, err = r.ReadFloat32(prev)
	require.NoError(t, err)
	require.Equal(t, []float32{9, 4, 5, 6}, row)
	require.Equal(t, 2, r.Rows())

	for range 2 { // io.EOF is sticky
		row, err = r.ReadFloat32(prev)
		require.ErrorIs(t, err, io.EOF)
		require.Equal(t, []float32{9}, row)
	}
}

// failingReader returns its data, then a non-EOF error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(&failingReader{data: encode(f32(1)), err: boom}, "pipe")
	_, err := r.ReadFloat32(nil)
	require.NoError(t, err)
	_, err = r.ReadFloat32(nil)
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, ErrFormat)
	require.ErrorContains(t, err, "pipe: row 1")
}

func TestWriteRoundTrip(t *testing.T) {
	for _, name := range []string{"v.fvecs", "v.fvecs.gz"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			want := []float32{0, 1, -2, 3.25, float32(math.NaN()), 1e-30}
			require.NoError(t, WriteFvecs(path, want, 3))
			got, dim, n, err := ReadFvecs(path, 0)
			require.NoError(t, err)
			require.Equal(t, 3, dim)
			require.Equal(t, 2, n)
			for i := range want { // compare bits: NaN != NaN
				require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "value %d", i)
			}

			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o644), info.Mode().Perm())
			if name == "v.fvecs" {
				require.EqualValues(t, 2*(4+3*4), info.Size())
			}
		})
	}

	path := filepath.Join(t.TempDir(), "gt.ivecs")
	ids := []int32{5, 3, -1, math.MaxInt32}
	require.NoError(t, WriteIvecs(path, ids, 2))
	got, dim, n, err := ReadIvecs(path, 0)
	require.NoError(t, err)
	require.Equal(t, ids, got)
	require.Equal(t, 2, dim)
	require.Equal(t, 2, n)
}

func TestWriteBadShapes(t *testing.T) {
	tests := []struct {
		name string
		n    int
		dim  int
	}{
		{"no rows", 0, 4},
		{"zero dim", 4, 0},
		{"negative dim", 4, -1},
		{"not whole rows", 5, 2},
		{"absurd dim", MaxDim + 1, MaxDim + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.fvecs")
			require.ErrorIs(t, WriteFvecs(path, make([]float32, tt.n), tt.dim), ErrDim)
			require.ErrorIs(t, WriteIvecs(path, make([]int32, tt.n), tt.dim), ErrDim)
			requireOnly(t, dir)
		})
	}
}

func TestWriteFileKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.fvecs")
	require.NoError(t, WriteFvecs(path, []float32{1, 2}, 2))
	old, err := os.ReadFile(path)
	require.NoError(t, err)

	boom := errors.New("boom")
	tests := []struct {
		name string
		fill func(w *Writer) error
		want error
	}{
		{"fill fails", func(w *Writer) error {
			require.NoError(t, w.WriteFloat32([]float32{3, 4}))
			return boom
		}, boom},
		{"differing dims", func(w *Writer) error {
			require.NoError(t, w.WriteFloat32([]float32{3, 4}))
			return w.WriteFloat32([]float32{5})
		}, ErrDim},
		{"empty row", func(w *Writer) error { return w.WriteInt32(nil) }, ErrDim},
		{"no rows", func(*Writer) error { return nil }, ErrDim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, WriteFile(path, tt.fill), tt.want)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, old, got)
			requireOnly(t, dir, "x.fvecs")
		})
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	err := WriteFvecs(filepath.Join(t.TempDir(), "no", "such", "x.fvecs"), []float32{1}, 1)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// requireOnly checks that dir holds exactly the named files: no temporary
// file was left behind.
func requireOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	got := []string{}
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if names == nil {
		names = []string{}
	}
	require.Equal(t, names, got)
}

func TestReadGzip(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, err := gz.Write(encode(f32(1, 2), f32(3, 4)))
	require.NoError(t, err)
	require.NoError(t, gz.Close())

	path := writeTemp(t, "x.fvecs.gz", buf.Bytes())
	data, dim, n, err := ReadFvecs(path, 0)
	require.NoError(t, err)
	require.Equal(t, []float32{1, 2, 3, 4}, data)
	require.Equal(t, 2, dim)
	require.Equal(t, 2, n)

	// A gzip stream cut short is an error, never a silently short file.
	path = writeTemp(t, "cut.fvecs.gz", buf.Bytes()[:buf.Len()-10])
	_, _, _, err = ReadFvecs(path, 0)
	require.Error(t, err)

	path = writeTemp(t, "plain.fvecs.gz", encode(f32(1)))
	_, _, _, err = ReadFvecs(path, 0)
	require.ErrorContains(t, err, "plain.fvecs.gz")
}

func BenchmarkReadFvecs(b *testing.B) {
	const n, dim = 10000, 128
	path := filepath.Join(b.TempDir(), "b.fvecs")
	require.NoError(b, WriteFvecs(path, make([]float32, n*dim), dim))
	b.SetBytes(n * (4 + 4*dim))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := ReadFvecs(path, 0); err != nil {
			b.Fatal(err)
		}
	}
}
