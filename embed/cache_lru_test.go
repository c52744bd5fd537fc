package embed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// entrySize is the accounted size of one vector of dim floats.
func entrySize(dim int) uint64 {
	return uint64(cacheEntryCost(cacheValueHeader+4*dim, os.Getpagesize()))
}

// words returns n distinct texts "<prefix> 0" … "<prefix> n-1".
func words(prefix string, n int) []string {
	ts := make([]string, n)
	for i := range ts {
		ts[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	return ts
}

// cached reports, for each text, whether the cache holds its vector for
// the embedder behind w, without recording a use.
func cached(t *testing.T, w *Cached, dim int, texts []string) []bool {
	t.Helper()
	in := make([]bool, len(texts))
	require.NoError(t, w.cache.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(w.bucket(dim))
		for i, text := range texts {
			key := sha256.Sum256([]byte(text))
			in[i] = b != nil && b.Get(key[:]) != nil
		}
		return nil
	}))
	return in
}

func count(in []bool) int {
	n := 0
	for _, v := range in {
		if v {
			n++
		}
	}
	return n
}

func all(in []bool, want bool) bool {
	for _, v := range in {
		if v != want {
			return false
		}
	}
	return true
}

// requireCacheInvariants checks the index against the entries: every
// entry of an embedder bucket is in used and lru once, at the same
// generation, with its size; the totals are their sums; every bucket has
// an id both ways.
func requireCacheInvariants(t *testing.T, c *Cache) {
	t.Helper()
	require.NoError(t, c.db.View(func(tx *bolt.Tx) error {
		ct, err := beginCacheTx(tx)
		require.NoError(t, err)
		var entries, size uint64
		err = tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			for _, own := range [][]byte{cacheBucketMeta, cacheBucketNames, cacheBucketIDs, cacheBucketUsed, cacheBucketLRU} {
				if bytes.Equal(name, own) {
					return nil
				}
			}
			id, ok := bucketID(tx, name)
			require.True(t, ok, "bucket %q has no id", name)
			require.Equal(t, name, ct.ids.Get(be32(id)))
			k, _ := b.Cursor().First()
			require.NotNil(t, k, "empty bucket %q kept", name)
			return b.ForEach(func(k, v []byte) error {
				ref := newCacheRef(id, [sha256.Size]byte(k))
				u := ct.used.Get(ref[:])
				require.Len(t, u, 12)
				gen, sz := binary.BigEndian.Uint64(u), binary.BigEndian.Uint32(u[8:])
				require.Equal(t, cacheEntryCost(len(v), c.db.Info().PageSize), sz)
				require.NotNil(t, ct.lru.Get(lruKey(gen, ref[:])), "entry not in lru at its generation")
				require.LessOrEqual(t, gen, ct.gen)
				entries++
				size += uint64(sz)
				return nil
			})
		})
		require.NoError(t, err)
		require.Equal(t, entries, ct.entries)
		require.Equal(t, size, ct.bytes)
		require.Equal(t, entries, uint64(ct.used.Stats().KeyN))
		require.Equal(t, entries, uint64(ct.lru.Stats().KeyN))
		require.Equal(t, ct.names.Stats().KeyN, ct.ids.Stats().KeyN)
		require.Equal(t, CacheStats{Bytes: ct.bytes, Entries: ct.entries, MaxBytes: c.maxBytes, Evictions: c.evictions.Load()}, c.Stats())
		return nil
	}))
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	const dim = 16
	path := filepath.Join(t.TempDir(), "cache.db")
	m := NewMetrics()
	max := int64(20 * entrySize(dim)) // room for 20; eviction down to 19
	c := openCache(t, path, CacheConfig{MaxBytes: max, Metrics: m})
	h := newHash(t, HashConfig{Dimension: dim})
	e := c.Wrap(h)
	ctx := context.Background()
	a, b, n := words("a", 10), words("b", 8), words("n", 6)

	_, err := e.Embed(ctx, a) // generation 1
	require.NoError(t, err)
	_, err = e.Embed(ctx, b) // 2
	require.NoError(t, err)
	require.Equal(t, CacheStats{Bytes: 18 * entrySize(dim), Entries: 18, MaxBytes: uint64(max)}, c.Stats())
	requireCacheInvariants(t, c)

	// Use a[:5]; the use is written with the next write, before it evicts.
	counting := &countingEmbedder{Embedder: h}
	e = c.Wrap(counting)
	_, err = e.Embed(ctx, a[:5])
	require.NoError(t, err)
	require.Empty(t, counting.calls, "hits")
	require.Equal(t, 5, c.pendingTouches())

	// 6 more make 24: the 5 least recently used go, a[5:], while a[:5],
	// used since, stays.
	_, err = e.Embed(ctx, n) // 3
	require.NoError(t, err)
	require.True(t, all(cached(t, e, dim, a[:5]), true), "recently used")
	require.True(t, all(cached(t, e, dim, a[5:]), false), "least recently used")
	require.True(t, all(cached(t, e, dim, n), true), "just stored")
	require.True(t, all(cached(t, e, dim, b), true))
	st := c.Stats()
	require.Equal(t, CacheStats{Bytes: 19 * entrySize(dim), Entries: 19, MaxBytes: uint64(max), Evictions: 5}, st)
	require.LessOrEqual(t, st.Bytes, uint64(max))
	require.Equal(t, 5.0, testutil.ToFloat64(m.cacheEvictions))
	require.Equal(t, float64(st.Bytes), testutil.ToFloat64(m.cacheBytes))
	require.Equal(t, 19.0, testutil.ToFloat64(m.cacheEntries))
	requireCacheInvariants(t, c)

	// An evicted text is a miss, embedded again.
	counting.calls = nil
	_, err = e.Embed(ctx, a[5:6])
	require.NoError(t, err)
	require.Equal(t, [][]string{a[5:6]}, counting.calls)
	requireCacheInvariants(t, c)
}

// TestCacheRestart checks that the size and the recency survive a
// restart, and that a lower bound shrinks the file on open.
func TestCacheRestart(t *testing.T) {
	const dim = 8
	path := filepath.Join(t.TempDir(), "cache.db")
	h := newHash(t, HashConfig{Dimension: dim})
	ctx := context.Background()
	old, recent := words("old", 30), words("recent", 10)

	c, err := OpenCache(path, CacheConfig{NoSync: true})
	require.NoError(t, err)
	e := c.Wrap(h)
	_, err = e.Embed(ctx, append(append([]string(nil), old...), recent...))
	require.NoError(t, err)
	_, err = e.Embed(ctx, words("newer", 10))
	require.NoError(t, err)
	_, err = e.Embed(ctx, recent) // hits, recorded on Close
	require.NoError(t, err)
	before := c.Stats()
	require.NoError(t, c.Close())

	c = openCache(t, path, CacheConfig{})
	require.Equal(t, before.Bytes, c.Stats().Bytes)
	require.Equal(t, uint64(50), c.Stats().Entries)
	requireCacheInvariants(t, c)
	require.NoError(t, c.Close())

	// Half the room: the 30 old ones, least recently used, go first.
	max := int64(25 * entrySize(dim))
	c = openCache(t, path, CacheConfig{MaxBytes: max})
	st := c.Stats()
	require.LessOrEqual(t, st.Bytes, uint64(max))
	require.Equal(t, st.Entries, 50-st.Evictions)
	e = c.Wrap(h)
	require.True(t, all(cached(t, e, dim, recent), true), "used last, kept")
	require.True(t, all(cached(t, e, dim, words("newer", 10)), true))
	require.Equal(t, 30-int(st.Evictions), count(cached(t, e, dim, old)), "only old ones evicted")
	requireCacheInvariants(t, c)
}

// TestCacheUpgrade opens a file of format version 1, as earlier builds
// wrote it: its entries are kept, indexed, and hit.
func TestCacheUpgrade(t *testing.T) {
	const dim = 4
	dir := t.TempDir()
	h := newHash(t, HashConfig{Dimension: dim})
	ts := words("kept", 12)
	vs, err := h.Embed(context.Background(), ts)
	require.NoError(t, err)
	name := []byte(providerOf(h) + "\x00" + h.Model() + "\x00" + fmt.Sprint(dim))
	writeV1 := func(path string) {
		db, err := bolt.Open(path, 0o600, nil)
		require.NoError(t, err)
		require.NoError(t, db.Update(func(tx *bolt.Tx) error {
			meta, err := tx.CreateBucket(cacheBucketMeta)
			require.NoError(t, err)
			require.NoError(t, meta.Put(cacheKeyFormat, []byte(cacheFormat)))
			require.NoError(t, meta.Put(cacheKeyVersion, be32(1)))
			b, err := tx.CreateBucket(name)
			require.NoError(t, err)
			for i, text := range ts {
				key := sha256.Sum256([]byte(text))
				require.NoError(t, b.Put(key[:], encodeCacheValue(vs[i])))
			}
			return nil
		}))
		require.NoError(t, db.Close())
	}

	path := filepath.Join(dir, "v1.db")
	writeV1(path)
	c := openCache(t, path, CacheConfig{})
	require.Equal(t, CacheStats{Bytes: 12 * entrySize(dim), Entries: 12, MaxBytes: DefaultCacheMaxBytes}, c.Stats())
	requireCacheInvariants(t, c)
	counting := &countingEmbedder{Embedder: h}
	got, err := c.Wrap(counting).Embed(context.Background(), ts)
	require.NoError(t, err)
	require.Equal(t, vs, got)
	require.Empty(t, counting.calls)
	require.NoError(t, c.db.View(func(tx *bolt.Tx) error {
		require.Equal(t, be32(cacheVersion), tx.Bucket(cacheBucketMeta).Get(cacheKeyVersion))
		return nil
	}))

	// A version 1 file over the bound is shrunk on open.
	path = filepath.Join(dir, "v1-large.db")
	writeV1(path)
	c = openCache(t, path, CacheConfig{MaxBytes: int64(5 * entrySize(dim))})
	require.LessOrEqual(t, c.Stats().Bytes, 5*entrySize(dim))
	require.Positive(t, c.Stats().Evictions)
	requireCacheInvariants(t, c)

	// A version this build does not know is refused.
	path = filepath.Join(dir, "v9.db")
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(cacheBucketMeta)
		require.NoError(t, err)
		return errorsJoin(meta.Put(cacheKeyFormat, []byte(cacheFormat)), meta.Put(cacheKeyVersion, be32(9)))
	}))
	require.NoError(t, db.Close())
	_, err = OpenCache(path, CacheConfig{})
	require.ErrorContains(t, err, "version 00000009")
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestCacheDropsEmptiedBuckets fills the cache with one model's vectors,
// then another's until the first has none left: its bucket goes too.
func TestCacheDropsEmptiedBuckets(t *testing.T) {
	const dim = 8
	c := openCache(t, filepath.Join(t.TempDir(), "cache.db"), CacheConfig{MaxBytes: int64(10 * entrySize(dim))})
	first := c.Wrap(newHash(t, HashConfig{Dimension: dim, Seed: 1}))
	second := c.Wrap(newHash(t, HashConfig{Dimension: dim, Seed: 2}))
	ctx := context.Background()
	_, err := first.Embed(ctx, words("first", 8))
	require.NoError(t, err)
	for i := range 4 {
		_, err = second.Embed(ctx, words(fmt.Sprint("second", i), 4))
		require.NoError(t, err)
	}
	require.NoError(t, c.db.View(func(tx *bolt.Tx) error {
		require.Nil(t, tx.Bucket(first.bucket(dim)), "emptied bucket deleted")
		_, ok := bucketID(tx, first.bucket(dim))
		require.False(t, ok)
		return nil
	}))
	requireCacheInvariants(t, c)
	// It comes back, with a new id, when the model is used again.
	_, err = first.Embed(ctx, words("first", 2))
	require.NoError(t, err)
	requireCacheInvariants(t, c)
}

// TestCacheUsesWrittenWithoutWrites checks that uses are written on their
// own once maxPendingTouches have gathered.
func TestCacheUsesWrittenWithoutWrites(t *testing.T) {
	c := openCache(t, filepath.Join(t.TempDir(), "cache.db"), CacheConfig{})
	refs := make([]cacheRef, maxPendingTouches-1)
	for i := range refs {
		binary.BigEndian.PutUint32(refs[i][4:], uint32(i)) // entries that do not exist: ignored
	}
	c.used(refs)
	require.Equal(t, maxPendingTouches-1, c.pendingTouches())
	c.used([]cacheRef{{1}})
	require.Zero(t, c.pendingTouches(), "written")
	requireCacheInvariants(t, c)
}

// TestCacheConcurrentBounded runs writers and readers of several models at
// once against a small bound.
func TestCacheConcurrentBounded(t *testing.T) {
	const dim = 16
	max := int64(40 * entrySize(dim))
	c := openCache(t, filepath.Join(t.TempDir(), "cache.db"), CacheConfig{MaxBytes: max})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		e := c.Wrap(newHash(t, HashConfig{Dimension: dim, Seed: uint64(g % 2)}))
		wg.Go(func() {
			for i := range 15 {
				ts := words(fmt.Sprintf("g%d i%d", g, i%5), 6)
				if _, err := e.Embed(context.Background(), ts); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.LessOrEqual(t, c.Stats().Bytes, uint64(max))
	require.Positive(t, c.Stats().Evictions)
	requireCacheInvariants(t, c)
}

// TestCacheFileBounded writes many times the bound through the cache and
// checks that the file stops growing: bbolt reuses the pages eviction
// frees. It logs the file's size against the bound, for the figures in
// CacheConfig.MaxBytes's documentation.
func TestCacheFileBounded(t *testing.T) {
	for _, dim := range []int{256, 1536} {
		t.Run(fmt.Sprint(dim), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache.db")
			max := int64(1 << 20)
			c := openCache(t, path, CacheConfig{MaxBytes: max})
			e := c.Wrap(newHash(t, HashConfig{Dimension: dim}))
			perCall := 64
			rounds := int(6 * max / int64(entrySize(dim)) / int64(perCall)) // 6× the bound in all
			var sizes []int64
			for r := range rounds {
				_, err := e.Embed(context.Background(), words(fmt.Sprint("r", r), perCall))
				require.NoError(t, err)
				if r == rounds/2 || r == rounds-1 { // 3× and 6×
					fi, err := os.Stat(path)
					require.NoError(t, err)
					sizes = append(sizes, fi.Size())
				}
			}
			st := c.Stats()
			require.LessOrEqual(t, st.Bytes, uint64(max))
			var pages int64
			require.NoError(t, c.db.View(func(tx *bolt.Tx) error { pages = tx.Size(); return nil }))
			t.Logf("dim %d: %d entries, accounted %d B (bound %d); pages %d B (%.2f× the bound); file %d B after 3× the bound written, %d B after 6×",
				dim, st.Entries, st.Bytes, max, pages, float64(pages)/float64(max), sizes[0], sizes[1])
			// At so small a bound the free pages of bbolt's copy-on-write
			// weigh much; see CacheConfig.MaxBytes for a larger one.
			require.Less(t, pages, 5*max/2, "pages bounded")
			require.Less(t, sizes[1], 3*max, "file bounded")
			require.LessOrEqual(t, sizes[1], sizes[0]+sizes[0]/4, "file stopped growing")
			requireCacheInvariants(t, c)
		})
	}
}

func TestCacheConfigMaxBytes(t *testing.T) {
	require.Equal(t, int64(DefaultCacheMaxBytes), DefaultCacheConfig().MaxBytes)
	_, err := OpenCache(filepath.Join(t.TempDir(), "x.db"), CacheConfig{MaxBytes: -1})
	require.ErrorIs(t, err, ErrInvalidConfig)
}
