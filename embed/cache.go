package embed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Prober is implemented by embedders that learn their dimension from a
// provider (OpenAI without Dimensions): Probe returns the dimension, making
// a request if it is not known yet. Cached probes before its first lookup,
// since the dimension is part of the cache key.
type Prober interface {
	Probe(ctx context.Context) (int, error)
}

// probe returns e's dimension, probing it if it can and must.
func probe(ctx context.Context, e Embedder) (int, error) {
	if d := e.Dimension(); d > 0 {
		return d, nil
	}
	if p, ok := e.(Prober); ok {
		return p.Probe(ctx)
	}
	return 0, nil
}

// providerOf names the provider of e for cache keys: its Provider() if it
// has one (OpenAI: API type and base URL), else its Go type.
func providerOf(e Embedder) string {
	if p, ok := e.(interface{ Provider() string }); ok {
		return p.Provider()
	}
	return fmt.Sprintf("%T", e)
}

// The cache file's format. On-disk format; do not change.
//
// A bbolt file. Bucket "meta" holds format = "ragd-embed-cache", version =
// 2 (big-endian uint32) and the bookkeeping of the size bound, each a
// big-endian integer: gen (uint64, the generation: the number of write
// transactions so far), bytes (uint64, the accounted size of every entry),
// entries (uint64) and next_id (uint32, the id of the next embedder
// bucket).
//
// One bucket per embedder, named provider + 0x00 + model + 0x00 + decimal
// dimension (its "name"). In it, the key is the SHA-256 of the text (32
// bytes) and the value is
//
//	+---------+-----------------------+------------------------------+
//	| version | CRC-32C of the floats | dimension × float32, LE      |
//	| 1 byte  | 4 bytes, LE           | 4 × dimension bytes          |
//	+---------+-----------------------+------------------------------+
//
// A value of another version or length, a CRC mismatch or a non-finite
// float is a miss, and the entry is overwritten.
//
// The size bound's index, where ref = id (uint32 BE) + SHA-256 names an
// entry (36 bytes):
//
//	names   name → id (uint32 BE)
//	ids     id → name
//	used    ref → gen (uint64 BE) + size (uint32 BE): the generation of the
//	        entry's last store or use, and its accounted size (an estimate
//	        of its bytes in the file, cacheEntryCost)
//	lru     gen (uint64 BE) + ref → empty: the entries by last use, oldest
//	        first
//
// Version 1 had the meta keys format and version only, and no index;
// OpenCache upgrades such a file in place, giving every entry generation 0.
const (
	cacheFormat       = "ragd-embed-cache"
	cacheVersion      = 2
	cacheVersion1     = 1 // upgraded on open
	cacheValueVersion = 1
	cacheValueHeader  = 5
)

var (
	cacheBucketMeta  = []byte("meta")
	cacheBucketNames = []byte("names")
	cacheBucketIDs   = []byte("ids")
	cacheBucketUsed  = []byte("used")
	cacheBucketLRU   = []byte("lru")
	cacheKeyFormat   = []byte("format")
	cacheKeyVersion  = []byte("version")
	cacheKeyGen      = []byte("gen")
	cacheKeyBytes    = []byte("bytes")
	cacheKeyEntries  = []byte("entries")
	cacheKeyNextID   = []byte("next_id")
	castagnoli       = crc32.MakeTable(crc32.Castagnoli)
)

// DefaultCacheMaxBytes is CacheConfig.MaxBytes's default.
const DefaultCacheMaxBytes = 1 << 30

// CacheConfig configures OpenCache. The zero value is valid.
type CacheConfig struct {
	// MaxBytes bounds the cache: the accounted size of its entries, each
	// counted for an estimate of its bytes in the file (the vector, 4
	// bytes a float, plus its keys, its index and bbolt's page fill; see
	// cacheEntryCost). When a write takes the cache above MaxBytes, the
	// least recently used entries are evicted until it is under 63/64 of
	// it. The file is larger by the free pages bbolt keeps for its
	// copy-on-write transactions (it never shrinks, but reuses them) and
	// by its growth step: measured with a 64 MiB bound, the file's pages
	// peaked at 1.13× MaxBytes for vectors of 1,536 floats and 1.38× for
	// 256, and the file at 16 MiB more (bbolt grows it 16 MiB at a time,
	// and to a power of two below 16 MiB). Default 1 GiB: about 130,000
	// vectors of 1,536 floats or 600,000 of 256, far more than a working
	// set of queries, and small next to the disk of a machine that holds
	// the index. Lowering it takes effect on the next OpenCache, which
	// evicts down to it.
	MaxBytes int64
	// NoSync skips the fsync of each write. The cache is derived data, so a
	// crash of the machine costs re-embedding at worst, unless it leaves
	// the file unreadable (bbolt without fsync may), and then OpenCache
	// fails until the file is deleted. Default false.
	NoSync bool
	// FileMode of a new file. Default 0600: vectors leak their texts to an
	// inversion attack.
	FileMode os.FileMode
	// LockTimeout is how long OpenCache waits for another process's lock
	// on the file. Default 1 s.
	LockTimeout time.Duration
	// Logger receives a Warn when a write to the cache fails (the vectors
	// are still returned), and an Info when OpenCache upgrades or shrinks
	// the file. Default: discard.
	Logger *slog.Logger
	// Metrics, if set, counts hits, misses and evictions, and tracks the
	// accounted size and the number of entries.
	Metrics *Metrics
}

// DefaultCacheConfig returns the defaults.
func DefaultCacheConfig() CacheConfig { return CacheConfig{}.withDefaults() }

func (c CacheConfig) withDefaults() CacheConfig {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultCacheMaxBytes
	}
	if c.FileMode == 0 {
		c.FileMode = 0o600
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c CacheConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxBytes < 0:
		return fmt.Errorf("%w: cache: max bytes %d is negative", ErrInvalidConfig, c.MaxBytes)
	case c.FileMode&^os.ModePerm != 0:
		return fmt.Errorf("%w: cache: file mode %v has bits other than permissions", ErrInvalidConfig, c.FileMode)
	case c.LockTimeout < 0:
		return fmt.Errorf("%w: cache: lock timeout %v is negative", ErrInvalidConfig, c.LockTimeout)
	}
	return nil
}

// Cache is a file of vectors keyed by (provider, model, dimension,
// SHA-256 of the text), so that re-embedding an unchanged text makes no
// call: Wrap an Embedder with it. One file serves any number of embedders
// and models (each has its own bucket); a process opens it once.
//
// Its size is bounded (CacheConfig.MaxBytes) by evicting the least
// recently used entries, oldest generation first: each write transaction
// is a generation, and an entry records the generation of its last store
// or use. Uses are recorded in memory and written with the next write
// (before it evicts), or on their own once maxPendingTouches have
// gathered, or on Close; a crash loses only that recency. The size and
// the recency survive restarts. An embedder bucket emptied by eviction is
// deleted.
//
// Cache is safe for concurrent use.
type Cache struct {
	db       *bolt.DB
	path     string
	logger   *slog.Logger
	metrics  *Metrics
	maxBytes uint64
	closed   atomic.Bool

	bytes, entries atomic.Uint64 // as of the last commit
	evictions      atomic.Uint64 // since OpenCache

	wmu sync.Mutex // serialises write transactions with their accounting

	touch struct {
		sync.Mutex
		pending map[cacheRef]struct{} // guarded: entries used since the last write
	}
}

// OpenCache opens or creates the cache file at path. A file of format
// version 1 is upgraded in place, and a file above MaxBytes is shrunk to
// it, before OpenCache returns.
func OpenCache(path string, cfg CacheConfig) (c *Cache, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	// bbolt can fault or panic on a damaged file: an error, not a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			c, err = nil, fmt.Errorf("embed: cache %s: damaged file (delete it to start afresh): %v", path, r)
		}
	}()
	db, err = bolt.Open(path, cfg.FileMode, &bolt.Options{Timeout: cfg.LockTimeout, NoSync: cfg.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("embed: cache %s: %w", path, err)
	}
	c = &Cache{db: db, path: path, logger: cfg.Logger, metrics: cfg.Metrics, maxBytes: uint64(cfg.MaxBytes)}
	c.touch.pending = make(map[cacheRef]struct{})
	var upgraded bool
	if err := db.Update(func(tx *bolt.Tx) error {
		var err error
		upgraded, err = initCache(tx)
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("embed: cache %s: %w", path, err), db.Close())
	}
	if err := db.View(func(tx *bolt.Tx) error {
		t, err := beginCacheTx(tx)
		if err == nil {
			c.account(t)
		}
		return err
	}); err != nil {
		return nil, errors.Join(fmt.Errorf("embed: cache %s: %w", path, err), db.Close())
	}
	if upgraded {
		c.logger.Info("embed: cache upgraded to format version 2", "path", path, "entries", c.entries.Load(), "bytes", c.bytes.Load())
	}
	if c.bytes.Load() > c.maxBytes {
		before := c.bytes.Load()
		for c.bytes.Load() > c.maxBytes {
			if err := c.write(nil); err != nil {
				return nil, errors.Join(fmt.Errorf("embed: cache %s: evict: %w", path, err), db.Close())
			}
		}
		c.logger.Info("embed: cache shrunk to its bound", "path", path, "bytes", c.bytes.Load(), "before", before)
	}
	return c, nil
}

// initCache writes the meta bucket of a new file, or checks an old one's,
// upgrading a version 1 file; it reports whether it upgraded.
func initCache(tx *bolt.Tx) (upgraded bool, err error) {
	meta := tx.Bucket(cacheBucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return false, errors.New("a bbolt file that is not an embedding cache")
		}
		meta, err := tx.CreateBucket(cacheBucketMeta)
		if err != nil {
			return false, err
		}
		return false, errors.Join(meta.Put(cacheKeyFormat, []byte(cacheFormat)), createIndex(tx, meta))
	}
	if f := meta.Get(cacheKeyFormat); !bytes.Equal(f, []byte(cacheFormat)) {
		return false, fmt.Errorf("format %q, want %q", f, cacheFormat)
	}
	switch v := meta.Get(cacheKeyVersion); {
	case bytes.Equal(v, be32(cacheVersion)):
		return false, nil
	case bytes.Equal(v, be32(cacheVersion1)):
		return true, upgradeCache(tx, meta)
	default:
		return false, fmt.Errorf("version %x, this build reads %x", v, be32(cacheVersion))
	}
}

// Close writes the recency of the entries used since the last write and
// closes the file. Embed calls of its Cached embedders then fail with
// ErrClosed.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	var err error
	if c.pendingTouches() > 0 {
		err = c.write(nil)
	}
	return errors.Join(err, c.db.Close())
}

// CacheStats is a snapshot of a Cache's size.
type CacheStats struct {
	// Bytes is the accounted size of the entries (see
	// CacheConfig.MaxBytes), Entries their number.
	Bytes, Entries uint64
	// MaxBytes is the bound.
	MaxBytes uint64
	// Evictions counts the entries evicted since OpenCache.
	Evictions uint64
}

// Stats returns the cache's size as of its last write.
func (c *Cache) Stats() CacheStats {
	return CacheStats{Bytes: c.bytes.Load(), Entries: c.entries.Load(), MaxBytes: c.maxBytes, Evictions: c.evictions.Load()}
}

// Wrap returns an Embedder that serves e's vectors from the cache and
// stores the ones it has to compute.
func (c *Cache) Wrap(e Embedder) *Cached {
	return &Cached{cache: c, inner: e, provider: providerOf(e)}
}

// Cached is an Embedder behind a Cache. Embed looks every distinct text up
// (a corrupt entry is a miss), embeds the misses with the inner Embedder
// in one call, stores them, and returns every vector in order, each
// caller's slot its own slice. The dimension in the key comes from the
// inner embedder, probed first if it is a Prober that does not know it yet.
// A failed cache read or write is logged and costs only the call it would
// have saved.
//
// Cached is safe for concurrent use.
type Cached struct {
	cache    *Cache
	inner    Embedder
	provider string
}

var _ Embedder = (*Cached)(nil)

// Dimension returns the inner embedder's.
func (w *Cached) Dimension() int { return w.inner.Dimension() }

// Model returns the inner embedder's.
func (w *Cached) Model() string { return w.inner.Model() }

// Provider returns the inner embedder's provider name.
func (w *Cached) Provider() string { return w.provider }

// Probe returns the inner embedder's dimension, probing it if it can.
func (w *Cached) Probe(ctx context.Context) (int, error) { return probe(ctx, w.inner) }

func (w *Cached) bucket(dim int) []byte {
	return []byte(w.provider + "\x00" + w.inner.Model() + "\x00" + strconv.Itoa(dim))
}

// cacheEntry is one distinct text of a call.
type cacheEntry struct {
	key   [sha256.Size]byte
	first int       // its first index in the call's texts
	vec   []float32 // nil: a miss
}

// Embed returns one vector per text (see Cached).
func (w *Cached) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if w.cache.closed.Load() {
		return nil, ErrClosed
	}
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	dim, err := probe(ctx, w.inner)
	if err != nil {
		return nil, err
	}
	var entries []cacheEntry
	seen := make(map[[sha256.Size]byte]int, len(texts))
	pos := make([]int, len(texts)) // text -> entry
	for i, t := range texts {
		key := sha256.Sum256([]byte(t))
		e, ok := seen[key]
		if !ok {
			e = len(entries)
			seen[key] = e
			entries = append(entries, cacheEntry{key: key, first: i})
		}
		pos[i] = e
	}
	if dim > 0 {
		w.lookup(entries, dim)
	}
	var missTexts []string
	var missEntries []int
	for e := range entries {
		if entries[e].vec == nil {
			missTexts = append(missTexts, texts[entries[e].first])
			missEntries = append(missEntries, e)
		}
	}
	w.cache.metrics.cache(len(entries)-len(missTexts), len(missTexts))
	if len(missTexts) > 0 {
		vs, err := w.inner.Embed(ctx, missTexts)
		if err != nil {
			var te *TextError
			if errors.As(err, &te) && te.Index >= 0 && te.Index < len(missEntries) {
				return nil, &TextError{Index: entries[missEntries[te.Index]].first, Err: te.Err}
			}
			return nil, err
		}
		if len(vs) != len(missTexts) {
			return nil, fmt.Errorf("%w: cache: the embedder returned %d vectors for %d texts", ErrBadResponse, len(vs), len(missTexts))
		}
		if dim == 0 { // learned only now
			dim = len(vs[0])
		}
		for k, v := range vs {
			if len(v) != dim {
				return nil, fmt.Errorf("%w: cache: the embedder returned a vector of dimension %d, want %d", ErrBadResponse, len(v), dim)
			}
			entries[missEntries[k]].vec = v
		}
		w.store(entries, missEntries, dim)
	}
	out := make([][]float32, len(texts))
	used := make([]bool, len(entries))
	for i, e := range pos {
		v := entries[e].vec
		if used[e] {
			v = slices.Clone(v)
		}
		used[e] = true
		out[i] = v
	}
	return out, nil
}

// lookup fills the vec of the entries found, intact, in the cache, and
// records their use.
func (w *Cached) lookup(entries []cacheEntry, dim int) {
	var used []cacheRef
	err := w.cache.db.View(func(tx *bolt.Tx) error {
		name := w.bucket(dim)
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		id, ok := bucketID(tx, name)
		for e := range entries {
			entries[e].vec = decodeCacheValue(b.Get(entries[e].key[:]), dim)
			if entries[e].vec != nil && ok {
				used = append(used, newCacheRef(id, entries[e].key))
			}
		}
		return nil
	})
	if err != nil {
		w.cache.logger.Warn("embed: cache read failed", "path", w.cache.path, "err", err)
	}
	w.cache.used(used)
}

// store writes the given entries' vectors, evicting others if the cache
// goes over its bound.
func (w *Cached) store(entries []cacheEntry, which []int, dim int) {
	err := w.cache.write(func(t *cacheTx) error {
		id, b, err := t.bucket(w.bucket(dim))
		if err != nil {
			return err
		}
		for _, e := range which {
			if err := t.put(id, b, entries[e].key, encodeCacheValue(entries[e].vec)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.cache.logger.Warn("embed: cache write failed", "path", w.cache.path, "err", err)
	}
}

func encodeCacheValue(v []float32) []byte {
	buf := make([]byte, cacheValueHeader+4*len(v))
	buf[0] = cacheValueVersion
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[cacheValueHeader+4*i:], math.Float32bits(x))
	}
	binary.LittleEndian.PutUint32(buf[1:], crc32.Checksum(buf[cacheValueHeader:], castagnoli))
	return buf
}

// decodeCacheValue returns the vector of a value, or nil if the value is
// missing or not an intact vector of dim floats.
func decodeCacheValue(val []byte, dim int) []float32 {
	if len(val) != cacheValueHeader+4*dim || val[0] != cacheValueVersion ||
		binary.LittleEndian.Uint32(val[1:]) != crc32.Checksum(val[cacheValueHeader:], castagnoli) {
		return nil
	}
	v := make([]float32, dim)
	for i := range v {
		x := math.Float32frombits(binary.LittleEndian.Uint32(val[cacheValueHeader+4*i:]))
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
		v[i] = x
	}
	return v
}
