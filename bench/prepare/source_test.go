package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeWink(t *testing.T) {
	// Vectors in another order than the words, an unknown key, and numbers
	// that round differently in float32 than their decimal text.
	const ok = `{"precision":8,"l2NormIndex":2,"wordIndex":3,"size":3,"dimensions":2,
		"words":["the",",","zebra"],
		"vectors":{"zebra":[0.1,-2.5,9,2],"the":[1e-3,3.3333333333,1,0],",":[0,1,1,1]},
		"unkVector":[0,0,0,-1]}`
	words, vecs, err := decodeWink(strings.NewReader(ok), 3, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"the", ",", "zebra"}, words)
	require.Equal(t, []float32{float32(1e-3), float32(3.3333333333), 0, 1, float32(0.1), -2.5}, vecs)

	tests := []struct {
		name, json, want string
	}{
		{"not an object", `[1]`, "got [, want {"},
		{"truncated", ok[:200], "unexpected EOF"},
		{"wrong size", strings.Replace(ok, `"size":3`, `"size":4`, 1), "size 4, 3 words, 3 vectors"},
		{"wrong dimensions", strings.Replace(ok, `"dimensions":2`, `"dimensions":3`, 1), "dimensions 3"},
		{"vectors before dimensions", `{"vectors":{},"dimensions":2}`, `before "vectors": dimensions -1`},
		{"short vector", strings.Replace(ok, `[0,1,1,1]`, `[0,1,1]`, 1), `word ",": 3 numbers, want 4`},
		{"missing vector", strings.Replace(ok, `"zebra":[0.1,-2.5,9,2],`, `"zebu":[0.1,-2.5,9,2],`, 1), `word 2 "zebra" has no vector`},
		{"wrong word index", strings.Replace(ok, `[0,1,1,1]`, `[0,1,1,2]`, 1), `word 1 ",": vector says it is word 2`},
		{"fractional word index", strings.Replace(ok, `[0,1,1,1]`, `[0,1,1,1.5]`, 1), "word index 1.5"},
		{"not a number", strings.Replace(ok, `[0,1,1,1]`, `[0,"a",1,1]`, 1), `"vectors"`},
		{"overflow", strings.Replace(ok, `[0,1,1,1]`, `[0,1e39,1,1]`, 1), "overflows float32"},
		{"newline in word", strings.NewReplacer(`,",",`, `,"\n",`, `",":`, `"\n":`).Replace(ok), `word 1 "\n" contains a newline`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeWink(strings.NewReader(tt.json), 3, 2)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestDecodeWinkDuplicateWord(t *testing.T) {
	// As with JSON.parse, the last vector given for a word wins.
	in := `{"l2NormIndex":1,"wordIndex":2,"size":1,"dimensions":1,"words":["a"],
		"vectors":{"a":[1,1,0],"a":[2,2,0]}}`
	words, vecs, err := decodeWink(strings.NewReader(in), 1, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, words)
	require.Equal(t, []float32{2}, vecs)
}

func TestSplitGloVe(t *testing.T) {
	const n, dim, nq = 50, 2, 5
	words := make([]string, n)
	vecs := make([]float32, n*dim)
	for i := range n {
		words[i] = string(rune('A' + i))
		vecs[i*dim], vecs[i*dim+1] = float32(i), -float32(i)
	}
	src := splitGloVe(words, vecs, dim, nq, 42)

	test := rand.New(rand.NewSource(42)).Perm(n)[:nq]
	slices.Sort(test)
	var wantQueries []float32
	var wantWords []string
	for _, i := range test {
		wantQueries = append(wantQueries, float32(i), -float32(i))
		wantWords = append(wantWords, words[i])
	}
	require.Equal(t, wantQueries, src.queries)
	require.Equal(t, wantWords, src.queryWords)

	require.Len(t, src.baseWords, n-nq)
	require.Len(t, src.base, (n-nq)*dim)
	for i, w := range src.baseWords {
		row := int(w[0] - 'A')
		require.NotContains(t, test, row)
		require.Equal(t, []float32{float32(row), -float32(row)}, src.base[i*dim:(i+1)*dim])
		if i > 0 {
			require.Less(t, src.baseWords[i-1], w, "base keeps the original order")
		}
	}
}

// idx builds a gzipped idx3-ubyte image file.
func idx(t *testing.T, magic, n, rows, cols uint32, pixels []byte) []byte {
	t.Helper()
	var raw []byte
	for _, v := range []uint32{magic, n, rows, cols} {
		raw = binary.BigEndian.AppendUint32(raw, v)
	}
	raw = append(raw, pixels...)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, err := gz.Write(raw)
	require.NoError(t, err)
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

func TestDecodeIDXImages(t *testing.T) {
	pixels := []byte{0, 1, 2, 3, 255, 254, 253, 252}
	got, err := decodeIDXImages(bytes.NewReader(idx(t, idxImagesMagic, 2, 2, 2, pixels)), 2, 4)
	require.NoError(t, err)
	require.Equal(t, []float32{0, 1, 2, 3, 255, 254, 253, 252}, got)

	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"not gzip", []byte("plain"), "gzip"},
		{"short header", idx(t, idxImagesMagic, 2, 2, 2, nil)[:0], "EOF"},
		{"labels file", idx(t, 0x00000801, 2, 2, 2, pixels), "magic 0x00000801"},
		{"wrong count", idx(t, idxImagesMagic, 3, 2, 2, pixels), "3 images of 2×2"},
		{"same pixels in another shape", idx(t, idxImagesMagic, 2, 1, 4, pixels), ""}, // dim is rows×cols
		{"truncated", idx(t, idxImagesMagic, 2, 2, 2, pixels[:7]), "idx pixels: unexpected EOF"},
		{"trailing bytes", idx(t, idxImagesMagic, 2, 2, 2, append(pixels, 9)), "1 bytes after the last image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeIDXImages(bytes.NewReader(tt.in), 2, 4)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}
