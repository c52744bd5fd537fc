package index

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ragd/ragd/index/store"
)

// Index is the set of collections under one directory:
//
//	dir/catalog.db                              collection configs (bbolt)
//	dir/collections/<name>/shard-NNN/store.db   documents and change log (bbolt)
//	dir/collections/<name>/shard-NNN/graph.hnsw graph snapshot
//	dir/collections/<name>/shard-NNN/text/      text index (bleve)
//
// It is safe for concurrent use. Two background goroutines look after the
// shards: one snapshots their graphs; the other (maintenance) compacts
// graphs by Config's tombstone policy and retries failed repairs. Close
// stops them and snapshots everything.
type Index struct {
	dir     string
	cfg     Config
	catalog *store.Catalog

	mu struct {
		sync.RWMutex
		collections map[string]*Collection // guarded by mu
		closed      bool                   // guarded by mu
	}
	// ddl serialises creating and dropping collections.
	ddl sync.Mutex

	stop chan struct{}
	done sync.WaitGroup
	// wake (capacity 1) asks the maintenance goroutine for a pass.
	wake chan struct{}
}

// maintainTick is how often the maintenance goroutine looks at every shard
// without being woken: it retries failed repairs on it.
const maintainTick = time.Second

const catalogFile = "catalog.db"

// Open opens the index in dir, creating it if needed, and opens every
// collection in it, recovering their shards (see the package doc).
func Open(dir string, cfg Config) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(filepath.Join(dir, "collections"), 0o755); err != nil {
		return nil, fmt.Errorf("index: create directory: %w", err)
	}
	cat, err := store.OpenCatalog(filepath.Join(dir, catalogFile), store.Config{NoSync: cfg.NoSync, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("index: open catalog: %w", err)
	}
	ix := &Index{dir: dir, cfg: cfg, catalog: cat, stop: make(chan struct{}), wake: make(chan struct{}, 1)}
	ix.mu.collections = make(map[string]*Collection)
	names, err := cat.List()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("index: read catalog: %w", err), cat.Close())
	}
	for _, name := range names {
		raw, _, err := cat.Get(name)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("index: read catalog: %w", err), ix.closeAll())
		}
		cc, err := decodeCatalogEntry(raw)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("%w: catalog entry %q: %v", ErrCorrupt, name, err), ix.closeAll())
		}
		c, err := ix.openCollection(cc)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("index: open collection %q: %w", name, err), ix.closeAll())
		}
		ix.mu.collections[name] = c
	}
	ix.removeOrphans(names)
	if cfg.SnapshotInterval > 0 {
		ix.done.Add(1)
		go ix.snapshotLoop()
	}
	ix.done.Add(1)
	go ix.maintainLoop()
	ix.wakeMaintenance() // snapshots may hold tombstones
	return ix, nil
}

// removeOrphans deletes collection folders the catalog does not name: left
// by a crash in the middle of a create or a drop.
func (ix *Index) removeOrphans(names []string) {
	entries, err := os.ReadDir(filepath.Join(ix.dir, "collections"))
	if err != nil {
		return
	}
	for _, e := range entries {
		if !slices.Contains(names, e.Name()) {
			path := filepath.Join(ix.dir, "collections", e.Name())
			ix.cfg.Logger.Warn("removing a collection folder the catalog does not name", "path", path)
			_ = os.RemoveAll(path)
		}
	}
}

func (ix *Index) collectionDir(name string) string {
	return filepath.Join(ix.dir, "collections", name)
}

func (ix *Index) openCollection(cc CollectionConfig) (*Collection, error) {
	c := &Collection{idx: ix, cfg: cc, dir: ix.collectionDir(cc.Name)}
	if cc.Fusion != nil {
		f := *cc.Fusion
		c.fusion.Store(&f)
	}
	c.shards = make([]*shard, cc.Shards)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i := range cc.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh, err := openShard(filepath.Join(c.dir, fmt.Sprintf("shard-%03d", i)), i, cc, ix.cfg, ix.wakeMaintenance)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("shard %d: %w", i, err))
				return
			}
			c.shards[i] = sh
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, sh := range c.shards {
			if sh != nil {
				err = errors.Join(err, sh.closeFiles())
			}
		}
		return nil, err
	}
	return c, nil
}

// CreateCollection creates a collection. It fails with ErrExists if the
// name is taken, ErrInvalidArgument if the config is bad.
func (ix *Index) CreateCollection(ctx context.Context, cc CollectionConfig) (*Collection, error) {
	if err := cc.Validate(); err != nil {
		return nil, err
	}
	cc = cc.withDefaults()
	cc.CreatedAt = time.Now().UTC().Truncate(time.Millisecond)
	ix.ddl.Lock()
	defer ix.ddl.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ix.mu.RLock()
	_, exists := ix.mu.collections[cc.Name]
	closed := ix.mu.closed
	ix.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if exists {
		return nil, fmt.Errorf("%w: collection %q", ErrExists, cc.Name)
	}
	// Folders first, the catalog entry last: a crash in between leaves an
	// orphan folder that the next Open removes.
	_ = os.RemoveAll(ix.collectionDir(cc.Name))
	c, err := ix.openCollection(cc)
	if err != nil {
		return nil, errors.Join(err, os.RemoveAll(ix.collectionDir(cc.Name)))
	}
	raw, err := encodeCatalogEntry(cc)
	if err == nil {
		err = ix.catalog.Put(cc.Name, raw)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("index: record collection: %w", err), c.close(false), os.RemoveAll(c.dir))
	}
	ix.mu.Lock()
	ix.mu.collections[cc.Name] = c
	ix.mu.Unlock()
	ix.cfg.Logger.Info("collection created", "collection", cc.Name, "shards", cc.Shards, "dimension", cc.Dimension)
	return c, nil
}

// setFusionDefault records a collection's default fusion in the catalog,
// then makes searches use it.
func (ix *Index) setFusionDefault(c *Collection, f *FusionDefault) error {
	ix.ddl.Lock()
	defer ix.ddl.Unlock()
	ix.mu.RLock()
	cur, ok := ix.mu.collections[c.cfg.Name]
	ix.mu.RUnlock()
	if !ok || cur != c {
		return fmt.Errorf("%w: collection %q was dropped", ErrClosed, c.cfg.Name)
	}
	cc := c.Config()
	x := *f
	cc.Fusion = &x
	raw, err := encodeCatalogEntry(cc)
	if err == nil {
		err = ix.catalog.Put(cc.Name, raw)
	}
	if err != nil {
		return fmt.Errorf("index: record the fusion of %q: %w", cc.Name, err)
	}
	c.fusion.Store(&x)
	return nil
}

// Collection returns the named collection, or ErrNotFound.
func (ix *Index) Collection(name string) (*Collection, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.mu.closed {
		return nil, ErrClosed
	}
	c, ok := ix.mu.collections[name]
	if !ok {
		return nil, fmt.Errorf("%w: collection %q", ErrNotFound, name)
	}
	return c, nil
}

// Collections returns the collections' configs, sorted by name.
func (ix *Index) Collections() []CollectionConfig {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	out := make([]CollectionConfig, 0, len(ix.mu.collections))
	for _, c := range ix.mu.collections {
		out = append(out, c.Config())
	}
	slices.SortFunc(out, func(a, b CollectionConfig) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// DropCollection deletes a collection and every file of it. Operations in
// flight on it finish first; later ones get ErrClosed.
func (ix *Index) DropCollection(ctx context.Context, name string) error {
	ix.ddl.Lock()
	defer ix.ddl.Unlock()
	ix.mu.Lock()
	c, ok := ix.mu.collections[name]
	if ok {
		delete(ix.mu.collections, name)
	}
	ix.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: collection %q", ErrNotFound, name)
	}
	// The catalog entry goes first: a crash after it leaves an orphan folder
	// that the next Open removes, never a collection with missing files.
	err := ix.catalog.Delete(name)
	err = errors.Join(err, c.close(false), os.RemoveAll(c.dir))
	if err != nil {
		return fmt.Errorf("index: drop collection %q: %w", name, err)
	}
	ix.cfg.Logger.Info("collection dropped", "collection", name)
	return nil
}

// Close snapshots and closes every collection. The index is unusable after.
func (ix *Index) Close() error {
	ix.mu.Lock()
	if ix.mu.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.mu.closed = true
	ix.mu.Unlock()
	close(ix.stop)
	ix.done.Wait()
	return ix.closeAll()
}

func (ix *Index) closeAll() error {
	ix.ddl.Lock()
	defer ix.ddl.Unlock()
	var errs []error
	for _, c := range ix.mu.collections {
		errs = append(errs, c.close(true))
	}
	errs = append(errs, ix.catalog.Close())
	return errors.Join(errs...)
}

func (ix *Index) snapshotLoop() {
	defer ix.done.Done()
	t := time.NewTicker(ix.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-ix.stop:
			return
		case <-t.C:
		}
		ix.mu.RLock()
		cs := make([]*Collection, 0, len(ix.mu.collections))
		for _, c := range ix.mu.collections {
			cs = append(cs, c)
		}
		ix.mu.RUnlock()
		for _, c := range cs {
			if err := c.snapshot(); err != nil {
				ix.cfg.Logger.Error("snapshot failed", "collection", c.cfg.Name, "err", err)
			}
		}
	}
}

// wakeMaintenance asks the maintenance goroutine for a pass; it never
// blocks.
func (ix *Index) wakeMaintenance() {
	select {
	case ix.wake <- struct{}{}:
	default:
	}
}

// maintainLoop compacts the shards' graphs by the tombstone policy and
// retries failed repairs: woken by the writes that make tombstones, and
// once a maintainTick.
func (ix *Index) maintainLoop() {
	defer ix.done.Done()
	t := time.NewTicker(maintainTick)
	defer t.Stop()
	for {
		select {
		case <-ix.stop:
			return
		case <-t.C:
		case <-ix.wake:
		}
		ix.mu.RLock()
		cs := make([]*Collection, 0, len(ix.mu.collections))
		for _, c := range ix.mu.collections {
			cs = append(cs, c)
		}
		ix.mu.RUnlock()
		for more := true; more; {
			more = false
			for _, c := range cs {
				if c.maintain(ix.stop) {
					more = true
				}
			}
		}
	}
}
