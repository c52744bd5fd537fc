package embed

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/ragd/ragd/embed/openaitest"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openCache(t testing.TB, path string, cfg CacheConfig) *Cache {
	t.Helper()
	cfg.NoSync = true
	c, err := OpenCache(path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func TestCacheHit(t *testing.T) {
	srv := newFake(t, openaitest.Config{Reverse: true})
	o := newOpenAI(t, srv, OpenAIConfig{Dimensions: 6, MaxBatch: 4})
	path := filepath.Join(t.TempDir(), "cache.db")
	m := NewMetrics()
	c := openCache(t, path, CacheConfig{Metrics: m})
	e := c.Wrap(o)
	require.Equal(t, 6, e.Dimension())
	require.Equal(t, o.Model(), e.Model())

	ts := texts(10)
	vs, err := e.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 6, vs)
	require.Equal(t, 3, srv.Requests())
	require.Equal(t, 10.0, testutil.ToFloat64(m.cacheMisses))

	vs, err = e.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 6, vs)
	require.Equal(t, 3, srv.Requests(), "unchanged texts: no request")
	require.Equal(t, 10.0, testutil.ToFloat64(m.cacheHits))

	// Partly new, with duplicates: only the new text goes out, once.
	mixed := []string{ts[0], "something new", ts[1], "something new"}
	vs, err = e.Embed(context.Background(), mixed)
	require.NoError(t, err)
	requireVectors(t, mixed, 6, vs)
	require.Equal(t, 4, srv.Requests())
	require.Equal(t, []string{"something new"}, srv.Log()[3].Input)
	vs[1][0] = 7 // each slot is its own slice
	require.Equal(t, openaitest.Vector("something new", 6), vs[3])

	// The file outlives the process.
	require.NoError(t, c.Close())
	c2 := openCache(t, path, CacheConfig{})
	vs, err = c2.Wrap(o).Embed(context.Background(), append(ts, "something new"))
	require.NoError(t, err)
	requireVectors(t, append(ts, "something new"), 6, vs)
	require.Equal(t, 4, srv.Requests())

	// The closed one refuses.
	_, err = e.Embed(context.Background(), ts)
	require.ErrorIs(t, err, ErrClosed)
}

func TestCacheKeys(t *testing.T) {
	c := openCache(t, filepath.Join(t.TempDir(), "cache.db"), CacheConfig{})
	srv := newFake(t, openaitest.Config{})
	text := []string{"the same text"}
	for _, tt := range []struct {
		name string
		cfg  OpenAIConfig
		dim  int
	}{
		{"model a, 4", OpenAIConfig{Model: "a", Dimensions: 4}, 4},
		{"model a, 5", OpenAIConfig{Model: "a", Dimensions: 5}, 5},
		{"model b, 4", OpenAIConfig{Model: "b", Dimensions: 4}, 4},
	} {
		before := srv.Requests()
		vs, err := c.Wrap(newOpenAI(t, srv, tt.cfg)).Embed(context.Background(), text)
		require.NoError(t, err, tt.name)
		require.Len(t, vs[0], tt.dim)
		require.Equal(t, before+1, srv.Requests(), "%s: a key of its own", tt.name)
	}
	// Another provider with the same model name and dimension.
	h4 := newHash(t, HashConfig{Dimension: 4})
	vs, err := c.Wrap(h4).Embed(context.Background(), text)
	require.NoError(t, err)
	want, err := h4.Embed(context.Background(), text)
	require.NoError(t, err)
	require.Equal(t, want, vs)
}

func TestCacheProbe(t *testing.T) {
	srv := newFake(t, openaitest.Config{Dimension: 12})
	c := openCache(t, filepath.Join(t.TempDir(), "cache.db"), CacheConfig{})
	e := c.Wrap(newOpenAI(t, srv, OpenAIConfig{}))
	ts := texts(3)
	_, err := e.Embed(context.Background(), ts)
	require.NoError(t, err)
	require.Equal(t, 2, srv.Requests(), "a probe for the dimension, then the texts")
	// A fresh embedder (a restart) probes once, then hits.
	e = c.Wrap(newOpenAI(t, srv, OpenAIConfig{}))
	vs, err := e.Embed(context.Background(), ts)
	require.NoError(t, err)
	requireVectors(t, ts, 12, vs)
	require.Equal(t, 3, srv.Requests())

	// An embedder that cannot probe: its first call misses, then it hits.
	g := &noProbe{Embedder: newOpenAI(t, srv, OpenAIConfig{Model: "m2"})}
	e = c.Wrap(g)
	_, err = e.Embed(context.Background(), ts)
	require.NoError(t, err)
	require.Equal(t, 4, srv.Requests())
	_, err = e.Embed(context.Background(), ts)
	require.NoError(t, err)
	require.Equal(t, 4, srv.Requests())
}

// noProbe hides the Prober of an embedder.
type noProbe struct{ Embedder }

func TestCacheCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.db")
	h := newHash(t, HashConfig{Dimension: 4})
	ts := []string{"wing lift", "boundary layer", "shock wave", "heat transfer", "flutter"}
	want, err := h.Embed(context.Background(), ts)
	require.NoError(t, err)
	m := NewMetrics()
	c := openCache(t, path, CacheConfig{Metrics: m})
	e := c.Wrap(h)
	_, err = e.Embed(context.Background(), ts)
	require.NoError(t, err)

	// Damage four entries in four ways, behind the cache's back.
	nan := encodeCacheValue([]float32{float32(math.NaN()), 0, 0, 0}) // with a valid CRC
	damage := map[string]func(v []byte) []byte{
		ts[0]: func(v []byte) []byte { v[7] ^= 1; return v }, // a flipped bit: CRC mismatch
		ts[1]: func(v []byte) []byte { return v[:len(v)-4] }, // truncated
		ts[2]: func(v []byte) []byte { v[0] = 9; return v },  // unknown version
		ts[3]: func([]byte) []byte { return nan },            // NaN
	}
	bucket := e.bucket(4)
	require.NoError(t, c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for text, f := range damage {
			key := sha256.Sum256([]byte(text))
			v := append([]byte(nil), b.Get(key[:])...)
			if err := b.Put(key[:], f(v)); err != nil {
				return err
			}
		}
		return nil
	}))

	counting := &countingEmbedder{Embedder: h}
	e = c.Wrap(counting)
	hits := testutil.ToFloat64(m.cacheHits)
	vs, err := e.Embed(context.Background(), ts)
	require.NoError(t, err)
	require.Equal(t, want, vs, "corrupt entries are never returned")
	require.Equal(t, [][]string{ts[:4]}, counting.calls, "the corrupt ones were re-embedded")
	require.Equal(t, hits+1, testutil.ToFloat64(m.cacheHits))

	// ...and overwritten.
	vs, err = e.Embed(context.Background(), ts)
	require.NoError(t, err)
	require.Equal(t, want, vs)
	require.Len(t, counting.calls, 1)
}

type countingEmbedder struct {
	Embedder
	calls [][]string
}

// Provider is the wrapped one's, so that the cache keys are the same.
func (c *countingEmbedder) Provider() string { return providerOf(c.Embedder) }

func (c *countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	c.calls = append(c.calls, append([]string(nil), texts...))
	return c.Embedder.Embed(ctx, texts)
}

func TestCacheValueFormat(t *testing.T) {
	v := []float32{1, -2.5, 0}
	b := encodeCacheValue(v)
	require.Len(t, b, 5+12)
	require.Equal(t, byte(1), b[0])
	require.Equal(t, math.Float32bits(-2.5), binary.LittleEndian.Uint32(b[9:]))
	require.Equal(t, v, decodeCacheValue(b, 3))
	require.Nil(t, decodeCacheValue(b, 4), "other dimension")
	require.Nil(t, decodeCacheValue(nil, 3))
}

func TestCacheErrors(t *testing.T) {
	dir := t.TempDir()
	srv := newFake(t, openaitest.Config{})
	c := openCache(t, filepath.Join(dir, "cache.db"), CacheConfig{})
	e := c.Wrap(newOpenAI(t, srv, OpenAIConfig{Dimensions: 4}))

	// A text error keeps the caller's index, hits before it or not.
	_, err := e.Embed(context.Background(), []string{"cached"})
	require.NoError(t, err)
	_, err = e.Embed(context.Background(), []string{"cached", "new", "", "x"})
	var te *TextError
	require.ErrorAs(t, err, &te)
	require.Equal(t, 2, te.Index)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = e.Embed(ctx, []string{"cached"})
	require.ErrorIs(t, err, context.Canceled)

	// Another process's lock.
	_, err = OpenCache(filepath.Join(dir, "cache.db"), CacheConfig{LockTimeout: 50 * time.Millisecond})
	require.Error(t, err)

	// A bbolt file that is not a cache.
	other := filepath.Join(dir, "other.db")
	db, err := bolt.Open(other, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("docs")); return err }))
	require.NoError(t, db.Close())
	_, err = OpenCache(other, CacheConfig{})
	require.ErrorContains(t, err, "not an embedding cache")

	_, err = OpenCache(filepath.Join(dir, "x.db"), CacheConfig{FileMode: 0o4777})
	require.ErrorIs(t, err, ErrInvalidConfig)
}
