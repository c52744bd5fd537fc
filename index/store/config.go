package store

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// Config tunes a Store or a Catalog. The zero value is valid: every zero
// field takes its default.
type Config struct {
	// NoSync skips the fsync of each commit. For tests only: with it a crash
	// of the machine (not of the process) can lose acknowledged writes and
	// leave the file unreadable, which breaks the durability contract.
	// Default false.
	NoSync bool
	// Logger receives lifecycle events (open, close) and the rare retry of a
	// failed group commit. Default: discard.
	Logger *slog.Logger
	// MaxBatchOps caps the number of ops that the committer merges into one
	// transaction from concurrent Apply calls, bounding the memory and the
	// latency of one commit. A single Apply with more ops than this is still
	// committed whole, in a transaction of its own (an Apply is never split).
	// Default 10,000: at ~2 KiB per document (a 384-d vector and a paragraph)
	// that is a 20 MiB transaction, well past the point where the fsync
	// dominates.
	MaxBatchOps int
	// FileMode is the permission of a newly created file. Default 0600: the
	// file holds users' documents.
	FileMode os.FileMode
	// LockTimeout is how long Open waits for the file lock that another
	// process holds before failing with ErrLocked. Default 1 s: long enough to
	// outlast a restarting process, short enough that ragctl pointed at the
	// data folder of a running server fails fast and clearly.
	LockTimeout time.Duration
	// InitialMmapSize is the size in bytes of bbolt's first memory map of the
	// file. A commit that grows the file past the map must remap it, and
	// waits for every open read transaction to finish first; with a map
	// larger than the file, long reads (ForEach over a shard to rebuild an
	// index) never stall writes. The map is address space, not memory: only
	// pages read are resident. Default 1 GiB (etcd maps 10 GiB); lower it
	// on 32-bit platforms.
	InitialMmapSize int
}

// Defaults and limits.
const (
	defaultMaxBatchOps = 10_000
	defaultFileMode    = 0o600
	defaultLockTimeout = time.Second
	defaultInitialMmap = 1 << 30
	maxMaxBatchOps     = 1 << 20
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxBatchOps == 0 {
		c.MaxBatchOps = defaultMaxBatchOps
	}
	if c.FileMode == 0 {
		c.FileMode = defaultFileMode
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = defaultLockTimeout
	}
	if c.InitialMmapSize == 0 {
		c.InitialMmapSize = defaultInitialMmap
	}
	return c
}

// Validate reports the first invalid field, after applying defaults to the
// zero ones.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.MaxBatchOps < 1 || c.MaxBatchOps > maxMaxBatchOps:
		return fmt.Errorf("%w: max batch ops %d out of range [1, %d]", ErrInvalidConfig, c.MaxBatchOps, maxMaxBatchOps)
	case c.FileMode&^os.ModePerm != 0:
		return fmt.Errorf("%w: file mode %v has bits other than permissions", ErrInvalidConfig, c.FileMode)
	case c.LockTimeout < 0:
		return fmt.Errorf("%w: lock timeout %v is negative", ErrInvalidConfig, c.LockTimeout)
	case c.InitialMmapSize < 0:
		return fmt.Errorf("%w: initial mmap size %d is negative", ErrInvalidConfig, c.InitialMmapSize)
	}
	return nil
}
