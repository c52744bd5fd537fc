package store

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// vecBits compares vectors bit for bit (NaN payloads included).
func vecBits(v []float32) []uint32 {
	b := make([]uint32, len(v))
	for i, x := range v {
		b[i] = math.Float32bits(x)
	}
	return b
}

func TestDocRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		doc  Doc
	}{
		{"id only", Doc{ID: "a"}},
		{"every field", mkDoc("doc-1", 7)},
		{"unicode", Doc{ID: "文書-β", Text: "日本語のテキスト 🦀", Source: "file:///ü", Chunk: 3}},
		{"extreme chunks", Doc{ID: "c", Chunk: math.MinInt32}},
		{"max chunk", Doc{ID: "c", Chunk: math.MaxInt32}},
		{"odd floats", Doc{ID: "f", Vector: []float32{float32(math.NaN()), float32(math.Inf(-1)), -0.0, math.SmallestNonzeroFloat32, math.MaxFloat32}}},
		{"long id", Doc{ID: strings.Repeat("i", MaxIDLen)}},
		{"384-d vector and a paragraph", Doc{ID: "big", Text: strings.Repeat("lorem ipsum ", 50), Vector: make([]float32, 384), Metadata: []byte(`{"tags":["a","b"],"n":1.5}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := encodeDoc(&tt.doc)
			require.Len(t, rec, docSize(&tt.doc))
			got, why := decodeDoc(rec)
			require.Empty(t, why)
			require.Equal(t, vecBits(tt.doc.Vector), vecBits(got.Vector))
			got.Vector, tt.doc.Vector = nil, nil
			require.Equal(t, tt.doc, got)

			// The partial decoding of ForEachMetadata keeps the ID and
			// the metadata only.
			part, why := decodeRecord(rec, false)
			require.Empty(t, why)
			require.Equal(t, Doc{ID: tt.doc.ID, Chunk: tt.doc.Chunk, Metadata: tt.doc.Metadata}, part)
		})
	}
}

func TestDocEmptyIsNil(t *testing.T) {
	got, why := decodeDoc(encodeDoc(&Doc{ID: "a", Metadata: []byte{}, Vector: []float32{}}))
	require.Empty(t, why)
	require.Nil(t, got.Metadata)
	require.Nil(t, got.Vector)
}

// TestDocGolden pins the version-1 record layout: a change to the encoder
// that alters stored bytes fails here (refresh with -update only for a new
// format version, with a decoder for the old one).
func TestDocGolden(t *testing.T) {
	doc := Doc{ID: "id-1", Text: "hello", Metadata: []byte(`{"k":1}`), Vector: []float32{1, -2.5}, Source: "a.md", Chunk: -2}
	got := hex.EncodeToString(encodeDoc(&doc)) + "\n" + hex.EncodeToString(encodeChange(OpPut, true, 258, "id-1")) + "\n"
	path := filepath.Join("testdata", "record_v1.hex")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), got)
}

func TestDecodeDocRejects(t *testing.T) {
	good := encodeDoc(&Doc{ID: "id", Text: "text", Metadata: []byte("{}"), Vector: []float32{1, 2}, Source: "s", Chunk: 1})
	// withCRC re-seals a record changed by f, so the decoder's structural
	// checks are reached.
	withCRC := func(f func(body []byte) []byte) []byte {
		body := f(append([]byte(nil), good[:len(good)-4]...))
		return encodeTail(body)
	}
	tests := []struct {
		name string
		rec  []byte
		why  string
	}{
		{"empty", nil, "too short"},
		{"short", good[:5], "too short"},
		{"bad checksum", append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-1]^1), "checksum mismatch"},
		{"unknown version", withCRC(func(b []byte) []byte { b[0] = 2; return b }), "unknown record version 2"},
		{"unknown flags", withCRC(func(b []byte) []byte { b[1] = 1; return b }), "unknown record flags"},
		{"trailing bytes", withCRC(func(b []byte) []byte { return append(b, 0) }), "1 trailing bytes"},
		{"vector overruns", withCRC(func(b []byte) []byte { return b[:len(b)-1] }), "vector of 2 floats overruns"},
		{"id overruns", withCRC(func(b []byte) []byte { b[2] = 100; return b }), "id of 100 bytes overruns"},
		{"empty id", withCRC(func(b []byte) []byte { return append([]byte{1, 0, 0}, b[5:]...) }), "stored id is empty"},
		{"bad varint", withCRC(func(b []byte) []byte {
			return append([]byte{1, 0}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}), "bad id length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, why := decodeDoc(tt.rec)
			require.Contains(t, why, tt.why)
			require.Zero(t, d)
		})
	}
	t.Run("every truncation and every bit flip", func(t *testing.T) {
		for n := range len(good) {
			_, why := decodeDoc(good[:n])
			require.NotEmpty(t, why, "truncated to %d", n)
		}
		for i := range len(good) * 8 {
			b := append([]byte(nil), good...)
			b[i/8] ^= 1 << (i % 8)
			_, why := decodeDoc(b)
			require.NotEmpty(t, why, "bit %d flipped", i)
		}
	})
}

// encodeTail appends the CRC-32C of body.
func encodeTail(body []byte) []byte {
	return binary.LittleEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

func TestDecodeChangeRejects(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
		why  string
	}{
		{"short", []byte{1, 0, 1, 0, 0, 0}, "too short"},
		{"unknown kind", []byte{3, 0, 1, 0, 0, 0, 'a'}, "unknown change kind 3"},
		{"unknown flags", []byte{1, 2, 1, 0, 0, 0, 'a'}, "unknown change flags"},
		{"num 0", []byte{1, 0, 0, 0, 0, 0, 'a'}, "document number 0"},
		{"bad id", []byte{1, 0, 1, 0, 0, 0, 0xff}, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, why := decodeChange(1, tt.rec)
			require.Contains(t, why, tt.why)
		})
	}
	c, why := decodeChange(9, encodeChange(OpDelete, true, 7, "x"))
	require.Empty(t, why)
	require.Equal(t, Change{Seq: 9, Kind: OpDelete, ID: "x", Num: 7, Existed: true}, c)
}

func FuzzDecodeDoc(f *testing.F) {
	f.Add(encodeDoc(&Doc{ID: "a"}))
	f.Add(encodeDoc(&Doc{ID: "doc", Text: "t", Metadata: []byte("{}"), Vector: []float32{1, 2, 3}, Source: "s", Chunk: -1}))
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, why := decodeDoc(b) // must not panic
		if why != "" {
			return
		}
		again, why := decodeDoc(encodeDoc(&d))
		require.Empty(t, why)
		require.Equal(t, vecBits(d.Vector), vecBits(again.Vector))
		d.Vector, again.Vector = nil, nil
		require.Equal(t, d, again)
	})
}
