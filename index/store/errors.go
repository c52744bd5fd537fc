package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrClosed is returned by every method of a Store or Catalog that has
	// been closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidArgument is wrapped by the errors of a bad op (no kind, an
	// empty ID, an ID longer than MaxIDLen bytes or not valid UTF-8, a
	// document too large to store) or of a bad argument to a read. The
	// message names the problem and, for Apply, the index of the op.
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrInvalidConfig is wrapped by Config.Validate's errors.
	ErrInvalidConfig = errors.New("store: invalid config")
	// ErrNotStore is returned by Open and OpenCatalog for a bbolt file that
	// was not written by this package, or was written as the other kind of
	// file (a catalog opened as a store, or the reverse).
	ErrNotStore = errors.New("store: not a ragd store file")
	// ErrUnsupportedVersion is returned by Open and OpenCatalog for a file
	// written by a newer ragd, in a format version this one cannot read.
	ErrUnsupportedVersion = errors.New("store: unsupported format version")
	// ErrLocked is returned by Open and OpenCatalog when another process
	// holds the file's lock for longer than Config.LockTimeout.
	ErrLocked = errors.New("store: file is locked by another process")
	// ErrLogTruncated is returned by Changes when the change log no longer
	// holds the records just after the requested sequence number, because
	// TruncateLog removed them. The caller cannot catch up by replay and must
	// rebuild its derived index from the documents (ForEach).
	ErrLogTruncated = errors.New("store: change log truncated past the requested sequence")
	// ErrFull is returned by Apply when every document number has been
	// assigned once; numbers are never reused.
	ErrFull = errors.New("store: document numbers exhausted")
)

// ErrCorrupt matches every *CorruptionError through errors.Is.
var ErrCorrupt = errors.New("store: corrupt")

// CorruptionError reports data that cannot be read back: a file that is not a
// valid bbolt file, a missing bucket, or a record that fails its checksum or
// does not decode. Nothing of the bad record is returned.
type CorruptionError struct {
	Path   string // file path, when known
	Where  string // the bucket and key, e.g. "docs[num 7]", when known
	Reason string // what is wrong, for a human
	Err    error  // the underlying error, if any (a bbolt error on Open)
}

func (e *CorruptionError) Error() string {
	msg := "store: corrupt"
	if e.Path != "" {
		msg += " " + e.Path
	}
	if e.Where != "" {
		msg += " at " + e.Where
	}
	msg += ": " + e.Reason
	if e.Err != nil {
		msg = fmt.Sprintf("%s: %v", msg, e.Err)
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) match every CorruptionError.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }
