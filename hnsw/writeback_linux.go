package hnsw

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeback starts writing the first n bytes of f to disk and waits for the
// writeback it started before (RocksDB's strict bytes_per_sync): the dirty
// part of a snapshot stays within two bytesPerSync windows, without the
// journal commit of an fsync per window.
func writeback(f *os.File, n int64) error {
	return unix.SyncFileRange(int(f.Fd()), 0, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE)
}
