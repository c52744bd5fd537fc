package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/ragd/ragd/internal/fsutil"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// fileKind describes one of the two kinds of file this package writes.
type fileKind struct {
	format  string
	buckets [][]byte // besides meta
	init    func(meta *bolt.Bucket) error
}

var storeKind = fileKind{
	format:  formatStore,
	buckets: [][]byte{bucketDocs, bucketIDs, bucketLog},
	init: func(meta *bolt.Bucket) error {
		return errors.Join(
			meta.Put(keyNextNum, u64Value(firstNum)),
			meta.Put(keyLastSeq, u64Value(0)),
			meta.Put(keyDocCount, u64Value(0)),
			meta.Put(keyLogFloor, u64Value(0)),
		)
	},
}

var catalogKind = fileKind{
	format:  formatCatalog,
	buckets: [][]byte{bucketCollections},
	init:    func(*bolt.Bucket) error { return nil },
}

// openDB opens or creates the bbolt file at path and checks, or writes, the
// meta bucket of kind. It returns whether the file was created.
//
// bbolt reads a damaged file through its memory map and can fault or panic
// on it; both are turned into a *CorruptionError here, so that a bad file is
// an error from Open and not a crash. (After a panic inside bbolt.Open the
// file is closed, releasing its lock, but bbolt's mapping of it leaks.)
func openDB(path string, cfg Config, kind fileKind) (db *bolt.DB, created bool, err error) {
	st, statErr := os.Stat(path)
	created = errors.Is(statErr, fs.ErrNotExist) || (statErr == nil && st.Size() == 0)

	var file *os.File // bbolt's, to release its lock if bbolt panics
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
				db = nil
			} else if file != nil {
				unlockFile(file)
				_ = file.Close()
			}
			err = &CorruptionError{Path: path, Reason: fmt.Sprintf("bbolt failed reading the file: %v", r)}
		}
	}()

	db, err = bolt.Open(path, cfg.FileMode, &bolt.Options{
		Timeout:         cfg.LockTimeout,
		NoSync:          cfg.NoSync,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: cfg.InitialMmapSize,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
	if err != nil {
		var pathErr *fs.PathError
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, false, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, cfg.LockTimeout)
		case errors.As(err, &pathErr):
			return nil, false, fmt.Errorf("store: open %s: %w", path, err)
		default:
			// bbolt's ErrInvalid, ErrChecksum, ErrVersionMismatch, "file size
			// too small", short reads of the meta pages.
			return nil, false, &CorruptionError{Path: path, Reason: "not a valid bbolt file", Err: err}
		}
	}
	if created {
		if err := fsutil.SyncDir(filepath.Dir(path)); err != nil {
			return nil, false, errors.Join(fmt.Errorf("store: open %s: %w", path, err), db.Close())
		}
	}
	if err := db.Update(func(tx *bolt.Tx) error { return checkOrInit(tx, path, kind) }); err != nil {
		return nil, false, errors.Join(err, db.Close())
	}
	return db, created, nil
}

// checkOrInit initialises an empty file as kind, or checks that a non-empty
// one is of kind, in a version this package reads, with every bucket.
func checkOrInit(tx *bolt.Tx, path string, kind fileKind) error {
	// A truncated file whose meta page points past its end would fault on
	// first access; refuse it up front.
	if st, err := os.Stat(path); err == nil && st.Size() < tx.Size() {
		return &CorruptionError{Path: path, Reason: fmt.Sprintf("file of %d bytes is shorter than the %d its meta page describes", st.Size(), tx.Size())}
	}
	empty := true
	if err := tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil }); err != nil {
		return err
	}
	if empty {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		for _, name := range kind.buckets {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], schemaVersion)
		return errors.Join(
			meta.Put(keyFormat, []byte(kind.format)),
			meta.Put(keyVersion, v[:]),
			kind.init(meta),
		)
	}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("%w: %s: a bbolt file without ragd's meta bucket", ErrNotStore, path)
	}
	if f := meta.Get(keyFormat); !bytes.Equal(f, []byte(kind.format)) {
		return fmt.Errorf("%w: %s: format %q, want %q", ErrNotStore, path, f, kind.format)
	}
	v := meta.Get(keyVersion)
	if len(v) != 4 {
		return &CorruptionError{Path: path, Where: "meta[version]", Reason: fmt.Sprintf("value of %d bytes, want 4", len(v))}
	}
	switch ver := binary.BigEndian.Uint32(v); {
	case ver > schemaVersion:
		return fmt.Errorf("%w: %s has version %d, this build reads up to %d", ErrUnsupportedVersion, path, ver, schemaVersion)
	case ver < 1:
		return &CorruptionError{Path: path, Where: "meta[version]", Reason: "version 0"}
	}
	for _, name := range kind.buckets {
		if tx.Bucket(name) == nil {
			return &CorruptionError{Path: path, Reason: fmt.Sprintf("bucket %q is missing", name)}
		}
	}
	return nil
}

// metaU64 reads a u64 counter from the meta bucket.
func metaU64(meta *bolt.Bucket, path string, key []byte) (uint64, error) {
	v := meta.Get(key)
	if len(v) != 8 {
		return 0, &CorruptionError{Path: path, Where: fmt.Sprintf("meta[%s]", key), Reason: fmt.Sprintf("value of %d bytes, want 8", len(v))}
	}
	return binary.BigEndian.Uint64(v), nil
}

// mapClosed turns bbolt's "database not open" into ErrClosed.
func mapClosed(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}
