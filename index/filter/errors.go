package filter

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrInvalidFilter is matched by every *Error: a filter that does not
	// parse or does not validate.
	ErrInvalidFilter = errors.New("filter: invalid filter")
	// ErrInvalidMetadata is matched by every *MetadataError: metadata that is
	// not a JSON object of strings, numbers, booleans and lists of those.
	ErrInvalidMetadata = errors.New("filter: invalid metadata")
	// ErrDuplicate is returned by Add for a document number that is already
	// indexed; remove it first to replace its metadata.
	ErrDuplicate = errors.New("filter: document already indexed")
	// ErrNotFound is returned by Remove for a document number that is not
	// indexed.
	ErrNotFound = errors.New("filter: document not indexed")
	// ErrMismatch is returned by Remove when the metadata given is not what
	// the document was added with (a key or a string or boolean value that
	// the document does not have in the index). Nothing is removed.
	ErrMismatch = errors.New("filter: metadata does not match the indexed document")
)

// Error is a filter that is not valid: Path names the offending part in
// JSON terms (`must[2].range`, empty for the filter itself) and Reason says
// what is wrong. It matches ErrInvalidFilter.
type Error struct {
	Path   string
	Reason string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "filter: " + e.Reason
	}
	return "filter: " + e.Path + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidFilter) match every *Error.
func (e *Error) Is(target error) bool { return target == ErrInvalidFilter }

func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// MetadataError is metadata that cannot be indexed. Key names the offending
// key (empty when the problem is the document as a whole). It matches
// ErrInvalidMetadata.
type MetadataError struct {
	Key    string
	Reason string
}

func (e *MetadataError) Error() string {
	if e.Key == "" {
		return "filter: metadata: " + e.Reason
	}
	return fmt.Sprintf("filter: metadata key %q: %s", e.Key, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidMetadata) match every *MetadataError.
func (e *MetadataError) Is(target error) bool { return target == ErrInvalidMetadata }
