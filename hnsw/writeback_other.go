//go:build !linux

package hnsw

import "os"

// writeback makes the first n bytes of f durable: without sync_file_range,
// an fsync per window bounds the dirty part of a snapshot instead.
func writeback(f *os.File, _ int64) error { return f.Sync() }
