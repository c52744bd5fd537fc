package hnsw

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrDimensionMismatch is returned when a vector's length differs from the
	// graph's dimension.
	ErrDimensionMismatch = errors.New("hnsw: dimension mismatch")
	// ErrInvalidVector is returned for a vector holding NaN or ±Inf, or a zero
	// vector under the cosine metric (it has no direction).
	ErrInvalidVector = errors.New("hnsw: invalid vector")
	// ErrDuplicateKey is returned by Add when the key is already live in the
	// graph; delete it first to replace its vector.
	ErrDuplicateKey = errors.New("hnsw: key already present")
	// ErrNotFound is returned by Delete for a key that is not live in the graph.
	ErrNotFound = errors.New("hnsw: key not found")
	// ErrFull is returned by Add when the graph holds the maximum number of
	// slots a NodeID can address.
	ErrFull = errors.New("hnsw: graph is full")
	// ErrInvalidConfig is wrapped by Config.Validate's errors.
	ErrInvalidConfig = errors.New("hnsw: invalid config")
	// ErrInvalidArgument is returned for a bad k or ef.
	ErrInvalidArgument = errors.New("hnsw: invalid argument")
)

// CorruptionError reports a snapshot file that cannot be loaded: truncated,
// failing its checksum, or structurally invalid. Nothing of the file is
// used; the caller rebuilds the graph from its source of truth.
type CorruptionError struct {
	Path   string // file path, when known
	Offset int64  // byte offset of the problem, or -1 when not known
	Reason string // what is wrong, for a human
}

func (e *CorruptionError) Error() string {
	where := e.Path
	if where == "" {
		where = "snapshot"
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("hnsw: corrupt %s at byte %d: %s", where, e.Offset, e.Reason)
	}
	return fmt.Sprintf("hnsw: corrupt %s: %s", where, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) match every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// ErrCorrupt matches any *CorruptionError through errors.Is.
var ErrCorrupt = errors.New("hnsw: corrupt snapshot")
