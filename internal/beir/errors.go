package beir

import (
	"errors"
	"fmt"
)

// ErrFormat is matched (errors.Is) by every *FormatError: a file is not
// well-formed BEIR or TREC input.
var ErrFormat = errors.New("beir: malformed input")

// ErrRun is returned by WriteTREC for a run that cannot be written as a TREC
// file: an empty or blank-containing id or tag, a NaN score, or a document
// listed twice for one query.
var ErrRun = errors.New("beir: invalid run")

// FormatError describes malformed input: which file, which line and what is
// wrong with it.
type FormatError struct {
	Name   string // file path, or the name given to a Read function
	Line   int    // 1-based line number
	Reason string // what is wrong, e.g. `duplicate _id "7" (first on line 3)`
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("beir: %s:%d: %s", e.Name, e.Line, e.Reason)
}

// Unwrap makes errors.Is(err, ErrFormat) true.
func (e *FormatError) Unwrap() error { return ErrFormat }
