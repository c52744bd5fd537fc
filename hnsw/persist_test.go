package hnsw

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// graphsEqual checks that two graphs hold the same live keys with the same
// vectors and answer queries identically.
func graphsEqual(t *testing.T, a, b *Graph, f fixture) {
	t.Helper()
	require.Equal(t, a.Len(), b.Len())
	require.Equal(t, a.Stats().Deleted, b.Stats().Deleted)
	require.Equal(t, a.Config().Dim, b.Config().Dim)
	require.Equal(t, a.Config().Metric, b.Config().Metric)
	require.Equal(t, a.Config().M, b.Config().M)
	for qi := range f.nq() {
		ra, err := a.Search(f.query(qi), 10, 32, nil)
		require.NoError(t, err)
		rb, err := b.Search(f.query(qi), 10, 32, nil)
		require.NoError(t, err)
		require.Equal(t, ra, rb)
	}
}

func TestSaveLoad(t *testing.T) {
	f := newFixture(7, 2000, 30, 24)
	for _, m := range []Metric{L2, Cosine, Dot} {
		t.Run(m.String(), func(t *testing.T) {
			g := build(t, f, Config{Metric: m, M: 8, EfConstruction: 60, Seed: 11})
			// Some tombstones, some reclaimed slots, some reused ones.
			for i := range 300 {
				require.NoError(t, g.Delete(uint32(i)))
			}
			g.Compact()
			for i := range 100 {
				require.NoError(t, g.Add(uint32(i), f.row(i)))
			}
			for i := 300; i < 400; i++ {
				require.NoError(t, g.Delete(uint32(i)))
			}
			path := filepath.Join(t.TempDir(), "graph.hnsw")
			require.NoError(t, g.Save(path, []byte("seq=42")))
			h, app, err := Load(path)
			require.NoError(t, err)
			require.Equal(t, "seq=42", string(app))
			checkInvariants(t, h)
			graphsEqual(t, g, h, f)
			require.Equal(t, 0, h.Stats().Free, "a loaded graph is dense")
			// The loaded graph keeps working: compact, add, search.
			require.Equal(t, 100, h.Compact())
			for i := 300; i < 400; i++ {
				require.NoError(t, h.Add(uint32(i), f.row(i)))
			}
			checkInvariants(t, h)
			require.GreaterOrEqual(t, recall(t, h, f, 10, 64, nil, func(k uint32) bool { return k < 100 || k >= 300 }), 0.95)
		})
	}
}

func TestSaveLoadEmpty(t *testing.T) {
	g, err := New(DefaultConfig(3))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "empty.hnsw")
	require.NoError(t, g.Save(path, nil))
	h, app, err := Load(path)
	require.NoError(t, err)
	require.Empty(t, app)
	require.Equal(t, 0, h.Len())
	require.NoError(t, h.Add(1, []float32{1, 0, 0}))
	res, err := h.Search([]float32{1, 0, 0}, 1, 0, nil)
	require.NoError(t, err)
	require.Len(t, res, 1)
}

func snapshotBytes(t testing.TB) []byte {
	t.Helper()
	f := newFixture(8, 300, 1, 8)
	g := build(t, f, Config{Metric: L2, M: 4, EfConstruction: 20, Seed: 2})
	require.NoError(t, g.Delete(3))
	var buf bytes.Buffer
	_, err := g.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

// TestLoadCorrupt: every truncation and many single-byte corruptions give a
// CorruptionError, never a panic or a graph.
func TestLoadCorrupt(t *testing.T) {
	good := snapshotBytes(t)
	dir := t.TempDir()
	load := func(b []byte) error {
		path := filepath.Join(dir, "g")
		require.NoError(t, os.WriteFile(path, b, 0o644))
		g, _, err := Load(path)
		if err != nil {
			require.Nil(t, g)
		}
		return err
	}
	require.NoError(t, load(good))
	for n := 0; n < len(good); n += 1 + n/50 {
		err := load(good[:n])
		require.ErrorIs(t, err, ErrCorrupt, "truncated to %d bytes", n)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 300 {
		b := bytes.Clone(good)
		i := rng.IntN(len(b))
		b[i] ^= byte(1 + rng.IntN(255))
		err := load(b)
		require.ErrorIs(t, err, ErrCorrupt, "byte %d flipped", i)
	}
	err := load(append(bytes.Clone(good), 0))
	require.ErrorIs(t, err, ErrCorrupt)
	_, _, err = Load(filepath.Join(dir, "missing"))
	require.Error(t, err)
	require.NotErrorIs(t, err, ErrCorrupt)
}

// fixChecksums recomputes a snapshot's checksums so that the fuzzer reaches
// the structural checks behind them.
func fixChecksums(b []byte) {
	if len(b) < headerSize+trailerSize {
		return
	}
	le := binary.LittleEndian
	le.PutUint32(b[headerSize-4:], crc32.Checksum(b[:headerSize-4], castagnoli))
	body := b[headerSize : len(b)-trailerSize]
	le.PutUint32(b[len(b)-trailerSize:], crc32.Checksum(body, castagnoli))
}

func FuzzLoad(f *testing.F) {
	good := snapshotBytes(f)
	f.Add(good, false)
	f.Add(good[:len(good)/2], true)
	f.Add([]byte(fileMagic), false)
	f.Fuzz(func(t *testing.T, b []byte, fix bool) {
		if fix {
			b = bytes.Clone(b)
			fixChecksums(b)
		}
		g, _, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			require.Nil(t, g)
			return
		}
		// Whatever loads must be usable.
		checkInvariants(t, g)
		q := make([]float32, g.Config().Dim)
		q[0] = 1
		_, err = g.Search(q, 3, 8, nil)
		require.NoError(t, err)
		g.Compact()
		require.NoError(t, g.Add(1<<31, q))
	})
}

type syncCounter struct {
	bytes.Buffer
	syncs int
}

func (c *syncCounter) Sync() error { c.syncs++; return nil }

// TestSaveSyncsAsItWrites: a snapshot written to a file is synced every
// bytesPerSync bytes, not only at the end, and the bytes are unchanged.
func TestSaveSyncsAsItWrites(t *testing.T) {
	f := newFixture(14, 2600, 1, 512) // 2,600 × 2 KiB: more than one bytesPerSync
	g := build(t, f, Config{Metric: L2, M: 4, EfConstruction: 16, Seed: 1})
	var plain bytes.Buffer
	_, err := g.WriteTo(&plain)
	require.NoError(t, err)
	var file syncCounter
	_, err = g.WriteTo(&file)
	require.NoError(t, err)
	require.Equal(t, plain.Len()/bytesPerSync, file.syncs)
	require.Equal(t, plain.Bytes(), file.Bytes())
}
