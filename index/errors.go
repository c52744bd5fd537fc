package index

import "errors"

// Sentinel errors. The server maps them to status codes (DESIGN.md, Errors
// and limits); callers test them with errors.Is. Messages name the field.
var (
	// ErrInvalidArgument wraps every validation failure: a bad collection
	// name or config, a document with a bad ID, vector or metadata, a bad
	// search request or filter.
	ErrInvalidArgument = errors.New("index: invalid argument")
	// ErrNotFound: no such collection or document.
	ErrNotFound = errors.New("index: not found")
	// ErrExists: a collection of that name exists already.
	ErrExists = errors.New("index: already exists")
	// ErrClosed: the index or collection was closed or dropped.
	ErrClosed = errors.New("index: closed")
	// ErrCorrupt wraps a store that cannot be read; the derived indexes
	// (graph, text) are rebuilt silently instead.
	ErrCorrupt = errors.New("index: corrupt data")
)
