package text

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by Config.Validate's errors.
	ErrInvalidConfig = errors.New("text: invalid config")
	// ErrInvalidArgument is returned for a bad k, a sequence number that goes
	// backwards, or statistics that lack a query term.
	ErrInvalidArgument = errors.New("text: invalid argument")
	// ErrAnalyzerMismatch is returned by Open when the folder holds an index
	// built with another analyzer than the config names. Its terms would not
	// match the queries' terms; the remedy is to delete the folder and
	// rebuild it with the new analyzer.
	ErrAnalyzerMismatch = errors.New("text: index built with another analyzer")
	// ErrLocked is returned by Open when another Index (in this process or
	// another) holds the folder open.
	ErrLocked = errors.New("text: index folder in use")
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("text: index closed")
	// ErrCorrupt matches any *CorruptionError through errors.Is.
	ErrCorrupt = errors.New("text: corrupt index")
)

// CorruptionError reports an index folder that cannot be used: a segment
// file that fails its checksum or is truncated, a root file bleve cannot
// read, or missing bookkeeping. Nothing of the folder is used; the caller
// deletes it and rebuilds the index from its source of truth.
type CorruptionError struct {
	Path   string // the folder or file at fault
	Reason string // what is wrong, for a human
	Err    error  // the underlying error, if any
}

func (e *CorruptionError) Error() string {
	msg := fmt.Sprintf("text: corrupt index %s: %s", e.Path, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrCorrupt) match every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying error.
func (e *CorruptionError) Unwrap() error { return e.Err }
