package ingest

import "errors"

// ErrInvalidConfig is wrapped by the Validate methods' errors.
var ErrInvalidConfig = errors.New("ingest: invalid config")

// The loaders' errors. Load wraps them with what went wrong, in words a
// user can act on ("ingest: malformed: line 12: invalid character '}'
// looking for beginning of object key string"); test for them with
// errors.Is.
var (
	// ErrUnsupported is returned for data that no loader reads: a binary
	// file, an unknown Format, an encrypted PDF. A directory walk skips
	// such a file and counts it.
	ErrUnsupported = errors.New("ingest: unsupported")
	// ErrEmpty is returned when a file holds no text once extracted: an
	// empty or blank file, Markdown that is only front matter, HTML that
	// is only navigation, a PDF without a text layer (a scan). The file is
	// skipped and counted.
	ErrEmpty = errors.New("ingest: no text")
	// ErrTooLarge is returned for data longer than LoadConfig.MaxBytes.
	ErrTooLarge = errors.New("ingest: too large")
	// ErrMalformed is returned for a file that cannot be parsed: a broken
	// or truncated PDF, an invalid JSONL line, front matter that is not
	// YAML. The error names the line, page or detail.
	ErrMalformed = errors.New("ingest: malformed")
)
