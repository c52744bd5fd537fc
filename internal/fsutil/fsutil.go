// Package fsutil holds the file-system helpers that make ragd's files crash
// safe: every derived file (graph snapshots, configs) is written to a
// temporary name, fsynced, renamed over the target and the directory fsynced,
// so a reader sees either the old file or the complete new one, never a torn
// mix.
//
// The functions are safe for concurrent use on different targets; two writers
// racing on the same target each produce a complete file and the last rename
// wins.
package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
)

var tmpCounter atomic.Uint64

// AtomicWrite writes the file at path through write: it creates a new
// temporary file next to path (O_EXCL), lets write fill it, fsyncs and
// closes it, renames it over path and fsyncs the directory. On any error the
// temporary file is removed and path is left as it was.
func AtomicWrite(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp := fmt.Sprintf("%s.tmp.%d.%s", path, os.Getpid(), strconv.FormatUint(tmpCounter.Add(1), 10))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("fsutil: create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, removeIfExists(tmp))
		}
	}()
	if err := write(f); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("fsutil: sync %s: %w", tmp, err), f.Close())
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("fsutil: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("fsutil: rename %s: %w", tmp, err)
	}
	if err := SyncDir(dir); err != nil {
		return err
	}
	return nil
}

// SyncDir fsyncs a directory so that a rename or create inside it survives a
// crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsutil: open directory %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		return errors.Join(fmt.Errorf("fsutil: sync directory %s: %w", dir, err), d.Close())
	}
	return d.Close()
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
