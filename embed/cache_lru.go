package embed

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// The size bound of Cache: bookkeeping in each write transaction, the
// recording of uses, eviction, and the upgrade from format version 1. The
// format is described at cacheFormat in cache.go.

const (
	// maxPendingTouches is how many used entries a Cache remembers before
	// it writes their recency on its own, without waiting for the next
	// write: about 200 KB of memory, and one small write transaction per
	// maxPendingTouches cache hits at worst.
	maxPendingTouches = 4096
	// evictPerTx bounds the entries one write transaction evicts, so that
	// shrinking a large file (after an upgrade, or a lower MaxBytes) goes
	// in transactions of bounded memory. A write adds far fewer.
	evictPerTx = 10_000
)

// cacheEntryCost estimates the bytes that an entry whose value is n bytes
// long takes in a file of pageSize pages, the quantity MaxBytes bounds:
//
//   - a value of more than half a page (a vector of more than about 500
//     floats on 4 KiB pages) sits alone in a run of whole pages, with its
//     key and bbolt's page and element headers;
//   - smaller ones share pages that, with random keys (SHA-256), are about
//     two thirds full once they have split, so they count 3/2 of their
//     key, value and element header;
//   - the index adds its used entry (a random key, 3/2 of 36+12+16 bytes)
//     and its lru entry (keys in ascending order, pages filled: 44+16).
//
// TestCacheFileBounded measures the file against this estimate.
func cacheEntryCost(n, pageSize int) uint32 {
	const (
		elementHeader = 16
		pageHeader    = 16
		index         = (4+sha256.Size+12+elementHeader)*3/2 + 8 + 4 + sha256.Size + elementHeader
	)
	v := sha256.Size + n + elementHeader
	if v > pageSize/2 {
		v = (v + pageHeader + pageSize - 1) / pageSize * pageSize
	} else {
		v = v * 3 / 2
	}
	return uint32(min(v+index, math.MaxUint32))
}

// cacheRef names an entry in the index: its bucket's id and its key.
type cacheRef [4 + sha256.Size]byte

func newCacheRef(id uint32, key [sha256.Size]byte) cacheRef {
	var r cacheRef
	binary.BigEndian.PutUint32(r[:4], id)
	copy(r[4:], key[:])
	return r
}

// lruKey is the key of ref's entry in the lru bucket at generation gen.
func lruKey(gen uint64, ref []byte) []byte {
	k := make([]byte, 8+len(ref))
	binary.BigEndian.PutUint64(k, gen)
	copy(k[8:], ref)
	return k
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// bucketID returns the id of the embedder bucket name, if it has one.
func bucketID(tx *bolt.Tx, name []byte) (uint32, bool) {
	names := tx.Bucket(cacheBucketNames)
	if names == nil {
		return 0, false
	}
	v := names.Get(name)
	if len(v) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(v), true
}

// cacheTx is the bookkeeping of one transaction: read by beginCacheTx,
// changed by the methods of a write transaction and written by save.
type cacheTx struct {
	tx                  *bolt.Tx
	meta, names, ids    *bolt.Bucket
	used, lru           *bolt.Bucket
	gen, bytes, entries uint64 // gen: this transaction's generation
	nextID              uint32
	pageSize            int
	evicted             uint64
	evictedFrom         map[uint32]bool // buckets that lost entries
	accountingReset     bool
}

// beginCacheTx reads the bookkeeping; in a write transaction, gen is the
// new generation.
func beginCacheTx(tx *bolt.Tx) (*cacheTx, error) {
	t := &cacheTx{
		tx:       tx,
		pageSize: tx.DB().Info().PageSize,
		meta:     tx.Bucket(cacheBucketMeta),
		names:    tx.Bucket(cacheBucketNames),
		ids:      tx.Bucket(cacheBucketIDs),
		used:     tx.Bucket(cacheBucketUsed),
		lru:      tx.Bucket(cacheBucketLRU),
	}
	if t.meta == nil || t.names == nil || t.ids == nil || t.used == nil || t.lru == nil {
		return nil, errors.New("damaged file: a bucket of the index is missing")
	}
	gen, bytes, entries, next := t.meta.Get(cacheKeyGen), t.meta.Get(cacheKeyBytes), t.meta.Get(cacheKeyEntries), t.meta.Get(cacheKeyNextID)
	if len(gen) != 8 || len(bytes) != 8 || len(entries) != 8 || len(next) != 4 {
		return nil, errors.New("damaged file: the meta bucket's bookkeeping is missing or malformed")
	}
	t.gen = binary.BigEndian.Uint64(gen)
	t.bytes = binary.BigEndian.Uint64(bytes)
	t.entries = binary.BigEndian.Uint64(entries)
	t.nextID = binary.BigEndian.Uint32(next)
	if tx.Writable() {
		t.gen++
		// Its keys come in ascending order, removed from the front and
		// added at the end: pages need no room for inserts.
		t.lru.FillPercent = 1
	}
	return t, nil
}

// save writes the bookkeeping back.
func (t *cacheTx) save() error {
	return errors.Join(
		t.meta.Put(cacheKeyGen, be64(t.gen)),
		t.meta.Put(cacheKeyBytes, be64(t.bytes)),
		t.meta.Put(cacheKeyEntries, be64(t.entries)),
		t.meta.Put(cacheKeyNextID, be32(t.nextID)),
	)
}

// bucket returns the id and the bucket of the embedder bucket name,
// creating both if needed.
func (t *cacheTx) bucket(name []byte) (uint32, *bolt.Bucket, error) {
	b, err := t.tx.CreateBucketIfNotExists(name)
	if err != nil {
		return 0, nil, fmt.Errorf("bucket: %w", err)
	}
	if v := t.names.Get(name); len(v) == 4 {
		return binary.BigEndian.Uint32(v), b, nil
	}
	id := t.nextID
	if id == math.MaxUint32 {
		return 0, nil, errors.New("out of bucket ids: delete the file")
	}
	t.nextID++
	if err := errors.Join(t.names.Put(name, be32(id)), t.ids.Put(be32(id), name)); err != nil {
		return 0, nil, err
	}
	return id, b, nil
}

// forget drops the index of the entry ref, if it has one, and its size
// from the totals.
func (t *cacheTx) forget(ref []byte) error {
	u := t.used.Get(ref)
	if len(u) != 12 {
		return nil
	}
	gen, size := binary.BigEndian.Uint64(u), binary.BigEndian.Uint32(u[8:])
	t.bytes -= min(uint64(size), t.bytes)
	t.entries -= min(1, t.entries)
	return errors.Join(t.lru.Delete(lruKey(gen, ref)), t.used.Delete(ref))
}

// index records the entry ref, of size bytes, as used now.
func (t *cacheTx) index(ref []byte, size uint32) error {
	u := binary.BigEndian.AppendUint32(be64(t.gen), size)
	t.bytes += uint64(size)
	t.entries++
	return errors.Join(t.used.Put(ref, u), t.lru.Put(lruKey(t.gen, ref), []byte{}))
}

// put stores val under key in the embedder bucket b of id id.
func (t *cacheTx) put(id uint32, b *bolt.Bucket, key [sha256.Size]byte, val []byte) error {
	ref := newCacheRef(id, key)
	if err := t.forget(ref[:]); err != nil { // an overwrite
		return err
	}
	if err := b.Put(key[:], val); err != nil {
		return err
	}
	return t.index(ref[:], cacheEntryCost(len(val), t.pageSize))
}

// touch moves the entry ref, if it is still there, to this generation.
func (t *cacheTx) touch(ref cacheRef) error {
	u := t.used.Get(ref[:])
	if len(u) != 12 || binary.BigEndian.Uint64(u) == t.gen {
		return nil
	}
	size := binary.BigEndian.Uint32(u[8:])
	if err := t.forget(ref[:]); err != nil {
		return err
	}
	return t.index(ref[:], size)
}

// evict removes the least recently used entries, at most limit of them,
// until the accounted size is at most target, then deletes the embedder
// buckets it emptied.
func (t *cacheTx) evict(target uint64, limit int) error {
	c := t.lru.Cursor()
	for n := 0; t.bytes > target && n < limit; n++ {
		k, _ := c.First()
		if k == nil {
			// Nothing left to evict: the totals count entries the index
			// does not know (not reached unless the file was damaged).
			t.bytes, t.entries, t.accountingReset = 0, 0, true
			break
		}
		if len(k) != 8+len(cacheRef{}) {
			if err := t.lru.Delete(k); err != nil {
				return err
			}
			continue
		}
		ref := bytes.Clone(k[8:])
		u := t.used.Get(ref)
		if len(u) != 12 || binary.BigEndian.Uint64(u) != binary.BigEndian.Uint64(k) {
			if err := t.lru.Delete(k); err != nil { // stale
				return err
			}
			continue
		}
		if err := t.forget(ref); err != nil {
			return err
		}
		id := binary.BigEndian.Uint32(ref)
		if name := t.ids.Get(ref[:4]); name == nil {
			continue
		} else if b := t.tx.Bucket(name); b != nil {
			if err := b.Delete(ref[4:]); err != nil {
				return err
			}
			if t.evictedFrom == nil {
				t.evictedFrom = make(map[uint32]bool)
			}
			t.evictedFrom[id] = true
		}
		t.evicted++
	}
	for id := range t.evictedFrom {
		name := bytes.Clone(t.ids.Get(be32(id)))
		if b := t.tx.Bucket(name); b != nil {
			if k, _ := b.Cursor().First(); k != nil {
				continue
			}
		}
		if err := errors.Join(t.tx.DeleteBucket(name), t.names.Delete(name), t.ids.Delete(be32(id))); err != nil {
			return err
		}
	}
	return nil
}

// createIndex makes the index buckets and the bookkeeping of an empty
// cache, and sets the version.
func createIndex(tx *bolt.Tx, meta *bolt.Bucket) error {
	for _, name := range [][]byte{cacheBucketNames, cacheBucketIDs, cacheBucketUsed, cacheBucketLRU} {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return errors.Join(
		meta.Put(cacheKeyVersion, be32(cacheVersion)),
		meta.Put(cacheKeyGen, be64(0)),
		meta.Put(cacheKeyBytes, be64(0)),
		meta.Put(cacheKeyEntries, be64(0)),
		meta.Put(cacheKeyNextID, be32(1)),
	)
}

// upgradeCache indexes the entries of a version 1 file, all at generation
// 0, in the transaction that opens it.
func upgradeCache(tx *bolt.Tx, meta *bolt.Bucket) error {
	var names [][]byte
	err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		if !bytes.Equal(name, cacheBucketMeta) {
			names = append(names, bytes.Clone(name))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := createIndex(tx, meta); err != nil {
		return err
	}
	t, err := beginCacheTx(tx)
	if err != nil {
		return err
	}
	t.gen = 0
	for _, name := range names {
		id, b, err := t.bucket(name)
		if err != nil {
			return err
		}
		err = b.ForEach(func(k, v []byte) error {
			if len(k) != sha256.Size {
				return nil
			}
			ref := newCacheRef(id, [sha256.Size]byte(k))
			return t.index(ref[:], cacheEntryCost(len(v), t.pageSize))
		})
		if err != nil {
			return fmt.Errorf("upgrade bucket %q: %w", name, err)
		}
	}
	return t.save()
}

// used records the use of entries; once maxPendingTouches have gathered,
// it writes them.
func (c *Cache) used(refs []cacheRef) {
	if len(refs) == 0 {
		return
	}
	c.touch.Lock()
	for _, r := range refs {
		c.touch.pending[r] = struct{}{}
	}
	full := len(c.touch.pending) >= maxPendingTouches
	c.touch.Unlock()
	if full {
		if err := c.write(nil); err != nil {
			c.logger.Warn("embed: cache write failed", "path", c.path, "err", err)
		}
	}
}

func (c *Cache) pendingTouches() int {
	c.touch.Lock()
	defer c.touch.Unlock()
	return len(c.touch.pending)
}

// evictTarget is where eviction stops: 63/64 of the bound, so that
// evictions come in batches (16 MiB at the default bound) rather than an
// entry or two per write, and a batch costs its write little (a few
// thousand small deletes).
func (c *Cache) evictTarget() uint64 { return c.maxBytes - c.maxBytes/64 }

// write runs fn, if not nil, in a write transaction of a new generation,
// after recording the pending uses and before evicting what goes over the
// bound, then updates the totals and the metrics.
func (c *Cache) write(fn func(t *cacheTx) error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.touch.Lock()
	touches := c.touch.pending
	c.touch.pending = make(map[cacheRef]struct{}, len(touches))
	c.touch.Unlock()

	var t *cacheTx
	err := c.db.Update(func(tx *bolt.Tx) error {
		var err error
		if t, err = beginCacheTx(tx); err != nil {
			return err
		}
		for r := range touches {
			if err := t.touch(r); err != nil {
				return err
			}
		}
		if fn != nil {
			if err := fn(t); err != nil {
				return err
			}
		}
		if t.bytes > c.maxBytes {
			if err := t.evict(c.evictTarget(), evictPerTx); err != nil {
				return fmt.Errorf("evict: %w", err)
			}
		}
		return t.save()
	})
	if err != nil {
		return err
	}
	if t.accountingReset {
		c.logger.Warn("embed: cache size accounting reset: entries without an index", "path", c.path)
	}
	c.evictions.Add(t.evicted)
	c.metrics.cacheEvicted(t.evicted)
	c.account(t)
	return nil
}

// account publishes the totals of t.
func (c *Cache) account(t *cacheTx) {
	c.bytes.Store(t.bytes)
	c.entries.Store(t.entries)
	c.metrics.cacheSize(t.bytes, t.entries)
}
