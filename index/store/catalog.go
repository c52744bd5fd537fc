package store

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Catalog is a small durable map from collection name to the collection's
// config, in a bbolt file of its own. Values are opaque bytes (the index
// stores JSON). Every write is committed and fsynced before it returns.
// Catalog is safe for concurrent use; writes are serialised.
type Catalog struct {
	db     *bolt.DB
	path   string
	log    *slog.Logger
	closed atomic.Bool
}

// OpenCatalog opens the catalog file at path, creating it if it does not
// exist. Config.MaxBatchOps is unused, and InitialMmapSize defaults to
// bbolt's own (small) map. The errors are those of Open.
func OpenCatalog(path string, cfg Config) (*Catalog, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mmap := cfg.InitialMmapSize // a catalog is small: bbolt's default unless asked
	cfg = cfg.withDefaults()
	cfg.InitialMmapSize = mmap
	start := time.Now()
	db, created, err := openDB(path, cfg, catalogKind)
	if err != nil {
		return nil, err
	}
	msg := "catalog opened"
	if created {
		msg = "catalog created"
	}
	cfg.Logger.Info(msg, "path", path, "dur", time.Since(start))
	return &Catalog{db: db, path: path, log: cfg.Logger}, nil
}

// Put stores value under name, replacing any value there. A name is 1 to
// MaxIDLen bytes of UTF-8.
func (c *Catalog) Put(name string, value []byte) error {
	if why := validKey("catalog name", name); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, why)
	}
	v := bytes.Clone(value)
	if v == nil {
		v = []byte{}
	}
	return c.update(func(b *bolt.Bucket) error { return b.Put([]byte(name), v) })
}

// Delete removes name; a missing name is not an error.
func (c *Catalog) Delete(name string) error {
	if why := validKey("catalog name", name); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidArgument, why)
	}
	return c.update(func(b *bolt.Bucket) error { return b.Delete([]byte(name)) })
}

// Get returns the value stored under name, and whether there is one.
func (c *Catalog) Get(name string) (value []byte, ok bool, err error) {
	err = c.view(func(b *bolt.Bucket) error {
		if v := b.Get([]byte(name)); v != nil {
			value, ok = bytes.Clone(v), true
			if value == nil {
				value = []byte{}
			}
		}
		return nil
	})
	return value, ok, err
}

// List returns every name, sorted.
func (c *Catalog) List() ([]string, error) {
	var names []string
	err := c.view(func(b *bolt.Bucket) error {
		return b.ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	return names, err
}

// Close closes the file, after running reads and writes finish. Every later
// call returns ErrClosed, Close included.
func (c *Catalog) Close() error {
	if c.closed.Swap(true) {
		return ErrClosed
	}
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", c.path, err)
	}
	c.log.Info("catalog closed", "path", c.path)
	return nil
}

func (c *Catalog) update(fn func(b *bolt.Bucket) error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	err := c.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketCollections)) })
	if err != nil {
		return fmt.Errorf("store: catalog %s: %w", c.path, mapClosed(err))
	}
	return nil
}

func (c *Catalog) view(fn func(b *bolt.Bucket) error) error {
	if c.closed.Load() {
		return ErrClosed
	}
	err := c.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketCollections)) })
	if err != nil {
		return fmt.Errorf("store: catalog %s: %w", c.path, mapClosed(err))
	}
	return nil
}
