package texmex

import (
	"errors"
	"fmt"
)

// ErrFormat is matched (errors.Is) by every *FormatError: the input is not a
// well-formed TEXMEX file.
var ErrFormat = errors.New("texmex: malformed file")

// ErrDim is returned by the writers for a dimension that is not positive,
// exceeds MaxDim, does not divide the data, or differs from the rows already
// written.
var ErrDim = errors.New("texmex: bad dimension")

// FormatError describes malformed input: which file, which row, where, and
// what is wrong with it.
type FormatError struct {
	Name   string // file path, or the name given to NewReader
	Row    int    // 0-based row at which the problem was found
	Offset int64  // byte offset of the start of that row
	Reason string // what is wrong, e.g. "truncated row: got 12 of 400 bytes"
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("texmex: %s: row %d (byte offset %d): %s", e.Name, e.Row, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrFormat) true.
func (e *FormatError) Unwrap() error { return ErrFormat }
